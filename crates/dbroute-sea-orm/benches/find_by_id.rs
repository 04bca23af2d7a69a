//! SeaORM through the router vs SeaORM straight to the replica:
//! `Entity::find_by_id(id).one(&db)` on one replica, one statement at a time, in strict
//! rotation between a default SeaORM `DatabaseConnection` to the replica (sqlx pings each
//! connection before use), a second identical one (the noise floor), one whose pool does not
//! ping (as the router's replica pools), and a `SeaRouter` whose read group is that replica.
//! Medians per path and their ratios are printed (measured on a runtime worker, as a
//! server's handlers run), then criterion's own figures.
//!
//! `cargo bench -p dbroute-sea-orm --bench find_by_id` (starts its own primary + replica).

// criterion's macros generate undocumented public functions.
#![allow(missing_docs, unreachable_pub)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use dbroute::{PgRouter, ReplicaConfig, RoutingConfig};
use dbroute_sea_orm::{PgSeaRouter, SeaRouter};
use dbroute_test_cluster::Cluster;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, EntityTrait};

mod item {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "bench_items")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub v: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

const ROWS: i32 = 1000;
const PAIRED_STATEMENTS: usize = 20_000;

struct Paths {
    direct: DatabaseConnection,
    twin: DatabaseConnection,
    unpinged: DatabaseConnection,
    router: PgSeaRouter,
}

async fn find<C: ConnectionTrait>(db: &C, i: usize) {
    let id = (i as i32 % ROWS) + 1;
    let found = item::Entity::find_by_id(id).one(db).await.unwrap();
    black_box(found.expect("the row exists"));
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

async fn setup(cluster: &Cluster) -> Paths {
    let replica = cluster.replicas()[0].url();
    let config = RoutingConfig::builder()
        .primary(cluster.primary().url())
        .replica(ReplicaConfig::new(replica.clone()))
        .build()
        .unwrap();
    let router = SeaRouter::new(PgRouter::connect(&config).await.unwrap());
    router
        .execute_unprepared(&format!(
            "DROP TABLE IF EXISTS bench_items; \
             CREATE TABLE bench_items (id int PRIMARY KEY, v text NOT NULL); \
             INSERT INTO bench_items SELECT i, md5(i::text) FROM generate_series(1, {ROWS}) i"
        ))
        .await
        .unwrap();
    cluster.wait_for_replay().unwrap();
    let options = |ping: bool| {
        let mut options = ConnectOptions::new(replica.clone());
        options
            .max_connections(10)
            .test_before_acquire(ping)
            .sqlx_logging(false);
        options
    };
    Paths {
        direct: Database::connect(options(true)).await.unwrap(),
        twin: Database::connect(options(true)).await.unwrap(),
        unpinged: Database::connect(options(false)).await.unwrap(),
        router,
    }
}

/// The paired rounds, on a worker of `runtime` (where a server's handlers run: driving them
/// from the thread that calls `block_on` adds a cross-thread hop to some paths more than
/// others).
fn paired(runtime: &tokio::runtime::Runtime, paths: &'static Paths) {
    runtime
        .block_on(runtime.spawn(async move {
            // Round 0 warms up connections and statement caches and is not shown.
            for round in 0..=3 {
                let mut times: [Vec<Duration>; 4] = Default::default();
                for i in 0..PAIRED_STATEMENTS {
                    let path = (i + round) % 4;
                    let start = Instant::now();
                    match path {
                        0 => find(&paths.direct, i).await,
                        1 => find(&paths.twin, i).await,
                        2 => find(&paths.unpinged, i).await,
                        _ => find(&paths.router, i).await,
                    }
                    times[path].push(start.elapsed());
                }
                let [d, t, u, r] = times.map(|mut t| median(&mut t));
                let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
                if round > 0 {
                    println!(
                        "find_by_id round {round}: DatabaseConnection {d:.2?}, second one {t:.2?}, \
                     one without ping {u:.2?}, SeaRouter {r:.2?}; SeaRouter / DatabaseConnection \
                     {:.4}, SeaRouter / without ping {:.4}, second / first {:.4} \
                     ({} statements each)",
                        ratio(r, d),
                        ratio(r, u),
                        ratio(t, d),
                        PAIRED_STATEMENTS / 4
                    );
                }
            }
            println!(
                "the router's read-your-writes work meanwhile: {:?}",
                paths.router.router().consistency_stats()
            );
        }))
        .unwrap();
}

fn benches(c: &mut Criterion) {
    let cluster = Cluster::start(1).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let paths: &'static Paths = Box::leak(Box::new(runtime.block_on(setup(&cluster))));
    paired(&runtime, paths);
    let mut group = c.benchmark_group("find_by_id");
    let mut i = 0;
    group.bench_function("database_connection", |b| {
        b.to_async(&runtime).iter(|| {
            i += 1;
            find(&paths.direct, i)
        })
    });
    group.bench_function("database_connection_without_ping", |b| {
        b.to_async(&runtime).iter(|| {
            i += 1;
            find(&paths.unpinged, i)
        })
    });
    group.bench_function("sea_router", |b| {
        b.to_async(&runtime).iter(|| {
            i += 1;
            find(&paths.router, i)
        })
    });
    group.finish();
}

criterion_group!(find_by_id, benches);
criterion_main!(find_by_id);
