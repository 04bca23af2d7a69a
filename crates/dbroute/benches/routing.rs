//! Routing overhead, measured against a real local PostgreSQL replica.
//!
//! * `pk_select`: the same prepared primary-key SELECT, straight through the replica's own
//!   pool and through `&Router` (whose read group is that replica). The ratio comes from
//!   20,000 strictly alternating statements, printed before criterion's own figures.
//! * `decision/*`: classify + pick an engine for a typical 92-byte SELECT (through the
//!   router's classification cache, and without it), and the classifier alone.
//!
//! `cargo bench -p dbroute --bench routing` (starts its own primary + one replica).

// criterion's macros generate undocumented public functions.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use dbroute::{Dialect, PgRouter, RoutingConfig, classify};
use dbroute_test_cluster::Cluster;
use sqlx::postgres::PgPoolOptions;

const TYPICAL: &str =
    "SELECT id, email, display_name, created_at FROM users WHERE id = $1 AND deleted_at IS NULL";

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let cluster = Cluster::start(1).expect("PostgreSQL cluster");
    let replica = cluster.replicas()[0].url();
    let config = RoutingConfig::builder()
        .primary(cluster.primary().url())
        .replica(replica.clone())
        .build()
        .expect("config");
    let (router, uncached, direct) = runtime.block_on(async {
        let mut uncached = config.clone();
        uncached.classification_cache = 0;
        let uncached = PgRouter::connect_lazy(&uncached).expect("uncached router");
        let router = PgRouter::connect(&config).await.expect("router");
        sqlx::raw_sql(
            "CREATE TABLE bench (id int PRIMARY KEY, v text); \
             INSERT INTO bench SELECT g, md5(g::text) FROM generate_series(1, 1000) g",
        )
        .execute(&router)
        .await
        .expect("bench table");
        let direct = PgPoolOptions::new()
            .max_connections(10)
            .connect(&replica)
            .await
            .expect("direct pool");
        (router, uncached, direct)
    });
    cluster.wait_for_replay().expect("replay");

    let query = "SELECT v FROM bench WHERE id = $1";
    let direct_once = || async {
        let v: String = sqlx::query_scalar(query)
            .bind(42)
            .fetch_one(&direct)
            .await
            .unwrap();
        black_box(v)
    };
    let router_once = || async {
        let v: String = sqlx::query_scalar(query)
            .bind(42)
            .fetch_one(&router)
            .await
            .unwrap();
        black_box(v)
    };

    // The ratio: strictly alternating statements, so that drift of the machine or the server
    // over time (which moves two separately measured benches by several percent) hits both
    // paths alike.
    runtime.block_on(async {
        // Round 0 warms both pools up (connections, prepared statements) and is not shown.
        for round in 0..=3 {
            let (mut direct_times, mut router_times) = (Vec::new(), Vec::new());
            for i in 0..PAIRED_STATEMENTS {
                let start = Instant::now();
                if (i + round) % 2 == 0 {
                    direct_once().await;
                    direct_times.push(start.elapsed());
                } else {
                    router_once().await;
                    router_times.push(start.elapsed());
                }
            }
            let (d, r) = (median(&mut direct_times), median(&mut router_times));
            if round == 0 {
                continue;
            }
            println!(
                "pk_select paired round {round}: direct median {d:.2?}, router median {r:.2?}, \
                 ratio {:.4} ({} statements each)",
                r.as_secs_f64() / d.as_secs_f64(),
                direct_times.len()
            );
        }
    });

    let mut group = c.benchmark_group("pk_select");
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("direct", |b| b.to_async(&runtime).iter(direct_once));
    group.bench_function("router", |b| b.to_async(&runtime).iter(router_once));
    group.finish();

    let mut group = c.benchmark_group("decision");
    // The router's own path: the decision comes from the classification cache.
    group.bench_function("classify_and_pick", |b| {
        b.iter(|| black_box(router.route(black_box(TYPICAL)).unwrap().engine.len()))
    });
    group.bench_function("classify_and_pick_uncached", |b| {
        b.iter(|| black_box(uncached.route(black_box(TYPICAL)).unwrap().engine.len()))
    });
    group.bench_function("classify_only", |b| {
        b.iter(|| black_box(classify(black_box(TYPICAL), Dialect::Postgres)))
    });
    group.finish();
}

const PAIRED_STATEMENTS: usize = 20_000;

fn median(times: &mut [Duration]) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

criterion_group!(routing, benches);
criterion_main!(routing);
