//! Issue 6: each defect the outside review found, and the shared session, as regression tests.
//! Outcomes are asked of the servers (ports, recovery state, rows, `pg_stat_activity`,
//! transaction ids), never taken from the router's bookkeeping.

use std::time::Duration;

use dbroute::{
    Error, GroupOptions, PgRouter, PoolConfig, RoutingConfig, primary_context, use_bind_group,
};
use sqlx::{Executor, SqlSafeStr};
use tokio::time::timeout;

use crate::{
    Logs, Node, cluster, config_with, database, in_database, node_of, replay, router, router_with,
    sql, table, where_runs,
};

/// A bound on waits that would be hangs: far above any real statement here.
const NO_HANG: Duration = Duration::from_secs(10);

fn routing_error(error: &sqlx::Error) -> &Error {
    Error::from_sqlx(error).unwrap_or_else(|| panic!("not a routing error: {error}"))
}

async fn count(executor: impl Executor<'_, Database = sqlx::Postgres>, t: &str) -> i64 {
    sqlx::query_scalar(sql(format!("SELECT count(*) FROM {t}")))
        .fetch_one(executor)
        .await
        .unwrap()
}

async fn insert(
    executor: impl Executor<'_, Database = sqlx::Postgres>,
    t: &str,
    id: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query(sql(format!("INSERT INTO {t} (id, note) VALUES ($1, 'n')")))
        .bind(id)
        .execute(executor)
        .await
        .map(drop)
}

/// Defect 1: with routing off, a session is still one transaction (rollback and drop undo it).
#[tokio::test]
async fn d1_routing_off_keeps_a_session_one_transaction() {
    let router = router_with(config_with(|c| c.enabled = false)).await;
    let t = table(&router, "d1").await;
    let session = router.session();
    assert_eq!(where_runs(&session).await, Node::Primary);
    assert!(!session.in_transaction(), "a read alone begins nothing");
    insert(&session, &t, 1).await.unwrap();
    insert(&session, &t, 2).await.unwrap();
    // Both writes and the read after them are one transaction on the primary.
    let xids: Vec<i64> = sqlx::query_scalar(sql(format!(
        "SELECT txid_current() FROM {t} UNION ALL SELECT txid_current()"
    )))
    .fetch_all(&session)
    .await
    .unwrap();
    assert_eq!(xids.len(), 3, "the read sees both uncommitted rows");
    assert!(xids.windows(2).all(|w| w[0] == w[1]));
    session.rollback().await.unwrap();
    assert_eq!(count(router.primary(), &t).await, 0, "rollback undid both");
    {
        let dropped = router.session();
        insert(&dropped, &t, 3).await.unwrap();
    }
    // Before the fix each statement autocommitted: the row would be there now.
    assert_eq!(count(router.primary(), &t).await, 0, "drop undid it");
}

/// Defect 2: one primary. (Validation rejects a default group of several engines; its
/// message is tested with the other config errors.)
#[test]
fn d2_several_engines_in_the_default_group_are_refused_with_the_fix() {
    let error = RoutingConfig::builder()
        .group("default", ["postgres://p1/db", "postgres://p2/db"])
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("has 2 engines") && error.contains("put replicas in the read group"),
        "{error}"
    );
}

