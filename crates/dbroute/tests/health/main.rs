//! Issue 7: replica health, failover and lag, on real streaming replication whose servers the
//! tests kill, restart and pause. Each test starts a cluster of its own (a primary and two hot
//! standbys), one test at a time: killing a server must not disturb anyone else's test.
//! Where a read ran is asked of the server (`inet_server_port()`).

use std::time::{Duration, Instant};

use dbroute::{EngineState, HealthConfig, LagBound, PgRouter, ReplicaConfig, RoutingConfig};
use dbroute_test_cluster::Cluster;

/// Probes every 250 ms (each bounded by 250 ms); two good probes to come back.
const INTERVAL: Duration = Duration::from_millis(250);

/// One cluster at a time: the machine has two cores. (Each test has its own runtime; tokio's
/// mutex works across them.)
async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SERIAL.lock().await
}

fn health() -> HealthConfig {
    HealthConfig::default()
        .interval(INTERVAL)
        .probe_timeout(INTERVAL)
}

fn config(cluster: &Cluster, health: HealthConfig) -> RoutingConfig {
    cluster
        .replicas()
        .iter()
        .fold(
            RoutingConfig::builder().primary(cluster.primary().url()),
            |b, r| b.replica(ReplicaConfig::new(r.url()).name(r.name())),
        )
        .health(health)
        .build()
        .unwrap()
}

/// The port of the server that ran a read through `router`.
async fn read_port(router: &PgRouter) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("SELECT inet_server_port()")
        .fetch_one(router)
        .await
}

fn port(node: &dbroute_test_cluster::Node) -> i32 {
    i32::from(node.port())
}

