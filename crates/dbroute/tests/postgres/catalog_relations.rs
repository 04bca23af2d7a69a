//! Relations a hot standby cannot read, learnt from the primary's catalog: unlogged tables and
//! the views over them, and views calling writing functions (built in or the user's). Each
//! statement is first shown to fail on a standby, then shown to run on the primary through
//! the router, by the server's own port; ordinary views keep going to replicas.

use dbroute::{PgRouter, Reason};
use sqlx::{Connection, PgConnection};

use crate::{Node, cluster, config_with, node_of, replay, router, router_with, sql, table};

#[tokio::test]
async fn unlogged_tables_and_views_that_write_are_read_on_the_primary() {
    let router = router().await;
    let t = table(&router, "catalog_rel").await;
    // Through the router: each DDL reloads the catalog before the next statement.
    let setup = format!(
        "CREATE UNLOGGED TABLE {t}_queue (id int); INSERT INTO {t}_queue VALUES (1); \
         CREATE VIEW {t}_pending AS SELECT id, inet_server_port() AS port FROM {t}_queue; \
         CREATE VIEW {t}_nested AS SELECT port FROM {t}_pending; \
         CREATE SEQUENCE {t}_seq; \
         CREATE VIEW {t}_ticket AS SELECT nextval('{t}_seq') AS n, inet_server_port() AS port; \
         CREATE FUNCTION {t}_bump() RETURNS int LANGUAGE sql AS \
           $$ INSERT INTO {t} (note) VALUES ('bump') RETURNING 1 $$; \
         CREATE VIEW {t}_bumped AS SELECT {t}_bump() AS n, inet_server_port() AS port; \
         CREATE VIEW {t}_plain AS SELECT id, inet_server_port() AS port FROM {t}"
    );
    for statement in setup.split("; ") {
        sqlx::query(sql(statement)).execute(&router).await.unwrap();
    }
    sqlx::query(sql(format!("INSERT INTO {t} (note) VALUES ('row')")))
        .execute(&router)
        .await
        .unwrap();
    replay().await;
    let refused = [
        format!("SELECT inet_server_port() FROM {t}_queue"),
        format!("SELECT port FROM {t}_pending"),
        format!("SELECT port FROM {t}_nested"),
        format!("SELECT port FROM {t}_ticket"),
        format!("SELECT port FROM public.{t}_bumped"),
    ];
    let plain = format!("SELECT port FROM {t}_plain");

    // What a standby says: the label comes from the server, not from the router.
    let mut standby = PgConnection::connect(&cluster().replicas()[0].url())
        .await
        .unwrap();
    for statement in &refused {
        let error = sqlx::query_scalar::<_, i32>(sql(statement.clone()))
            .fetch_one(&mut standby)
            .await
            .expect_err(statement);
        assert!(
            error.to_string().contains("recovery") || error.to_string().contains("read-only"),
            "{statement}: {error}"
        );
    }
    sqlx::query_scalar::<_, i32>(sql(plain.clone()))
        .fetch_one(&mut standby)
        .await
        .expect("a standby reads an ordinary view");

    for statement in &refused {
        let explained = router.explain(statement).unwrap();
        assert_eq!(
            explained.classification.reason(),
            Reason::PrimaryOnlyRelation,
            "{statement}"
        );
        let port: i32 = sqlx::query_scalar(sql(statement.clone()))
            .fetch_one(&router)
            .await
            .expect(statement);
        assert_eq!(node_of(port), Node::Primary, "{statement}");
    }
    // Those reads wrote (nextval, the function's insert): the router's read-your-writes
    // would send the next read to the primary until the replicas have them.
    replay().await;
    for _ in 0..2 {
        let port: i32 = sqlx::query_scalar(sql(plain.clone()))
            .fetch_one(&router)
            .await
            .unwrap();
        assert!(node_of(port).is_replica(), "{plain} left the replicas");
    }

    // Without the catalog, the same reads reach a standby and fail there.
    let blind = router_with(config_with(|c| c.load_volatile_functions = false)).await;
    let error = sqlx::query_scalar::<_, i32>(sql(refused[0].clone()))
        .fetch_one(&blind)
        .await
        .expect_err("an unlogged table read on a replica");
    assert!(error.to_string().contains("recovery"), "{error}");
}

