//! The client's own work per statement, direct vs through the router, counted in
//! instructions: repeatable where wall-clock timings of a loopback round trip drift by
//! percents. Run it under callgrind with `scripts/statement-cost.sh`, which prints the figures
//! (`BENCHMARKS.md` has them).
//!
//! It starts its own PostgreSQL primary and replica (`dbroute-test-cluster`), then runs the
//! same prepared SELECT `N` times on the replica's own pool (`MODE=direct`: sqlx's defaults,
//! which ping each connection before use; `MODE=unpinged`: without that ping, as the router's
//! replica pools are) or through a router whose read group is that replica (`MODE=router`).
//! Only `statements` is counted.

use std::hint::black_box;

use dbroute::{PgRouter, RoutingConfig};
use dbroute_test_cluster::Cluster;
use sqlx::postgres::PgPoolOptions;

#[inline(never)]
async fn statements<'c, E>(executor: E, n: usize)
where
    E: sqlx::Executor<'c, Database = sqlx::Postgres> + Copy,
{
    for i in 0..n {
        let v: i32 = sqlx::query_scalar("SELECT $1::int")
            .bind(i as i32)
            .fetch_one(executor)
            .await
            .expect("statement");
        black_box(v);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::var("N")
        .unwrap_or_else(|_| "2000".into())
        .parse()?;
    let mode = std::env::var("MODE").unwrap_or_else(|_| "router".into());
    let cluster = Cluster::start(1)?;
    let replica = cluster.replicas()[0].url();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let config = RoutingConfig::builder()
            .primary(cluster.primary().url())
            .replica(replica.clone())
            .build()?;
        let router = PgRouter::connect(&config).await?;
        let direct = PgPoolOptions::new().connect(&replica).await?;
        let unpinged = PgPoolOptions::new()
            .test_before_acquire(false)
            .connect(&replica)
            .await?;
        // Warm them up: connections, prepared statements, the classification cache.
        statements(&direct, 10).await;
        statements(&unpinged, 10).await;
        statements(&router, 10).await;
        match mode.as_str() {
            "direct" => statements(&direct, n).await,
            "unpinged" => statements(&unpinged, n).await,
            _ => statements(&router, n).await,
        }
        Ok(())
    })
}
