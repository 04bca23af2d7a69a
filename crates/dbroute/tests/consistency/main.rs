//! Issue 8: read-your-writes by replication position, on real streaming replication (a primary
//! and two hot standbys started for this test binary). Where a read ran is asked of the server
//! (`inet_server_port()`); whether it saw the write is asked of the data. Tests that pause
//! replay take the cluster for themselves.

use std::time::Duration;

use dbroute::{
    Consistency, ConsistencyConfig, ConsistencyToken, Error, HealthConfig, PgRouter, ReplicaConfig,
    RoutingConfig, TokenError, reset_routing_context, with_consistency,
};
use dbroute_test_cluster::{Cluster, Logs, shared};
use sqlx::Acquire;

const MAX_WAIT: Duration = Duration::from_millis(50);

fn cluster() -> &'static Cluster {
    shared()
}

/// One test at a time: some pause replay, which every other read would notice.
async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SERIAL.lock().await
}

fn config(mode: Consistency) -> RoutingConfig {
    let cluster = cluster();
    cluster
        .replicas()
        .iter()
        .fold(
            RoutingConfig::builder().primary(cluster.primary().url()),
            |b, r| b.replica(ReplicaConfig::new(r.url()).name(r.name())),
        )
        .health(
            HealthConfig::default()
                .interval(Duration::from_millis(250))
                .probe_timeout(Duration::from_millis(250)),
        )
        .consistency(ConsistencyConfig::default().mode(mode).max_wait(MAX_WAIT))
        .build()
        .unwrap()
}

async fn router(mode: Consistency) -> PgRouter {
    PgRouter::connect(&config(mode)).await.unwrap()
}

fn primary_port() -> i32 {
    i32::from(cluster().primary().port())
}

/// Replay paused on every replica until dropped.
struct Paused {
    _guard: dbroute_test_cluster::ReplayPaused<'static>,
}

impl Paused {
    async fn all() -> Paused {
        let paused = tokio::task::spawn_blocking(|| cluster().pause_all_replay().unwrap());
        Paused {
            _guard: paused.await.unwrap(),
        }
    }
}

/// A fresh table `name (id int primary key)`, replayed everywhere.
async fn table(router: &PgRouter, name: &str) {
    for sql in [
        format!("DROP TABLE IF EXISTS {name}"),
        format!("CREATE TABLE {name} (id int PRIMARY KEY)"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(router)
            .await
            .unwrap();
    }
    tokio::task::spawn_blocking(|| cluster().wait_for_replay().unwrap())
        .await
        .unwrap();
}

/// Whether row `id` of `table` is there, and the port of the server that answered.
async fn find<'e, E>(executor: E, table: &str, id: i32) -> (bool, i32)
where
    E: sqlx::Executor<'e, Database = sqlx::Postgres>,
{
    let sql = format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE id = $1), inet_server_port()");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_one(executor)
        .await
        .unwrap()
}

/// Commits row `id` in a session of its own; returns the session's token.
async fn commit_row(router: &PgRouter, table: &str, id: i32) -> ConsistencyToken {
    let session = router.session();
    let sql = format!("INSERT INTO {table} (id) VALUES ($1)");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .execute(&session)
        .await
        .unwrap();
    session.commit().await.unwrap();
    session.token().await.unwrap()
}

#[derive(Debug, Default)]
struct Tally {
    reads: u32,
    stale: u32,
    on_replicas: u32,
}

impl Tally {
    fn add(&mut self, (found, port): (bool, i32)) {
        self.reads += 1;
        self.stale += u32::from(!found);
        self.on_replicas += u32::from(port != primary_port());
    }

    fn replica_share(&self) -> f64 {
        f64::from(self.on_replicas) / f64::from(self.reads)
    }
}