/// Defect 3: PostgreSQL answers COMMIT of a failed transaction with a rollback; dbroute says
/// so, naming the statement, for sessions, transactions and savepoints.
#[tokio::test]
async fn d3_commit_after_a_failed_statement_reports_the_rollback() {
    let router = router().await;
    let t = table(&router, "d3").await;

    // The insert-if-absent idiom, carrying on after the duplicate.
    let session = router.session();
    insert(&session, &t, 1).await.unwrap();
    assert!(insert(&session, &t, 1).await.is_err());
    let error = session.commit().await.unwrap_err();
    match routing_error(&error) {
        Error::TransactionAborted {
            unit: "transaction",
            statement: 2,
            cause,
        } => assert!(cause.contains("duplicate key"), "{cause}"),
        other => panic!("{other}"),
    }
    let code = error.as_database_error().and_then(|e| e.code());
    assert_eq!(code.as_deref(), Some("25P02"));
    assert!(!session.in_transaction());
    assert_eq!(
        count(router.primary(), &t).await,
        0,
        "nothing was committed"
    );

    let tx = router.begin().await.unwrap();
    insert(&tx, &t, 2).await.unwrap();
    assert!(insert(&tx, &t, 2).await.is_err());
    let error = tx.commit().await.unwrap_err();
    assert!(routing_error(&error).is_transaction_aborted(), "{error}");
    assert_eq!(count(router.primary(), &t).await, 0);

    // A savepoint around the statement that may fail keeps the rest of the work.
    let session = router.session();
    insert(&session, &t, 3).await.unwrap();
    let savepoint = session.begin().await.unwrap();
    assert_eq!(savepoint.depth(), 2);
    assert!(insert(&savepoint, &t, 3).await.is_err());
    savepoint.rollback().await.unwrap();
    // Committing a failed savepoint rolls it back, says so, and keeps the outer work.
    let savepoint = session.begin().await.unwrap();
    assert!(insert(&savepoint, &t, 3).await.is_err());
    let error = savepoint.commit().await.unwrap_err();
    assert!(
        matches!(
            routing_error(&error),
            Error::TransactionAborted {
                unit: "savepoint",
                ..
            }
        ),
        "{error}"
    );
    insert(&session, &t, 4).await.unwrap();
    session.commit().await.unwrap();
    let ids: Vec<i32> = sqlx::query_scalar(sql(format!("SELECT id FROM {t} ORDER BY id")))
        .fetch_all(router.primary())
        .await
        .unwrap();
    assert_eq!(ids, [3, 4]);
}

/// Defect 4: prepare and describe run where the statement would run. `only_other` exists in
/// another database, which the read and analytics groups point at, and not in the primary's.
#[tokio::test]
async fn d4_prepare_and_describe_run_where_the_statement_would() {
    let other = database("d4_other", "CREATE TABLE only_other (id int)").await;
    let c = cluster();
    let config = RoutingConfig::builder()
        .group("default", [c.primary().url()])
        .group("read", [in_database(&c.replicas()[0].url(), &other)])
        .group("analytics", [in_database(&c.replicas()[1].url(), &other)])
        .build()
        .unwrap();
    let router = router_with(config).await;
    let read = || "SELECT id FROM only_other".into_sql_str();
    let write = || "INSERT INTO only_other (id) VALUES (1)".into_sql_str();
    fn missing<T>(result: Result<T, sqlx::Error>) {
        let error = result.err().expect("must fail on the primary");
        assert!(error.to_string().contains("does not exist"), "{error}");
    }
    (&router)
        .prepare(read())
        .await
        .expect("read: the read group");
    missing((&router).prepare(write()).await);
    let analytics = router.group("analytics").unwrap();
    analytics
        .prepare(read())
        .await
        .expect("the analytics group");
    analytics
        .describe(read())
        .await
        .expect("the analytics group");
    missing(router.primary().prepare(read()).await);
    missing(router.primary().describe(read()).await);
    use_bind_group("analytics", async { (&router).prepare(read()).await })
        .await
        .expect("the scoped group");
    missing(primary_context(async { (&router).prepare(read()).await }).await);
}

