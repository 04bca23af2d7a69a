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

/// `EXPLAIN` of a write without running it goes to the reader, which answers it (SQLite lists
/// the program without running it) and stays read-only; the table is unchanged.
#[tokio::test]
async fn plans_of_writes_are_answered_by_the_reader() {
    let dir = tempfile::tempdir().unwrap();
    let router = router(&dir).await;
    for text in [
        "EXPLAIN INSERT INTO items (name) VALUES ('x')",
        "EXPLAIN QUERY PLAN DELETE FROM items WHERE id = 1",
        "EXPLAIN UPDATE items SET name = 'y'",
    ] {
        assert_eq!(router.explain(text).unwrap().group, "read", "{text}");
        let rows = sqlx::query(text).fetch_all(&router).await.unwrap();
        assert!(!rows.is_empty(), "{text}: a plan");
    }
    assert_eq!(count(&router).await, 0);
    // On the reader itself, too: a read-only transaction answers the plan.
    let read = router.begin_read_only().await.unwrap();
    sqlx::query("EXPLAIN INSERT INTO items (name) VALUES ('x')")
        .fetch_all(&read)
        .await
        .unwrap();
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

/// Which engine answered, asked of the connection itself: readers have `query_only` on.
async fn answered_by(executor: impl sqlx::Executor<'_, Database = sqlx::Sqlite>) -> &'static str {
    let query_only: i64 = sqlx::query_scalar("SELECT query_only FROM pragma_query_only()")
        .fetch_one(executor)
        .await
        .unwrap();
    if query_only == 1 { "reader" } else { "writer" }
}

#[tokio::test]
async fn reads_run_on_the_reader_as_the_connection_itself_says() {
    let dir = tempfile::tempdir().unwrap();
    let router = router(&dir).await;
    assert_eq!(answered_by(&router).await, "reader");
    assert_eq!(answered_by(router.primary()).await, "writer");
    assert_eq!(primary_context(answered_by(&router)).await, "writer");
    let session = router.session();
    assert_eq!(answered_by(&session).await, "reader");
    sqlx::query("INSERT INTO items (name) VALUES ('w')")
        .execute(&session)
        .await
        .unwrap();
    assert_eq!(
        answered_by(&session).await,
        "writer",
        "sticky after the write"
    );
    session.commit().await.unwrap();
    assert_eq!(answered_by(&session).await, "reader");
}

/// Issue 6, defect 1: routing off changes where statements run, never whether a session is a
/// transaction.
#[tokio::test]
async fn routing_off_keeps_a_session_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = RoutingConfig::sqlite(dir.path().join("off.db"));
    config.enabled = false;
    let router = SqliteRouter::connect(&config).await.unwrap();
    sqlx::query("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        .execute(&router)
        .await
        .unwrap();
    let session = router.session();
    for name in ["a", "b"] {
        sqlx::query("INSERT INTO items (name) VALUES (?)")
            .bind(name)
            .execute(&session)
            .await
            .unwrap();
    }
    assert_eq!(count(&session).await, 2);
    session.rollback().await.unwrap();
    assert_eq!(count(&router).await, 0);
    {
        let dropped = router.session();
        sqlx::query("INSERT INTO items (name) VALUES ('c')")
            .execute(&dropped)
            .await
            .unwrap();
    }
    assert_eq!(
        count(&router).await,
        0,
        "dropping the session rolled it back"
    );
}

/// SQLite undoes a failed statement alone and goes on: the session commits the rest (unlike
/// PostgreSQL, where the whole transaction is lost and commit says so).
#[tokio::test]
async fn on_sqlite_a_failed_statement_does_not_lose_the_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let router = router(&dir).await;
    let session = router.session();
    let insert = |id: i64| {
        sqlx::query("INSERT INTO items (id, name) VALUES (?, 'x')")
            .bind(id)
            .execute(&session)
    };
    insert(1).await.unwrap();
    assert!(insert(1).await.is_err());
    session.commit().await.unwrap();
    assert_eq!(count(&router).await, 1);
}

/// Issue 6, defect 5: any path works; `:memory:` is one database for reads and writes.
#[tokio::test]
async fn paths_of_any_form_and_memory() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "q?mark.db",
        "hash#1.db",
        "per%cent.db",
        "with space.db",
        "a&b=c;d.db",
    ] {
        let nested = dir.path().join(format!("dir {name}"));
        std::fs::create_dir_all(&nested).unwrap();
        let path = nested.join(name);
        let router = SqliteRouter::connect(&RoutingConfig::sqlite(&path))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        sqlx::query("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
            .execute(&router)
            .await
            .unwrap();
        sqlx::query("INSERT INTO items (name) VALUES ('x')")
            .execute(&router)
            .await
            .unwrap();
        assert_eq!(
            count(&router).await,
            1,
            "{name}: the reader sees the writer's file"
        );
        assert_eq!(answered_by(&router).await, "reader");
        assert!(
            path.is_file(),
            "{name}: the file is where it was asked to be"
        );
        router.close().await;
    }
    let router = SqliteRouter::connect(&RoutingConfig::sqlite(":memory:"))
        .await
        .unwrap();
    assert_eq!(router.engine_names("default").unwrap(), ["writer"]);
    sqlx::query("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        .execute(&router)
        .await
        .unwrap();
    let session = router.session();
    sqlx::query("INSERT INTO items (name) VALUES ('m')")
        .execute(&session)
        .await
        .unwrap();
    session.commit().await.unwrap();
    assert_eq!(
        count(&router).await,
        1,
        "reads see the one in-memory database"
    );
}

/// Issue 6, defect 6: with SQLite's single writer held by a session, the same task's
/// statements that need the writer fail at once; inside `scope` they join the session.
#[tokio::test]
async fn a_session_holding_the_writer_never_hangs_its_own_task() {
    use std::time::Duration;
    use tokio::time::timeout;
    let dir = tempfile::tempdir().unwrap();
    let mut config = RoutingConfig::sqlite(dir.path().join("writer.db"));
    // A hang would last this long: far beyond the bound below.
    config.pool = dbroute::PoolConfig::default().acquire_timeout(Duration::from_secs(60));
    let router = SqliteRouter::connect(&config).await.unwrap();
    sqlx::query("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        .execute(&router)
        .await
        .unwrap();
    let session = router.session();
    sqlx::query("INSERT INTO items (name) VALUES ('s')")
        .execute(&session)
        .await
        .unwrap();
    let bound = Duration::from_secs(5);
    let insert = || sqlx::query("INSERT INTO items (name) VALUES ('r')").execute(&router);
    let refused = [
        timeout(bound, insert()).await.map(|r| r.map(drop)),
        timeout(bound, async { router.begin().await.map(drop) }).await,
        timeout(bound, primary_context(count_result(&router)))
            .await
            .map(|r| r.map(drop)),
    ];
    for outcome in refused {
        let error = outcome.expect("no hang").unwrap_err();
        let routing = dbroute::Error::from_sqlx(&error).expect("a routing error");
        assert!(routing.is_session_in_progress(), "{routing}");
    }
    // Inside the session's scope they join it, so its rollback undoes them.
    session
        .scope(async {
            insert().await.unwrap();
            let nested = router.begin().await.unwrap();
            sqlx::query("INSERT INTO items (name) VALUES ('n')")
                .execute(&nested)
                .await
                .unwrap();
            nested.commit().await.unwrap();
            assert_eq!(primary_context(count(&router)).await, 3);
        })
        .await;
    session.rollback().await.unwrap();
    assert_eq!(count(router.primary()).await, 0);
}

async fn count_result(
    executor: impl sqlx::Executor<'_, Database = sqlx::Sqlite>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM items")
        .fetch_one(executor)
        .await
}

/// The shared session on SQLite: joined futures, one transaction; a savepoint's rollback keeps
/// the outer work.
#[tokio::test]
async fn shared_sessions_and_savepoints() {
    let dir = tempfile::tempdir().unwrap();
    let router = router(&dir).await;
    let session = router.session();
    let insert = |name: &'static str| {
        sqlx::query("INSERT INTO items (name) VALUES (?)")
            .bind(name)
            .execute(&session)
    };
    let (a, b, c) = tokio::join!(insert("a"), insert("b"), insert("c"));
    a.unwrap();
    b.unwrap();
    c.unwrap();
    let savepoint = session.begin().await.unwrap();
    assert_eq!(savepoint.depth(), 2);
    sqlx::query("INSERT INTO items (name) VALUES ('gone')")
        .execute(&savepoint)
        .await
        .unwrap();
    assert_eq!(count(&session).await, 4);
    savepoint.rollback().await.unwrap();
    assert_eq!(count(&session).await, 3);
    assert_eq!(count(&router).await, 0, "nothing committed yet");
    // A savepoint handle that outlives its session's commit is told so, and never starts a
    // transaction of its own.
    let outlived = session.begin().await.unwrap();
    session.commit().await.unwrap();
    assert_eq!(count(&router).await, 3);
    let error = sqlx::query("INSERT INTO items (name) VALUES ('late')")
        .execute(&outlived)
        .await
        .unwrap_err();
    assert!(
        matches!(
            dbroute::Error::from_sqlx(&error),
            Some(dbroute::Error::TransactionEnded)
        ),
        "{error}"
    );
    assert!(!session.in_transaction());
    assert!(outlived.commit().await.is_err());
    assert_eq!(count(&router).await, 3);
}

/// SQLite's readers share the writer's file: a committed write is visible to them at once, so
/// read-your-writes has nothing to capture or wait for, and reads after writes stay on the
/// reader. Tokens still work, so code written for PostgreSQL runs unchanged.
#[tokio::test]
async fn read_your_writes_costs_nothing_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let router = router(&dir).await;
    assert_eq!(router.consistency(), dbroute::Consistency::ReadYourWrites);
    sqlx::query("INSERT INTO items (name) VALUES ('a')")
        .execute(&router)
        .await
        .unwrap();
    assert_eq!(answered_by(&router).await, "reader");
    assert_eq!(count(&router).await, 1);
    let token = router.token().await.unwrap();
    let parsed: dbroute::ConsistencyToken = token.to_string().parse().unwrap();
    let seen = router.with_token(&parsed, count(&router)).unwrap().await;
    assert_eq!(seen, 1);
    assert!(
        router
            .wait_for(&parsed, std::time::Duration::ZERO)
            .await
            .unwrap()
    );
    let stats = router.consistency_stats();
    assert_eq!((stats.captures, stats.checked_reads), (0, 0), "{stats:?}");
}