/// 1,000 times: commit a row in one session, then read it at once in a new session of the same
/// request, and in a new task that carries only the token. In `read_your_writes`: no stale
/// read, and most reads still on replicas. The same loop in `eventual` shows what the check
/// prevents.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_right_after_a_commit_are_never_stale() {
    let _serial = serial().await;
    let mut report = Vec::new();
    for mode in [Consistency::ReadYourWrites, Consistency::Eventual] {
        let router = router(mode).await;
        let name = format!("after_commit_{mode}");
        table(&router, &name).await;
        let (mut in_session, mut with_token) = (Tally::default(), Tally::default());
        for id in 0..1000 {
            let token = reset_routing_context(async {
                let token = commit_row(&router, &name, id).await;
                in_session.add(find(&router.session(), &name, id).await);
                token
            })
            .await;
            // A new task, a new request: only the token, as text, carries over.
            let (worker, table, text) = (router.clone(), name.clone(), token.to_string());
            let seen = tokio::spawn(reset_routing_context(async move {
                let token: ConsistencyToken = text.parse().unwrap();
                let read = worker
                    .with_token(&token, async { find(&worker, &table, id).await })
                    .unwrap();
                read.await
            }))
            .await
            .unwrap();
            with_token.add(seen);
        }
        report.push(format!(
            "{mode}: new session {in_session:?}, token in a new task {with_token:?}, {:?}",
            router.consistency_stats()
        ));
        if mode == Consistency::ReadYourWrites {
            assert_eq!(in_session.stale + with_token.stale, 0, "{report:?}");
            assert!(with_token.replica_share() >= 0.9, "{report:?}");
            assert!(in_session.replica_share() >= 0.9, "{report:?}");
        } else {
            assert_eq!(
                router.consistency_stats().captures,
                0,
                "eventual captures nothing"
            );
        }
    }
    println!("{}", report.join("\n"));
}

/// Replay paused on both replicas: a read with the token finds the row, on the primary, after
/// waiting `max_wait` for a replica; the decision's event says why and how long it waited.
#[tokio::test(flavor = "current_thread")]
async fn with_replay_paused_reads_go_to_the_primary_after_max_wait() {
    let _serial = serial().await;
    let router = router(Consistency::ReadYourWrites).await;
    table(&router, "paused").await;
    let events = Logs::capture();
    let paused = Paused::all().await;
    let token = reset_routing_context(commit_row(&router, "paused", 1)).await;
    let before = router.consistency_stats();
    let served_before = router.stats();
    let read = reset_routing_context(async {
        router
            .with_token(&token, async { find(&router, "paused", 1).await })
            .unwrap()
            .await
    })
    .await;
    let after = router.consistency_stats();
    let served_after = router.stats();
    drop(paused);
    assert_eq!(read, (true, primary_port()), "found, on the primary");
    assert_eq!(after.primary_fallbacks, before.primary_fallbacks + 1);
    // Counted on the primary, for the reason it went there.
    let not_caught_up = |stats: &dbroute::RouterStats| {
        stats.engines[0].for_reason(dbroute::RouteReason::ReplicaNotCaughtUp)
    };
    assert_eq!(served_after.engines[0].role, "primary");
    assert_eq!(
        not_caught_up(&served_after),
        not_caught_up(&served_before) + 1
    );
    assert_eq!(served_after.statements(), served_before.statements() + 1);
    assert!(after.waited - before.waited >= MAX_WAIT, "{after:?}");
    assert!(
        after.position_queries > before.position_queries,
        "it asked the replicas"
    );
    let log = events.text();
    let line = log
        .lines()
        .find(|l| l.contains("replica_not_caught_up"))
        .unwrap_or_else(|| panic!("no event says why: {log}"));
    let waited: u64 = line
        .split("waited_us=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the event says how long it waited: {line}"));
    assert!(waited >= MAX_WAIT.as_micros() as u64, "{line}");
}

