//! Loading a [`RoutingConfig`] from environment variables, so operators change replicas
//! without recompiling.
//!
//! The variables are listed on [`RoutingConfig::from_env_vars`].
//!
//! Any other variable starting with `DBROUTE_` is an error, so a typo is caught. Errors name
//! the variable but never repeat its value: a URL with a password put in the wrong variable
//! must not end up in a log.

use std::collections::BTreeMap;

use super::duration::parse_duration;
use super::{ConfigError, GroupOptions, ReplicaConfig, RoutingConfig};
use crate::error::Result;

const PREFIX: &str = "DBROUTE_";

impl RoutingConfig {
    /// Reads the `DBROUTE_*` environment variables (table in the README and on
    /// [`from_env_vars`](Self::from_env_vars)).
    pub fn from_env() -> Result<Self> {
        Self::from_env_vars(std::env::vars())
    }

    /// Builds a config from `(name, value)` pairs named as the `DBROUTE_*` variables;
    /// other names are ignored.
    ///
    /// | variable | meaning |
    /// |---|---|
    /// | `DBROUTE_PRIMARY_URL` | `primary_connection_string` |
    /// | `DBROUTE_READ_REPLICAS` | comma-separated replica URLs |
    /// | `DBROUTE_REPLICA_<N>_URL`, `_WEIGHT`, `_NAME` | replica number N, in order of N |
    /// | `DBROUTE_GROUP_<NAME>_URLS`, `_WRITABLE` | engines and options of group `<name>` |
    /// | `DBROUTE_DEFAULT_GROUP`, `DBROUTE_READ_GROUP` | group names |
    /// | `DBROUTE_ROUTING_STRATEGY` | `round_robin` (or `round-robin`) or `random` |
    /// | `DBROUTE_STICKY_AFTER_WRITE`, `DBROUTE_ENABLED` | `true` / `false` |
    /// | `DBROUTE_MAX_CONNECTIONS`, `DBROUTE_MIN_CONNECTIONS` | pool sizes |
    /// | `DBROUTE_ACQUIRE_TIMEOUT`, `DBROUTE_IDLE_TIMEOUT`, `DBROUTE_MAX_LIFETIME` | durations |
    /// | `DBROUTE_WRITE_FUNCTIONS` | comma-separated extra write functions |
    /// | `DBROUTE_READ_ONLY_FUNCTIONS` | comma-separated functions vouched to only read |
    /// | `DBROUTE_LOAD_VOLATILE_FUNCTIONS` | `true` / `false` |
    /// | `DBROUTE_CLASSIFICATION_CACHE` | cache slots (`0` turns it off) |
    /// | `DBROUTE_TRACE_STATEMENT_TEXT` | bytes of statement text in tracing spans (`0`: none) |
    /// | `DBROUTE_HEALTH_ENABLED`, `_INTERVAL`, `_PROBE_TIMEOUT`, `_RECOVER_AFTER` | [`HealthConfig`](super::HealthConfig) |
    /// | `DBROUTE_HEALTH_MAX_LAG_BYTES`, `_MAX_LAG_TIME` | `health.max_replica_lag` |
    /// | `DBROUTE_HEALTH_FALLBACK_TO_PRIMARY`, `_REQUIRE_ALL_ENGINES` | `true` / `false` |
    /// | `DBROUTE_CONSISTENCY` | `eventual`, `read_your_writes` or `strong` ([`ConsistencyConfig`](super::ConsistencyConfig)) |
    /// | `DBROUTE_CONSISTENCY_MAX_WAIT`, `_CLUSTER` | `consistency.max_wait`, `consistency.cluster` |
    ///
    /// ```
    /// use dbroute::RoutingConfig;
    ///
    /// let config = RoutingConfig::from_env_vars([
    ///     ("DBROUTE_PRIMARY_URL", "postgres://app@primary/shop"),
    ///     ("DBROUTE_REPLICA_1_URL", "postgres://app@replica1/shop"),
    ///     ("DBROUTE_REPLICA_1_WEIGHT", "2"),
    ///     ("DBROUTE_ROUTING_STRATEGY", "random"),
    ///     ("HOME", "/root"),
    /// ])?;
    /// assert_eq!(config.read_replicas.len(), 1);
    ///
    /// let typo = RoutingConfig::from_env_vars([("DBROUTE_PRIMARY_ULR", "postgres://x/y")]);
    /// assert!(typo.unwrap_err().to_string().contains("DBROUTE_PRIMARY_ULR"));
    ///
    /// // A value that does not fit is named by its variable, never repeated.
    /// let wrong = RoutingConfig::from_env_vars([
    ///     ("DBROUTE_PRIMARY_URL", "postgres://app@primary/shop"),
    ///     ("DBROUTE_ENABLED", "postgres://app:hunter2@primary/shop"),
    /// ]);
    /// let message = wrong.unwrap_err().to_string();
    /// assert!(message.contains("DBROUTE_ENABLED: not a boolean") && !message.contains("hunter2"));
    /// # Ok::<(), dbroute::Error>(())
    /// ```
    pub fn from_env_vars<I, K, V>(vars: I) -> Result<Self>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut config = RoutingConfig::default();
        let mut replicas: BTreeMap<u32, ReplicaConfig> = BTreeMap::new();
        for (key, value) in vars {
            let (key, value) = (key.as_ref(), value.as_ref());
            let Some(name) = key.strip_prefix(PREFIX) else {
                continue;
            };
            apply(&mut config, &mut replicas, name, value).map_err(|problem| ConfigError::Env {
                variable: key.to_owned(),
                problem,
            })?;
        }
        for (n, replica) in replicas {
            if replica.connection_string.expose().is_empty() {
                return Err(ConfigError::Env {
                    variable: format!("DBROUTE_REPLICA_{n}_URL"),
                    problem: format!("missing, but other DBROUTE_REPLICA_{n}_* variables are set"),
                }
                .into());
            }
            config.read_replicas.push(replica.into());
        }
        config.validate()?;
        Ok(config)
    }
}

