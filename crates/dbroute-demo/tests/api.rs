//! The demo's JSON API over real HTTP, on the embedded SQLite default and on real PostgreSQL
//! streaming replication: every route, bad input refused with a clear 4xx and nothing written,
//! and a client carrying the token of its write reading it back even with replay paused. Rows
//! are checked on the primary itself, not through the demo.

use std::net::SocketAddr;

mod common;

use common::serve;
use dbroute::RoutingConfig;
use dbroute_demo::{Order, User};
use dbroute_test_cluster::http::{Reply, request};
use dbroute_test_cluster::shared;
use serde_json::Value;

/// A reply's body as JSON of type `T` (a test failure when it is not).
trait Json {
    fn json<T: serde::de::DeserializeOwned>(&self) -> T;
}

impl Json for Reply {
    fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }
}

/// `rows(table)`: the rows of `table`, counted on `pool` (the primary itself, not the demo).
/// A macro: the pools are of different databases.
macro_rules! rows_on {
    ($pool:expr) => {
        |table: &'static str| {
            let pool = $pool.clone();
            async move {
                let sql = format!("SELECT count(*) FROM {table}");
                let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                count
            }
        }
    };
}

/// A client that, like a browser with the demo's cookie, sends back the last token it got:
/// it reads its own writes.
struct Client {
    address: SocketAddr,
    token: std::sync::Mutex<String>,
}

impl Client {
    async fn call(&self, method: &str, path: &str, body: &str) -> Reply {
        let token = self.token.lock().unwrap().clone();
        let header = [("x-dbroute-token", token.as_str())];
        let headers: &[(&str, &str)] = match token.is_empty() {
            true => &[],
            false => &header,
        };
        let reply = request(self.address, method, path, headers, body).await;
        if let Some(token) = reply.header("x-dbroute-token") {
            *self.token.lock().unwrap() = token.to_owned();
        }
        reply
    }
}

/// Every route, and bad input; `rows(table)` counts rows on the primary.
async fn every_route<F, Fut>(address: SocketAddr, rows: F)
where
    F: Fn(&'static str) -> Fut,
    Fut: std::future::Future<Output = i64>,
{
    let client = Client {
        address,
        token: Default::default(),
    };
    let call = |method, path, body| client.call(method, path, body);
    let get = |path| client.call("GET", path, "");
    let users: Vec<User> = get("/users").await.json();
    assert!(users.len() >= 3, "the seed: {users:?}");
    let ada: User = get("/users/1").await.json();
    assert_eq!(ada.name, "Ada");
    assert_eq!(get("/users/999999").await.status, 404);

    let created = call("POST", "/users", r#"{"name":"Alan","email":"a@x"}"#).await;
    assert_eq!(created.status, 201, "{created:?}");
    let alan: User = created.json();
    let changed = format!("/users/{}", alan.id);
    let renamed = call("PUT", &changed, r#"{"name":"Alan T."}"#).await;
    assert_eq!(renamed.json::<User>().name, "Alan T.");
    assert_eq!(renamed.json::<User>().email, "a@x", "untouched");

    let orders_before = rows("orders").await;
    let body = format!(r#"{{"user_id":{},"item":"pen","quantity":3}}"#, alan.id);
    let order: Order = call("POST", "/orders", &body).await.json();
    assert_eq!((order.quantity, order.status.as_str()), (3, "new"));
    let path = format!("/orders/{}", order.id);
    let shipped = call("PUT", &path, r#"{"status":"shipped"}"#).await;
    assert_eq!(shipped.json::<Order>().status, "shipped");
    assert_eq!(rows("orders").await, orders_before + 1);
    let all: Vec<Order> = get("/orders").await.json();
    assert_eq!(
        all.len() as i64,
        orders_before + 1,
        "the client reads its own order"
    );
    let first: Order = get("/orders/1").await.json();
    assert_eq!(first.id, 1);
    let of_ada: Vec<Order> = get("/users/1/orders").await.json();
    assert!(of_ada.iter().all(|o| o.user_id == 1) && !of_ada.is_empty());

    // Refused with a clear 4xx, and nothing written.
    let users_before = rows("users").await;
    let orders_before = rows("orders").await;
    for (method, path, body, status, says) in [
        (
            "POST",
            "/users",
            r#"{"name":"","email":"e@x"}"#,
            400,
            "name must be 1 to 100",
        ),
        (
            "POST",
            "/orders",
            r#"{"user_id":999999,"item":"x","quantity":1}"#,
            404,
            "no user",
        ),
        (
            "POST",
            "/orders",
            r#"{"user_id":1,"item":"x","quantity":0}"#,
            400,
            "quantity",
        ),
        (
            "PUT",
            "/orders/999999",
            r#"{"status":"paid"}"#,
            404,
            "no order",
        ),
        ("PUT", "/users/1", r#"{"email":""}"#, 400, "email"),
    ] {
        let reply = call(method, path, body).await;
        assert_eq!(reply.status, status, "{method} {path}: {reply:?}");
        let error: Value = reply.json();
        assert!(error["error"].as_str().unwrap().contains(says), "{reply:?}");
    }
    let garbage = call("POST", "/users", "{not json").await;
    assert!(
        garbage.status == 400 || garbage.status == 422,
        "{garbage:?}"
    );
    assert_eq!(rows("users").await, users_before);
    assert_eq!(rows("orders").await, orders_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_on_the_sqlite_default() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo.db");
    let db = dbroute::SqliteRouter::connect(&RoutingConfig::sqlite(&file))
        .await
        .unwrap();
    let address = serve::<sqlx::Sqlite>(db).await;
    let primary = sqlx::SqlitePool::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    every_route(address, rows_on!(primary)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_on_postgres_replicas_and_reads_of_ones_own_writes() {
    let db = dbroute::PgRouter::connect(&dbroute_demo::cluster_config(shared()).unwrap())
        .await
        .unwrap();
    let address = serve::<sqlx::Postgres>(db).await;
    // The seed was written outside any request: no client holds its token.
    shared().wait_for_replay().unwrap();
    let primary = sqlx::PgPool::connect(&shared().primary().url())
        .await
        .unwrap();
    every_route(address, rows_on!(primary)).await;

    // Replay paused: a replica cannot have the new user. The client that carries its token
    // (header or cookie) reads it anyway; one without it gets a 404 from a stale replica.
    let paused = shared().pause_all_replay().unwrap();
    for round in 0..20 {
        let body = format!(r#"{{"name":"u{round}","email":"u{round}@x"}}"#);
        let created = request(address, "POST", "/users", &[], &body).await;
        let user: User = created.json();
        let path = format!("/users/{}", user.id);
        let token = created
            .header("x-dbroute-token")
            .expect("a write returns a token");
        let with_header = request(address, "GET", &path, &[("x-dbroute-token", token)], "").await;
        assert_eq!(with_header.json::<User>(), user);
        let cookie = created.header("set-cookie").unwrap();
        let pair = cookie.split(';').next().unwrap();
        let with_cookie = request(address, "GET", &path, &[("cookie", pair)], "").await;
        assert_eq!(with_cookie.json::<User>(), user);
        let without = request(address, "GET", &path, &[], "").await;
        assert_eq!(without.status, 404, "a stale replica answered: {without:?}");
    }
    drop(paused);
}
