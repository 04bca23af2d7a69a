//! What a replica crash costs readers, measured on real streaming replication: the figures of
//! `RELIABILITY.md`.
//!
//! ```text
//! cargo run --release -p dbroute --example reliability
//! ```
//!
//! It starts a PostgreSQL primary and two hot standbys on loopback, then, for each setting
//! (health checks on with their defaults, and off), has 16 tasks read in a loop for 12 s while
//! one replica is killed at 3 s (`pg_ctl stop -m immediate`: its connections break mid-read)
//! and restarted at 8 s. It prints failed reads, how long until the router ejected the replica
//! and re-admitted it, and read latency before and right after the crash.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dbroute::{EngineState, HealthConfig, PgRouter, ReplicaConfig, RoutingConfig};
use dbroute_test_cluster::Cluster;

const TASKS: usize = 16;
const RUN: Duration = Duration::from_secs(12);
const KILL_AT: Duration = Duration::from_secs(3);
const RESTART_AT: Duration = Duration::from_secs(8);

struct Read {
    at: Duration,
    took: Duration,
    ok: bool,
}

struct Outcome {
    reads: Vec<Read>,
    ejected_after: Option<Duration>,
    readmitted_after: Option<Duration>,
    retried: u64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cluster = Arc::new(Cluster::start(2)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    println!(
        "| health checks | reads | failed reads | ejected after | re-admitted after | statements retried | p50 / p99 before | p50 / p99 / max in the 2 s after the crash |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let quick = Duration::from_millis(250);
    for (label, health) in [
        ("on (defaults: 1 s interval)", HealthConfig::default()),
        (
            "on (250 ms interval and probe timeout)",
            HealthConfig::default().interval(quick).probe_timeout(quick),
        ),
        ("off", HealthConfig::default().enabled(false)),
    ] {
        let outcome = runtime.block_on(scenario(Arc::clone(&cluster), health))?;
        report(label, &outcome);
    }
    Ok(())
}

async fn scenario(
    cluster: Arc<Cluster>,
    health: HealthConfig,
) -> Result<Outcome, Box<dyn std::error::Error>> {
    let config = cluster
        .replicas()
        .iter()
        .fold(
            RoutingConfig::builder().primary(cluster.primary().url()),
            |b, r| b.replica(ReplicaConfig::new(r.url()).name(r.name())),
        )
        .health(health)
        .build()?;
    let router = PgRouter::connect(&config).await?;
    let victim = cluster.replicas()[0].clone();
    let started = Instant::now();
    let readers: Vec<_> = (0..TASKS)
        .map(|_| {
            let router = router.clone();
            tokio::spawn(async move {
                let mut reads = Vec::new();
                while started.elapsed() < RUN {
                    let at = started.elapsed();
                    let outcome: Result<i32, _> = sqlx::query_scalar("SELECT inet_server_port()")
                        .fetch_one(&router)
                        .await;
                    reads.push(Read {
                        at,
                        took: started.elapsed() - at,
                        ok: outcome.is_ok(),
                    });
                }
                reads
            })
        })
        .collect();
    let watcher = {
        let (router, name) = (router.clone(), victim.name().to_owned());
        tokio::spawn(async move {
            let (mut ejected, mut readmitted) = (None, None);
            while started.elapsed() < RUN {
                let state = router.health().engine(&name).map(|e| e.state);
                let now = started.elapsed();
                match state {
                    Some(EngineState::Down) if ejected.is_none() && now >= KILL_AT => {
                        ejected = Some(now - KILL_AT)
                    }
                    Some(EngineState::Up)
                        if ejected.is_some() && readmitted.is_none() && now >= RESTART_AT =>
                    {
                        readmitted = Some(now - RESTART_AT)
                    }
                    _ => {}
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (ejected, readmitted)
        })
    };
    tokio::time::sleep(KILL_AT).await;
    let (c, v) = (Arc::clone(&cluster), victim.clone());
    tokio::task::spawn_blocking(move || c.kill(&v)).await??;
    tokio::time::sleep(RESTART_AT.saturating_sub(started.elapsed())).await;
    let (c, v) = (Arc::clone(&cluster), victim.clone());
    tokio::task::spawn_blocking(move || c.restart(&v)).await??;
    let mut reads = Vec::new();
    for reader in readers {
        reads.extend(reader.await?);
    }
    let (ejected_after, readmitted_after) = watcher.await?;
    let retried = router
        .health()
        .engine(victim.name())
        .map_or(0, |e| e.statement_failures);
    router.close().await;
    // Let the restarted replica catch up before the next scenario.
    tokio::task::spawn_blocking(move || cluster.wait_for_replay()).await??;
    Ok(Outcome {
        reads,
        ejected_after,
        readmitted_after,
        retried,
    })
}

fn report(label: &str, outcome: &Outcome) {
    let failed = outcome.reads.iter().filter(|r| !r.ok).count();
    let window = |from: Duration, to: Duration| -> Vec<Duration> {
        let mut took: Vec<Duration> = outcome
            .reads
            .iter()
            .filter(|r| r.at >= from && r.at < to)
            .map(|r| r.took)
            .collect();
        took.sort_unstable();
        took
    };
    let quantile = |took: &[Duration], q: f64| -> String {
        match took.len() {
            0 => "-".into(),
            n => format!("{:.2?}", took[((n - 1) as f64 * q) as usize]),
        }
    };
    let before = window(Duration::from_secs(1), KILL_AT);
    let after = window(KILL_AT, KILL_AT + Duration::from_secs(2));
    let shown = |d: Option<Duration>| d.map_or("-".to_owned(), |d| format!("{d:.0?}"));
    println!(
        "| {label} | {} | {failed} | {} | {} | {} | {} / {} | {} / {} / {} |",
        outcome.reads.len(),
        shown(outcome.ejected_after),
        shown(outcome.readmitted_after),
        outcome.retried,
        quantile(&before, 0.5),
        quantile(&before, 0.99),
        quantile(&after, 0.5),
        quantile(&after, 0.99),
        quantile(&after, 1.0),
    );
}