fn apply(
    config: &mut RoutingConfig,
    replicas: &mut BTreeMap<u32, ReplicaConfig>,
    name: &str,
    value: &str,
) -> Result<(), String> {
    match name {
        "PRIMARY_URL" => config.primary_connection_string = Some(value.into()),
        "READ_REPLICAS" => config.read_replicas.extend(list(value).map(Into::into)),
        "DEFAULT_GROUP" => config.default_group = Some(value.to_owned()),
        "READ_GROUP" => config.read_group = Some(value.to_owned()),
        "ROUTING_STRATEGY" => config.routing_strategy = value.parse()?,
        "STICKY_AFTER_WRITE" => config.sticky_after_write = boolean(value)?,
        "ENABLED" => config.enabled = boolean(value)?,
        "MAX_CONNECTIONS" => config.pool.max_connections = Some(number(value)?),
        "MIN_CONNECTIONS" => config.pool.min_connections = Some(number(value)?),
        "ACQUIRE_TIMEOUT" => config.pool.acquire_timeout = Some(duration(value)?),
        "IDLE_TIMEOUT" => config.pool.idle_timeout = Some(duration(value)?),
        "MAX_LIFETIME" => config.pool.max_lifetime = Some(duration(value)?),
        "WRITE_FUNCTIONS" => config
            .write_functions
            .extend(list(value).map(str::to_owned)),
        "READ_ONLY_FUNCTIONS" => config
            .read_only_functions
            .extend(list(value).map(str::to_owned)),
        "LOAD_VOLATILE_FUNCTIONS" => config.load_volatile_functions = boolean(value)?,
        "CLASSIFICATION_CACHE" => config.classification_cache = number(value)? as usize,
        "TRACE_STATEMENT_TEXT" => config.trace_statement_text = number(value)? as usize,
        "HEALTH_ENABLED" => config.health.enabled = boolean(value)?,
        "HEALTH_INTERVAL" => config.health.interval = duration(value)?,
        "HEALTH_PROBE_TIMEOUT" => config.health.probe_timeout = duration(value)?,
        "HEALTH_RECOVER_AFTER" => config.health.recover_after = number(value)?,
        "HEALTH_MAX_LAG_BYTES" => config.health.max_replica_lag.bytes = Some(bytes(value)?),
        "HEALTH_MAX_LAG_TIME" => config.health.max_replica_lag.time = Some(duration(value)?),
        "HEALTH_FALLBACK_TO_PRIMARY" => config.health.fallback_to_primary = boolean(value)?,
        "HEALTH_REQUIRE_ALL_ENGINES" => config.health.require_all_engines = boolean(value)?,
        "CONSISTENCY" => config.consistency.mode = value.parse()?,
        "CONSISTENCY_MAX_WAIT" => config.consistency.max_wait = duration(value)?,
        "CONSISTENCY_CLUSTER" => config.consistency.cluster = Some(value.to_owned()),
        _ => return apply_indexed(config, replicas, name, value),
    }
    Ok(())
}

/// `REPLICA_<N>_*` and `GROUP_<NAME>_*`.
fn apply_indexed(
    config: &mut RoutingConfig,
    replicas: &mut BTreeMap<u32, ReplicaConfig>,
    name: &str,
    value: &str,
) -> Result<(), String> {
    if let Some(rest) = name.strip_prefix("REPLICA_") {
        let (n, field) = rest.split_once('_').ok_or_else(unknown)?;
        let n: u32 = n.parse().map_err(|_| unknown())?;
        let replica = replicas.entry(n).or_insert_with(|| ReplicaConfig::new(""));
        match field {
            "URL" => replica.connection_string = value.into(),
            "WEIGHT" => replica.weight = number(value)?,
            "NAME" => replica.name = Some(value.to_owned()),
            _ => return Err(unknown()),
        }
        return Ok(());
    }
    if let Some(rest) = name.strip_prefix("GROUP_") {
        if let Some(group) = rest.strip_suffix("_URLS") {
            let engines = config
                .engines
                .entry(group.to_ascii_lowercase())
                .or_default();
            engines.extend(list(value).map(Into::into));
            return Ok(());
        }
        if let Some(group) = rest.strip_suffix("_WRITABLE") {
            let options: &mut GroupOptions =
                config.groups.entry(group.to_ascii_lowercase()).or_default();
            options.writable = Some(boolean(value)?);
            return Ok(());
        }
    }
    Err(unknown())
}

/// A duration, with an error that does not repeat the value.
fn duration(value: &str) -> Result<std::time::Duration, String> {
    parse_duration(value)
        .map_err(|_| "not a duration; write e.g. \"250ms\", \"5s\", \"10m\" or \"1h\"".into())
}

fn unknown() -> String {
    "unknown variable; see the README's configuration reference for the DBROUTE_* names".into()
}

fn list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|u| !u.is_empty())
}

fn boolean(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("not a boolean; use true or false (or 1/0, yes/no, on/off)".into()),
    }
}

fn bytes(value: &str) -> Result<u64, String> {
    value
        .trim()
        .parse()
        .map_err(|_| "not a whole number of bytes".into())
}

fn number(value: &str) -> Result<u32, String> {
    value
        .trim()
        .parse()
        .map_err(|_| "not a whole number".into())
}