/// Defect 4: a session describes inside its own open transaction: it sees the table it
/// created, and does not wait on its own `ALTER TABLE` lock (the shape of sqlx's
/// `it_describes_and_inserts_json_and_jsonb`).
#[tokio::test]
async fn d4_a_session_describes_inside_its_own_transaction() {
    let router = router().await;
    let t = format!("d4_json_{}", std::process::id());
    let session = router.session();
    sqlx::query(sql(format!(
        "CREATE TABLE {t} (id int PRIMARY KEY, j json, jb jsonb)"
    )))
    .execute(&session)
    .await
    .unwrap();
    let described = timeout(
        NO_HANG,
        (&session).describe(sql(format!("SELECT j, jb FROM {t}")).into_sql_str()),
    )
    .await
    .expect("no hang")
    .expect("the session sees its own table");
    assert_eq!(described.columns().len(), 2);
    sqlx::query(sql(format!("ALTER TABLE {t} ADD COLUMN x int")))
        .execute(&session)
        .await
        .unwrap();
    let insert =
        format!("INSERT INTO {t} (id, j, jb, x) VALUES ($1, $2::text::json, $3::text::jsonb, $4)");
    timeout(
        NO_HANG,
        (&session).prepare(sql(insert.clone()).into_sql_str()),
    )
    .await
    .expect("no wait on the session's own lock")
    .expect("prepared in the transaction");
    sqlx::query(sql(insert))
        .bind(1)
        .bind(r#"{"a": 1}"#)
        .bind("[1,2]")
        .bind(7)
        .execute(&session)
        .await
        .unwrap();
    let jb: String = sqlx::query_scalar(sql(format!("SELECT jb::text FROM {t}")))
        .fetch_one(&session)
        .await
        .unwrap();
    assert_eq!(jb, "[1, 2]");
    session.rollback().await.unwrap();
}

/// Defect 4: `begin_read_only` follows the scope.
#[tokio::test]
async fn d4_read_only_transactions_follow_the_scope() {
    let router = router_with(crate::scopes::with_analytics()).await;
    let plain = router.begin_read_only().await.unwrap();
    assert_eq!(where_runs(&plain).await, Node::Replica(0));
    plain.commit().await.unwrap();
    let primary = primary_context(router.begin_read_only()).await.unwrap();
    assert_eq!(where_runs(&primary).await, Node::Primary);
    let refused = sqlx::query("CREATE TEMP TABLE d4_ro (x int)")
        .execute(&primary)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("read-only"), "{refused}");
    drop(primary);
    let analytics = use_bind_group("analytics", router.begin_read_only())
        .await
        .unwrap();
    assert_eq!(where_runs(&analytics).await, Node::Replica(1));
}

/// Defect 6: 2 x max_connections request-shaped tasks, each a session that also writes and
/// reads through the router and opens a nested transaction, complete: inside `scope` they
/// join the session and use one primary connection each.
#[tokio::test]
async fn d6_twice_max_connections_request_shaped_tasks_complete() {
    const MAX: u32 = 3;
    let router = router_with(config_with(|c| {
        let pool = PoolConfig::default()
            .max_connections(MAX)
            .acquire_timeout(Duration::from_secs(30));
        c.groups
            .insert("default".into(), GroupOptions::default().pool(pool));
    }))
    .await;
    let t = table(&router, "d6").await;
    let requests = (0..2 * MAX as i32).map(|i| {
        let (router, t) = (router.clone(), t.clone());
        tokio::spawn(async move {
            let session = router.session();
            session
                .scope(async {
                    insert(&session, &t, i).await?;
                    insert(&router, &t, 100 + i).await?; // joins the session
                    let mine = primary_context(count(&router, &t)).await; // in the session
                    assert!(mine >= 2);
                    let nested = router.begin().await?; // a savepoint of the session
                    assert_eq!(nested.depth(), 2);
                    insert(&nested, &t, 200 + i).await?;
                    nested.commit().await
                })
                .await?;
            session.commit().await
        })
    });
    let all = timeout(
        Duration::from_secs(60),
        futures_util::future::join_all(requests),
    )
    .await
    .expect("every request completes");
    for outcome in all {
        outcome.unwrap().unwrap();
    }
    assert_eq!(count(router.primary(), &t).await, 3 * 2 * MAX as i64);
}

/// Defect 6: outside `scope`, a statement of the same task that needs another primary
/// connection fails at once, naming the session, instead of waiting.
#[tokio::test]
async fn d6_outside_scope_the_same_task_is_told_at_once() {
    let router = router_with(config_with(|c| {
        let pool = PoolConfig::default()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30));
        c.groups
            .insert("default".into(), GroupOptions::default().pool(pool));
    }))
    .await;
    let t = table(&router, "d6_told").await;
    let session = router.session();
    insert(&session, &t, 1).await.unwrap();
    let holder = format!("session #{}", session.id());
    let refusals = [
        timeout(NO_HANG, insert(&router, &t, 2)).await,
        timeout(NO_HANG, primary_context(count_result(&router, &t)))
            .await
            .map(|r| r.map(drop)),
        timeout(NO_HANG, count_result(router.primary(), &t))
            .await
            .map(|r| r.map(drop)),
        timeout(NO_HANG, async { router.begin().await.map(drop) }).await,
        timeout(NO_HANG, async {
            sqlx::Acquire::acquire(&router).await.map(drop)
        })
        .await,
    ];
    for refusal in refusals {
        let error = refusal.expect("no hang").unwrap_err();
        let routing = routing_error(&error);
        assert!(routing.is_session_in_progress(), "{routing}");
        assert!(routing.to_string().contains(&holder), "{routing}");
    }
    // Replica reads need no primary connection.
    assert!(where_runs(&router).await.is_replica());
    session.commit().await.unwrap();
    insert(&router, &t, 3)
        .await
        .expect("free again after commit");
}

