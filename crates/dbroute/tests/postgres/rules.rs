//! The statement rules, proven by the server that ran each statement, through every sqlx
//! entry point.

use futures_util::TryStreamExt;
use sqlx::{Executor, QueryBuilder, Row};

use crate::{Node, node_of, replay, router, router_with, sql, table, where_runs};

/// Runs `statement` (which returns `inet_server_port()` as its first column) and says where.
async fn ran_on(router: &dbroute::PgRouter, statement: &str) -> Node {
    let row = sqlx::query(sql(statement))
        .fetch_one(router)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
    node_of(row.get::<i32, _>(0))
}

#[tokio::test]
async fn each_rule_sends_the_statement_where_the_table_says() {
    let router = router().await;
    let t = table(&router, "rules").await;
    sqlx::query(sql(format!("INSERT INTO {t} (note) VALUES ('seed')")))
        .execute(&router)
        .await
        .unwrap();
    sqlx::raw_sql(sql(format!(
        "DROP SEQUENCE IF EXISTS {t}_seq; CREATE SEQUENCE {t}_seq"
    )))
    .execute(&router)
    .await
    .unwrap();
    replay().await;
    let port = "inet_server_port()";
    let cases: Vec<(String, bool)> = vec![
        // Plain reads, however dressed: a replica.
        (format!("SELECT {port}"), true),
        (format!("select {port} /* INSERT */ -- DELETE"), true),
        (format!("SELECT {port}, 'UPDATE {t} SET x = 1'"), true),
        (format!("WITH r AS (SELECT 1) SELECT {port} FROM r"), true),
        (
            format!("(SELECT {port}) UNION ALL (SELECT {port}) LIMIT 1"),
            true,
        ),
        (format!("SELECT {port}, $$ DELETE FROM {t} $$"), true),
        (format!("SELECT {port}, count(*) FROM {t}"), true),
        // Writes, including through fetch methods: the primary.
        (
            format!("INSERT INTO {t} (note) VALUES ('x') RETURNING {port}"),
            false,
        ),
        (
            format!("UPDATE {t} SET note = 'y' WHERE id = 1 RETURNING {port}"),
            false,
        ),
        (
            format!("DELETE FROM {t} WHERE note = 'x' RETURNING {port}"),
            false,
        ),
        // Locking reads: the primary.
        (
            format!("SELECT {port} FROM {t} WHERE id = 1 FOR UPDATE"),
            false,
        ),
        (
            format!("SELECT {port} FROM {t} WHERE id = 1 FOR SHARE"),
            false,
        ),
        (
            format!("SELECT {port} FROM {t} WHERE id = 1 FOR NO KEY UPDATE"),
            false,
        ),
        (
            format!("SELECT {port} FROM {t} WHERE id = 1 FOR KEY SHARE"),
            false,
        ),
        // Data-modifying CTE: the primary.
        (
            format!(
                "WITH w AS (INSERT INTO {t} (note) VALUES ('cte') RETURNING id) SELECT {port} FROM w"
            ),
            false,
        ),
        // Side-effect function: the primary.
        (format!("SELECT {port}, nextval('{t}_seq')"), false),
    ];
    for (statement, read) in cases {
        let node = ran_on(&router, &statement).await;
        assert_eq!(node.is_replica(), read, "{statement} ran on {node:?}");
    }
}

#[tokio::test]
async fn select_into_and_multi_statement_text_run_on_the_primary() {
    let router = router().await;
    let t = table(&router, "into").await;
    // SELECT INTO creates a table: it would fail on a hot standby.
    sqlx::query(sql(format!("SELECT 1 AS one INTO {t}_copy")))
        .execute(&router)
        .await
        .expect("SELECT INTO ran on the primary");
    // MERGE (PostgreSQL 15 has no MERGE ... RETURNING, 13 and 14 no MERGE at all): a standby
    // would refuse it.
    let version: i32 = sqlx::query_scalar("SELECT current_setting('server_version_num')::int")
        .fetch_one(&router)
        .await
        .unwrap();
    if version >= 150_000 {
        sqlx::query(sql(format!(
            "MERGE INTO {t} USING (SELECT 1 AS id) s ON {t}.id = s.id \
             WHEN NOT MATCHED THEN INSERT (note) VALUES ('merged')"
        )))
        .execute(&router)
        .await
        .expect("MERGE ran on the primary");
    }
    // A read followed by a write in one text: the primary (a standby would refuse it).
    sqlx::raw_sql(sql(format!(
        "SELECT 1; INSERT INTO {t} (note) VALUES ('multi')"
    )))
    .execute(&router)
    .await
    .expect("multi-statement text ran on the primary");
    // All-read multi-statement text may use a replica.
    let rows = sqlx::raw_sql("SELECT pg_is_in_recovery(); SELECT pg_is_in_recovery()")
        .fetch_all(&router)
        .await
        .unwrap();
    assert!(
        rows.iter().all(|r| r.get::<bool, _>(0)),
        "all-read text ran on a replica"
    );
    sqlx::raw_sql(sql(format!("DROP TABLE {t}_copy")))
        .execute(&router)
        .await
        .unwrap();
}

