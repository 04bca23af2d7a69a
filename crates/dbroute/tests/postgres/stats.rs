//! `Router::stats` against the servers' own answers: every statement counted once, on the
//! engine that served it (asked with `inet_server_port()`), under the reason it was routed for.

use std::collections::HashMap;

use dbroute::classify::Reason;
use dbroute::{ErrorKind, RouteReason, RouterStats, primary_context};

use super::{Node, cluster, node_of, router, sql, table};

/// The engine name of the server on `port`, as the test config names engines.
fn engine_of(port: i32, primary: &str) -> String {
    match node_of(port) {
        Node::Primary => primary.to_owned(),
        Node::Replica(index) => cluster().replicas()[index].name().to_owned(),
    }
}

/// How many more statements `engine` served for `reason` in `after` than in `before`.
fn grew(before: &RouterStats, after: &RouterStats, engine: &str, reason: RouteReason) -> u64 {
    let count = |stats: &RouterStats| stats.engine(engine).map_or(0, |e| e.for_reason(reason));
    count(after) - count(before)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_each_statement_where_the_server_says_it_ran() {
    let db = router().await;
    let table = table(&db, "stats").await;
    let primary = db.engine_names("default").unwrap()[0].to_owned();
    let before = db.stats();
    let read = RouteReason::Statement(Reason::Read);
    let mut reads: HashMap<String, u64> = HashMap::new();
    for _ in 0..12 {
        let port: i32 = sqlx::query_scalar("SELECT inet_server_port()")
            .fetch_one(&db)
            .await
            .unwrap();
        *reads.entry(engine_of(port, &primary)).or_default() += 1;
    }
    for _ in 0..3 {
        let port: i32 = sqlx::query_scalar(sql(format!(
            "INSERT INTO {table} (note) VALUES (inet_server_port()::text) \
             RETURNING inet_server_port()"
        )))
        .fetch_one(&db)
        .await
        .unwrap();
        assert_eq!(node_of(port), Node::Primary);
    }
    // A session: a read (a replica), a write, a read stuck to the write's transaction.
    let session = db.session();
    let port: i32 = sqlx::query_scalar("SELECT inet_server_port()")
        .fetch_one(&session)
        .await
        .unwrap();
    *reads.entry(engine_of(port, &primary)).or_default() += 1;
    sqlx::query(sql(format!("INSERT INTO {table} (note) VALUES ('s')")))
        .execute(&session)
        .await
        .unwrap();
    let port: i32 = sqlx::query_scalar("SELECT inet_server_port()")
        .fetch_one(&session)
        .await
        .unwrap();
    assert_eq!(node_of(port), Node::Primary);
    session.commit().await.unwrap();
    let port: i32 = primary_context(sqlx::query_scalar("SELECT inet_server_port()").fetch_one(&db))
        .await
        .unwrap();
    assert_eq!(node_of(port), Node::Primary);
    // A read the server refuses: counted, and counted as an error, on a replica.
    assert!(sqlx::query("SELECT 1 / 0").execute(&db).await.is_err());

    let after = db.stats();
    let write = RouteReason::Statement(Reason::Write);
    assert_eq!(
        grew(&before, &after, &primary, write),
        4,
        "3 writes + the session's"
    );
    assert_eq!(
        grew(&before, &after, &primary, RouteReason::StickyAfterWrite),
        1
    );
    assert_eq!(grew(&before, &after, &primary, RouteReason::ScopedGroup), 1);
    // A plain read runs on the primary only while no replica is in the rotation (a replica
    // lagging under the suite's load): whatever the server said, the stats say too.
    let on_primary = reads.get(&primary).copied().unwrap_or(0);
    assert_eq!(grew(&before, &after, &primary, read), on_primary);
    let mut replica_reads = 0;
    for replica in cluster().replicas() {
        let name = replica.name();
        let served = reads.get(name).copied().unwrap_or(0);
        replica_reads += served;
        // The failed `SELECT 1 / 0` is a read too: one replica counted it.
        let counted = grew(&before, &after, name, read);
        assert!(
            counted == served || counted == served + 1,
            "{name}: {counted} vs {served}"
        );
    }
    assert_eq!(
        replica_reads + on_primary,
        13,
        "every plain read counted once"
    );
    assert!(replica_reads > 0, "the replicas served reads");
    let errors: u64 = after.engines.iter().map(|e| e.errors).sum::<u64>()
        - before.engines.iter().map(|e| e.errors).sum::<u64>();
    assert_eq!(errors, 1);
    let kind = |stats: &RouterStats| -> u64 {
        let engines = stats.engines.iter();
        engines.map(|e| e.errors_of(ErrorKind::Database)).sum()
    };
    assert_eq!(
        kind(&after) - kind(&before),
        1,
        "the refused read is a database error"
    );
    // Every statement timed on the engine that ran it; connections taken were timed too.
    for engine in &after.engines {
        let earlier = before.engine(&engine.engine).unwrap();
        let timed = engine.statement_time.count - earlier.statement_time.count;
        assert_eq!(
            timed,
            engine.statements - earlier.statements,
            "{}",
            engine.engine
        );
        assert!(engine.statement_time.max >= engine.statement_time.p50);
    }
    let primary_stats = after.engine(&primary).unwrap();
    assert!(primary_stats.acquire_time.count > before.engine(&primary).unwrap().acquire_time.count);
    assert!(primary_stats.statement_time.total > std::time::Duration::ZERO);
    assert_eq!(after.statements() - before.statements(), 12 + 3 + 3 + 1 + 1);
}