/// The favourite endpoint: a write through `&router`, then a plain read-back of the same row,
/// in one request, with no handler change. With replay paused (a replica would miss it for
/// sure), `read_your_writes` finds it on the primary; `eventual` reads a replica and misses.
/// Outside any request scope, the router's own record serves the same way.
#[tokio::test(flavor = "current_thread")]
async fn an_autocommit_write_is_read_back_in_the_same_request() {
    let _serial = serial().await;
    let ryw = router(Consistency::ReadYourWrites).await;
    let eventual = router(Consistency::Eventual).await;
    table(&ryw, "endpoint").await;
    let _paused = Paused::all().await;
    let handler = |router: PgRouter, id: i32| async move {
        sqlx::query("INSERT INTO endpoint (id) VALUES ($1)")
            .bind(id)
            .execute(&router)
            .await
            .unwrap();
        find(&router, "endpoint", id).await
    };
    assert_eq!(
        reset_routing_context(handler(ryw.clone(), 1)).await,
        (true, primary_port())
    );
    assert_eq!(
        handler(ryw.clone(), 2).await,
        (true, primary_port()),
        "no scope at all"
    );
    let (found, port) = reset_routing_context(handler(eventual.clone(), 3)).await;
    assert!(
        !found && port != primary_port(),
        "eventual reads a stale replica"
    );
    // A request that did not write reads a replica, paused or not: nothing to wait for.
    let (_, port) = reset_routing_context(async { find(&ryw, "endpoint", 1).await }).await;
    assert_ne!(port, primary_port());
}

