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
//! A config is built in code (struct literal or [`RoutingConfig::builder`]), or loaded from TOML
//! ([`RoutingConfig::from_toml_str`]) or environment variables ([`RoutingConfig::from_env`]).
//! [`RoutingConfig::validate`] (run by every constructor of a router) rejects bad configs with
//! an error that names the problem and its fix.

mod builder;
mod env;
mod pool;
mod secret;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use builder::RoutingConfigBuilder;
pub use pool::PoolConfig;
pub(crate) use pool::{DEFAULT_ACQUIRE_TIMEOUT, DEFAULT_MAX_CONNECTIONS};
pub use secret::ConnectionString;

pub(crate) use crate::backend::BackendKind;
use crate::error::{Error, Result};
use crate::select::{Picker, RoutingStrategy};

/// The name of the group writes go to unless `default_group` says otherwise.
pub const DEFAULT_GROUP: &str = "default";
/// The name of the group reads go to unless `read_group` says otherwise.
pub const READ_GROUP: &str = "read";

/// Everything a router needs to know: engines, groups, strategy and switches.
///
/// ```
/// use dbroute::{ReplicaConfig, RoutingConfig, RoutingStrategy};
///
/// let config = RoutingConfig {
///     primary_connection_string: Some("postgres://app:secret@primary:5432/shop".into()),
///     read_replicas: vec![
///         ReplicaConfig::new("postgres://app:secret@replica1:5432/shop")
///             .weight(2)
///             .name("replica-1-us-east")
///             .into(),
///         "postgres://app:secret@replica2:5432/shop".into(),
///     ],
///     routing_strategy: RoutingStrategy::RoundRobin,
///     ..Default::default()
/// };
/// config.validate()?;
/// // Passwords never show.
/// assert!(!format!("{config:?}").contains("secret"));
/// # Ok::<(), dbroute::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingConfig {
    /// The primary: where writes go. Use this or `engines`, not both.
    pub primary_connection_string: Option<ConnectionString>,
    /// The read replicas: where reads go. Each is a URL or a [`ReplicaConfig`].
    pub read_replicas: Vec<EngineSpec>,
    /// Named groups of engines, instead of `primary_connection_string` / `read_replicas`.
    pub engines: BTreeMap<String, Vec<EngineSpec>>,
    /// The group writes (and anything not provably read-only) go to. `"default"` when unset.
    pub default_group: Option<String>,
    /// The group reads go to. `"read"` when unset; when that group does not exist or is
    /// empty, reads go to the default group.
    pub read_group: Option<String>,
    /// How an engine is picked within a group.
    pub routing_strategy: RoutingStrategy,
    /// After the first write of a [`Session`](crate::Session), keep its reads on the primary
    /// (inside its transaction) until it commits or rolls back. Default `true`.
    pub sticky_after_write: bool,
    /// `false` sends every statement to the default group's first engine. Default `true`.
    pub enabled: bool,
    /// Pool options for every engine (groups and engines may override them).
    pub pool: PoolConfig,
    /// Per-group options, by group name.
    pub groups: BTreeMap<String, GroupOptions>,
    /// Functions (beyond dbroute's built-in list) whose calls send a statement to the primary:
    /// your own functions that write, lock or keep per-connection state.
    pub write_functions: Vec<String>,
    /// On PostgreSQL, load the primary's user-defined `VOLATILE` functions when the router
    /// connects, and send any statement calling one to the primary. Default `true`; see
    /// [`Router::refresh_volatile_functions`](crate::Router::refresh_volatile_functions).
    pub load_volatile_functions: bool,
    /// Slots of the classification cache (decisions remembered by SQL text); `0` turns it
    /// off. Default 4096.
    pub classification_cache: usize,
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
            load_volatile_functions: true,
            classification_cache: DEFAULT_CACHE_SLOTS,
        }
    }
}

/// Slots of the classification cache unless `classification_cache` says otherwise.
pub const DEFAULT_CACHE_SLOTS: usize = 4096;

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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GroupOptions {
    /// Whether statements that are not provably read-only may run on this group when it is
    /// chosen by [`Router::group`](crate::Router::group) or
    /// [`use_bind_group`](crate::use_bind_group) (a separate writable database, a shard).
    /// Unset means `false`: writes go to the default group instead. The default group is
    /// always writable; the read group never is.
    pub writable: Option<bool>,
    /// Pool options for the group's engines.
    pub pool: PoolConfig,
}

/// A validated config, in the shape the router is built from.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) groups: Vec<GroupPlan>,
    pub(crate) default_group: usize,
    pub(crate) read_group: Option<usize>,
    pub(crate) strategy: RoutingStrategy,
    pub(crate) sticky_after_write: bool,
    pub(crate) enabled: bool,
    pub(crate) backend: BackendKind,
    pub(crate) write_functions: Vec<String>,
    pub(crate) load_volatile_functions: bool,
    pub(crate) classification_cache: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct GroupPlan {
    pub(crate) name: String,
    pub(crate) writable: bool,
    pub(crate) engines: Vec<EnginePlan>,
}