async fn count_result(
    executor: impl Executor<'_, Database = sqlx::Postgres>,
    t: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(sql(format!("SELECT count(*) FROM {t}")))
        .fetch_one(executor)
        .await
}

/// Defect 7: a router over existing pools gives its replicas the read-only belt and learns the
/// primary's catalog before the first statement.
#[tokio::test]
async fn d7_a_router_over_pools_has_the_belt_and_the_catalog() {
    use sqlx::postgres::PgPoolOptions;
    let setup = router().await;
    let t = table(&setup, "d7").await;
    let touch = format!(
        "CREATE OR REPLACE FUNCTION {t}_touch() RETURNS int LANGUAGE sql AS \
         $$ INSERT INTO {t} (note) VALUES ('touched') RETURNING 1 $$"
    );
    sqlx::query(sql(touch)).execute(&setup).await.unwrap();
    let primary = cluster().primary().url();
    // The "replica" is the primary itself: only the belt can stop a write there.
    let router = PgRouter::from_pools(
        PgPoolOptions::new().connect_lazy(&primary).unwrap(),
        [PgPoolOptions::new().connect_lazy(&primary).unwrap()],
    );
    let port: i32 = sqlx::query_scalar(sql(format!("SELECT {t}_touch() + inet_server_port() - 1")))
        .fetch_one(&router)
        .await
        .expect("known from the catalog: ran on the primary pool");
    assert_eq!(node_of(port), Node::Primary);
    assert_eq!(count(router.primary(), &t).await, 1);
    // A writing function the catalog does not know (created behind the router's back) looks
    // like a read and goes to the "replica": the belt refuses the write.
    let sneaky = format!(
        "CREATE OR REPLACE FUNCTION {t}_sneaky() RETURNS int LANGUAGE sql AS \
         $$ INSERT INTO {t} (note) VALUES ('sneaky') RETURNING 1 $$"
    );
    sqlx::query(sql(sneaky)).execute(&setup).await.unwrap();
    let error = sqlx::query(sql(format!("SELECT {t}_sneaky()")))
        .execute(&router)
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("read-only transaction"),
        "{error}"
    );
    assert_eq!(count(router.primary(), &t).await, 1);
}

/// Defect 10: a session's write routed to another writable group is refused, not left
/// outside the session's transaction.
#[tokio::test]
async fn d10_a_sessions_write_never_escapes_its_transaction() {
    let shard = database("d10_shard", "CREATE TABLE items (id int, note text)").await;
    let c = cluster();
    let config = RoutingConfig::builder()
        .group("default", [c.primary().url()])
        .group("read", [c.replicas()[0].url()])
        .group("shard", [in_database(&c.primary().url(), &shard)])
        .group_options("shard", GroupOptions::default().writable(true))
        .build()
        .unwrap();
    let router = router_with(config).await;
    let session = router.session();
    let error = use_bind_group("shard", insert(&session, "items", 1))
        .await
        .unwrap_err();
    assert!(
        matches!(routing_error(&error), Error::WriteOutsideSession { group } if group == "shard"),
        "{error}"
    );
    // Inside the session's scope, the router's statements are the session's: refused too.
    let error = session
        .scope(use_bind_group("shard", insert(&router, "items", 2)))
        .await
        .unwrap_err();
    assert!(matches!(
        routing_error(&error),
        Error::WriteOutsideSession { .. }
    ));
    session.rollback().await.unwrap();
    let shard_handle = router.group("shard").unwrap();
    assert_eq!(
        count(shard_handle, "items").await,
        0,
        "nothing reached the shard"
    );
    // Reads of the shard in a session, and writes through its own handle, are fine.
    assert_eq!(use_bind_group("shard", count(&session, "items")).await, 0);
    insert(shard_handle, "items", 3).await.unwrap();
    assert_eq!(count(shard_handle, "items").await, 1);
}