#[tokio::test]
async fn relations_made_behind_the_routers_back_are_learnt_by_a_refresh() {
    let router = router().await;
    let t = table(&router, "catalog_later").await;
    let before = router.refresh_catalog().await.unwrap();
    let mut elsewhere = PgConnection::connect(&cluster().primary().url())
        .await
        .unwrap();
    sqlx::raw_sql(sql(format!(
        "CREATE UNLOGGED TABLE {t}_later (id int); INSERT INTO {t}_later VALUES (1)"
    )))
    .execute(&mut elsewhere)
    .await
    .unwrap();
    replay().await;
    let read = format!("SELECT inet_server_port() FROM {t}_later");
    assert!(router.explain(&read).unwrap().classification.is_read());
    let after = router.refresh_catalog().await.unwrap();
    // Other tests create relations concurrently: at least this one is new.
    assert!(after.primary_only_relations > before.primary_only_relations);
    assert_eq!(
        router.explain(&read).unwrap().classification.reason(),
        Reason::PrimaryOnlyRelation
    );
    let port: i32 = sqlx::query_scalar(sql(read))
        .fetch_one(&router)
        .await
        .unwrap();
    assert_eq!(node_of(port), Node::Primary);
}

/// A migration holding a view's lock in an open transaction must not stall the router: the
/// catalog load reads catalogs only, and takes no lock on any view.
#[tokio::test]
async fn a_catalog_load_does_not_wait_behind_a_locked_view() {
    let router = router().await;
    let t = table(&router, "catalog_lock").await;
    sqlx::query(sql(format!("CREATE VIEW {t}_v AS SELECT id FROM {t}")))
        .execute(&router)
        .await
        .unwrap();
    let mut migration = PgConnection::connect(&cluster().primary().url())
        .await
        .unwrap();
    sqlx::raw_sql(sql(format!(
        "BEGIN; ALTER VIEW {t}_v RENAME COLUMN id TO ident"
    )))
    .execute(&mut migration)
    .await
    .unwrap();
    let load = tokio::time::timeout(std::time::Duration::from_secs(5), router.refresh_catalog());
    load.await
        .expect("the catalog load waited behind the view's lock")
        .unwrap();
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut migration)
        .await
        .unwrap();
}