/// Every way a write commits is captured: a session, `Router::begin`, a write inside
/// `Session::scope`, and a raw primary connection (whose writes dbroute cannot see: the next
/// read captures the primary's position first). Read-only work captures nothing.
#[tokio::test(flavor = "current_thread")]
async fn every_kind_of_commit_is_seen_and_read_only_work_captures_nothing() {
    let _serial = serial().await;
    let router = router(Consistency::ReadYourWrites).await;
    table(&router, "kinds").await;
    let _paused = Paused::all().await;
    reset_routing_context(async {
        let before = router.consistency_stats().captures;
        let snapshot = router.begin_read_only().await.unwrap();
        find(&snapshot, "kinds", 0).await;
        snapshot.commit().await.unwrap();
        let session = router.session();
        find(&session, "kinds", 0).await;
        session.commit().await.unwrap();
        sqlx::query("SELECT 1").execute(&router).await.unwrap();
        assert_eq!(
            router.consistency_stats().captures,
            before,
            "reads capture nothing"
        );
    })
    .await;
    reset_routing_context(async {
        let tx = router.begin().await.unwrap();
        sqlx::query("INSERT INTO kinds VALUES (1)")
            .execute(&tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(find(&router, "kinds", 1).await, (true, primary_port()));
    })
    .await;
    reset_routing_context(async {
        let session = router.session();
        session
            .scope(async {
                sqlx::query("INSERT INTO kinds VALUES (2)")
                    .execute(&router)
                    .await
                    .unwrap();
            })
            .await;
        session.commit().await.unwrap();
        assert_eq!(find(&router, "kinds", 2).await, (true, primary_port()));
    })
    .await;
    reset_routing_context(async {
        let mut connection = (&router).acquire().await.unwrap();
        sqlx::query("INSERT INTO kinds VALUES (3)")
            .execute(&mut *connection)
            .await
            .unwrap();
        drop(connection);
        assert_eq!(find(&router, "kinds", 3).await, (true, primary_port()));
    })
    .await;
    // A read-only snapshot after a write also waits for (here: falls back to) the position.
    reset_routing_context(async {
        sqlx::query("INSERT INTO kinds VALUES (4)")
            .execute(&router)
            .await
            .unwrap();
        let snapshot = router.begin_read_only().await.unwrap();
        assert_eq!(find(&snapshot, "kinds", 4).await, (true, primary_port()));
        snapshot.commit().await.unwrap();
    })
    .await;
}

/// A write whose statement is cancelled (the future dropped by a timeout, as an HTTP server
/// drops a handler when the client goes away) may still commit on the server. Its position was
/// never captured, so the scope's next read captures the primary's position first: with replay
/// paused, it reads the primary and finds the row.
#[tokio::test(flavor = "current_thread")]
async fn a_cancelled_write_is_never_read_stale() {
    let _serial = serial().await;
    let router = router(Consistency::ReadYourWrites).await;
    table(&router, "cancelled").await;
    let _paused = Paused::all().await;
    let primary = sqlx::PgPool::connect(&cluster().primary().url())
        .await
        .unwrap();
    reset_routing_context(async {
        let slow =
            sqlx::query("INSERT INTO cancelled SELECT 1 FROM pg_sleep(0.3)").execute(&router);
        let cut = tokio::time::timeout(Duration::from_millis(50), slow).await;
        assert!(cut.is_err(), "the statement was cut short");
        // The server carries on and commits: wait until the primary itself has the row.
        for _ in 0..200 {
            let there: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM cancelled)")
                .fetch_one(&primary)
                .await
                .unwrap();
            if there {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(find(&router, "cancelled", 1).await, (true, primary_port()));
    })
    .await;
    // A write the database rejected wrote nothing: no wait for it, a replica still serves.
    reset_routing_context(async {
        let duplicate = sqlx::query("INSERT INTO cancelled VALUES (1)")
            .execute(&router)
            .await;
        assert!(duplicate.is_err());
        let (_, port) = find(&router, "cancelled", 1).await;
        assert_ne!(port, primary_port());
    })
    .await;
}

/// `strong` reads on the primary; `with_consistency` overrides the router's mode in a scope,
/// and an explicit replica scope stays an explicit choice.
#[tokio::test(flavor = "current_thread")]
async fn modes_and_their_scopes() {
    let _serial = serial().await;
    let router = router(Consistency::Eventual).await;
    table(&router, "modes").await;
    let _paused = Paused::all().await;
    let (_, port) = with_consistency(Consistency::Strong, find(&router, "modes", 0)).await;
    assert_eq!(port, primary_port());
    let found = with_consistency(Consistency::ReadYourWrites, async {
        sqlx::query("INSERT INTO modes VALUES (1)")
            .execute(&router)
            .await
            .unwrap();
        let own = find(&router, "modes", 1).await;
        let explicit = dbroute::replica_context(find(&router, "modes", 1)).await;
        (own, explicit)
    })
    .await;
    assert_eq!(found.0, (true, primary_port()));
    assert!(
        !found.1.0 && found.1.1 != primary_port(),
        "replica_context is explicit"
    );
}

/// Tokens from elsewhere: another cluster's is refused with a typed error, text that is not a
/// token is a typed error, and a position far past the primary's sends the read to the
/// primary at once, without asking or waiting.
#[tokio::test(flavor = "current_thread")]
async fn foreign_malformed_and_far_ahead_tokens() {
    let _serial = serial().await;
    let router = router(Consistency::ReadYourWrites).await;
    let elsewhere = RoutingConfig::builder()
        .primary("postgres://app@elsewhere.example:5432/shop")
        .build()
        .unwrap();
    let other = PgRouter::connect_lazy(&elsewhere).unwrap();
    let foreign = other.token().await.unwrap();
    let refused = router.with_token(&foreign, async {}).err().unwrap();
    assert!(
        matches!(refused, Error::Token(TokenError::OtherCluster { .. })),
        "{refused}"
    );
    assert!(
        refused.to_string().contains("consistency.cluster"),
        "{refused}"
    );
    let mine = router.token().await.unwrap().to_string();
    let truncated = &mine[..mine.len() - 3];
    let truncated = format!("{truncated}.");
    for text in [truncated.as_str(), "", "dbr1.zz", &"9".repeat(4096)] {
        let error = text.parse::<ConsistencyToken>().unwrap_err();
        assert!(matches!(error, TokenError::Malformed { .. }), "{text:?}");
    }
    // Wait for the monitor to have probed the primary's position.
    for _ in 0..100 {
        if router
            .health()
            .engine("primary")
            .and_then(|e| e.in_recovery)
            .is_some()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cluster_part = mine.split('.').nth(1).unwrap();
    let ahead: ConsistencyToken = format!("dbr1.{cluster_part}.ffffffffffffffff")
        .parse()
        .unwrap();
    let before = router.consistency_stats();
    let port: i32 = router
        .with_token(&ahead, async {
            sqlx::query_scalar("SELECT inet_server_port()")
                .fetch_one(&router)
                .await
                .unwrap()
        })
        .unwrap()
        .await;
    let after = router.consistency_stats();
    assert_eq!(port, primary_port());
    assert_eq!(after.primary_fallbacks, before.primary_fallbacks + 1);
    assert_eq!(
        after.position_queries, before.position_queries,
        "no replica was asked"
    );
}

/// The background-job pattern: the token travels in the job; the worker waits for a replica
/// to replay it (false while replay is paused), then its reads run on a replica and see the
/// row.
#[tokio::test(flavor = "current_thread")]
async fn a_background_job_waits_for_its_token() {
    let _serial = serial().await;
    let router = router(Consistency::ReadYourWrites).await;
    table(&router, "jobs").await;
    let paused = Paused::all().await;
    let payload = reset_routing_context(commit_row(&router, "jobs", 7))
        .await
        .to_string();
    let token: ConsistencyToken = payload.parse().unwrap();
    assert!(
        !router
            .wait_for(&token, Duration::from_millis(100))
            .await
            .unwrap()
    );
    drop(paused);
    assert!(
        router
            .wait_for(&token, Duration::from_secs(10))
            .await
            .unwrap()
    );
    let forever = router.wait_for(&token, Duration::MAX).await;
    assert!(forever.unwrap(), "no deadline is no panic");
    let read = reset_routing_context(async {
        router
            .with_token(&token, find(&router, "jobs", 7))
            .unwrap()
            .await
    })
    .await;
    assert!(read.0 && read.1 != primary_port(), "{read:?}");
}

/// The favourite endpoint as a real axum application, over real HTTP on loopback: a
/// handler writes through `&router`, then reads the same row back, unchanged. With replay
/// paused (a replica would miss the row on every run), `read_your_writes` finds it, with or
/// without a per-request scope; `eventual` misses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_favourite_endpoint_over_http() {
    use axum::extract::{Path, State};
    use axum::routing::post;

    async fn favourite(State(router): State<PgRouter>, Path(id): Path<i32>) -> String {
        sqlx::query("INSERT INTO favourites (id) VALUES ($1)")
            .bind(id)
            .execute(&router)
            .await
            .unwrap();
        let (found, port): (bool, i32) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM favourites WHERE id = $1), inet_server_port()",
        )
        .bind(id)
        .fetch_one(&router)
        .await
        .unwrap();
        format!("{found} {port}")
    }

    async fn serve(router: PgRouter, per_request_scope: bool) -> std::net::SocketAddr {
        let mut app = axum::Router::new()
            .route("/favourites/{id}", post(favourite))
            .with_state(router);
        if per_request_scope {
            app = app.layer(axum::middleware::from_fn(
                |request: axum::extract::Request, next: axum::middleware::Next| {
                    reset_routing_context(next.run(request))
                },
            ));
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        address
    }

    /// One HTTP/1.1 request on a connection of its own; the response body.
    async fn post_to(address: std::net::SocketAddr, path: &str) -> String {
        let reply = dbroute_test_cluster::http::request(address, "POST", path, &[], "").await;
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.body
    }

    let _serial = serial().await;
    let ryw = router(Consistency::ReadYourWrites).await;
    table(&ryw, "favourites").await;
    let _paused = Paused::all().await;
    let primary = format!("true {}", primary_port());
    let plain = serve(ryw.clone(), false).await;
    let scoped = serve(ryw.clone(), true).await;
    let eventual = serve(router(Consistency::Eventual).await, true).await;
    for id in 1..=5 {
        assert_eq!(post_to(plain, &format!("/favourites/{id}")).await, primary);
        assert_eq!(
            post_to(scoped, &format!("/favourites/{}", id + 10)).await,
            primary
        );
        let body = post_to(eventual, &format!("/favourites/{}", id + 20)).await;
        assert!(
            body.starts_with("false"),
            "eventual reads the stale replica: {body}"
        );
    }
}
