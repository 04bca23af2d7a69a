//! dbroute against real PostgreSQL streaming replication: a primary and two hot standbys
//! started by `dbroute-test-cluster` for this test binary. Where a statement ran is asked of
//! the server (`inet_server_port()`, `pg_is_in_recovery()`), never taken from the router.

mod catalog_relations;
mod corpus_on_standby;
mod issue_6;
mod observe;
mod reference_examples;
mod rules;
mod scopes;
mod sessions;
mod standby_functions;
mod stats;
mod strategy;

use dbroute::{PgRouter, ReplicaConfig, RoutingConfig};
use dbroute_test_cluster::{Cluster, shared};
use sqlx::{Executor, Postgres};

/// Which server of the cluster a port belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Node {
    Primary,
    Replica(usize),
}

impl Node {
    pub(crate) fn is_replica(self) -> bool {
        matches!(self, Node::Replica(_))
    }
}

pub(crate) fn cluster() -> &'static Cluster {
    shared()
}

pub(crate) fn node_of(port: i32) -> Node {
    let cluster = cluster();
    if port == i32::from(cluster.primary().port()) {
        return Node::Primary;
    }
    let index = cluster
        .replicas()
        .iter()
        .position(|r| i32::from(r.port()) == port)
        .unwrap_or_else(|| panic!("port {port} is not a server of the test cluster"));
    Node::Replica(index)
}

/// Primary plus both replicas (weights 1 and 1), round-robin.
pub(crate) fn config() -> RoutingConfig {
    let cluster = cluster();
    cluster
        .replicas()
        .iter()
        .fold(
            RoutingConfig::builder().primary(cluster.primary().url()),
            |builder, r| builder.replica(ReplicaConfig::new(r.url()).name(r.name())),
        )
        .build()
        .expect("test cluster config")
}

/// [`config`], changed by `change`.
pub(crate) fn config_with(change: impl FnOnce(&mut RoutingConfig)) -> RoutingConfig {
    let mut config = config();
    change(&mut config);
    config
}

pub(crate) async fn router() -> PgRouter {
    router_with(config()).await
}

pub(crate) async fn router_with(config: RoutingConfig) -> PgRouter {
    PgRouter::connect(&config)
        .await
        .expect("router connects to the test cluster")
}

/// Asks the server that runs the statement where it is: both answers must agree.
pub(crate) async fn where_runs<'c, E>(executor: E) -> Node
where
    E: Executor<'c, Database = Postgres>,
{
    let (port, in_recovery): (i32, bool) =
        sqlx::query_as("SELECT inet_server_port(), pg_is_in_recovery()")
            .fetch_one(executor)
            .await
            .expect("where_runs query");
    let node = node_of(port);
    assert_eq!(
        node.is_replica(),
        in_recovery,
        "port and recovery state disagree"
    );
    node
}

/// A fresh table on the primary, replayed on every replica before this returns.
pub(crate) async fn table(router: &PgRouter, name: &str) -> String {
    let table = format!("{name}_{}", std::process::id());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id serial PRIMARY KEY, note text)"
    )))
    .execute(router.primary())
    .await
    .expect("create table");
    replay().await;
    table
}

/// Waits until every replica has replayed everything committed on the primary so far.
pub(crate) async fn replay() {
    tokio::task::spawn_blocking(|| cluster().wait_for_replay().expect("replicas replay"))
        .await
        .expect("replay task");
}

/// Runs owned SQL text through sqlx (tests build their statements at run time).
pub(crate) fn sql(text: impl Into<String>) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(text.into())
}

/// `url` pointing at database `database` instead of `postgres`.
pub(crate) fn in_database(url: &str, database: &str) -> String {
    let base = url
        .strip_suffix("/postgres")
        .expect("test cluster URLs end in /postgres");
    format!("{base}/{database}")
}

/// Creates database `name` (unique per test run) on the primary with `setup` run in it, and
/// waits until the replicas have it.
pub(crate) async fn database(name: &str, setup: &str) -> String {
    use sqlx::Connection;
    let name = format!("{name}_{}", std::process::id());
    let primary = cluster().primary().url();
    let mut admin = sqlx::PgConnection::connect(&primary).await.unwrap();
    for statement in [
        format!("DROP DATABASE IF EXISTS {name}"),
        format!("CREATE DATABASE {name}"),
    ] {
        sqlx::raw_sql(sql(statement))
            .execute(&mut admin)
            .await
            .expect("create database");
    }
    let mut inside = sqlx::PgConnection::connect(&in_database(&primary, &name))
        .await
        .unwrap();
    sqlx::raw_sql(sql(setup.to_owned()))
        .execute(&mut inside)
        .await
        .expect("database setup");
    replay().await;
    name
}

pub(crate) use dbroute_test_cluster::Logs;