#[derive(Debug, Clone)]
pub(crate) struct EnginePlan {
    pub(crate) name: String,
    pub(crate) url: ConnectionString,
    pub(crate) weight: u32,
    pub(crate) pool: PoolConfig,
}

impl RoutingConfig {
    /// A builder; see [`RoutingConfigBuilder`].
    pub fn builder() -> RoutingConfigBuilder {
        RoutingConfigBuilder::default()
    }

    /// The embedded default: one SQLite file, with a single-writer pool (WAL, busy timeout) as
    /// the primary (engine `writer`) and a read-only pool over the same file as the read group
    /// (engine `reader`). The file is created if missing.
    ///
    /// ```
    /// let config = dbroute::RoutingConfig::sqlite("app.db");
    /// config.validate()?;
    /// # Ok::<(), dbroute::Error>(())
    /// ```
    pub fn sqlite(path: impl AsRef<std::path::Path>) -> Self {
        let path = path.as_ref().display();
        let engine = |mode: &str, name: &str| -> EngineSpec {
            ReplicaConfig::new(format!("sqlite://{path}?mode={mode}"))
                .name(name)
                .into()
        };
        RoutingConfig {
            engines: BTreeMap::from([
                (DEFAULT_GROUP.to_owned(), vec![engine("rwc", "writer")]),
                (READ_GROUP.to_owned(), vec![engine("ro", "reader")]),
            ]),
            ..RoutingConfig::default()
        }
    }

