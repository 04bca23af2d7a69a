//! Describing the primary, the replicas and the groups: [`RoutingConfig`].
//!
//! Two shapes describe the same thing:
//!
//! * **primary + replicas**: `primary_connection_string` and `read_replicas`. This is sugar for
//!   two groups: `"default"` holding the primary (engine `primary`) and `"read"` holding the
//!   replicas (engines `replica-1`, `replica-2`, ... unless named).
//! * **engine groups**: `engines`, a map from group name to its engines, with `default_group`
//!   (where writes go; `"default"` unless set) and `read_group` (where reads go; `"read"` unless
//!   set). Other groups (`"analytics"`, `"reporting"`) are reached with
//!   [`Router::group`](crate::Router::group) or [`use_bind_group`](crate::use_bind_group).
//!
//! The default group holds exactly one engine, the primary: writes, transactions, `acquire`
//! and catalog loads all go there. Replicas belong in the read group.
//!
//! A config is built with [`RoutingConfig::builder`], or loaded from TOML
//! ([`RoutingConfig::from_toml_str`]) or environment variables ([`RoutingConfig::from_env`]).
//! The types are `#[non_exhaustive]` so that options can be added without breaking anyone: build
//! them with the builder (or `Default` and field assignment), never with a struct literal.
//! [`RoutingConfig::validate`] (run by the builder, the loaders and every router constructor)
//! rejects bad configs with a [`ConfigError`] that names the problem and its fix.
//!
//! The files: `builder.rs`, `env.rs`, `toml_file.rs` (the three ways in), `plan.rs`
//! (validation into the router's shape), `pool.rs`, `secret.rs` (redacted URLs), `kind.rs`
//! (which database a URL names). The errors are in [`ConfigError`].

mod builder;
mod consistency;
mod duration;
mod env;
mod health;
mod kind;
mod plan;
mod pool;
mod secret;
#[cfg(feature = "toml")]
mod toml_file;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use builder::RoutingConfigBuilder;
pub use consistency::{ConsistencyConfig, MAX_WAIT_LIMIT};
pub use health::{HealthConfig, LagBound};
pub(crate) use kind::BackendKind;
pub(crate) use plan::{EnginePlan, Plan};
pub use pool::PoolConfig;
pub(crate) use pool::{DEFAULT_ACQUIRE_TIMEOUT, DEFAULT_MAX_CONNECTIONS};
pub use secret::ConnectionString;
#[cfg(feature = "toml")]
pub(crate) use secret::scrub_all;

use crate::classify::Dialect;
use crate::error::Result;
pub use crate::error::{ConfigError, TomlError};
use crate::select::RoutingStrategy;

/// The name of the group writes go to unless `default_group` says otherwise.
pub const DEFAULT_GROUP: &str = "default";
/// The name of the group reads go to unless `read_group` says otherwise.
pub const READ_GROUP: &str = "read";
/// Slots of the classification cache unless `classification_cache` says otherwise.
pub const DEFAULT_CACHE_SLOTS: usize = 4096;

