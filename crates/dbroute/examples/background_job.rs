//! Read-your-writes for background jobs (GitLab's Sidekiq pattern), on real streaming
//! replication:
//!
//! ```text
//! cargo run -p dbroute --example background_job
//! ```
//!
//! It starts a PostgreSQL primary and two hot standbys on loopback. A "request" creates an
//! order and enqueues a job carrying the consistency token as text (as a job's payload would,
//! through Redis or a jobs table). The worker parses the token, waits up to a second for a
//! replica to replay it (a job can afford to wait longer than a request), then reads the order
//! under the token: from a replica that has it, never a stale miss. The second job is enqueued
//! while replay is paused: the worker's wait times out and its read goes to the primary.

use std::time::Duration;

use dbroute::{ConsistencyToken, PgRouter, ReplicaConfig, RoutingConfig, reset_routing_context};
use dbroute_test_cluster::Cluster;
use tokio::sync::mpsc;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What the queue carries: the job's arguments and the token, as plain text.
struct Job {
    order_id: i32,
    token: String,
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let cluster = tokio::task::spawn_blocking(|| Cluster::start(2)).await??;
    let config = cluster
        .replicas()
        .iter()
        .fold(
            RoutingConfig::builder().primary(cluster.primary().url()),
            |b, r| b.replica(ReplicaConfig::new(r.url()).name(r.name())),
        )
        .build()?;
    let router = PgRouter::connect(&config).await?;
    sqlx::query("CREATE TABLE orders (id int PRIMARY KEY, item text NOT NULL)")
        .execute(&router)
        .await?;

    let (queue, mut jobs) = mpsc::channel::<Job>(16);
    let primary_port = cluster.primary().port();
    let worker = {
        let router = router.clone();
        tokio::spawn(async move {
            while let Some(job) = jobs.recv().await {
                // Each job is a scope of its own, like a request.
                reset_routing_context(run(&router, job, primary_port)).await?;
            }
            Ok::<_, BoxError>(())
        })
    };

    enqueue(&router, &queue, 1, "teapot").await?;
    // psql runs as a child process: keep it off the runtime's worker.
    let replay = |pause: bool| {
        tokio::task::block_in_place(|| {
            cluster
                .replicas()
                .iter()
                .try_for_each(|replica| match pause {
                    true => cluster.pause_replay(replica),
                    false => cluster.resume_replay(replica),
                })
        })
    };
    // Let the first job run before replay stops.
    tokio::time::sleep(Duration::from_millis(200)).await;
    replay(true)?;
    enqueue(&router, &queue, 2, "kettle").await?;
    drop(queue);
    worker.await??;
    replay(false)?;
    println!("{:?}", router.consistency_stats());
    Ok(())
}

/// The request side: write, then put the token in the job.
async fn enqueue(
    router: &PgRouter,
    queue: &mpsc::Sender<Job>,
    order_id: i32,
    item: &str,
) -> Result<(), BoxError> {
    let token = reset_routing_context(async {
        sqlx::query("INSERT INTO orders (id, item) VALUES ($1, $2)")
            .bind(order_id)
            .bind(item)
            .execute(router)
            .await?;
        router.token().await
    })
    .await?;
    println!("enqueued order {order_id} with token {token}");
    queue
        .send(Job {
            order_id,
            token: token.to_string(),
        })
        .await?;
    Ok(())
}

/// The worker side: parse the token, wait for a replica to have it, read under it.
async fn run(router: &PgRouter, job: Job, primary_port: u16) -> Result<(), BoxError> {
    let token: ConsistencyToken = job.token.parse()?;
    let caught_up = router.wait_for(&token, Duration::from_secs(1)).await?;
    let (item, port): (String, i32) = router
        .with_token(&token, async {
            sqlx::query_as("SELECT item, inet_server_port() FROM orders WHERE id = $1")
                .bind(job.order_id)
                .fetch_one(router)
                .await
        })?
        .await?;
    let server = match port == i32::from(primary_port) {
        true => "the primary",
        false => "a replica",
    };
    println!(
        "job for order {}: a replica caught up in time: {caught_up}; read {item:?} from {server}",
        job.order_id
    );
    Ok(())
}