#[tokio::test]
async fn every_sqlx_entry_point_is_routed() {
    let router = router().await;
    let t = table(&router, "entry").await;
    let read = "SELECT inet_server_port()";
    let ports = [
        sqlx::query_scalar::<_, i32>(read)
            .fetch_one(&router)
            .await
            .unwrap(),
        sqlx::query_scalar::<_, i32>(read)
            .fetch_optional(&router)
            .await
            .unwrap()
            .unwrap(),
        sqlx::query_scalar::<_, i32>(read)
            .fetch_all(&router)
            .await
            .unwrap()[0],
        sqlx::query_scalar::<_, i32>(read)
            .fetch(&router)
            .try_next()
            .await
            .unwrap()
            .unwrap(),
        sqlx::query_as::<_, (i32,)>(read)
            .fetch_one(&router)
            .await
            .unwrap()
            .0,
        sqlx::raw_sql(read).fetch_one(&router).await.unwrap().get(0),
        (&router).fetch_one(read).await.unwrap().get(0),
        QueryBuilder::<sqlx::Postgres>::new(read)
            .build_query_scalar::<i32>()
            .fetch_one(&router)
            .await
            .unwrap(),
    ];
    for port in ports {
        assert!(
            node_of(port).is_replica(),
            "read went to {:?}",
            node_of(port)
        );
    }
    // Writes through each entry point land on the primary (a standby would refuse them).
    let insert = format!("INSERT INTO {t} (note) VALUES ($1) RETURNING inet_server_port()");
    let mut builder = QueryBuilder::<sqlx::Postgres>::new(format!("INSERT INTO {t} (note) "));
    builder.push_values(["a", "b"], |mut b, note| {
        b.push_bind(note);
    });
    builder.push(" RETURNING inet_server_port()");
    let write_ports = [
        sqlx::query_scalar::<_, i32>(sql(insert.clone()))
            .bind("one")
            .fetch_one(&router)
            .await
            .unwrap(),
        sqlx::query_scalar::<_, i32>(sql(insert.clone()))
            .bind("opt")
            .fetch_optional(&router)
            .await
            .unwrap()
            .unwrap(),
        sqlx::query_scalar::<_, i32>(sql(insert.clone()))
            .bind("all")
            .fetch_all(&router)
            .await
            .unwrap()[0],
        sqlx::query_scalar::<_, i32>(sql(insert))
            .bind("stream")
            .fetch(&router)
            .try_next()
            .await
            .unwrap()
            .unwrap(),
        builder
            .build_query_scalar::<i32>()
            .fetch_all(&router)
            .await
            .unwrap()[0],
    ];
    for port in write_ports {
        assert_eq!(node_of(port), Node::Primary);
    }
    let affected = sqlx::query(sql(format!("UPDATE {t} SET note = 'z'")))
        .execute(&router)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(affected, 6);
}

#[tokio::test]
async fn explicit_handles_pick_their_group() {
    let router = router().await;
    assert_eq!(where_runs(router.primary()).await, Node::Primary);
    assert!(where_runs(router.replica()).await.is_replica());
    assert!(where_runs(router.group("read").unwrap()).await.is_replica());
    assert_eq!(
        where_runs(router.group("default").unwrap()).await,
        Node::Primary
    );
    let error = router.group("analytics").unwrap_err();
    assert!(dbroute::Error::from_sqlx(&error).is_some_and(|e| e.is_unknown_group()));
    assert!(
        error.to_string().contains("the router has: default, read"),
        "{error}"
    );
    // A write through the replica handle still goes to the primary.
    let t = table(&router, "handles").await;
    let insert = format!("INSERT INTO {t} (note) VALUES ('h') RETURNING inet_server_port()");
    let port: i32 = sqlx::query_scalar(sql(insert))
        .fetch_one(router.replica())
        .await
        .unwrap();
    assert_eq!(node_of(port), Node::Primary);
}

