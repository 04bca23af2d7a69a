//! The embedded default: one SQLite file, a single-writer pool and a read-only reader pool.

use dbroute::{RouteReason, RoutingConfig, SqliteRouter, primary_context, use_bind_group};

async fn router(dir: &tempfile::TempDir) -> SqliteRouter {
    let router = SqliteRouter::connect(&RoutingConfig::sqlite(dir.path().join("app.db")))
        .await
        .expect("SQLite router");
    sqlx::query("CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT)")
        .execute(&router)
        .await
        .unwrap();
    router
}

async fn count(executor: impl sqlx::Executor<'_, Database = sqlx::Sqlite>) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM items")
        .fetch_one(executor)
        .await
        .unwrap()
}

#[tokio::test]
async fn reads_use_the_reader_and_writes_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let router = router(&dir).await;
    let mut session = router.session();
    sqlx::query("INSERT INTO items (name) VALUES ('a')")
        .execute(&mut session)
        .await
        .unwrap();
    // The session's uncommitted row is visible on its writer connection only: the router's
    // own read ran on another connection, the reader.
    assert_eq!(count(&mut session).await, 1);
    assert_eq!(count(&router).await, 0);
    session.commit().await.unwrap();
    assert_eq!(count(&router).await, 1);
}

#[tokio::test]
async fn the_reader_is_really_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let router = router(&dir).await;
    let read = router.begin_read_only().await.unwrap();
    let error = sqlx::query("INSERT INTO items (name) VALUES ('x')")
        .execute(&read)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("readonly"), "{error}");
}

#[tokio::test]
async fn concurrent_writers_queue_on_the_single_writer() {
    let dir = tempfile::tempdir().unwrap();
    let router = router(&dir).await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let router = router.clone();
        tasks.push(tokio::spawn(async move {
            sqlx::query("INSERT INTO items (name) VALUES (?)")
                .bind(format!("item-{i}"))
                .execute(&router)
                .await
        }));
    }
    for task in tasks {
        task.await
            .unwrap()
            .expect("no SQLITE_BUSY: writers wait their turn");
    }
    assert_eq!(count(router.primary()).await, 20);
}

#[tokio::test]
async fn explain_scopes_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let router = router(&dir).await;
    assert_eq!(router.explain("SELECT * FROM items").unwrap().group, "read");
    assert_eq!(
        router.explain("UPDATE items SET name = 'b'").unwrap().group,
        "default"
    );
    let forced = primary_context(async { router.explain("SELECT 1").unwrap().reason }).await;
    assert_eq!(forced, RouteReason::ScopedGroup);
    let unknown = use_bind_group("nope", async { router.explain("SELECT 1").unwrap_err() }).await;
    assert!(unknown.is_unknown_group());
    // A PostgreSQL config is refused by a SQLite router, with the fix in the message.
    let pg = RoutingConfig::builder()
        .primary("postgres://p/db")
        .build()
        .unwrap();
    let error = SqliteRouter::connect_lazy(&pg).unwrap_err();
    assert!(
        error.to_string().contains("use the matching router type"),
        "{error}"
    );
}

#[tokio::test]
async fn disabled_routing_uses_the_writer_for_everything() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = RoutingConfig::sqlite(dir.path().join("d.db"));
    config.enabled = false;
    let router = SqliteRouter::connect(&config).await.unwrap();
    sqlx::query("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        .execute(&router)
        .await
        .unwrap();
    let tx = router.begin().await.unwrap();
    sqlx::query("INSERT INTO items (name) VALUES ('x')")
        .execute(&tx)
        .await
        .unwrap();
    let explained = router.explain("SELECT 1").unwrap();
    assert_eq!(
        (explained.group, explained.reason),
        ("default", RouteReason::RoutingDisabled)
    );
    tx.rollback().await.unwrap();
}

#[tokio::test]
async fn a_router_over_existing_pools() {
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pools.db");
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            SqliteConnectOptions::new()
                .filename(&file)
                .create_if_missing(true),
        )
        .await
        .unwrap();
    let reader = SqlitePoolOptions::new()
        .connect_with(SqliteConnectOptions::new().filename(&file).read_only(true))
        .await
        .unwrap();
    let router = SqliteRouter::from_pools(writer, [reader]);
    assert_eq!(router.route("SELECT 1").unwrap().engine, "replica-1");
    assert_eq!(
        router.route("CREATE TABLE t (x)").unwrap().engine,
        "primary"
    );
    sqlx::query("CREATE TABLE t (x)")
        .execute(&router)
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM t")
        .fetch_one(&router)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[test]
fn building_a_router_outside_a_runtime_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let error =
        SqliteRouter::connect_lazy(&RoutingConfig::sqlite(dir.path().join("x.db"))).unwrap_err();
    assert!(
        error.to_string().contains("inside a Tokio runtime"),
        "{error}"
    );
}

#[tokio::test]
async fn an_empty_read_group_sends_reads_to_the_default_group_even_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = RoutingConfig::sqlite(dir.path().join("e.db"));
    config.engines.insert("read".into(), vec![]);
    let router = SqliteRouter::connect(&config).await.unwrap();
    assert_eq!(router.route("SELECT 1").unwrap().engine, "writer");
    let handle = router.group("read").unwrap();
    let one: i64 = sqlx::query_scalar("SELECT 1")
        .fetch_one(handle)
        .await
        .unwrap();
    assert_eq!(one, 1);
}