/// PostgreSQL makes a new function `VOLATILE` unless told otherwise: one written in SQL or
/// PL/pgSQL whose body only reads (dynamic SQL of constant text included) goes to a replica
/// (and runs there); one that writes, runs computed dynamic SQL, calls one that does, or
/// reads an unlogged table stays on the primary.
#[tokio::test]
async fn functions_that_only_read_run_on_replicas() {
    let router = router().await;
    let t = table(&router, "catalog_sqlfn").await;
    let setup = [
        format!(
            "CREATE FUNCTION {t}_port() RETURNS int LANGUAGE sql AS $$ SELECT inet_server_port() $$"
        ),
        format!(
            "CREATE FUNCTION {t}_count() RETURNS int LANGUAGE sql \
             AS $$ SELECT count(*)::int + 0 * {t}_port() FROM {t} $$"
        ),
        format!(
            "CREATE FUNCTION {t}_add() RETURNS int LANGUAGE sql \
             AS $$ INSERT INTO {t} (note) VALUES ('f') RETURNING inet_server_port() $$"
        ),
        // Dynamic SQL of constant text: what it runs is known.
        format!(
            "CREATE FUNCTION {t}_proc() RETURNS int LANGUAGE plpgsql \
             AS $$ DECLARE p int; BEGIN EXECUTE 'SELECT inet_server_port()' INTO p; RETURN p; END $$"
        ),
        // Computed dynamic SQL: nothing can tell what it runs.
        format!(
            "CREATE FUNCTION {t}_computed() RETURNS int LANGUAGE plpgsql AS $$ DECLARE p int; \
             BEGIN EXECUTE concat('SELECT ', 'inet_server_port()') INTO p; RETURN p; END $$"
        ),
        format!(
            "CREATE FUNCTION {t}_via_computed() RETURNS int LANGUAGE sql \
             AS $$ SELECT {t}_computed() $$"
        ),
        format!(
            "CREATE FUNCTION {t}_block() RETURNS int LANGUAGE plpgsql AS $$ \
             DECLARE n int; BEGIN SELECT count(*) INTO n FROM {t}; \
             RAISE NOTICE 'insert % rows', n; RETURN inet_server_port() + 0 * n; END $$"
        ),
        format!(
            "CREATE FUNCTION {t}_block_add() RETURNS int LANGUAGE plpgsql AS $$ \
             BEGIN INSERT INTO {t} (note) VALUES ('b'); RETURN inet_server_port(); END $$"
        ),
        format!(
            "CREATE FUNCTION {t}_block_seq() RETURNS int LANGUAGE plpgsql AS $$ \
             BEGIN PERFORM {t}_add(); RETURN inet_server_port(); END $$"
        ),
        format!(
            "CREATE FUNCTION {t}_via_proc() RETURNS int LANGUAGE sql AS $$ SELECT {t}_proc() $$"
        ),
        format!("CREATE UNLOGGED TABLE {t}_scratch (id int)"),
        format!(
            "CREATE FUNCTION {t}_scratch_port() RETURNS int LANGUAGE sql \
             AS $$ SELECT inet_server_port() FROM {t}_scratch UNION ALL SELECT inet_server_port() $$"
        ),
    ];
    for statement in setup {
        sqlx::query(sql(statement)).execute(&router).await.unwrap();
    }
    replay().await;
    let mut standby = PgConnection::connect(&cluster().replicas()[0].url())
        .await
        .unwrap();
    for (call, read) in [
        (format!("SELECT {t}_port()"), true),
        (format!("SELECT {t}_count() + {t}_port()"), true),
        (format!("SELECT {t}_block()"), true),
        (format!("SELECT {t}_proc()"), true),
        (format!("SELECT {t}_add()"), false),
        (format!("SELECT {t}_computed()"), false),
        (format!("SELECT {t}_via_computed()"), false),
        // Calls a function judged only at its own call sites (a template): kept.
        (format!("SELECT {t}_via_proc()"), false),
        (format!("SELECT {t}_block_add()"), false),
        (format!("SELECT {t}_block_seq()"), false),
        (format!("SELECT {t}_scratch_port()"), false),
    ] {
        let on_standby = sqlx::query_scalar::<_, i32>(sql(call.clone()))
            .fetch_one(&mut standby)
            .await;
        let explained = router.explain(&call).unwrap().classification;
        let port: i32 = sqlx::query_scalar(sql(call.clone()))
            .fetch_one(&router)
            .await
            .unwrap();
        if read {
            on_standby.expect(&call);
            assert!(explained.is_read(), "{call}: {explained:?}");
            assert!(node_of(port).is_replica(), "{call} ran on the primary");
        } else {
            // Kept on the primary: refused by a standby, or (dynamic SQL) unprovable.
            assert!(!explained.is_read(), "{call}: {explained:?}");
            assert_eq!(node_of(port), Node::Primary, "{call}");
        }
    }
}

/// A function left `VOLATILE` whose body cannot be proven read-only (computed dynamic SQL) stays on the
/// primary, unless the user vouches that it only reads (`read_only_functions`): then it runs
/// on a replica, where the server says it ran.
#[tokio::test]
async fn functions_the_user_vouches_for_run_on_replicas() {
    let router = router().await;
    let t = table(&router, "catalog_vouched").await;
    sqlx::query(sql(format!(
        "CREATE FUNCTION {t}_report() RETURNS int LANGUAGE plpgsql AS $$ DECLARE p int; \
         BEGIN EXECUTE concat('SELECT ', 'inet_server_port()') INTO p; RETURN p; END $$"
    )))
    .execute(&router)
    .await
    .unwrap();
    replay().await;
    let call = format!("SELECT {t}_report()");
    let port: i32 = sqlx::query_scalar(sql(call.clone()))
        .fetch_one(&router)
        .await
        .unwrap();
    assert_eq!(node_of(port), Node::Primary, "not vouched for: the primary");
    let vouched = router_with(config_with(|c| {
        c.read_only_functions = vec![format!("{t}_REPORT")];
    }))
    .await;
    for _ in 0..2 {
        let port: i32 = sqlx::query_scalar(sql(call.clone()))
            .fetch_one(&vouched)
            .await
            .unwrap();
        assert!(node_of(port).is_replica(), "{call} ran on the primary");
    }
    // The built-in list still wins.
    let config = config_with(|c| c.read_only_functions = vec!["nextval".into()]);
    let stubborn = router_with(config).await;
    let explained = stubborn.explain("SELECT nextval('s')").unwrap();
    assert!(!explained.classification.is_read());
}

