//! # dbroute
//!
//! Automatic read/write routing between a primary database and its read replicas, for sqlx.
//!
//! Describe the primary and the replicas once; every query you already write then runs in the
//! right place: writes and locking reads on the primary, plain reads spread over the replicas
//! by the configured strategy and weights, and reads that follow a write in the same
//! [`Session`] seeing that write.
//!
//! ```no_run
//! use dbroute::{PgRouter, RoutingConfig};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = RoutingConfig::builder()
//!     .primary("postgres://app:secret@primary:5432/shop")
//!     .replica("postgres://app:secret@replica1:5432/shop")
//!     .replica("postgres://app:secret@replica2:5432/shop")
//!     .build()?;
//! let router = PgRouter::connect(&config).await?;
//!
//! let n: i64 = sqlx::query_scalar("SELECT count(*) FROM orders").fetch_one(&router).await?; // a replica
//! sqlx::query("UPDATE orders SET shipped = true WHERE id = $1").bind(7).execute(&router).await?; // the primary
//!
//! let session = router.session();
//! sqlx::query("INSERT INTO orders (id) VALUES (8)").execute(&session).await?; // primary, BEGIN
//! let mine = sqlx::query("SELECT * FROM orders WHERE id = 8").fetch_one(&session).await?; // same transaction
//! session.commit().await?; // an error, not Ok, if the database rolled it back
//! # Ok(()) }
//! ```
//!
//! Calls that run SQL return `sqlx::Error` (so handlers keep their `?`);
//! [`Error::from_sqlx`] recovers dbroute's own errors from it. Building configs and routers
//! returns [`Error`], whose [`Error::Config`] is a typed [`ConfigError`].
//!
//! ## Where things live
//!
//! | concept | module |
//! |---|---|
//! | configuration (builder, TOML, environment) | [`config`] |
//! | statement classification | [`classify`](mod@classify) |
//! | engine selection within a group | [`select`] |
//! | the router, its handles, `explain` / `route` | [`router`] |
//! | the precedence table (a pure function) | `policy.rs`, re-exported: [`RouteReason`] |
//! | sessions, transactions, savepoints, stickiness | [`session`] |
//! | read-your-writes: modes, positions, tokens | [`consistency`] |
//! | what web framework integrations share | [`web`] |
//! | scoped overrides and the entered session | [`scope`] |
//! | errors | [`Error`], [`ConfigError`] |
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `postgres` | yes | [`PgRouter`] (sqlx's PostgreSQL driver) |
//! | `sqlite` | yes | [`SqliteRouter`] and [`RoutingConfig::sqlite`] (bundled libsqlite3) |
//! | `toml` | yes | [`RoutingConfig::from_toml_str`] / [`RoutingConfig::from_toml_file`] |

mod acquire;
pub mod backend;
pub mod classify;
pub mod config;
pub mod consistency;
mod error;
mod executor;
mod guard;
mod health;
mod observe;
mod policy;
pub mod router;
pub mod scope;
pub mod select;
pub mod session;
pub mod stats;
pub mod web;

pub use acquire::PrimaryConnection;
pub use backend::Backend;
pub use classify::{
    BUILTIN_WRITE_FUNCTION_PREFIXES, BUILTIN_WRITE_FUNCTIONS, Classification, Classifier, Dialect,
    MAX_CACHED_LEN, Reason, Route, classify,
};
pub use config::{
    ConnectionString, ConsistencyConfig, EngineSpec, GroupOptions, HealthConfig, LagBound,
    PoolConfig, ReplicaConfig, RoutingConfig, RoutingConfigBuilder,
};
pub use consistency::{Consistency, ConsistencyToken, TokenError};
pub use error::{ConfigError, Error, Result, TomlError};
pub use health::{EngineReport, EngineState, HealthReport, PoolReport};
pub use observe::STATEMENT_TARGET;
pub use policy::RouteReason;
pub use router::{CatalogCounts, ConsistencyStats, Destination, Explanation, GroupHandle, Router};
pub use scope::{
    RoutingContext, ScopeTarget, current_context, primary_context, replica_context,
    reset_routing_context, spawn, use_bind_group, with_consistency, with_current_context,
};
pub use select::RoutingStrategy;
pub use session::{Session, Transaction, TransactionConnection};
pub use stats::{EngineStats, ErrorCount, ErrorKind, LatencyStats, ReasonCount, RouterStats};

/// A router for PostgreSQL.
#[cfg(feature = "postgres")]
pub type PgRouter = Router<sqlx::Postgres>;

/// A router for SQLite.
#[cfg(feature = "sqlite")]
pub type SqliteRouter = Router<sqlx::Sqlite>;

/// The README's Rust examples, compiled as doctests so they cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
