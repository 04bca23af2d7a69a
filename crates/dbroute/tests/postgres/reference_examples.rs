//! The examples of the reference design's documentation, translated to Rust.

use dbroute::{
    PgRouter, ReplicaConfig, RoutingConfig, RoutingStrategy, primary_context, replica_context,
};

use crate::{Node, cluster, replay, sql, table, where_runs};

/// "Quick Start": one replica; reads go to it.
#[tokio::test]
async fn quick_start() {
    let config = RoutingConfig::builder()
        .primary(cluster().primary().url())
        .replica(cluster().replicas()[0].url())
        .build()
        .unwrap();
    let router = PgRouter::connect(&config).await.unwrap();
    assert_eq!(where_runs(&router).await, Node::Replica(0)); // users = await repo.list()
}

/// "Multiple Replicas" with weights and names, round-robin.
#[tokio::test]
async fn multiple_replicas_with_weights() {
    let config = RoutingConfig::builder()
        .primary(cluster().primary().url())
        .replica(
            ReplicaConfig::new(cluster().replicas()[0].url())
                .weight(2)
                .name("replica-1-us-east"),
        )
        .replica(
            ReplicaConfig::new(cluster().replicas()[1].url())
                .weight(1)
                .name("replica-2-us-west"),
        )
        .routing_strategy(RoutingStrategy::RoundRobin)
        .build()
        .unwrap();
    let router = PgRouter::connect(&config).await.unwrap();
    assert_eq!(
        router.engine_names("read").unwrap(),
        ["replica-1-us-east", "replica-2-us-west"]
    );
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(where_runs(&router).await);
    }
    assert_eq!(seen, [Node::Replica(0), Node::Replica(1), Node::Replica(0)]);
}

/// "Sticky-After-Write": read, write, read (primary), commit, read (replica).
#[tokio::test]
async fn sticky_after_write() {
    let router = crate::router().await;
    let t = table(&router, "alice").await;
    let session = router.session();
    assert!(where_runs(&session).await.is_replica()); // repo.list()
    let id: i32 = sqlx::query_scalar(sql(format!(
        "INSERT INTO {t} (note) VALUES ('Alice') RETURNING id"
    )))
    .fetch_one(&session) // repo.add(User(name="Alice"))
    .await
    .unwrap();
    let name: String = sqlx::query_scalar(sql(format!("SELECT note FROM {t} WHERE id = $1")))
        .bind(id)
        .fetch_one(&session) // repo.get(new_user.id): primary, sees the new row
        .await
        .unwrap();
    assert_eq!(name, "Alice");
    session.commit().await.unwrap();
    replay().await;
    assert!(where_runs(&session).await.is_replica()); // repo.list() after commit
}

/// "FOR UPDATE Detection".
#[tokio::test]
async fn for_update_detection() {
    let router = crate::router().await;
    let t = table(&router, "forupdate").await;
    sqlx::query(sql(format!("INSERT INTO {t} (note) VALUES ('u')")))
        .execute(&router)
        .await
        .unwrap();
    let session = router.session();
    let port: i32 = sqlx::query_scalar(sql(format!(
        "SELECT inet_server_port() FROM {t} WHERE id = 1 FOR UPDATE"
    )))
    .fetch_one(&session)
    .await
    .unwrap();
    assert_eq!(crate::node_of(port), Node::Primary);
    session.commit().await.unwrap();
}

/// "Primary Context" and "Replica Context", and "Temporarily Disable Routing".
#[tokio::test]
async fn contexts_and_disabling() {
    let router = crate::router().await;
    assert_eq!(primary_context(where_runs(&router)).await, Node::Primary);
    assert!(replica_context(where_runs(&router)).await.is_replica());
    let disabled = RoutingConfig::builder()
        .group("default", [cluster().primary().url()])
        .group("read", [cluster().replicas()[0].url()])
        .enabled(false)
        .build()
        .unwrap();
    let router = PgRouter::connect(&disabled).await.unwrap();
    assert_eq!(where_runs(&router).await, Node::Primary);
}
