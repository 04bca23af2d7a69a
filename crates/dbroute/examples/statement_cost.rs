//! The client's own work per statement, direct vs through the router, counted in
//! instructions: repeatable where wall-clock timings of a loopback round trip drift by
//! percents. Run it under callgrind with `scripts/statement-cost.sh`, which prints the figures
//! (`BENCHMARKS.md` has them).
//!
//! It starts its own PostgreSQL primary and replica (`dbroute-test-cluster`), then runs the
//! same prepared SELECT `N` times on the replica's own pool (`MODE=direct`: sqlx's defaults,
//! which ping each connection before use; `MODE=unpinged`: without that ping, as the router's
//! replica pools are) or through a router whose read group is that replica (`MODE=router`).
//! Observability switched on: `MODE=router-spans` (a `tracing` subscriber that enables every
//! `dbroute::statement` span), `MODE=router-metrics` (built with `--features metrics`: a
//! recorder with atomic counters, gauges and histograms), `MODE=router-both`.
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
    // Installed before the router is built: metric handles are registered then.
    let _spans = (mode.ends_with("spans") || mode.ends_with("both")).then(observe::spans);
    if mode.ends_with("metrics") || mode.ends_with("both") {
        observe::metrics()?;
    }
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

/// The observability a user would switch on, as cheap as a real one gets.
mod observe {
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::layer::SubscriberExt;

    /// A subscriber with every `dbroute::statement` span enabled (the registry stores each
    /// span and its fields, as any real subscriber does); the guard keeps it installed.
    pub(crate) fn spans() -> tracing::subscriber::DefaultGuard {
        let filter = Targets::new().with_target(dbroute::STATEMENT_TARGET, tracing::Level::DEBUG);
        tracing::subscriber::set_default(tracing_subscriber::registry().with(filter))
    }

    /// A recorder whose handles are atomics (what an exporter's handles cost at least).
    #[cfg(feature = "metrics")]
    pub(crate) fn metrics() -> Result<(), Box<dyn std::error::Error>> {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicU64, Ordering};

        use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, SharedString, Unit};

        struct Sum(AtomicU64);

        impl metrics::HistogramFn for Sum {
            fn record(&self, value: f64) {
                self.0.fetch_add(value.to_bits() >> 40, Ordering::Relaxed);
            }
        }

        struct Atomics;

        impl metrics::Recorder for Atomics {
            fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
            fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
            fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
            fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
                Counter::from_arc(Arc::new(AtomicU64::new(0)))
            }
            fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
                Gauge::from_arc(Arc::new(AtomicU64::new(0)))
            }
            fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
                Histogram::from_arc(Arc::new(Sum(AtomicU64::new(0))))
            }
        }

        metrics::set_global_recorder(Atomics).map_err(|e| e.to_string().into())
    }

    #[cfg(not(feature = "metrics"))]
    pub(crate) fn metrics() -> Result<(), Box<dyn std::error::Error>> {
        Err("MODE=router-metrics needs `--features metrics`".into())
    }
}