/// Waits (polling the router's health, up to `limit`) until `engine` is in `state`.
async fn wait_for(
    router: &PgRouter,
    engine: &str,
    state: EngineState,
    limit: Duration,
) -> Duration {
    let start = Instant::now();
    loop {
        let report = router.health();
        if report.engine(engine).is_some_and(|e| e.state == state) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "{engine} not {state} after {limit:?}: {report:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn blocking(f: impl FnOnce() + Send + 'static) {
    tokio::task::spawn_blocking(f).await.unwrap();
}

/// One replica killed while 16 tasks read in a loop: no read fails, the dead replica gets no
/// read after its failures ejected it, and it is back in the rotation soon after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replica_costs_no_read() {
    let _serial = serial().await;
    let cluster = std::sync::Arc::new(Cluster::start(2).unwrap());
    let router = PgRouter::connect(&config(&cluster, health()))
        .await
        .unwrap();
    let victim = cluster.replicas()[0].clone();
    let started = Instant::now();
    let readers: Vec<_> = (0..16)
        .map(|_| {
            let router = router.clone();
            tokio::spawn(async move {
                let mut answers = Vec::new();
                let mut failures = Vec::new();
                let mut n: i32 = 0;
                while started.elapsed() < Duration::from_secs(5) {
                    // With an argument, through fetch_one and through a stream (fetch_all):
                    // a read run again elsewhere must carry its argument along.
                    n += 1;
                    let read =
                        sqlx::query_as::<_, (i32, i32)>("SELECT $1::int, inet_server_port()")
                            .bind(n);
                    let outcome = match n % 2 {
                        0 => read.fetch_one(&router).await,
                        _ => read.fetch_all(&router).await.map(|mut rows| rows.remove(0)),
                    };
                    match outcome {
                        Ok((echo, port)) => {
                            assert_eq!(echo, n, "the argument survived");
                            answers.push((started.elapsed(), port))
                        }
                        Err(error) => failures.push(error.to_string()),
                    }
                }
                (answers, failures)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let c = std::sync::Arc::clone(&cluster);
    let v = victim.clone();
    blocking(move || c.kill(&v).unwrap()).await;
    let killed = started.elapsed();
    wait_for(
        &router,
        victim.name(),
        EngineState::Down,
        Duration::from_secs(2),
    )
    .await;
    // Reads already on their way to it when it was ejected fail within the probe timeout
    // (and run again elsewhere); after that, nothing is sent to it.
    tokio::time::sleep(INTERVAL + Duration::from_millis(100)).await;
    let failed_statements = || {
        router
            .health()
            .engine(victim.name())
            .unwrap()
            .statement_failures
    };
    let at_ejection = failed_statements();
    assert!(
        at_ejection <= 16,
        "at most the reads in flight: {at_ejection}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        failed_statements(),
        at_ejection,
        "no statement tried the ejected replica"
    );
    let c = std::sync::Arc::clone(&cluster);
    let v = victim.clone();
    blocking(move || c.restart(&v).unwrap()).await;
    let restarted = started.elapsed();
    let readmitted = wait_for(
        &router,
        victim.name(),
        EngineState::Up,
        4 * INTERVAL + INTERVAL,
    )
    .await;
    let (mut answers, mut failures) = (Vec::new(), Vec::new());
    for reader in readers {
        let (a, f) = reader.await.unwrap();
        answers.extend(a);
        failures.extend(f);
    }
    assert!(failures.is_empty(), "failed reads: {failures:?}");
    let victim_port = port(&victim);
    let during = answers
        .iter()
        .filter(|(at, p)| *p == victim_port && *at > killed + INTERVAL && *at < restarted)
        .count();
    assert_eq!(during, 0, "the dead replica answered nothing");
    assert!(
        answers
            .iter()
            .any(|(at, p)| *p == victim_port && *at > restarted),
        "back in the rotation after the restart"
    );
    println!(
        "reads: {}, failed: 0, re-admitted {readmitted:?} after the restart",
        answers.len()
    );
}

/// A replica whose port accepts connections but never answers (a blackhole): starting the
/// router and every read cost at most one probe timeout, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_never_answers_costs_at_most_one_probe_timeout() {
    let _serial = serial().await;
    let cluster = Cluster::start(1).unwrap();
    // Bound, never accepted: connections sit in the backlog with no server behind them.
    let blackhole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent = format!(
        "postgres://postgres@127.0.0.1:{}/postgres",
        blackhole.local_addr().unwrap().port()
    );
    let config = RoutingConfig::builder()
        .primary(cluster.primary().url())
        .replica(ReplicaConfig::new(cluster.replicas()[0].url()).name("answers"))
        .replica(ReplicaConfig::new(silent).name("silent"))
        .health(health())
        .build()
        .unwrap();
    let started = Instant::now();
    let router = PgRouter::connect(&config).await.unwrap();
    assert!(
        started.elapsed() < INTERVAL + Duration::from_millis(500),
        "connect waited {:?}",
        started.elapsed()
    );
    assert_eq!(
        router.health().engine("silent").unwrap().state,
        EngineState::Down
    );
    // Lazily built, the router meets the blackhole on a read: that read pays one probe
    // timeout and succeeds elsewhere; no later read pays anything.
    let lazy = PgRouter::connect_lazy(&config).unwrap();
    let mut slowest = Duration::ZERO;
    for _ in 0..40 {
        let start = Instant::now();
        let answered = read_port(&lazy).await.expect("no read fails");
        assert_eq!(answered, port(&cluster.replicas()[0]));
        slowest = slowest.max(start.elapsed());
    }
    assert!(
        slowest < INTERVAL + Duration::from_millis(200),
        "a read waited {slowest:?}"
    );
    drop(blackhole);
}

/// A replica whose replay is paused falls behind as the primary writes: past
/// `max_replica_lag` it leaves the rotation (no read reaches it), and it returns once resumed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_replica_leaves_the_rotation_and_returns() {
    let _serial = serial().await;
    let cluster = std::sync::Arc::new(Cluster::start(2).unwrap());
    let bound = LagBound::none().bytes(64 * 1024);
    let router = PgRouter::connect(&config(&cluster, health().max_replica_lag(bound)))
        .await
        .unwrap();
    sqlx::query("CREATE TABLE filler (id serial, pad text)")
        .execute(&router)
        .await
        .unwrap();
    let slow = cluster.replicas()[0].clone();
    let (c, s) = (std::sync::Arc::clone(&cluster), slow.clone());
    blocking(move || c.pause_replay(&s).unwrap()).await;
    // About 1 MB of WAL: far past the 64 kB bound.
    sqlx::query("INSERT INTO filler (pad) SELECT repeat('x', 1000) FROM generate_series(1, 1000)")
        .execute(&router)
        .await
        .unwrap();
    wait_for(&router, slow.name(), EngineState::Lagging, 8 * INTERVAL).await;
    let lag = router
        .health()
        .engine(slow.name())
        .unwrap()
        .lag_bytes
        .unwrap();
    assert!(lag > 64 * 1024, "lag {lag}");
    for _ in 0..100 {
        assert_ne!(
            read_port(&router).await.unwrap(),
            port(&slow),
            "a read reached the lagging replica"
        );
    }
    let (c, s) = (std::sync::Arc::clone(&cluster), slow.clone());
    blocking(move || c.resume_replay(&s).unwrap()).await;
    wait_for(&router, slow.name(), EngineState::Up, 8 * INTERVAL).await;
    let mut reached = false;
    for _ in 0..20 {
        reached |= read_port(&router).await.unwrap() == port(&slow);
    }
    assert!(reached, "back in the rotation");
}

/// With every replica down, reads go to the primary (or fail with a typed error when the
/// fallback is off); with the primary down, writes fail at once naming it, and reads go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_replicas_down_and_primary_down() {
    let _serial = serial().await;
    let cluster = std::sync::Arc::new(Cluster::start(2).unwrap());
    let router = PgRouter::connect(&config(&cluster, health()))
        .await
        .unwrap();
    let strict = PgRouter::connect(&config(&cluster, health().fallback_to_primary(false)))
        .await
        .unwrap();
    for replica in cluster.replicas().to_vec() {
        let c = std::sync::Arc::clone(&cluster);
        blocking(move || c.kill(&replica).unwrap()).await;
    }
    for _ in 0..20 {
        let answered = read_port(&router)
            .await
            .expect("reads fall back to the primary");
        assert_eq!(answered, port(cluster.primary()));
    }
    for replica in cluster.replicas() {
        wait_for(&strict, replica.name(), EngineState::Down, 8 * INTERVAL).await;
    }
    let error = read_port(&strict).await.unwrap_err();
    let routing = dbroute::Error::from_sqlx(&error).expect("a routing error");
    assert!(
        matches!(routing, dbroute::Error::NoReplicaAvailable { group, .. } if group == "read"),
        "{routing}"
    );
    // Replicas back, primary gone.
    for replica in cluster.replicas().to_vec() {
        let c = std::sync::Arc::clone(&cluster);
        blocking(move || c.restart(&replica).unwrap()).await;
    }
    for replica in cluster.replicas() {
        wait_for(&router, replica.name(), EngineState::Up, 12 * INTERVAL).await;
    }
    let c = std::sync::Arc::clone(&cluster);
    blocking(move || c.kill(c.primary()).unwrap()).await;
    // A router cannot start without its primary, and says so within the probe timeout.
    let start = Instant::now();
    let refused = PgRouter::connect(&config(&cluster, health()))
        .await
        .unwrap_err();
    assert!(start.elapsed() < INTERVAL + Duration::from_millis(500));
    assert!(
        refused.to_string().contains("engine \"primary\""),
        "{refused}"
    );
    wait_for(&router, "primary", EngineState::Down, 8 * INTERVAL).await;
    let start = Instant::now();
    let error = sqlx::query("CREATE TABLE nowhere (id int)")
        .execute(&router)
        .await
        .unwrap_err();
    assert!(
        start.elapsed() < Duration::from_millis(100),
        "failed at once"
    );
    let routing = dbroute::Error::from_sqlx(&error).expect("a routing error");
    assert!(
        matches!(routing, dbroute::Error::EngineDown { engine, .. } if engine == "primary"),
        "{routing}"
    );
    assert_ne!(read_port(&router).await.unwrap(), port(cluster.primary()));
    let c = std::sync::Arc::clone(&cluster);
    blocking(move || c.restart(c.primary()).unwrap()).await;
}

/// A replica down when the router starts: `connect` succeeds, and the replica joins when it
/// comes up. With `require_all_engines`, the start fails instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starting_with_a_replica_down() {
    let _serial = serial().await;
    let cluster = std::sync::Arc::new(Cluster::start(2).unwrap());
    let late = cluster.replicas()[1].clone();
    let (c, l) = (std::sync::Arc::clone(&cluster), late.clone());
    blocking(move || c.kill(&l).unwrap()).await;
    let strict = PgRouter::connect(&config(&cluster, health().require_all_engines(true))).await;
    let message = strict.unwrap_err().to_string();
    assert!(message.contains(late.name()), "{message}");
    let router = PgRouter::connect(&config(&cluster, health()))
        .await
        .unwrap();
    assert_eq!(
        router.health().engine(late.name()).unwrap().state,
        EngineState::Down
    );
    for _ in 0..10 {
        assert_ne!(read_port(&router).await.unwrap(), port(&late));
    }
    let (c, l) = (std::sync::Arc::clone(&cluster), late.clone());
    blocking(move || c.restart(&l).unwrap()).await;
    wait_for(&router, late.name(), EngineState::Up, 12 * INTERVAL).await;
    let mut reached = false;
    for _ in 0..20 {
        reached |= read_port(&router).await.unwrap() == port(&late);
    }
    assert!(reached, "it joined the rotation");
}

