//! Relations a hot standby cannot read, learnt from the primary's catalog: unlogged tables and
//! the views over them, and views calling writing functions (built in or the user's). Each
//! statement is first shown to fail on a standby, then shown to run on the primary through
//! the router, by the server's own port; ordinary views keep going to replicas.

use dbroute::Reason;
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