/// Runs `setup` through the router (each DDL reloads its catalog), waits for the replicas,
/// and opens a connection to a standby.
async fn set_up(router: &PgRouter, setup: impl IntoIterator<Item = String>) -> PgConnection {
    for statement in setup {
        sqlx::query(sql(statement)).execute(router).await.unwrap();
    }
    replay().await;
    PgConnection::connect(&cluster().replicas()[0].url())
        .await
        .unwrap()
}

/// `statement` (answering the server's port) is refused by the standby, as a standby or for
/// its read-only transaction; the router keeps it on the primary for `reason`, where it runs.
async fn refused_then_primary(
    router: &PgRouter,
    standby: &mut PgConnection,
    statement: &str,
    reason: Reason,
) {
    let error = sqlx::query_scalar::<_, i32>(sql(statement.to_owned()))
        .fetch_one(standby)
        .await
        .expect_err(statement);
    let message = error.to_string();
    assert!(
        message.contains("read-only") || message.contains("recovery"),
        "{statement}: {message}"
    );
    let explained = router.explain(statement).unwrap().classification;
    assert_eq!(explained.reason(), reason, "{statement}");
    let port: i32 = sqlx::query_scalar(sql(statement.to_owned()))
        .fetch_one(router)
        .await
        .expect(statement);
    assert_eq!(node_of(port), Node::Primary, "{statement}");
}

/// `statement` (answering the server's port) runs on the standby; the router sends it to a
/// replica, where it runs.
async fn served_then_replica(router: &PgRouter, standby: &mut PgConnection, statement: &str) {
    sqlx::query_scalar::<_, i32>(sql(statement.to_owned()))
        .fetch_one(standby)
        .await
        .expect(statement);
    let explained = router.explain(statement).unwrap().classification;
    assert!(explained.is_read(), "{statement}: {explained:?}");
    for _ in 0..2 {
        let port: i32 = sqlx::query_scalar(sql(statement.to_owned()))
            .fetch_one(router)
            .await
            .expect(statement);
        assert!(node_of(port).is_replica(), "{statement} ran on the primary");
    }
}