    /// Parses a TOML document (see the README's configuration reference for the format).
    ///
    /// ```
    /// let config = dbroute::RoutingConfig::from_toml_str(r#"
    ///     primary_connection_string = "postgres://primary/shop"
    ///     read_replicas = [
    ///         "postgres://replica1/shop",
    ///         { connection_string = "postgres://replica2/shop", weight = 2, name = "big" },
    ///     ]
    ///     routing_strategy = "random"
    ///     [pool]
    ///     max_connections = 20
    ///     acquire_timeout = "2s"
    /// "#)?;
    /// assert_eq!(config.read_replicas.len(), 2);
    /// # Ok::<(), dbroute::Error>(())
    /// ```
    #[cfg(feature = "toml")]
    pub fn from_toml_str(text: &str) -> Result<Self> {
        let config: RoutingConfig = toml::from_str(text).map_err(|e| Error::Load {
            origin: "TOML".into(),
            reason: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Reads and parses a TOML file.
    #[cfg(feature = "toml")]
    pub fn from_toml_file(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::Load {
            origin: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::from_toml_str(&text).map_err(|e| match e {
            Error::Load { reason, .. } => Error::Load {
                origin: path.display().to_string(),
                reason,
            },
            other => other,
        })
    }

    /// Checks the config; the error names the problem and how to fix it.
    pub fn validate(&self) -> Result<()> {
        self.plan().map(|_| ())
    }

    pub(crate) fn plan(&self) -> Result<Plan> {
        let mut groups = self.group_plans()?;
        let default_name = self.default_group.as_deref().unwrap_or(DEFAULT_GROUP);
        let default_group = groups
            .iter()
            .position(|g| g.name == default_name)
            .ok_or_else(|| Error::UnknownGroup {
                name: default_name.to_owned(),
                known: groups_list(&groups),
            })?;
        if groups[default_group].engines.is_empty() {
            return Err(Error::Config(format!(
                "the default group {default_name:?} has no engines; give it the primary's URL"
            )));
        }
        let read_name = self.read_group.as_deref().unwrap_or(READ_GROUP);
        let read_group = groups.iter().position(|g| g.name == read_name);
        if read_group.is_none() && self.read_group.is_some() {
            return Err(Error::UnknownGroup {
                name: read_name.to_owned(),
                known: groups_list(&groups),
            });
        }
        if let Some(empty) = groups
            .iter()
            .find(|g| g.engines.is_empty() && g.name != read_name && g.name != READ_GROUP)
        {
            return Err(Error::Config(format!(
                "group {:?} has no engines; give it at least one URL or remove it (only the \
                 read group may be empty: its reads then go to the default group)",
                empty.name
            )));
        }
        for (name, options) in &self.groups {
            let group = groups.iter_mut().find(|g| &g.name == name);
            let Some(group) = group else {
                return Err(Error::Config(format!(
                    "options are given for group {name:?}, which has no engines; known groups: {}",
                    groups_list(&groups)
                )));
            };
            group.writable = options.writable.unwrap_or(false);
        }
        groups[default_group].writable = true;
        if let Some(read) = read_group.filter(|r| *r != default_group)
            && groups[read].writable
        {
            return Err(Error::Config(format!(
                "the read group {read_name:?} is marked writable; it holds replicas, so \
                 remove `writable = true` (writes always go to the default group)"
            )));
        }
        for group in &groups {
            let weights: Vec<u32> = group.engines.iter().map(|e| e.weight).collect();
            Picker::new(self.routing_strategy, &weights)
                .map_err(|e| Error::Config(format!("group {:?}: {e}", group.name)))?;
        }
        let backend = self.backend(&groups)?;
        Ok(Plan {
            read_group: read_group.filter(|r| !groups[*r].engines.is_empty()),
            groups,
            default_group,
            strategy: self.routing_strategy,
            sticky_after_write: self.sticky_after_write,
            enabled: self.enabled,
            backend,
            write_functions: self.write_functions.clone(),
            load_volatile_functions: self.load_volatile_functions,
            classification_cache: self.classification_cache,
        })
    }

    /// The groups as written, with engine names and pool options resolved.
    fn group_plans(&self) -> Result<Vec<GroupPlan>> {
        let groups: Vec<(String, Vec<EngineSpec>)> =
            match (&self.primary_connection_string, self.engines.is_empty()) {
                (Some(_), false) => {
                    return Err(Error::Config(
                        "both primary_connection_string and engines are set; use one: \
                     primary_connection_string with read_replicas, or engines with named groups"
                            .into(),
                    ));
                }
                (None, true) => {
                    return Err(Error::Config(
                        "no primary: set primary_connection_string (with read_replicas), or \
                     engines with a \"default\" group"
                            .into(),
                    ));
                }
                (Some(primary), true) => vec![
                    (
                        DEFAULT_GROUP.to_owned(),
                        vec![ReplicaConfig::new(primary.clone()).name("primary").into()],
                    ),
                    (READ_GROUP.to_owned(), self.read_replicas.clone()),
                ],
                (None, false) => {
                    if !self.read_replicas.is_empty() {
                        return Err(Error::Config(
                            "read_replicas is set together with engines; put the replicas in the \
                         engines map under the read group instead"
                                .into(),
                        ));
                    }
                    self.engines
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                }
            };
        let mut seen = std::collections::HashSet::new();
        let mut plans = Vec::with_capacity(groups.len());
        for (group, specs) in groups {
            if group.trim().is_empty() {
                return Err(Error::Config("a group has an empty name; name it".into()));
            }
            let group_pool = self.groups.get(&group).map(|o| o.pool).unwrap_or_default();
            let mut engines = Vec::with_capacity(specs.len());
            for (i, spec) in specs.into_iter().enumerate() {
                let config = spec.into_config();
                let name = config.name.clone().unwrap_or_else(|| match group.as_str() {
                    READ_GROUP if self.primary_connection_string.is_some() => {
                        format!("replica-{}", i + 1)
                    }
                    _ => format!("{group}-{}", i + 1),
                });
                check_engine(&name, &config)?;
                if !seen.insert(name.clone()) {
                    return Err(Error::Config(format!(
                        "two engines are named {name:?}; engine names must be unique, rename one"
                    )));
                }
                let pool = config
                    .pool
                    .or(group_pool)
                    .or(self.pool)
                    .or(PoolConfig::defaults());
                pool.validate(&format!("engine {name:?}"))
                    .map_err(Error::Config)?;
                engines.push(EnginePlan {
                    name,
                    url: config.connection_string,
                    weight: config.weight,
                    pool,
                });
            }
            plans.push(GroupPlan {
                name: group,
                writable: false,
                engines,
            });
        }
        Ok(plans)
    }

    fn backend(&self, groups: &[GroupPlan]) -> Result<BackendKind> {
        let mut found: Option<(BackendKind, &str)> = None;
        for engine in groups.iter().flat_map(|g| &g.engines) {
            // check_engine has vetted every scheme.
            let Some(kind) = engine.url.scheme().and_then(BackendKind::from_scheme) else {
                continue;
            };
            match found {
                None => found = Some((kind, &engine.name)),
                Some((first, first_name)) if first != kind => {
                    return Err(Error::Config(format!(
                        "engines of different databases in one router: {first_name:?} is {} but \
                         {:?} is {}; use one router per database",
                        first.name(),
                        engine.name,
                        kind.name()
                    )));
                }
                Some(_) => {}
            }
        }
        Ok(found.map(|(kind, _)| kind).unwrap_or(BackendKind::Postgres))
    }
}

fn check_engine(name: &str, config: &ReplicaConfig) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::Config(
            "an engine has an empty name; name it or leave the name unset".into(),
        ));
    }
    if config.weight == 0 {
        return Err(Error::Config(format!(
            "engine {name:?} has weight 0; weights start at 1 (remove the engine to send it nothing)"
        )));
    }
    let url = &config.connection_string;
    let bad = |reason: &str| Error::ConnectionString {
        engine: name.to_owned(),
        url: url.redacted(),
        reason: reason.to_owned(),
    };
    let scheme = url.scheme().ok_or_else(|| {
        bad("it has no scheme; write it as postgres://user@host:5432/db or sqlite://file.db")
    })?;
    if BackendKind::from_scheme(scheme).is_none() {
        return Err(bad(&format!(
            "unknown scheme {scheme:?}; use postgres://, postgresql://, mysql://, mariadb:// or sqlite://"
        )));
    }
    Ok(())
}

fn groups_list(groups: &[GroupPlan]) -> String {
    let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    names.join(", ")
}

#[cfg(test)]
mod tests;