#[tokio::test]
async fn transactions_primary_and_read_only_replica() {
    let router = router().await;
    let t = table(&router, "tx").await;
    let tx = router.begin().await.unwrap();
    assert_eq!(where_runs(&tx).await, Node::Primary);
    sqlx::query(sql(format!("INSERT INTO {t} (note) VALUES ('tx')")))
        .execute(&tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let read = router.begin_read_only().await.unwrap();
    let node = where_runs(&read).await;
    assert!(node.is_replica());
    // Every statement of the read-only transaction stays on that one replica.
    for _ in 0..5 {
        assert_eq!(where_runs(&read).await, node);
    }
    let write = sqlx::query(sql(format!("INSERT INTO {t} (note) VALUES ('no')")))
        .execute(&read)
        .await;
    assert!(
        write.is_err(),
        "a write inside a read-only replica transaction must fail"
    );
}

#[tokio::test]
async fn disabled_routing_sends_everything_to_the_first_default_engine() {
    let config = crate::config_with(|c| c.enabled = false);
    let router = router_with(config).await;
    for _ in 0..10 {
        assert_eq!(where_runs(&router).await, Node::Primary);
    }
    let explained = router.explain("SELECT 1").unwrap();
    assert_eq!(explained.reason, dbroute::RouteReason::RoutingDisabled);
}

#[tokio::test]
async fn without_replicas_reads_use_the_primary() {
    let config = crate::config_with(|c| c.read_replicas.clear());
    let router = router_with(config).await;
    assert_eq!(where_runs(&router).await, Node::Primary);
}

#[tokio::test]
async fn replica_connections_refuse_writes_even_when_pointing_at_the_primary() {
    // A misconfigured "replica" that is really the primary, and a function that writes but
    // looks like a read: the read-only safety belt on replica connections stops the write.
    let router = router().await;
    let t = table(&router, "belt").await;
    let function = format!(
        "CREATE OR REPLACE FUNCTION {t}_touch() RETURNS int LANGUAGE sql AS \
         $$ INSERT INTO {t} (note) VALUES ('touched') RETURNING 1 $$"
    );
    sqlx::query(sql(function)).execute(&router).await.unwrap();
    // Without the catalog's help (issue: a function that looks like a read).
    let config = crate::config_with(|c| {
        c.read_replicas = vec![crate::cluster().primary().url().into()];
        c.load_volatile_functions = false;
    });
    let misconfigured = router_with(config).await;
    let error = sqlx::query(sql(format!("SELECT {t}_touch()")))
        .execute(&misconfigured)
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("read-only transaction"),
        "{error}"
    );
    let count: i64 = sqlx::query_scalar(sql(format!("SELECT count(*) FROM {t}")))
        .fetch_one(router.primary())
        .await
        .unwrap();
    assert_eq!(count, 0, "nothing was written");
}

#[tokio::test]
async fn an_unreachable_engine_fails_at_connect_without_showing_its_password() {
    // With `require_all_engines`: by default a replica down at start is only marked down.
    let config = crate::config_with(|c| {
        c.read_replicas = vec![
            dbroute::ReplicaConfig::new("postgres://app:hunter2@127.0.0.1:1/db")
                .name("gone")
                .into(),
        ];
        c.health.require_all_engines = true;
    });
    let error = dbroute::PgRouter::connect(&config).await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("cannot connect to engine \"gone\""),
        "{message}"
    );
    assert!(message.contains("app:***@127.0.0.1:1"), "{message}");
    assert!(
        !message.contains("hunter2") && !format!("{error:?}").contains("hunter2"),
        "{message}"
    );
}