/// Defect 11: a statement failing on a dead engine logs a warning naming the engine (with its
/// URL redacted) at that moment. (With issue 7's failover the read itself then succeeds on
/// the primary; without the fallback, it fails.)
#[tokio::test]
async fn d11_a_dead_engine_is_named_when_a_statement_fails() {
    let logs = Logs::capture();
    let config = RoutingConfig::builder()
        .primary(cluster().primary().url())
        .replica(
            dbroute::ReplicaConfig::new("postgres://app:hunter2@127.0.0.1:1/db")
                .name("gone")
                .pool(PoolConfig::default().acquire_timeout(Duration::from_secs(1))),
        )
        .health(dbroute::HealthConfig::default().fallback_to_primary(false))
        .build()
        .unwrap();
    let router = PgRouter::connect_lazy(&config).unwrap();
    let error = sqlx::query("SELECT 1").execute(&router).await.unwrap_err();
    let logged = logs.text();
    assert!(
        logged.contains("engine=gone") && logged.contains("app:***@127.0.0.1:1"),
        "{logged}"
    );
    assert!(!logged.contains("hunter2") && !format!("{error} {error:?}").contains("hunter2"));
}

/// Defect 11: one error story: every call of a request handler works with `?` in an
/// application whose error converts from `sqlx::Error`.
#[tokio::test]
async fn d11_handlers_use_question_mark_with_their_own_error_type() {
    #[derive(Debug)]
    struct AppError(sqlx::Error);
    impl From<sqlx::Error> for AppError {
        fn from(error: sqlx::Error) -> Self {
            AppError(error)
        }
    }
    async fn handler(router: &PgRouter, t: &str) -> Result<i64, AppError> {
        let session = router.session();
        insert(&session, t, 1).await?;
        let nested = session.begin().await?;
        insert(&nested, t, 2).await?;
        nested.commit().await?;
        session.commit().await?;
        let tx = router.begin().await?;
        insert(&tx, t, 3).await?;
        tx.commit().await?;
        let n = count_result(router.group("default")?, t).await?;
        router.group("no-such-group")?;
        Ok(n)
    }
    let router = router().await;
    let t = table(&router, "d11").await;
    let AppError(error) = handler(&router, &t).await.unwrap_err();
    assert!(routing_error(&error).is_unknown_group());
    assert_eq!(count(router.primary(), &t).await, 3);
}

