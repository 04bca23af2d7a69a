//! Routing overhead, measured against real local PostgreSQL replicas.
//!
//! * `pk_select`: the same prepared primary-key SELECT, straight through the replica's own
//!   pool and through `&Router` (whose read group is that replica). The ratios come from
//!   40,000 statements in strict rotation between a default sqlx pool, a second identical one
//!   (the noise floor), a pool without sqlx's ping before each use, and the router, printed
//!   before criterion's own figures.
//! * concurrent reads over two replicas: 8 tasks on a 2-worker runtime, each alternating
//!   strictly between two default direct pools (which it alternates by itself) and a router
//!   whose round-robin counter all tasks share; medians per path, printed.
//! * `decision/*`: classify + pick an engine for a typical 92-byte SELECT (through the
//!   router's classification cache, and without it), and the classifier alone; plus the
//!   decision on one thread and on two threads at once (the picker's shared counter under
//!   contention), printed.
//!
//! * read-your-writes: a write then a read-back of the same row, each in a request scope of its
//!   own, in strict rotation between a router in `eventual` and one in `read_your_writes`
//!   over the same two replicas: the write's extra cost (the position capture), the read's
//!   (the replica check), a read in a scope that wrote nothing, and where the checked reads
//!   went; printed.
//!
//! `cargo bench -p dbroute --bench routing` (starts its own primary + two replicas).

// criterion's macros generate undocumented public functions.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use dbroute::{
    Consistency, ConsistencyConfig, Dialect, PgRouter, RoutingConfig, classify,
    reset_routing_context,
};
use dbroute_test_cluster::Cluster;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

const TYPICAL: &str =
    "SELECT id, email, display_name, created_at FROM users WHERE id = $1 AND deleted_at IS NULL";
const QUERY: &str = "SELECT v FROM bench WHERE id = $1";
const PAIRED_STATEMENTS: usize = 40_000;
const TASKS: usize = 8;
const PER_TASK: usize = 2_500;

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let cluster = Cluster::start(2).expect("PostgreSQL cluster");
    let replicas: Vec<String> = cluster.replicas().iter().map(|r| r.url()).collect();
    let one_replica = RoutingConfig::builder()
        .primary(cluster.primary().url())
        .replica(replicas[0].clone())
        .build()
        .expect("config");
    let (router, uncached, pools) = runtime.block_on(async {
        let mut uncached = one_replica.clone();
        uncached.classification_cache = 0;
        let uncached = PgRouter::connect_lazy(&uncached).expect("uncached router");
        let router = PgRouter::connect(&one_replica).await.expect("router");
        sqlx::raw_sql(
            "CREATE TABLE bench (id int PRIMARY KEY, v text); \
             INSERT INTO bench SELECT g, md5(g::text) FROM generate_series(1, 1000) g",
        )
        .execute(&router)
        .await
        .expect("bench table");
        let pools = [
            direct_pool(&replicas[0]).await,
            direct_pool(&replicas[0]).await,
            PgPoolOptions::new()
                .max_connections(10)
                .test_before_acquire(false)
                .connect(&replicas[0])
                .await
                .expect("pool without ping"),
        ];
        (router, uncached, pools)
    });
    let direct = pools[0].clone();
    cluster.wait_for_replay().expect("replay");

    paired_single(&runtime, &router, &pools);
    paired_concurrent(&cluster, &replicas);
    decision_under_contention(&router);
    read_your_writes(&runtime, &cluster, &replicas);

    let mut group = c.benchmark_group("pk_select");
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("direct", |b| {
        b.to_async(&runtime).iter(|| read_once(&direct))
    });
    group.bench_function("router", |b| {
        b.to_async(&runtime).iter(|| read_once(&router))
    });
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

async fn direct_pool(url: &str) -> PgPool {
    PgPoolOptions::new()
        .max_connections(10)
        .connect(url)
        .await
        .expect("direct pool")
}

async fn read_once<'c, E>(executor: E) -> String
where
    E: sqlx::Executor<'c, Database = sqlx::Postgres>,
{
    let v: String = sqlx::query_scalar(QUERY)
        .bind(42)
        .fetch_one(executor)
        .await
        .unwrap();
    black_box(v)
}

/// Router vs the replica's own pool, one statement at a time, in strict rotation between: a
/// default sqlx pool (what the router replaces; it pings each connection before handing it
/// out), a second, identical one (its ratio to the first is the noise floor), a pool that
/// does not ping (what the router's replica pools are), and the router. Drift of the machine or
/// the server over time hits every path alike.
fn paired_single(runtime: &tokio::runtime::Runtime, router: &PgRouter, pools: &[PgPool; 3]) {
    let [direct, twin, unpinged] = pools;
    runtime.block_on(async {
        // Round 0 warms the pools up (connections, prepared statements) and is not shown.
        for round in 0..=3 {
            let mut times: [Vec<Duration>; 4] = Default::default();
            for i in 0..PAIRED_STATEMENTS {
                let path = (i + round) % 4;
                let start = Instant::now();
                match path {
                    0 => read_once(direct).await,
                    1 => read_once(twin).await,
                    2 => read_once(unpinged).await,
                    _ => read_once(router).await,
                };
                times[path].push(start.elapsed());
            }
            let [d, t, u, r] = times.map(|mut t| median(&mut t));
            let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
            if round > 0 {
                println!(
                    "pk_select round {round}: default pool {d:.2?}, second default pool {t:.2?}, \
                     pool without ping {u:.2?}, router {r:.2?}; router / default pool {:.4}, \
                     router / pool without ping {:.4}, second / first default pool {:.4} \
                     ({} statements each)",
                    ratio(r, d),
                    ratio(r, u),
                    ratio(t, d),
                    PAIRED_STATEMENTS / 4
                );
            }
        }
    });
}

