//! `RoutingLayer` in a real axum application, over real HTTP on loopback, against real
//! PostgreSQL streaming replication started for this test binary. Where a statement ran is
//! asked of the server (`inet_server_port()`).

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use dbroute::{PgRouter, ReplicaConfig, RoutingConfig};
use dbroute_axum::RoutingLayer;
use dbroute_test_cluster::http::{Reply, request as send};
use dbroute_test_cluster::{Cluster, shared};

fn cluster() -> &'static Cluster {
    shared()
}

fn primary_port() -> i32 {
    i32::from(cluster().primary().port())
}

/// One test at a time: some pause replay.
async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SERIAL.lock().await
}

async fn router() -> PgRouter {
    let cluster = cluster();
    let config = cluster
        .replicas()
        .iter()
        .fold(
            RoutingConfig::builder().primary(cluster.primary().url()),
            |b, r| b.replica(ReplicaConfig::new(r.url()).name(r.name())),
        )
        .build()
        .unwrap();
    let router = PgRouter::connect(&config).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS notes (id int PRIMARY KEY); \
         CREATE TABLE IF NOT EXISTS parents (id int PRIMARY KEY); \
         CREATE TABLE IF NOT EXISTS orphans (parent int REFERENCES parents (id) \
           DEFERRABLE INITIALLY DEFERRED)",
    )
    .execute(&router)
    .await
    .unwrap();
    tokio::task::spawn_blocking(|| cluster.wait_for_replay().unwrap())
        .await
        .unwrap();
    router
}

/// Replay paused on every replica until dropped.
struct Paused {
    _guard: dbroute_test_cluster::ReplayPaused<'static>,
}

impl Paused {
    async fn all() -> Paused {
        let paused = tokio::task::spawn_blocking(|| cluster().pause_all_replay().unwrap());
        Paused {
            _guard: paused.await.unwrap(),
        }
    }
}

async fn port_of(db: &PgRouter, id: i32) -> (bool, i32) {
    sqlx::query_as("SELECT EXISTS (SELECT 1 FROM notes WHERE id = $1), inet_server_port()")
        .bind(id)
        .fetch_one(db)
        .await
        .unwrap()
}

async fn create(State(db): State<PgRouter>, Path(id): Path<i32>) -> &'static str {
    sqlx::query("INSERT INTO notes (id) VALUES ($1)")
        .bind(id)
        .execute(&db)
        .await
        .unwrap();
    "created"
}

async fn read(State(db): State<PgRouter>, Path(id): Path<i32>) -> String {
    let (found, port) = port_of(&db, id).await;
    format!("{found} {port}")
}

/// The row and port, read while the server polls the body (after the handler returned).
async fn streamed(State(db): State<PgRouter>, Path(id): Path<i32>) -> Body {
    let chunk = async move {
        let (found, port) = port_of(&db, id).await;
        Ok::<_, std::io::Error>(format!("{found} {port}"))
    };
    Body::from_stream(futures_util::stream::once(chunk))
}

/// The port a spawned task read from: with `dbroute::spawn`, or a bare `tokio::spawn`.
async fn spawned(State(db): State<PgRouter>, Path(carry): Path<bool>) -> String {
    let task = async move { port_of(&db, 0).await.1 };
    let port = match carry {
        true => dbroute::spawn(task).await.unwrap(),
        false => tokio::spawn(task).await.unwrap(),
    };
    port.to_string()
}

async fn serve(db: PgRouter, layer: RoutingLayer<sqlx::Postgres>) -> SocketAddr {
    let app = axum::Router::new()
        .route("/notes/{id}", post(create).get(read))
        .route("/primary/notes/{id}", get(read))
        .route("/streamed/{id}", get(streamed))
        .route("/primary/streamed/{id}", get(streamed))
        .route("/primary/spawned/{carry}", get(spawned))
        .route("/work/{id}/{outcome}", post(unit_of_work))
        .layer(layer)
        .with_state(db);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address
}

/// One HTTP/1.1 request that must succeed (200).
async fn request(address: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let reply = send(address, method, path, headers, "").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply
}

