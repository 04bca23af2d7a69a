//! The `/routing` page in a real headless browser (Debian's `chromium`, driven over the
//! DevTools protocol): it renders every engine of the router, and its counters move, live,
//! after API requests, to exactly what the requests ran. On the embedded SQLite default and
//! on real PostgreSQL streaming replication.

mod cdp;
#[path = "../common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dbroute::{Router, RoutingConfig};
use dbroute_demo::Store;
use dbroute_test_cluster::http::request;
use dbroute_test_cluster::shared;
use serde_json::Value;

use cdp::{Browser, Page};
use common::serve;

/// What the page shows of each engine: its row's cells, read from the DOM (nothing while
/// the page is still loading).
const READ_PAGE: &str = r##"JSON.stringify(!document.body ? { refreshes: 0, engines: [] } : {
  refreshes: Number(document.body.dataset.refreshes || 0),
  engines: Array.from(document.querySelectorAll("#engines tr")).map(row => ({
    engine: row.dataset.engine,
    state: row.querySelector(".state").textContent,
    statements: Number(row.querySelector(".statements").textContent),
    reasons: Object.fromEntries(Array.from(row.querySelectorAll(".reason")).map(
      span => [span.dataset.reason, Number(span.querySelector("b").textContent)])),
  })),
})"##;

#[derive(Debug, Clone, PartialEq)]
struct Shown {
    state: String,
    statements: u64,
    reasons: BTreeMap<String, u64>,
}

/// The page's engines, once it has rendered figures at least `after` times.
async fn shown(page: &mut Page, after: u64) -> BTreeMap<String, Shown> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = page.eval(READ_PAGE).await;
        let view: Value = serde_json::from_str(text.as_str().unwrap()).unwrap();
        if view["refreshes"].as_u64().unwrap() > after {
            return view["engines"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    let reasons = e["reasons"].as_object().unwrap();
                    let shown = Shown {
                        state: e["state"].as_str().unwrap().to_owned(),
                        statements: e["statements"].as_u64().unwrap(),
                        reasons: reasons
                            .iter()
                            .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
                            .collect(),
                    };
                    (e["engine"].as_str().unwrap().to_owned(), shown)
                })
                .collect();
        }
        assert!(
            Instant::now() < deadline,
            "the page never refreshed: {view}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn refreshes(page: &mut Page) -> u64 {
    let text = page.eval(READ_PAGE).await;
    let view: Value = serde_json::from_str(text.as_str().unwrap()).unwrap();
    view["refreshes"].as_u64().unwrap()
}

/// One HTTP/1.1 request with a JSON body; the status line.
async fn call(address: SocketAddr, method: &str, path: &str, body: &str) -> String {
    request(address, method, path, &[], body).await.status_line
}

/// Makes requests whose statements are known: 6 plain reads (one each), 2 users and 1 order
/// created and 1 order updated (one write each, in the request's session).
async fn requests(address: SocketAddr) {
    for path in [
        "/users",
        "/users/1",
        "/orders",
        "/orders/1",
        "/users/1/orders",
        "/users",
    ] {
        let status = call(address, "GET", path, "").await;
        assert!(status.contains(" 200 "), "{path}: {status}");
    }
    for name in ["Alan", "Barbara"] {
        let body = format!(r#"{{"name":"{name}","email":"{name}@example.com"}}"#);
        let status = call(address, "POST", "/users", &body).await;
        assert!(status.contains(" 201 "), "{status}");
    }
    let order = r#"{"user_id":1,"item":"pen","quantity":3}"#;
    assert!(
        call(address, "POST", "/orders", order)
            .await
            .contains(" 201 ")
    );
    let change = r#"{"status":"shipped"}"#;
    assert!(
        call(address, "PUT", "/orders/1", change)
            .await
            .contains(" 200 ")
    );
}

fn total(shown: &BTreeMap<String, Shown>, role: impl Fn(&str) -> bool, reason: &str) -> u64 {
    shown
        .iter()
        .filter(|(name, _)| role(name))
        .map(|(_, s)| s.reasons.get(reason).copied().unwrap_or(0))
        .sum()
}

/// The page renders every engine as up; after the requests, without a reload, it shows 6 more
/// reads on the read engines and 4 more writes on the primary, and matches `Router::stats`.
async fn the_page_follows_the_router<DB: Store>(db: Router<DB>, browser: &Browser)
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    let primary = db.engine_names("default").unwrap()[0].to_owned();
    let mut engines: Vec<String> = db
        .stats()
        .engines
        .iter()
        .map(|e| e.engine.clone())
        .collect();
    engines.sort();
    let address = serve::<DB>(db.clone()).await;
    let mut page = browser.open(&format!("http://{address}/routing")).await;
    let before = shown(&mut page, 0).await;
    assert_eq!(
        before.keys().cloned().collect::<Vec<_>>(),
        engines,
        "every engine"
    );
    for (name, engine) in &before {
        assert_eq!(engine.state, "up", "{name}");
    }

    requests(address).await;
    let seen = refreshes(&mut page).await;
    let after = shown(&mut page, seen).await;
    let is_primary = |name: &str| name == primary;
    let is_reader = |name: &str| name != primary;
    assert_eq!(
        total(&after, is_reader, "read") - total(&before, is_reader, "read"),
        6,
        "{before:?} -> {after:?}"
    );
    assert_eq!(
        total(&after, is_primary, "write") - total(&before, is_primary, "write"),
        4
    );
    assert_eq!(
        total(&after, is_primary, "read"),
        0,
        "no plain read on the primary"
    );
    // What the page shows is what the router counted.
    for engine in db.stats().engines {
        assert_eq!(
            after[&engine.engine].statements, engine.statements,
            "{}",
            engine.engine
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_routing_page_renders_every_engine_and_its_counters_move() {
    let browser = Browser::start().await;

    let dir = tempfile::tempdir().unwrap();
    let config = RoutingConfig::sqlite(dir.path().join("demo.db"));
    let sqlite = dbroute::SqliteRouter::connect(&config).await.unwrap();
    the_page_follows_the_router::<sqlx::Sqlite>(sqlite, &browser).await;

    let config = dbroute_demo::cluster_config(shared()).unwrap();
    let postgres = dbroute::PgRouter::connect(&config).await.unwrap();
    the_page_follows_the_router::<sqlx::Postgres>(postgres, &browser).await;
}
