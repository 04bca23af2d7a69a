//! Weights, observed on the servers themselves.

use dbroute::{ReplicaConfig, RoutingConfig, RoutingStrategy};

use crate::{Node, cluster, router_with, where_runs};

fn weighted(strategy: RoutingStrategy) -> RoutingConfig {
    let replicas = cluster().replicas();
    RoutingConfig::builder()
        .primary(cluster().primary().url())
        .replica(
            ReplicaConfig::new(replicas[0].url())
                .weight(2)
                .name("heavy"),
        )
        .replica(
            ReplicaConfig::new(replicas[1].url())
                .weight(1)
                .name("light"),
        )
        .routing_strategy(strategy)
        .build()
        .unwrap()
}

async fn shares(strategy: RoutingStrategy, reads: usize) -> (Vec<Node>, [usize; 2]) {
    let router = router_with(weighted(strategy)).await;
    let mut nodes = Vec::with_capacity(reads);
    let mut counts = [0usize; 2];
    for _ in 0..reads {
        let node = where_runs(&router).await;
        match node {
            Node::Replica(i) => counts[i] += 1,
            Node::Primary => panic!("a plain read reached the primary"),
        }
        nodes.push(node);
    }
    (nodes, counts)
}

#[tokio::test]
async fn round_robin_honours_weights_within_one_percent_and_interleaves() {
    let reads = 3_000;
    let (nodes, counts) = shares(RoutingStrategy::RoundRobin, reads).await;
    let heavy = counts[0] as f64 / reads as f64;
    assert!(
        (heavy - 2.0 / 3.0).abs() < 0.01,
        "heavy share {heavy}, counts {counts:?}"
    );
    // Smooth: the light replica never waits more than two heavy reads.
    let longest_heavy_run = nodes
        .split(|n| *n == Node::Replica(1))
        .map(<[Node]>::len)
        .max()
        .unwrap_or(0);
    assert!(
        longest_heavy_run <= 2,
        "bursts of {longest_heavy_run} heavy reads"
    );
}

#[tokio::test]
async fn random_honours_weights_within_four_percent() {
    // 3,000 draws with p = 2/3: one standard deviation is 0.86 %; 4 % is over 4.5 of them.
    let reads = 3_000;
    let (_, counts) = shares(RoutingStrategy::Random, reads).await;
    let heavy = counts[0] as f64 / reads as f64;
    assert!(
        (heavy - 2.0 / 3.0).abs() < 0.04,
        "heavy share {heavy}, counts {counts:?}"
    );
}