/// POST then GET from a client that carries the token the POST returned: the GET sees the row,
/// 500 times; with replay paused, from the primary. Without the token, a new request does not
/// wait for another request's writes (nothing leaks): it reads the stale replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_carrying_the_token_reads_its_own_writes() {
    let _serial = serial().await;
    let db = router().await;
    let app = serve(db.clone(), RoutingLayer::new(db.clone())).await;
    let mut on_replicas = 0;
    for id in 1000..1500 {
        let created = request(app, "POST", &format!("/notes/{id}"), &[]).await;
        let token = created
            .header("x-dbroute-token")
            .expect("a write returns a token");
        let seen = request(
            app,
            "GET",
            &format!("/notes/{id}"),
            &[("x-dbroute-token", token)],
        )
        .await;
        assert!(seen.body.starts_with("true"), "request {id}: {}", seen.body);
        on_replicas += u32::from(!seen.body.ends_with(&primary_port().to_string()));
        assert_eq!(
            seen.header("x-dbroute-token"),
            None,
            "a read returns no new token"
        );
    }
    println!("token-carrying GETs on replicas: {on_replicas} / 500");
    assert!(on_replicas >= 450, "{on_replicas} / 500 on replicas");
    let _paused = Paused::all().await;
    for id in 2000..2020 {
        let created = request(app, "POST", &format!("/notes/{id}"), &[]).await;
        let token = created.header("x-dbroute-token").unwrap();
        let seen = request(
            app,
            "GET",
            &format!("/notes/{id}"),
            &[("x-dbroute-token", token)],
        )
        .await;
        assert_eq!(seen.body, format!("true {}", primary_port()));
        let fresh = request(app, "GET", &format!("/notes/{id}"), &[]).await;
        assert!(
            fresh.body.starts_with("false"),
            "no leak between requests: {}",
            fresh.body
        );
        let junk = request(
            app,
            "GET",
            &format!("/notes/{id}"),
            &[("x-dbroute-token", "junk")],
        )
        .await;
        assert!(
            junk.body.starts_with("false"),
            "a malformed token is ignored: {}",
            junk.body
        );
    }
}

/// The token also travels in a cookie, for browsers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_travels_in_a_cookie() {
    let _serial = serial().await;
    let db = router().await;
    let layer = RoutingLayer::new(db.clone())
        .token_header(None)
        .token_cookie("dbroute_token");
    let app = serve(db.clone(), layer).await;
    let _paused = Paused::all().await;
    let created = request(app, "POST", "/notes/3000", &[]).await;
    assert_eq!(created.header("x-dbroute-token"), None);
    let cookie = created.header("set-cookie").expect("a cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.starts_with("dbroute_token=dbr1."),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap();
    let seen = request(
        app,
        "GET",
        "/notes/3000",
        &[("cookie", &format!("theme=dark; {pair}"))],
    )
    .await;
    assert_eq!(seen.body, format!("true {}", primary_port()));
}

/// Routes chosen by `primary_when` read on the primary, in the handler, in a streamed body the
/// server polls after the handler returned, and in a task spawned with `dbroute::spawn`; a
/// bare `tokio::spawn` starts without the request's context (documented).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primary_routes_reach_streamed_bodies_and_spawned_tasks() {
    let _serial = serial().await;
    let db = router().await;
    let layer = RoutingLayer::new(db.clone()).primary_when(|_, path| path.starts_with("/primary/"));
    let app = serve(db.clone(), layer).await;
    let primary = primary_port().to_string();
    for _ in 0..10 {
        let plain = request(app, "GET", "/notes/1", &[]).await;
        assert!(!plain.body.ends_with(&primary), "{}", plain.body);
        let forced = request(app, "GET", "/primary/notes/1", &[]).await;
        assert!(forced.body.ends_with(&primary), "{}", forced.body);
        let streamed = request(app, "GET", "/primary/streamed/1", &[]).await;
        assert!(
            streamed.body.ends_with(&primary),
            "streamed body: {}",
            streamed.body
        );
        let streamed = request(app, "GET", "/streamed/1", &[]).await;
        assert!(
            !streamed.body.ends_with(&primary),
            "streamed body: {}",
            streamed.body
        );
        let carried = request(app, "GET", "/primary/spawned/true", &[]).await;
        assert_eq!(carried.body, primary);
        let bare = request(app, "GET", "/primary/spawned/false", &[]).await;
        assert_ne!(bare.body, primary);
    }
}

/// Two rows through the request's session (two extractions: the same session), then the
/// response the path asks for: `ok` (200), `fail` (409), or `deferred` (a 200 whose commit
/// fails on a deferred foreign key).
async fn unit_of_work(
    dbroute_axum::RequestSession(session): dbroute_axum::RequestSession<sqlx::Postgres>,
    same: dbroute_axum::RequestSession<sqlx::Postgres>,
    Path((id, outcome)): Path<(i32, String)>,
) -> (http::StatusCode, String) {
    for row in [id, id + 100_000] {
        sqlx::query("INSERT INTO notes (id) VALUES ($1)")
            .bind(row)
            .execute(&session)
            .await
            .unwrap();
    }
    // The second extraction is the same unit of work: it sees the uncommitted rows.
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM notes WHERE id IN ($1, $2)")
        .bind(id)
        .bind(id + 100_000)
        .fetch_one(&*same)
        .await
        .unwrap();
    if outcome == "deferred" {
        sqlx::query("INSERT INTO orphans (parent) VALUES (-1)")
            .execute(&session)
            .await
            .unwrap();
    }
    match outcome.as_str() {
        "fail" => (http::StatusCode::CONFLICT, seen.to_string()),
        "redirect" => (http::StatusCode::SEE_OTHER, seen.to_string()),
        _ => (http::StatusCode::OK, seen.to_string()),
    }
}