/// A function whose only possibly-writing statements are `EXECUTE`s of text made from
/// constants and its parameters (the regression suite's `EXPLAIN ANALYZE` helpers) is judged
/// at each call by the statement it would make of the call's literal arguments: it runs on a
/// replica when that statement reads, and on the primary when it writes, reads what a standby
/// refuses, or cannot be known (an argument that is not a literal, a parameter the body
/// reassigns or shadows, `$n` naming an output parameter). Every statement kept on the
/// primary is first shown refused by a standby, and each routed one where the server says it
/// ran.
#[tokio::test]
async fn dynamic_sql_is_judged_by_the_statement_each_call_makes() {
    let router = router().await;
    let t = table(&router, "catalog_dynamic").await;
    let setup = [
        format!(
            "CREATE FUNCTION {t}_run(q text) RETURNS int LANGUAGE plpgsql AS $$ DECLARE p int; \
             BEGIN EXECUTE format('SELECT inet_server_port() FROM (%s) AS q LIMIT 1', q) INTO p; \
             RETURN p; END $$"
        ),
        format!(
            "CREATE FUNCTION {t}_explain(text) RETURNS TABLE (line text, port int) \
             LANGUAGE plpgsql AS $$ DECLARE ln text; BEGIN \
             FOR ln IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || $1 LOOP \
             line := ln; port := inet_server_port(); RETURN NEXT; END LOOP; END $$"
        ),
        format!(
            "CREATE FUNCTION {t}_reassigned(q text) RETURNS int LANGUAGE plpgsql AS $$ \
             BEGIN q := 'DELETE FROM {t} WHERE false'; EXECUTE q; \
             RETURN inet_server_port(); END $$"
        ),
        format!(
            "CREATE FUNCTION {t}_shadowed(q text) RETURNS int LANGUAGE plpgsql AS $$ BEGIN \
             DECLARE q text := 'DELETE FROM {t} WHERE false'; BEGIN EXECUTE q; END; \
             RETURN inet_server_port(); END $$"
        ),
        // `$n` counts output parameters too: here `$1` is `stmt`, not the call's argument.
        format!(
            "CREATE FUNCTION {t}_out_first(OUT stmt text, q text, OUT port int) \
             LANGUAGE plpgsql AS $$ BEGIN stmt := 'DELETE FROM {t} WHERE false'; \
             EXECUTE $1; port := inet_server_port(); END $$"
        ),
        format!(
            "CREATE FUNCTION {t}_shifted(OUT port int, q text) LANGUAGE plpgsql \
             AS $$ BEGIN EXECUTE $2 INTO port; END $$"
        ),
        format!("CREATE SEQUENCE {t}_seq"),
        format!("CREATE UNLOGGED TABLE {t}_scratch (id int)"),
        format!("INSERT INTO {t}_scratch VALUES (1)"),
        format!("INSERT INTO {t} (note) VALUES ('row')"),
    ];
    let mut standby = set_up(&router, setup).await;
    let explain = |q: &str| format!("SELECT port FROM {t}_explain('{q}') LIMIT 1");
    let reads = [
        format!("SELECT {t}_run('SELECT 1')"),
        format!("SELECT {t}_run($q$SELECT note FROM {t} WHERE note <> 'x'$q$)"),
        explain(&format!("SELECT * FROM {t}")),
        format!("SELECT {t}_shifted('SELECT inet_server_port()')"),
    ];
    for call in &reads {
        served_then_replica(&router, &mut standby, call).await;
    }
    let refused = [
        format!("SELECT {t}_run('SELECT nextval(''{t}_seq'')')"),
        format!("SELECT {t}_run('SELECT * FROM {t}_scratch')"),
        explain(&format!("DELETE FROM {t} WHERE false")),
        format!("SELECT {t}_reassigned('SELECT 1')"),
        format!("SELECT {t}_shadowed('SELECT 1')"),
        format!("SELECT port FROM {t}_out_first('SELECT 1')"),
    ];
    for call in &refused {
        refused_then_primary(&router, &mut standby, call, Reason::WriteFunction).await;
    }
    // An argument that is not a literal: what it runs is unknown.
    let computed = format!("SELECT {t}_run(note) FROM {t}");
    let explained = router.explain(&computed).unwrap().classification;
    assert_eq!(explained.reason(), Reason::WriteFunction);
}

/// A scan of a partitioned table or of an inheritance parent reads its partitions and
/// children: one unlogged partition or child makes a standby refuse the parent, and the views
/// over it. Each refusal is first shown on a standby; a parent whose partitions are all logged
/// keeps going to replicas.
#[tokio::test]
async fn parents_of_unlogged_partitions_are_read_on_the_primary() {
    let router = router().await;
    let t = table(&router, "catalog_parts").await;
    let setup = [
        format!("CREATE TABLE {t}_events (id int) PARTITION BY LIST (id)"),
        format!("CREATE TABLE {t}_events_1 PARTITION OF {t}_events FOR VALUES IN (1)"),
        format!("CREATE UNLOGGED TABLE {t}_events_2 PARTITION OF {t}_events FOR VALUES IN (2)"),
        format!("INSERT INTO {t}_events VALUES (1), (2)"),
        format!("CREATE TABLE {t}_base (id int)"),
        format!("CREATE UNLOGGED TABLE {t}_child () INHERITS ({t}_base)"),
        format!("INSERT INTO {t}_child VALUES (1)"),
        format!("CREATE VIEW {t}_over AS SELECT id FROM {t}_events"),
        format!("CREATE TABLE {t}_logged (id int) PARTITION BY LIST (id)"),
        format!("CREATE TABLE {t}_logged_1 PARTITION OF {t}_logged FOR VALUES IN (1)"),
        format!("INSERT INTO {t}_logged VALUES (1)"),
    ];
    let mut standby = set_up(&router, setup).await;
    let read = |relation: &str| format!("SELECT inet_server_port() FROM {t}_{relation} LIMIT 1");
    for statement in [read("events"), read("base"), read("over")] {
        let reason = Reason::PrimaryOnlyRelation;
        refused_then_primary(&router, &mut standby, &statement, reason).await;
    }
    served_then_replica(&router, &mut standby, &read("logged")).await;
}
