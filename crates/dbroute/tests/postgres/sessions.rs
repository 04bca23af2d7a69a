//! Sessions: sticky after write, commit, rollback, drop, and `sticky_after_write = false`.

use std::time::Duration;

use dbroute::{GroupOptions, PoolConfig};

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
    // (Another task: in this one, the session's open transaction makes the self-deadlock
    // guard refuse a second primary connection.)
    let outside = {
        let (router, t) = (router.clone(), t.clone());
        tokio::spawn(async move { count(router.primary(), &t).await })
    };
    assert_eq!(outside.await.unwrap(), 0, "uncommitted row visible outside");
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
    // One primary connection: the dropped session's connection is the next one handed out, so
    // the statements after the drop run on it, after its return to the pool.
    let router = router_with(crate::config_with(|c| {
        let one = PoolConfig::default()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(3));
        c.groups
            .insert("default".into(), GroupOptions::default().pool(one));
    }))
    .await;
    let t = table(&router, "rollback").await;
    let insert = format!("INSERT INTO {t} (note) VALUES ('gone') RETURNING pg_backend_pid()");

    let session = router.session();
    sqlx::query(sql(insert.clone()))
        .execute(&session)
        .await
        .unwrap();
    session.rollback().await.unwrap();
    assert!(!session.is_sticky());
    assert!(where_runs(&session).await.is_replica());
    assert_eq!(count(router.primary(), &t).await, 0);

    let backend: i32 = {
        let dropped = router.session();
        let pid = sqlx::query_scalar(sql(insert))
            .fetch_one(&dropped)
            .await
            .unwrap();
        assert!(dropped.is_sticky());
        pid
    };
    // Had the drop left the transaction open, this would run inside it (on the same, only
    // connection) and see the row; had it leaked the connection, this would time out.
    let (pid, rows): (i32, i64) = sqlx::query_as(sql(format!(
        "SELECT pg_backend_pid(), (SELECT count(*) FROM {t})"
    )))
    .fetch_one(router.primary())
    .await
    .unwrap();
    assert_eq!((pid, rows), (backend, 0));
    // Seen from outside the router: that backend is idle, not idle in a transaction.
    let mut observer =
        <sqlx::PgConnection as sqlx::Connection>::connect(&crate::cluster().primary().url())
            .await
            .unwrap();
    let state: String = sqlx::query_scalar("SELECT state FROM pg_stat_activity WHERE pid = $1")
        .bind(backend)
        .fetch_one(&mut observer)
        .await
        .unwrap();
    // (Its release check may make it briefly active; it is never left in a transaction.)
    assert!(
        !state.starts_with("idle in transaction"),
        "the dropped session's backend is {state}"
    );
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
    // (From another task: in this one, the session's open transaction makes the guard refuse
    // a second primary connection.)
    let other_router = router.clone();
    let locked_out = tokio::spawn(async move {
        let other = other_router.begin().await.unwrap();
        sqlx::query(sql(nowait)).fetch_one(&other).await.is_err()
    });
    assert!(locked_out.await.unwrap());
    session.commit().await.unwrap();
}

#[tokio::test]
async fn without_sticky_after_write_reads_keep_using_replicas() {
    let config = crate::config_with(|c| c.sticky_after_write = false);
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