/// A raw request: its status line and body.
async fn status_of(address: SocketAddr, method: &str, path: &str) -> (String, String) {
    let reply = send(address, method, path, &[], "").await;
    (reply.status_line, reply.body)
}

/// The per-request session: committed after a 2xx (the rows are on the primary, and the
/// response carries a token), rolled back after a 4xx (no row), and a commit the database
/// refuses turns a 200 into a 500 (no row).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_session_commits_or_rolls_back_with_the_response() {
    let _serial = serial().await;
    let db = router().await;
    let address = serve(db.clone(), RoutingLayer::new(db.clone())).await;
    let primary = sqlx::PgPool::connect(&cluster().primary().url())
        .await
        .unwrap();
    let rows = |id: i32| {
        let primary = primary.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM notes WHERE id IN ($1, $2)")
                .bind(id)
                .bind(id + 100_000)
                .fetch_one(&primary)
                .await
                .unwrap()
        }
    };
    for id in 4000..4010 {
        let ok = request(address, "POST", &format!("/work/{id}/ok"), &[]).await;
        assert_eq!(ok.body, "2", "both extractions saw both rows");
        assert!(
            ok.header("x-dbroute-token").is_some(),
            "a commit returns a token"
        );
        assert_eq!(rows(id).await, 2, "committed");
        let failed = status_of(address, "POST", &format!("/work/{}/fail", id + 10)).await;
        assert!(failed.0.starts_with("HTTP/1.1 409"), "{failed:?}");
        assert_eq!(rows(id + 10).await, 0, "rolled back");
        let refused = status_of(address, "POST", &format!("/work/{}/deferred", id + 20)).await;
        assert!(refused.0.starts_with("HTTP/1.1 500"), "{refused:?}");
        assert_eq!(rows(id + 20).await, 0, "the refused commit left nothing");
    }
}

/// `commit_when` replaces the default rule: with "2xx or 409 commits", a 409 keeps its rows
/// and a 303 (which the default would commit) rolls back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_rule_chooses_which_statuses_commit() {
    let _serial = serial().await;
    let db = router().await;
    let layer = RoutingLayer::new(db.clone())
        .commit_when(|status| status.is_success() || status == http::StatusCode::CONFLICT);
    let address = serve(db.clone(), layer).await;
    let primary = sqlx::PgPool::connect(&cluster().primary().url())
        .await
        .unwrap();
    for (id, outcome, status, kept) in [(4100, "fail", "409", 2), (4101, "redirect", "303", 0)] {
        let (line, _) = status_of(address, "POST", &format!("/work/{id}/{outcome}")).await;
        assert!(line.starts_with(&format!("HTTP/1.1 {status}")), "{line}");
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM notes WHERE id IN ($1, $2)")
            .bind(id)
            .bind(id + 100_000)
            .fetch_one(&primary)
            .await
            .unwrap();
        assert_eq!(rows, kept, "{outcome}");
    }
}

/// 200 concurrent requests of four kinds: plain reads, reads on a `primary_when` route,
/// committed units of work, and handlers that fail after writing. Every read ran where its own
/// request's scope says (nothing leaks between requests running at once), every failed request
/// left no row, every committed one left both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_requests_keep_their_own_scopes() {
    let _serial = serial().await;
    let db = router().await;
    let layer = RoutingLayer::new(db.clone()).primary_when(|_, path| path.starts_with("/primary/"));
    let address = serve(db.clone(), layer).await;
    let primary = primary_port().to_string();
    let requests = (0..200).map(|n| {
        let primary = primary.clone();
        tokio::spawn(async move {
            let id = 5000 + n;
            match n % 4 {
                0 => {
                    let (status, body) = status_of(address, "GET", "/notes/1").await;
                    assert!(
                        status.contains("200") && !body.ends_with(&primary),
                        "plain read: {body}"
                    );
                }
                1 => {
                    let (status, body) = status_of(address, "GET", "/primary/notes/1").await;
                    assert!(
                        status.contains("200") && body.ends_with(&primary),
                        "primary route: {body}"
                    );
                }
                2 => {
                    let (status, _) = status_of(address, "POST", &format!("/work/{id}/ok")).await;
                    assert!(status.contains("200"), "{status}");
                }
                _ => {
                    let (status, _) = status_of(address, "POST", &format!("/work/{id}/fail")).await;
                    assert!(status.contains("409"), "{status}");
                }
            }
        })
    });
    for outcome in futures_util::future::join_all(requests).await {
        outcome.unwrap();
    }
    let on_primary = sqlx::PgPool::connect(&cluster().primary().url())
        .await
        .unwrap();
    for n in 0..200 {
        let id = 5000 + n;
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM notes WHERE id IN ($1, $2)")
            .bind(id)
            .bind(id + 100_000)
            .fetch_one(&on_primary)
            .await
            .unwrap();
        let expected = match n % 4 {
            2 => 2,
            _ => 0,
        };
        assert_eq!(rows, expected, "request {n}");
    }
}
