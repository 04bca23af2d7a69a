//! The builder beside the plain-data [`RoutingConfig`].

use super::{ConnectionString, EngineSpec, GroupOptions, PoolConfig, RoutingConfig};
use crate::error::Result;
use crate::select::RoutingStrategy;

/// Builds a [`RoutingConfig`] step by step; [`build`](Self::build) validates it.
///
/// Every field of the config has a method here, so the builder (with TOML and environment
/// variables) is how a config is made: new options arrive as new methods, never as a breaking
/// change.
///
/// ```
/// use dbroute::{GroupOptions, ReplicaConfig, RoutingConfig, RoutingStrategy};
///
/// let config = RoutingConfig::builder()
///     .primary("postgres://app@primary/shop")
///     .replica("postgres://app@replica1/shop")
///     .replica(ReplicaConfig::new("postgres://app@replica2/shop").weight(2))
///     .routing_strategy(RoutingStrategy::Random)
///     .build()?;
/// assert_eq!(config.read_replicas.len(), 2);
///
/// let groups = RoutingConfig::builder()
///     .group("default", ["postgres://app@primary/shop"])
///     .group("read", ["postgres://app@replica1/shop"])
///     .group("analytics", ["postgres://app@warehouse/shop"])
///     .group_options("analytics", GroupOptions::default().writable(true))
///     .build()?;
/// assert_eq!(groups.engines.len(), 3);
/// # Ok::<(), dbroute::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct RoutingConfigBuilder {
    config: RoutingConfig,
}

impl RoutingConfigBuilder {
    /// Sets the primary's URL.
    pub fn primary(mut self, url: impl Into<ConnectionString>) -> Self {
        self.config.primary_connection_string = Some(url.into());
        self
    }

    /// Adds a read replica: a URL or a [`ReplicaConfig`](super::ReplicaConfig).
    pub fn replica(mut self, replica: impl Into<EngineSpec>) -> Self {
        self.config.read_replicas.push(replica.into());
        self
    }

    /// Adds engines to a named group.
    pub fn group<I>(mut self, name: impl Into<String>, engines: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<EngineSpec>,
    {
        self.config
            .engines
            .entry(name.into())
            .or_default()
            .extend(engines.into_iter().map(Into::into));
        self
    }

    /// Sets options of a named group.
    pub fn group_options(mut self, name: impl Into<String>, options: GroupOptions) -> Self {
        self.config.groups.insert(name.into(), options);
        self
    }

    /// Names the group writes go to (default `"default"`).
    pub fn default_group(mut self, name: impl Into<String>) -> Self {
        self.config.default_group = Some(name.into());
        self
    }

    /// Names the group reads go to (default `"read"`).
    pub fn read_group(mut self, name: impl Into<String>) -> Self {
        self.config.read_group = Some(name.into());
        self
    }

    /// Sets how engines are picked within a group.
    pub fn routing_strategy(mut self, strategy: RoutingStrategy) -> Self {
        self.config.routing_strategy = strategy;
        self
    }

    /// Sets sticky-after-write (default `true`).
    pub fn sticky_after_write(mut self, sticky: bool) -> Self {
        self.config.sticky_after_write = sticky;
        self
    }

    /// `false` sends everything to the primary (default `true`).
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.config.enabled = enabled;
        self
    }

    /// Sets pool options for every engine.
    pub fn pool(mut self, pool: PoolConfig) -> Self {
        self.config.pool = pool;
        self
    }

    /// Adds functions whose calls send a statement to the primary.
    pub fn write_functions<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config
            .write_functions
            .extend(names.into_iter().map(Into::into));
        self
    }

    /// Adds functions you vouch only read, though the catalog may declare them `VOLATILE`:
    /// reads calling them go to replicas.
    pub fn read_only_functions<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config
            .read_only_functions
            .extend(names.into_iter().map(Into::into));
        self
    }

    /// Whether to load the primary's `VOLATILE` functions (PostgreSQL; default `true`).
    pub fn load_volatile_functions(mut self, load: bool) -> Self {
        self.config.load_volatile_functions = load;
        self
    }

    /// Carries up to `bytes` of each statement's text (literals masked) in its tracing span;
    /// `0` (the default) leaves it out. See the README's "Observability".
    pub fn trace_statement_text(mut self, bytes: usize) -> Self {
        self.config.trace_statement_text = bytes;
        self
    }

    /// Sets the classification cache's slots (`0` turns it off; default 4096).
    pub fn classification_cache(mut self, slots: usize) -> Self {
        self.config.classification_cache = slots;
        self
    }

    /// Sets the health options (see [`HealthConfig`](super::HealthConfig)).
    pub fn health(mut self, health: super::HealthConfig) -> Self {
        self.config.health = health;
        self
    }

    /// Sets what reads must see of earlier writes (see
    /// [`ConsistencyConfig`](super::ConsistencyConfig)).
    pub fn consistency(mut self, consistency: super::ConsistencyConfig) -> Self {
        self.config.consistency = consistency;
        self
    }

    /// Validates and returns the config.
    pub fn build(self) -> Result<RoutingConfig> {
        self.config.validate()?;
        Ok(self.config)
    }
}
