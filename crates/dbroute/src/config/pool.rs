//! Connection-pool options, settable for all engines, per group, or per engine.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ConfigError;

pub(crate) const DEFAULT_MAX_CONNECTIONS: u32 = 10;
pub(crate) const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Pool options. Unset fields inherit: engine, then its group, then the config, then the
/// defaults below.
///
/// | option | default |
/// |---|---|
/// | `max_connections` | 10 (a writable SQLite engine always gets 1) |
/// | `min_connections` | 0 |
/// | `acquire_timeout` | 5 s |
/// | `idle_timeout` | 10 min |
/// | `max_lifetime` | 30 min |
/// | `test_before_acquire` | on for writable engines, off for replicas |
///
/// In TOML and environment variables, durations are strings such as `"250ms"`, `"5s"`,
/// `"10m"`, or a number of seconds.
///
/// ```
/// use std::time::Duration;
/// use dbroute::PoolConfig;
///
/// let pool = PoolConfig::default().max_connections(20).acquire_timeout(Duration::from_secs(2));
/// assert_eq!(pool.max_connections, Some(20));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct PoolConfig {
    /// Most connections the pool opens.
    pub max_connections: Option<u32>,
    /// Connections the pool keeps open even when idle.
    pub min_connections: Option<u32>,
    /// How long a statement waits for a free connection before failing.
    #[serde(with = "super::duration::optional")]
    pub acquire_timeout: Option<Duration>,
    /// How long an unused connection stays open.
    #[serde(with = "super::duration::optional")]
    pub idle_timeout: Option<Duration>,
    /// How long any connection lives before it is replaced.
    #[serde(with = "super::duration::optional")]
    pub max_lifetime: Option<Duration>,
    /// Check each connection with a round trip before handing it out (sqlx's
    /// `test_before_acquire`). Unset: on for writable engines, off for replicas, whose failed
    /// reads are retried elsewhere (see `BENCHMARKS.md` for what the round trip costs).
    pub test_before_acquire: Option<bool>,
}

/// The longest `acquire_timeout`: a statement should fail rather than wait longer.
const MAX_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3600);
/// The longest `idle_timeout` and `max_lifetime`.
const MAX_POOL_PERIOD: Duration = Duration::from_secs(7 * 24 * 3600);

impl PoolConfig {
    /// Sets `max_connections`.
    #[must_use]
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = Some(max);
        self
    }

    /// Sets `min_connections`.
    #[must_use]
    pub fn min_connections(mut self, min: u32) -> Self {
        self.min_connections = Some(min);
        self
    }

    /// Sets `acquire_timeout`.
    #[must_use]
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = Some(timeout);
        self
    }

    /// Sets `idle_timeout`.
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }

    /// Sets `test_before_acquire`.
    #[must_use]
    pub fn test_before_acquire(mut self, test: bool) -> Self {
        self.test_before_acquire = Some(test);
        self
    }

    /// Sets `max_lifetime`.
    #[must_use]
    pub fn max_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_lifetime = Some(lifetime);
        self
    }

    /// These options, with unset fields taken from `fallback`.
    pub(crate) fn or(self, fallback: PoolConfig) -> PoolConfig {
        PoolConfig {
            max_connections: self.max_connections.or(fallback.max_connections),
            min_connections: self.min_connections.or(fallback.min_connections),
            acquire_timeout: self.acquire_timeout.or(fallback.acquire_timeout),
            idle_timeout: self.idle_timeout.or(fallback.idle_timeout),
            max_lifetime: self.max_lifetime.or(fallback.max_lifetime),
            test_before_acquire: self.test_before_acquire.or(fallback.test_before_acquire),
        }
    }

    /// The built-in defaults of the table above (durations at most 1 h for `acquire_timeout`,
    /// 7 days for the others).
    pub(crate) fn defaults() -> PoolConfig {
        PoolConfig {
            max_connections: Some(DEFAULT_MAX_CONNECTIONS),
            min_connections: Some(0),
            acquire_timeout: Some(DEFAULT_ACQUIRE_TIMEOUT),
            idle_timeout: Some(Duration::from_secs(600)),
            max_lifetime: Some(Duration::from_secs(1800)),
            // Decided per role when the pool is built.
            test_before_acquire: None,
        }
    }

    pub(crate) fn validate(&self, owner: &str) -> Result<(), ConfigError> {
        // sqlx adds these to the clock: a duration past what it can count would panic there.
        let durations = [
            (
                "acquire_timeout",
                self.acquire_timeout,
                MAX_ACQUIRE_TIMEOUT,
                "1h",
            ),
            ("idle_timeout", self.idle_timeout, MAX_POOL_PERIOD, "7 days"),
            ("max_lifetime", self.max_lifetime, MAX_POOL_PERIOD, "7 days"),
        ];
        let too_long = durations
            .into_iter()
            .find(|(_, value, max, _)| value.is_some_and(|v| v > *max));
        let problem = match (self.min_connections, self.max_connections, too_long) {
            (_, Some(0), _) => {
                "max_connections is 0; set it to at least 1 (or leave it unset for 10)".to_owned()
            }
            (Some(min), Some(max), _) if min > max => {
                format!("min_connections ({min}) exceeds max_connections ({max}); lower it")
            }
            (_, _, Some((field, _, _, max))) => {
                format!("{field} is over {max}; give a real bound (or leave it unset)")
            }
            _ => return Ok(()),
        };
        Err(ConfigError::Pool {
            owner: owner.to_owned(),
            problem,
        })
    }
}