/// Defect 12: the catalog follows the application's own migrations and DDL, no restart and no
/// manual refresh. The migrations create writing functions: one routed to a replica would fail.
#[tokio::test]
async fn d12_migrations_and_ddl_keep_the_catalog_current() {
    let db = database(
        "d12",
        "CREATE TABLE events (id serial PRIMARY KEY, note text)",
    )
    .await;
    let c = cluster();
    let config = c
        .replicas()
        .iter()
        .fold(
            RoutingConfig::builder().primary(in_database(&c.primary().url(), &db)),
            |b, r| b.replica(in_database(&r.url(), &db)),
        )
        .build()
        .unwrap();
    let router = router_with(config).await;
    assert_eq!(router.classifier().volatile_function_count(), 0);
    let migrations = tempfile::tempdir().unwrap();
    for (file, functions) in [("1_first.sql", 1..=3), ("2_second.sql", 4..=5)] {
        let body: String = functions
            .map(|n| {
                format!(
                    "CREATE FUNCTION log_{n}() RETURNS int LANGUAGE sql AS \
                     $$ INSERT INTO events (note) VALUES ('{n}') RETURNING id $$;\n"
                )
            })
            .collect();
        std::fs::write(migrations.path().join(file), body).unwrap();
    }
    let migrator = sqlx::migrate::Migrator::new(migrations.path())
        .await
        .unwrap();
    migrator.run(&router).await.unwrap();
    // The next statement is routed with the migrated catalog: log_5() writes, so it must
    // reach the primary (a replica would refuse it).
    sqlx::query("SELECT log_5()")
        .execute(&router)
        .await
        .expect("ran on the primary");
    assert_eq!(router.classifier().volatile_function_count(), 5);

    // DDL committed by a session is known as soon as the commit returns.
    let session = router.session();
    sqlx::query(
        "CREATE FUNCTION log_6() RETURNS int LANGUAGE sql AS \
         $$ INSERT INTO events (note) VALUES ('6') RETURNING id $$",
    )
    .execute(&session)
    .await
    .unwrap();
    session.commit().await.unwrap();
    assert!(
        !router
            .explain("SELECT log_6()")
            .unwrap()
            .classification
            .is_read()
    );
    // Autocommit DDL through the router: known when it returns.
    sqlx::raw_sql(
        "DROP FUNCTION log_6(); CREATE FUNCTION log_7() RETURNS int LANGUAGE sql AS \
         $$ INSERT INTO events (note) VALUES ('7') RETURNING id $$",
    )
    .execute(&router)
    .await
    .unwrap();
    assert!(
        !router
            .explain("SELECT log_7()")
            .unwrap()
            .classification
            .is_read()
    );
    assert!(
        router
            .explain("SELECT log_6()")
            .unwrap()
            .classification
            .is_read()
    );
    replay().await;
}

/// The shared session: `join!`ed futures of one request use one transaction, one statement at
/// a time, and the lazy BEGIN happens once.
#[tokio::test]
async fn a_shared_session_serves_joined_futures_in_one_transaction() {
    let router = router().await;
    let t = table(&router, "joined").await;
    let session = router.session();
    let insert_xid = |id: i32| {
        let (session, t) = (&session, &t);
        async move {
            sqlx::query_scalar::<_, i64>(sql(format!(
                "INSERT INTO {t} (id, note) VALUES ($1, 'j') RETURNING txid_current()"
            )))
            .bind(id)
            .fetch_one(session)
            .await
            .unwrap()
        }
    };
    let (a, b, c, d) = tokio::join!(insert_xid(1), insert_xid(2), insert_xid(3), insert_xid(4));
    assert!(
        a == b && b == c && c == d,
        "one transaction: {a} {b} {c} {d}"
    );
    let (seen, backend): (i64, i32) =
        sqlx::query_as(sql(format!("SELECT count(*), pg_backend_pid() FROM {t}")))
            .fetch_one(&session)
            .await
            .unwrap();
    assert_eq!(seen, 4);
    // Commit, and run code on the same connection right after COMMIT returned.
    let after: Option<(i32, Option<i64>, i64)> = session
        .commit_with(move |connection| {
            Box::pin(async move {
                sqlx::query_as(sql(format!(
                    "SELECT pg_backend_pid(), txid_current_if_assigned(), \
                     (SELECT count(*) FROM {t})"
                )))
                .fetch_one(connection)
                .await
            })
        })
        .await
        .unwrap();
    assert_eq!(
        after,
        Some((backend, None, 4)),
        "same backend, no transaction, committed"
    );
}

/// Issue 7: SQL errors never take an engine out of the rotation; only connection-level
/// failures do. The health report serializes.
#[tokio::test]
async fn sql_errors_never_eject_an_engine() {
    let router = router().await;
    for _ in 0..10 {
        let error = sqlx::query("SELECT 1 / 0")
            .execute(&router)
            .await
            .unwrap_err();
        assert!(error.as_database_error().is_some(), "{error}");
        let missing = sqlx::query("SELECT * FROM no_such_table_anywhere")
            .execute(&router)
            .await
            .unwrap_err();
        assert!(missing.as_database_error().is_some());
    }
    let report = router.health();
    for engine in &report.engines {
        assert_eq!(engine.state, dbroute::EngineState::Up, "{engine:?}");
        assert_eq!(engine.statement_failures, 0);
    }
    let json = serde_json::to_string(&report).unwrap();
    assert!(
        json.contains("\"state\":\"up\"") && json.contains("\"role\":\"replica\""),
        "{json}"
    );
}