/// Concurrent reads over two replicas: 8 tasks on 2 worker threads, each alternating strictly
/// between the router (whose picker's counter all tasks share) and two direct pools (which it
/// alternates by itself), so both paths meet the same load at the same moments.
fn paired_concurrent(cluster: &Cluster, replicas: &[String]) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let two_replicas = RoutingConfig::builder()
        .primary(cluster.primary().url())
        .replica(replicas[0].clone())
        .replica(replicas[1].clone())
        .pool(dbroute::PoolConfig::default().max_connections(TASKS as u32))
        .build()
        .expect("config");
    runtime.block_on(async {
        let router = PgRouter::connect(&two_replicas).await.expect("router");
        let pools = [
            direct_pool(&replicas[0]).await,
            direct_pool(&replicas[1]).await,
        ];
        // Round 0 warms up.
        for round in 0..=3 {
            let tasks: Vec<_> = (0..TASKS)
                .map(|task| {
                    let (router, pools) = (router.clone(), pools.clone());
                    tokio::spawn(async move {
                        let (mut direct, mut routed) = (Vec::new(), Vec::new());
                        for i in 0..PER_TASK {
                            let start = Instant::now();
                            if (task + i) % 2 == 0 {
                                read_once(&pools[(task + i / 2) % 2]).await;
                                direct.push(start.elapsed());
                            } else {
                                read_once(&router).await;
                                routed.push(start.elapsed());
                            }
                        }
                        (direct, routed)
                    })
                })
                .collect();
            let (mut direct, mut routed) = (Vec::new(), Vec::new());
            for task in tasks {
                let (d, r) = task.await.expect("task");
                direct.extend(d);
                routed.extend(r);
            }
            let (d, r) = (median(&mut direct), median(&mut routed));
            if round > 0 {
                println!(
                    "two replicas, {TASKS} tasks on 2 threads, round {round}: direct median \
                     {d:.2?}, router median {r:.2?}, ratio {:.4} ({} statements each)",
                    r.as_secs_f64() / d.as_secs_f64(),
                    direct.len()
                );
            }
        }
    });
}

/// The decision on one thread, then on two threads at once through the same router (the
/// round-robin counter is one shared atomic): nanoseconds per decision.
fn decision_under_contention(router: &PgRouter) {
    const N: u32 = 2_000_000;
    let decide = || {
        for _ in 0..N {
            black_box(router.route(black_box(TYPICAL)).unwrap().engine.len());
        }
    };
    for round in 1..=3 {
        let start = Instant::now();
        decide();
        let alone = start.elapsed() / N;
        let start = Instant::now();
        std::thread::scope(|s| {
            s.spawn(decide);
            s.spawn(decide);
        });
        let together = start.elapsed() / N;
        println!(
            "decision round {round}: {alone:.1?} alone, {together:.1?} per decision on each of \
             two threads at once"
        );
    }
}

/// Write-then-read pairs, each in a request scope of its own, alternating strictly between an
/// `eventual` router and a `read_your_writes` one over the same primary and two replicas:
/// medians of the write, of the read right after it, and of a read in a scope that wrote
/// nothing; then the `read_your_writes` router's statistics.
fn read_your_writes(runtime: &tokio::runtime::Runtime, cluster: &Cluster, replicas: &[String]) {
    const PAIRS: usize = 4_000;
    let config = |mode| {
        RoutingConfig::builder()
            .primary(cluster.primary().url())
            .replica(replicas[0].clone())
            .replica(replicas[1].clone())
            .consistency(ConsistencyConfig::default().mode(mode))
            .build()
            .expect("config")
    };
    runtime.block_on(async {
        let routers = [Consistency::Eventual, Consistency::ReadYourWrites]
            .map(|mode| PgRouter::connect_lazy(&config(mode)).expect("router"));
        for round in 0..=3 {
            // [mode][write, read after it, read in a scope without writes]
            let mut times: [[Vec<Duration>; 3]; 2] = Default::default();
            for i in 0..PAIRS {
                let which = (i + round) % 2;
                let router = &routers[which];
                let id = (i % 1000) as i32 + 1;
                let (write, read) = reset_routing_context(async {
                    let start = Instant::now();
                    sqlx::query("UPDATE bench SET v = md5(v) WHERE id = $1")
                        .bind(id)
                        .execute(router)
                        .await
                        .expect("write");
                    let write = start.elapsed();
                    let start = Instant::now();
                    read_once(router).await;
                    (write, start.elapsed())
                })
                .await;
                let start = Instant::now();
                reset_routing_context(read_once(router)).await;
                let clean = start.elapsed();
                for (slot, time) in [write, read, clean].into_iter().enumerate() {
                    times[which][slot].push(time);
                }
            }
            if round == 0 {
                continue;
            }
            let [eventual, ryw] = times.map(|paths| paths.map(|mut t| median(&mut t)));
            println!(
                "read-your-writes round {round} (medians, eventual vs read_your_writes, {} pairs \
                 each): write {:.2?} vs {:.2?}, read after it {:.2?} vs {:.2?}, read in a scope \
                 without writes {:.2?} vs {:.2?}",
                PAIRS / 2,
                eventual[0],
                ryw[0],
                eventual[1],
                ryw[1],
                eventual[2],
                ryw[2]
            );
        }
        let stats = routers[1].consistency_stats();
        println!(
            "read-your-writes statistics: {stats:?}; share of checked reads on replicas {:.4}",
            stats.replica_share()
        );
    });
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

criterion_group!(routing, benches);
criterion_main!(routing);
