//! Scoped overrides, their precedence, nesting, and isolation between concurrent tasks.

use dbroute::{
    RoutingConfig, current_context, primary_context, replica_context, reset_routing_context,
    use_bind_group,
};

use crate::{Node, cluster, router, router_with, sql, table, where_runs};

/// default = primary, read = replica-1, analytics = replica-2.
pub(crate) fn with_analytics() -> RoutingConfig {
    let c = cluster();
    RoutingConfig::builder()
        .group("default", [c.primary().url()])
        .group("read", [c.replicas()[0].url()])
        .group("analytics", [c.replicas()[1].url()])
        .build()
        .unwrap()
}

#[tokio::test]
async fn primary_and_replica_contexts() {
    let router = router().await;
    assert_eq!(primary_context(where_runs(&router)).await, Node::Primary);
    assert!(replica_context(where_runs(&router)).await.is_replica());
    // Innermost wins, and the outer scope is back after the inner one ends.
    primary_context(async {
        assert!(replica_context(where_runs(&router)).await.is_replica());
        assert_eq!(where_runs(&router).await, Node::Primary);
        assert!(
            reset_routing_context(where_runs(&router))
                .await
                .is_replica()
        );
    })
    .await;
}

#[tokio::test]
async fn replica_context_beats_stickiness_for_reads_but_never_takes_writes() {
    let router = router().await;
    let t = table(&router, "scoped").await;
    let mut session = router.session();
    sqlx::query(sql(format!("INSERT INTO {t} (note) VALUES ('w')")))
        .execute(&mut session)
        .await
        .unwrap();
    assert!(session.is_sticky());
    replica_context(async {
        assert!(where_runs(&mut session).await.is_replica());
        let insert = format!("INSERT INTO {t} (note) VALUES ('w2') RETURNING inet_server_port()");
        let port: i32 = sqlx::query_scalar(sql(insert))
            .fetch_one(&mut session)
            .await
            .unwrap();
        assert_eq!(
            crate::node_of(port),
            Node::Primary,
            "a write never reaches a replica"
        );
    })
    .await;
    assert_eq!(
        where_runs(&mut session).await,
        Node::Primary,
        "sticky again after the scope"
    );
    session.commit().await.unwrap();
}

#[tokio::test]
async fn bind_groups_and_unknown_groups() {
    let router = router_with(with_analytics()).await;
    assert_eq!(where_runs(&router).await, Node::Replica(0));
    assert_eq!(
        use_bind_group("analytics", where_runs(&router)).await,
        Node::Replica(1)
    );
    assert_eq!(
        where_runs(router.group("analytics").unwrap()).await,
        Node::Replica(1)
    );
    // The explicit handle beats the scope.
    let handle = router.group("read").unwrap();
    assert_eq!(
        use_bind_group("analytics", where_runs(handle)).await,
        Node::Replica(0)
    );
    // An unknown scoped group is an error, not a silent fallback.
    let error = use_bind_group("reporting", async {
        sqlx::query("SELECT 1").execute(&router).await.unwrap_err()
    })
    .await;
    assert!(
        error
            .to_string()
            .contains("unknown engine group \"reporting\""),
        "{error}"
    );
}

#[tokio::test]
async fn a_hundred_concurrent_tasks_keep_their_own_scopes() {
    let router = router_with(with_analytics()).await;
    let mut tasks = Vec::new();
    for i in 0..100 {
        let router = router.clone();
        tasks.push(tokio::spawn(async move {
            let expected = match i % 4 {
                0 => Node::Primary,
                1 => Node::Replica(0),
                2 => Node::Replica(1),
                _ => Node::Replica(0),
            };
            let check = async {
                for _ in 0..5 {
                    tokio::task::yield_now().await;
                    assert_eq!(where_runs(&router).await, expected, "task {i}");
                }
            };
            match i % 4 {
                0 => primary_context(check).await,
                1 => replica_context(check).await,
                2 => use_bind_group("analytics", check).await,
                _ => check.await,
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test]
async fn spawned_tasks_inherit_only_through_the_helper() {
    let router = router().await;
    let (plain, carried) = primary_context(async {
        let r1 = router.clone();
        let r2 = router.clone();
        let plain = tokio::spawn(async move { where_runs(&r1).await });
        let carried = dbroute::spawn(async move { where_runs(&r2).await });
        (plain.await.unwrap(), carried.await.unwrap())
    })
    .await;
    assert!(plain.is_replica(), "tokio::spawn starts with no override");
    assert_eq!(carried, Node::Primary);
    assert_eq!(current_context().target(), None);
}
