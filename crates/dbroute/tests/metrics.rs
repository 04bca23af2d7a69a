//! The `metrics` feature against a real recorder and real replication: the counters,
//! histograms and gauges a router reports match where the servers say statements ran.
//! Run by `scripts/test.sh` as `cargo test -p dbroute --features metrics --test metrics`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use dbroute::{PgRouter, ReplicaConfig, RoutingConfig};
use dbroute_test_cluster::shared;
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

/// Every metric registered, by name and sorted labels (`name{a=1,b=2}`).
#[derive(Default)]
struct Recorded {
    counters: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
    gauges: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
    histograms: Mutex<BTreeMap<String, Arc<Samples>>>,
    described: Mutex<Vec<String>>,
}

#[derive(Default)]
struct Samples(Mutex<Vec<f64>>);

impl metrics::HistogramFn for Samples {
    fn record(&self, value: f64) {
        self.0.lock().unwrap().push(value);
    }
}

fn shown(key: &Key) -> String {
    let mut labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    labels.sort();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

struct Shared(&'static Recorded);

impl Recorder for Shared {
    fn describe_counter(&self, key: KeyName, _: Option<Unit>, _: SharedString) {
        self.0
            .described
            .lock()
            .unwrap()
            .push(key.as_str().to_owned());
    }

    fn describe_gauge(&self, key: KeyName, _: Option<Unit>, _: SharedString) {
        self.0
            .described
            .lock()
            .unwrap()
            .push(key.as_str().to_owned());
    }

    fn describe_histogram(&self, key: KeyName, _: Option<Unit>, _: SharedString) {
        self.0
            .described
            .lock()
            .unwrap()
            .push(key.as_str().to_owned());
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mut counters = self.0.counters.lock().unwrap();
        Counter::from_arc(Arc::clone(counters.entry(shown(key)).or_default()))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        let mut gauges = self.0.gauges.lock().unwrap();
        Gauge::from_arc(Arc::clone(gauges.entry(shown(key)).or_default()))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let mut histograms = self.0.histograms.lock().unwrap();
        Histogram::from_arc(Arc::clone(histograms.entry(shown(key)).or_default()))
    }
}

fn recorded() -> &'static Recorded {
    static RECORDED: OnceLock<&'static Recorded> = OnceLock::new();
    RECORDED.get_or_init(|| {
        let recorded: &'static Recorded = Box::leak(Box::default());
        metrics::set_global_recorder(Shared(recorded)).expect("the only recorder");
        recorded
    })
}

impl Recorded {
    fn counter(&self, name: &str) -> u64 {
        self.counters
            .lock()
            .unwrap()
            .get(name)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    fn gauge(&self, name: &str) -> Option<f64> {
        let gauges = self.gauges.lock().unwrap();
        gauges
            .get(name)
            .map(|g| f64::from_bits(g.load(Ordering::Relaxed)))
    }

    fn samples(&self, name: &str) -> Vec<f64> {
        let histograms = self.histograms.lock().unwrap();
        histograms
            .get(name)
            .map_or_else(Vec::new, |h| h.0.lock().unwrap().clone())
    }
}

/// The key of metric `name` for an engine, with `extra` labels, as [`shown`] spells it.
fn key(name: &str, (engine, group, role): (&str, &str, &str), extra: &[(&str, &str)]) -> String {
    let mut labels = vec![
        format!("engine={engine}"),
        format!("group={group}"),
        format!("role={role}"),
    ];
    labels.extend(extra.iter().map(|(k, v)| format!("{k}={v}")));
    labels.sort();
    format!("{name}{{{}}}", labels.join(","))
}

#[tokio::test]
async fn counters_histograms_and_gauges_match_the_servers() {
    let recorded = recorded();
    let cluster = shared();
    let names: Vec<String> = cluster
        .replicas()
        .iter()
        .map(|r| r.name().to_owned())
        .collect();
    let config = cluster
        .replicas()
        .iter()
        .fold(
            RoutingConfig::builder().primary(cluster.primary().url()),
            |b, r| b.replica(ReplicaConfig::new(r.url()).name(r.name())),
        )
        .replica(ReplicaConfig::new("postgres://postgres:pw@127.0.0.1:1/postgres").name("gone"))
        .build()
        .unwrap();
    let router = PgRouter::connect(&config).await.unwrap();

    let mut served: BTreeMap<String, u64> = BTreeMap::new();
    for _ in 0..8 {
        let port: i32 = sqlx::query_scalar("SELECT inet_server_port()")
            .fetch_one(&router)
            .await
            .unwrap();
        let engine = cluster
            .replicas()
            .iter()
            .find(|r| i32::from(r.port()) == port)
            .map_or("primary".to_owned(), |r| r.name().to_owned());
        *served.entry(engine).or_default() += 1;
    }
    sqlx::query("CREATE TABLE IF NOT EXISTS metrics_t (x int)")
        .execute(&router)
        .await
        .unwrap();
    let port: i32 =
        sqlx::query_scalar("INSERT INTO metrics_t VALUES (1) RETURNING inet_server_port()")
            .fetch_one(&router)
            .await
            .unwrap();
    assert_eq!(port, i32::from(cluster.primary().port()));
    let failed = sqlx::query("SELECT 1 / 0")
        .execute(&router)
        .await
        .unwrap_err();
    assert!(failed.as_database_error().is_some(), "{failed}");

    // Statements by engine and reason, as the servers answered.
    let replica = |name: &str| (name.to_owned(), "read", "replica");
    let mut replica_reads = 0;
    for name in &names {
        let (engine, group, role) = replica(name);
        let reads = recorded.counter(&key(
            "dbroute_statements_total",
            (&engine, group, role),
            &[("reason", "read")],
        ));
        let answered = served.get(name).copied().unwrap_or(0);
        // `SELECT 1 / 0` is a read too, on one replica.
        assert!(
            reads == answered || reads == answered + 1,
            "{name}: {reads} vs {answered}"
        );
        replica_reads += reads;
    }
    assert_eq!(
        replica_reads,
        8 + 1 - served.get("primary").copied().unwrap_or(0)
    );
    let primary = ("primary", "default", "primary");
    let statements = |reason| key("dbroute_statements_total", primary, &[("reason", reason)]);
    assert_eq!(recorded.counter(&statements("write")), 1);
    assert_eq!(recorded.counter(&statements("ddl")), 1);
    let database_errors: u64 = names
        .iter()
        .map(|n| {
            let (engine, group, role) = replica(n);
            let errors = key(
                "dbroute_statement_errors_total",
                (&engine, group, role),
                &[("kind", "database")],
            );
            recorded.counter(&errors)
        })
        .sum();
    assert_eq!(database_errors, 1);

    // One statement time per statement, one acquire time per connection taken.
    let times = recorded.samples(&key("dbroute_statement_seconds", primary, &[]));
    assert!(
        times.len() >= 2 && times.iter().all(|t| *t > 0.0 && *t < 30.0),
        "{times:?}"
    );
    let acquired = recorded.samples(&key("dbroute_acquire_seconds", primary, &[]));
    assert!(acquired.len() >= 2, "{acquired:?}");

    // Health gauges, set by the probes (0 until then): every engine up but the replica on a
    // closed port.
    let up = |engine: (&str, &str, &str)| recorded.gauge(&key("dbroute_engine_up", engine, &[]));
    settle("every engine up", || {
        up(primary) == Some(1.0)
            && names
                .iter()
                .all(|n| up((n, "read", "replica")) == Some(1.0))
    })
    .await;
    assert_eq!(up(("gone", "read", "replica")), Some(0.0));

    // Lag: replay paused on the replicas, a write makes them fall behind, and the gauge says so.
    let lag = || {
        let first = (names[0].as_str(), "read", "replica");
        recorded
            .gauge(&key("dbroute_replica_lag_bytes", first, &[]))
            .unwrap_or(0.0)
    };
    let paused = cluster.pause_all_replay().unwrap();
    sqlx::query("INSERT INTO metrics_t SELECT generate_series(1, 1000)")
        .execute(&router)
        .await
        .unwrap();
    settle("lag reported", || lag() > 0.0).await;
    drop(paused);
    settle("lag back to zero", || lag() == 0.0).await;
    let described = recorded.described.lock().unwrap().clone();
    assert!(
        described.iter().any(|d| d == "dbroute_statement_seconds"),
        "{described:?}"
    );
}

/// Waits (up to 15 s, polling) for `ready`, which the health probes make true.
async fn settle(what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !ready() {
        assert!(Instant::now() < deadline, "{what}: not after 15 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
