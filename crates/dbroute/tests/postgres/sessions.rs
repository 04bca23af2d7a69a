//! Sessions: sticky after write, commit, rollback, drop, and `sticky_after_write = false`.

use crate::{Node, replay, router, router_with, sql, table, where_runs};

async fn count(executor: impl sqlx::Executor<'_, Database = sqlx::Postgres>, t: &str) -> i64 {
    sqlx::query_scalar(sql(format!("SELECT count(*) FROM {t}")))
        .fetch_one(executor)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_session_sticks_to_its_primary_transaction_until_commit() {
    let router = router().await;
    let t = table(&router, "sticky").await;
    let mut session = router.session();

    assert!(where_runs(&mut session).await.is_replica());
    assert!(!session.is_sticky());

    let insert = format!("INSERT INTO {t} (note) VALUES ('mine') RETURNING inet_server_port()");
    let port: i32 = sqlx::query_scalar(sql(insert))
        .fetch_one(&mut session)
        .await
        .unwrap();
    assert_eq!(crate::node_of(port), Node::Primary);
    assert!(session.is_sticky());

    // Later reads join the transaction: they see the uncommitted row; others do not.
    assert_eq!(where_runs(&mut session).await, Node::Primary);
    assert_eq!(count(&mut session, &t).await, 1);
    assert_eq!(
        count(router.primary(), &t).await,
        0,
        "uncommitted row visible outside"
    );
    let in_tx: bool = sqlx::query_scalar("SELECT now() = statement_timestamp()")
        .fetch_one(&mut session)
        .await
        .unwrap();
    assert!(
        !in_tx,
        "the read ran inside the session's transaction (now() is its start)"
    );

    session.commit().await.unwrap();
    assert!(!session.is_sticky());
    assert!(where_runs(&mut session).await.is_replica());
    replay().await;
    assert_eq!(count(&router, &t).await, 1);
}

#[tokio::test]
async fn rollback_and_drop_discard_the_writes() {
    let router = router().await;
    let t = table(&router, "rollback").await;
    let insert = format!("INSERT INTO {t} (note) VALUES ('gone')");

    let mut session = router.session();
    sqlx::query(sql(insert.clone()))
        .execute(&mut session)
        .await
        .unwrap();
    session.rollback().await.unwrap();
    assert!(!session.is_sticky());
    assert!(where_runs(&mut session).await.is_replica());

    {
        let mut dropped = router.session();
        sqlx::query(sql(insert))
            .execute(&mut dropped)
            .await
            .unwrap();
        assert!(dropped.is_sticky());
    }
    // The dropped session's rollback runs when its connection returns to the pool.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(count(router.primary(), &t).await, 0);
}

#[tokio::test]
async fn a_locking_read_begins_the_transaction_and_keeps_its_locks() {
    let router = router().await;
    let t = table(&router, "locks").await;
    sqlx::query(sql(format!("INSERT INTO {t} (note) VALUES ('row')")))
        .execute(&router)
        .await
        .unwrap();
    let mut session = router.session();
    let locked = format!("SELECT inet_server_port() FROM {t} WHERE id = 1 FOR UPDATE");
    let port: i32 = sqlx::query_scalar(sql(locked))
        .fetch_one(&mut session)
        .await
        .unwrap();
    assert_eq!(crate::node_of(port), Node::Primary);
    assert!(session.is_sticky());
    // Another connection cannot take the lock while the session holds it.
    let nowait = format!("SELECT id FROM {t} WHERE id = 1 FOR UPDATE NOWAIT");
    let mut other = router.begin().await.unwrap();
    assert!(
        sqlx::query(sql(nowait))
            .fetch_one(&mut *other)
            .await
            .is_err()
    );
    session.commit().await.unwrap();
}

#[tokio::test]
async fn without_sticky_after_write_reads_keep_using_replicas() {
    let config = dbroute::RoutingConfig {
        sticky_after_write: false,
        ..crate::config()
    };
    let router = router_with(config).await;
    let t = table(&router, "nonsticky").await;
    let mut session = router.session();
    sqlx::query(sql(format!("INSERT INTO {t} (note) VALUES ('w')")))
        .execute(&mut session)
        .await
        .unwrap();
    assert!(session.in_transaction());
    assert!(!session.is_sticky());
    assert!(where_runs(&mut session).await.is_replica());
    assert_eq!(
        count(&mut session, &t).await,
        0,
        "a replica cannot see the uncommitted row"
    );
    session.commit().await.unwrap();
}

#[tokio::test]
async fn streams_inside_the_session_transaction_and_acquire_on_the_primary() {
    use futures_util::TryStreamExt;
    use sqlx::Acquire;

    let router = router().await;
    let t = table(&router, "streams").await;
    let mut session = router.session();
    sqlx::query(sql(format!("INSERT INTO {t} (note) VALUES ('a'), ('b')")))
        .execute(&mut session)
        .await
        .unwrap();
    // A streamed read joins the transaction and sees both uncommitted rows.
    let notes: Vec<String> = sqlx::query_scalar(sql(format!("SELECT note FROM {t} ORDER BY id")))
        .fetch(&mut session)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(notes, ["a", "b"]);
    session.rollback().await.unwrap();

    // Code generic over `Acquire` gets the primary.
    let mut conn = (&router).acquire().await.unwrap();
    assert_eq!(where_runs(&mut *conn).await, Node::Primary);
    let mut tx = Acquire::begin(&router).await.unwrap();
    assert_eq!(where_runs(&mut *tx).await, Node::Primary);
}