/// Roles that are not what the configuration says: a "primary" that is a standby makes
/// writes fail at once with a typed error once the monitor has seen it; a "replica" that is
/// not in recovery is reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engines_in_the_wrong_role_are_caught() {
    let _serial = serial().await;
    let cluster = Cluster::start(1).unwrap();
    let swapped = RoutingConfig::builder()
        .primary(cluster.replicas()[0].url())
        .replica(ReplicaConfig::new(cluster.primary().url()).name("really-the-primary"))
        .health(health())
        .build()
        .unwrap();
    let router = PgRouter::connect(&swapped).await.unwrap();
    let write = || sqlx::query("CREATE TABLE wrong_role (id int)").execute(&router);
    // The first write meets the standby's refusal (and sets the monitor probing at once) or,
    // if the monitor has already probed, dbroute's own.
    assert!(write().await.is_err());
    let start = Instant::now();
    loop {
        let report = router.health();
        let roles = (
            report.engine("primary").unwrap().in_recovery,
            report.engine("really-the-primary").unwrap().in_recovery,
        );
        if roles == (Some(true), Some(false)) {
            break;
        }
        assert!(
            start.elapsed() < 8 * INTERVAL,
            "the monitor never saw the role"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let error = write().await.unwrap_err();
    let routing = dbroute::Error::from_sqlx(&error).expect("dbroute's own error");
    assert!(
        matches!(routing, dbroute::Error::PrimaryInRecovery { engine, .. } if engine == "primary"),
        "{routing}"
    );
    // The "replica" keeps serving reads: the configured role decides where statements go.
    assert!(sqlx::query("SELECT 1").execute(&router).await.is_ok());
}

/// The monitor is one task per router that ends when the router is closed or dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monitor_ends_with_its_router() {
    let _serial = serial().await;
    let cluster = Cluster::start(1).unwrap();
    let alive = || {
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
    };
    let settled = |baseline: usize| async move {
        let start = Instant::now();
        while alive() > baseline {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "{} tasks still alive",
                alive()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let baseline = alive();
    let router = PgRouter::connect(&config(&cluster, health()))
        .await
        .unwrap();
    assert!(alive() > baseline, "the monitor runs");
    read_port(&router).await.unwrap();
    drop(router);
    settled(baseline).await;
    let router = PgRouter::connect(&config(&cluster, health()))
        .await
        .unwrap();
    router.close().await;
    settled(baseline).await;
    let off = PgRouter::connect(&config(&cluster, health().enabled(false)))
        .await
        .unwrap();
    assert_eq!(
        off.health()
            .engines
            .iter()
            .filter(|e| e.state != EngineState::Up)
            .count(),
        0
    );
}