#[tokio::test]
async fn volatile_user_functions_run_on_the_primary() {
    let router = router().await;
    let t = table(&router, "volatile").await;
    let function = format!(
        "CREATE OR REPLACE FUNCTION {t}_add(note text) RETURNS int LANGUAGE plpgsql AS $$ \
         BEGIN INSERT INTO {t} (note) VALUES (note); RETURN inet_server_port(); END $$"
    );
    sqlx::query(sql(function)).execute(&router).await.unwrap();
    // Learnt at connect time: a new router knows the function.
    let router = crate::router().await;
    let call = format!("SELECT {t}_add('via router')");
    assert_eq!(
        router.explain(&call).unwrap().classification.reason(),
        dbroute::Reason::WriteFunction
    );
    let port: i32 = sqlx::query_scalar(sql(call))
        .fetch_one(&router)
        .await
        .expect("ran on the primary");
    assert_eq!(node_of(port), Node::Primary);

    // A function created behind the router's back (another application's connection) is
    // learnt by a refresh.
    let later = format!(
        "CREATE OR REPLACE FUNCTION {t}_later() RETURNS int LANGUAGE sql AS \
         $$ INSERT INTO {t} (note) VALUES ('later') RETURNING 1 $$"
    );
    let mut elsewhere =
        <sqlx::PgConnection as sqlx::Connection>::connect(&crate::cluster().primary().url())
            .await
            .unwrap();
    sqlx::query(sql(later))
        .execute(&mut elsewhere)
        .await
        .unwrap();
    let call = format!("SELECT {t}_later()");
    assert!(router.explain(&call).unwrap().classification.is_read());
    assert!(router.refresh_volatile_functions().await.unwrap() >= 2);
    assert!(!router.explain(&call).unwrap().classification.is_read());
    sqlx::query(sql(call))
        .execute(&router)
        .await
        .expect("ran on the primary");

    // Configured write functions work without the catalog.
    let config = crate::config_with(|c| {
        c.load_volatile_functions = false;
        c.write_functions = vec![format!("{t}_ADD")];
    });
    let configured = router_with(config).await;
    let port: i32 = sqlx::query_scalar(sql(format!("SELECT {t}_add('configured')")))
        .fetch_one(&configured)
        .await
        .unwrap();
    assert_eq!(node_of(port), Node::Primary);
}

#[tokio::test]
async fn disabled_routing_keeps_transactions_on_the_first_default_engine() {
    let config = crate::config_with(|c| c.enabled = false);
    let router = router_with(config).await;
    let read = router.begin_read_only().await.unwrap();
    assert_eq!(where_runs(&read).await, Node::Primary);
    read.commit().await.unwrap();
    let write = router.begin().await.unwrap();
    assert_eq!(where_runs(&write).await, Node::Primary);
}

/// `COPY ... TO STDOUT` / `FROM STDIN` through the executor: refused with a typed error before
/// any engine, so no engine is ejected for the driver's inability to speak COPY's protocol;
/// the same texts run on a standby (TO STDOUT) and the primary (FROM STDIN) through sqlx's
/// COPY API, and plain statements keep running on every engine.
#[tokio::test]
async fn copy_statements_are_refused_without_blaming_an_engine() {
    let router = router().await;
    let table = table(&router, "copied").await;
    let session = router.session();
    for text in [
        format!("COPY {table} TO STDOUT"),
        format!("COPY (SELECT * FROM {table}) TO STDOUT"),
        format!("COPY {table} (note) FROM STDIN"),
        format!("SELECT 1; COPY {table} TO STDOUT"),
    ] {
        let through_router = sqlx::raw_sql(sql(text.clone())).execute(&router).await;
        let through_session = sqlx::raw_sql(sql(text.clone())).execute(&session).await;
        for outcome in [through_router, through_session] {
            let error = outcome.expect_err(&text);
            assert!(
                matches!(
                    dbroute::Error::from_sqlx(&error),
                    Some(dbroute::Error::CopyProtocol)
                ),
                "{text}: {error}"
            );
            assert!(error.to_string().contains("copy_out_raw"), "{error}");
        }
    }
    session.rollback().await.unwrap();
    let health = router.health();
    assert!(
        health
            .engines
            .iter()
            .all(|e| e.state == dbroute::EngineState::Up),
        "{health:?}"
    );
    assert!(where_runs(&router).await.is_replica());
    assert_eq!(where_runs(router.primary()).await, Node::Primary);
    // What the refusal suggests works: a replica's own pool would serve the read; the
    // primary's pool takes the load.
    use sqlx::postgres::PgPoolCopyExt;
    let mut load = router
        .primary_pool()
        .copy_in_raw(&format!("COPY {table} (note) FROM STDIN"))
        .await
        .unwrap();
    load.send("copied\n".as_bytes()).await.unwrap();
    assert_eq!(load.finish().await.unwrap(), 1);
}