/// Everything a router needs to know: engines, groups, strategy and switches.
///
/// Build it with [`RoutingConfig::builder`] or load it ([`from_toml_str`](Self::from_toml_str),
/// [`from_env`](Self::from_env)); fields are public to read and to change on an existing value.
///
/// ```
/// use dbroute::{ReplicaConfig, RoutingConfig, RoutingStrategy};
///
/// let mut config = RoutingConfig::builder()
///     .primary("postgres://app:secret@primary:5432/shop")
///     .replica(ReplicaConfig::new("postgres://app:secret@replica1:5432/shop").weight(2).name("replica-1-us-east"))
///     .replica("postgres://app:secret@replica2:5432/shop")
///     .routing_strategy(RoutingStrategy::RoundRobin)
///     .build()?;
/// config.sticky_after_write = false;
/// config.validate()?;
/// // Passwords never show.
/// assert!(!format!("{config:?}").contains("secret"));
/// # Ok::<(), dbroute::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RoutingConfig {
    /// The primary: where writes go. Use this or `engines`, not both.
    pub primary_connection_string: Option<ConnectionString>,
    /// The read replicas: where reads go. Each is a URL or a [`ReplicaConfig`].
    pub read_replicas: Vec<EngineSpec>,
    /// Named groups of engines, instead of `primary_connection_string` / `read_replicas`.
    pub engines: BTreeMap<String, Vec<EngineSpec>>,
    /// The group writes (and anything not provably read-only) go to. `"default"` when unset.
    /// It holds exactly one engine.
    pub default_group: Option<String>,
    /// The group reads go to. `"read"` when unset; when that group does not exist or is
    /// empty, reads go to the default group.
    pub read_group: Option<String>,
    /// How an engine is picked within a group.
    pub routing_strategy: RoutingStrategy,
    /// After the first write of a [`Session`](crate::Session), keep its reads on the primary
    /// (inside its transaction) until it commits or rolls back. Default `true`.
    pub sticky_after_write: bool,
    /// `false` sends every statement to the primary; sessions and transactions keep their
    /// meaning. Default `true`.
    pub enabled: bool,
    /// Pool options for every engine (groups and engines may override them). Pools are per
    /// engine: 20 connections with two replicas means up to 60.
    pub pool: PoolConfig,
    /// Per-group options, by group name.
    pub groups: BTreeMap<String, GroupOptions>,
    /// Functions (beyond dbroute's built-in list) whose calls send a statement to the primary:
    /// your own functions that write, lock or keep per-connection state.
    pub write_functions: Vec<String>,
    /// Functions you vouch only read: on PostgreSQL the catalog may declare them `VOLATILE`
    /// (the default for new functions), but reads calling them go to replicas. A vouched
    /// function that writes fails there (replica connections are read-only); the built-in
    /// list and `write_functions` still win.
    pub read_only_functions: Vec<String>,
    /// On PostgreSQL, load the primary's user-defined `VOLATILE` functions and send any
    /// statement calling one to the primary; reloaded after DDL that runs through the router.
    /// Default `true`; see
    /// [`Router::refresh_volatile_functions`](crate::Router::refresh_volatile_functions).
    pub load_volatile_functions: bool,
    /// Slots of the classification cache (decisions remembered by SQL text); `0` turns it
    /// off. Default 4096.
    pub classification_cache: usize,
    /// Health checks, ejection of failing or lagging replicas, failover of reads.
    pub health: HealthConfig,
    /// What reads must see of earlier writes: read-your-writes by replication position.
    pub consistency: ConsistencyConfig,
    /// Carry up to this many bytes of each statement's SQL text in its `dbroute::statement`
    /// tracing span (field `statement`), string literals masked as `'?'`; bound values never
    /// appear. `0` (the default) leaves the text out.
    pub trace_statement_text: usize,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            primary_connection_string: None,
            read_replicas: Vec::new(),
            engines: BTreeMap::new(),
            default_group: None,
            read_group: None,
            routing_strategy: RoutingStrategy::default(),
            sticky_after_write: true,
            enabled: true,
            pool: PoolConfig::default(),
            groups: BTreeMap::new(),
            write_functions: Vec::new(),
            read_only_functions: Vec::new(),
            load_volatile_functions: true,
            classification_cache: DEFAULT_CACHE_SLOTS,
            health: HealthConfig::default(),
            consistency: ConsistencyConfig::default(),
            trace_statement_text: 0,
        }
    }
}

/// One engine of a group: a URL plus its weight and name.
///
/// ```
/// use dbroute::ReplicaConfig;
///
/// let replica = ReplicaConfig::new("postgres://replica1/shop").weight(2).name("replica-1-us-east");
/// assert_eq!(replica.weight, 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ReplicaConfig {
    /// The engine's URL (`postgres://`, `sqlite://`, ...).
    pub connection_string: ConnectionString,
    /// Its share of its group's traffic: weight 2 gets twice the statements of weight 1.
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Its name in logs, errors and [`Router::explain`](crate::Router::explain). Defaults to
    /// `primary`, `replica-N`, or `<group>-N`.
    #[serde(default)]
    pub name: Option<String>,
    /// Pool options for this engine alone.
    #[serde(default)]
    pub pool: PoolConfig,
}

fn default_weight() -> u32 {
    1
}

impl ReplicaConfig {
    /// An engine with weight 1 and the default name.
    pub fn new(connection_string: impl Into<ConnectionString>) -> Self {
        ReplicaConfig {
            connection_string: connection_string.into(),
            weight: 1,
            name: None,
            pool: PoolConfig::default(),
        }
    }

    /// Sets the weight (at least 1).
    #[must_use]
    pub fn weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }

    /// Sets the name.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets this engine's pool options.
    #[must_use]
    pub fn pool(mut self, pool: PoolConfig) -> Self {
        self.pool = pool;
        self
    }
}

/// An engine as written in a config: a bare URL or a full [`ReplicaConfig`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EngineSpec {
    /// Just a URL: weight 1, default name.
    Url(ConnectionString),
    /// URL, weight, name and pool options.
    Config(ReplicaConfig),
}

impl EngineSpec {
    fn into_config(self) -> ReplicaConfig {
        match self {
            EngineSpec::Url(url) => ReplicaConfig::new(url),
            EngineSpec::Config(config) => config,
        }
    }
}

impl From<&str> for EngineSpec {
    fn from(url: &str) -> Self {
        EngineSpec::Url(url.into())
    }
}

