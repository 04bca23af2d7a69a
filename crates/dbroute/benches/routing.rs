//! Routing overhead, measured against a real local PostgreSQL replica.
//!
//! * `pk_select/direct` vs `pk_select/router`: the same prepared primary-key SELECT, straight
//!   through the replica's own pool and through `&Router` (whose read group is that replica).
//! * `decision/*`: classify + pick an engine for a typical ~100-byte SELECT, and the classifier
//!   alone.
//!
//! `cargo bench -p dbroute --bench routing` (starts its own primary + one replica).

// criterion's macros generate undocumented public functions.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

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
    let (router, direct) = runtime.block_on(async {
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
        (router, direct)
    });
    cluster.wait_for_replay().expect("replay");

    let mut group = c.benchmark_group("pk_select");
    group.measurement_time(Duration::from_secs(8));
    let query = "SELECT v FROM bench WHERE id = $1";
    group.bench_function("direct", |b| {
        b.to_async(&runtime).iter(|| async {
            let v: String = sqlx::query_scalar(query)
                .bind(42)
                .fetch_one(&direct)
                .await
                .unwrap();
            black_box(v)
        })
    });
    group.bench_function("router", |b| {
        b.to_async(&runtime).iter(|| async {
            let v: String = sqlx::query_scalar(query)
                .bind(42)
                .fetch_one(&router)
                .await
                .unwrap();
            black_box(v)
        })
    });
    group.finish();

    let mut group = c.benchmark_group("decision");
    group.bench_function("classify_and_pick", |b| {
        b.iter(|| black_box(router.route(black_box(TYPICAL)).unwrap().engine.len()))
    });
    group.bench_function("classify_only", |b| {
        b.iter(|| black_box(classify(black_box(TYPICAL), Dialect::Postgres)))
    });
    group.finish();
}

criterion_group!(routing, benches);
criterion_main!(routing);