impl From<String> for EngineSpec {
    fn from(url: String) -> Self {
        EngineSpec::Url(url.into())
    }
}

impl From<ConnectionString> for EngineSpec {
    fn from(url: ConnectionString) -> Self {
        EngineSpec::Url(url)
    }
}

impl From<ReplicaConfig> for EngineSpec {
    fn from(config: ReplicaConfig) -> Self {
        EngineSpec::Config(config)
    }
}

/// Options of one group.
///
/// ```
/// use dbroute::{GroupOptions, PoolConfig};
///
/// let shard = GroupOptions::default().writable(true).pool(PoolConfig::default().max_connections(4));
/// assert_eq!(shard.writable, Some(true));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct GroupOptions {
    /// Whether statements that are not provably read-only may run on this group when it is
    /// chosen by [`Router::group`](crate::Router::group) or
    /// [`use_bind_group`](crate::use_bind_group) (a separate writable database, a shard).
    /// Unset means `false`: writes go to the default group instead. The default group is
    /// always writable; the read group never is. A writable group holds exactly one engine.
    pub writable: Option<bool>,
    /// Pool options for the group's engines.
    pub pool: PoolConfig,
}

impl GroupOptions {
    /// Sets `writable`.
    #[must_use]
    pub fn writable(mut self, writable: bool) -> Self {
        self.writable = Some(writable);
        self
    }

    /// Sets the group's pool options.
    #[must_use]
    pub fn pool(mut self, pool: PoolConfig) -> Self {
        self.pool = pool;
        self
    }
}

impl RoutingConfig {
    /// A builder; see [`RoutingConfigBuilder`].
    pub fn builder() -> RoutingConfigBuilder {
        RoutingConfigBuilder::default()
    }

    /// The embedded default: one SQLite file, with a single-writer pool (WAL, busy timeout) as
    /// the primary (engine `writer`) and a read-only pool over the same file as the read group
    /// (engine `reader`). The file is created if missing. Any path works: `?`, `#`, `%` and
    /// spaces are escaped for the driver.
    ///
    /// `":memory:"` gives one in-memory database that lives as long as the router: a single
    /// engine (`writer`, one connection that is never closed) serves reads and writes, since
    /// another pool could not see that database.
    ///
    /// ```
    /// let config = dbroute::RoutingConfig::sqlite("data/app #1.db");
    /// config.validate()?;
    /// let memory = dbroute::RoutingConfig::sqlite(":memory:");
    /// assert_eq!(memory.engines.len(), 1);
    /// # Ok::<(), dbroute::Error>(())
    /// ```
    pub fn sqlite(path: impl AsRef<std::path::Path>) -> Self {
        let path = path.as_ref();
        let engine =
            |url: String, name: &str| -> EngineSpec { ReplicaConfig::new(url).name(name).into() };
        let mut engines = BTreeMap::new();
        if path.as_os_str() == ":memory:" {
            let writer = engine("sqlite::memory:".into(), "writer");
            engines.insert(DEFAULT_GROUP.to_owned(), vec![writer]);
        } else {
            let file = escape_path(path);
            let writer = engine(format!("sqlite://{file}?mode=rwc"), "writer");
            let reader = engine(format!("sqlite://{file}?mode=ro"), "reader");
            engines.insert(DEFAULT_GROUP.to_owned(), vec![writer]);
            engines.insert(READ_GROUP.to_owned(), vec![reader]);
        }
        RoutingConfig {
            engines,
            ..RoutingConfig::default()
        }
    }

    /// Checks the config; the error names the problem and how to fix it.
    pub fn validate(&self) -> Result<()> {
        self.plan().map(drop)
    }

    /// The SQL dialect of the config's engines (checked as [`validate`](Self::validate)
    /// does): for an application that reads its config at run time and must pick the router
    /// type (`PgRouter`, `SqliteRouter`) to build.
    ///
    /// ```
    /// use dbroute::{Dialect, RoutingConfig};
    ///
    /// assert_eq!(RoutingConfig::sqlite("app.db").dialect()?, Dialect::Sqlite);
    /// let pg = RoutingConfig::builder().primary("postgres://app@db/shop").build()?;
    /// assert_eq!(pg.dialect()?, Dialect::Postgres);
    /// # Ok::<(), dbroute::Error>(())
    /// ```
    pub fn dialect(&self) -> Result<Dialect> {
        self.plan().map(|plan| plan.backend.dialect())
    }
}

/// A path as sqlx's SQLite URL parser reads it back: it percent-decodes the part before `?`.
fn escape_path(path: &std::path::Path) -> String {
    let mut out = String::new();
    for &byte in path.as_os_str().as_encoded_bytes() {
        if byte.is_ascii_alphanumeric() || b"/-_.~:@!$&'()*+,;=".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
