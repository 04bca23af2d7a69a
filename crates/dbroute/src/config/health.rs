//! [`HealthConfig`]: how the router watches its engines, and what it does when one fails.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// How the router watches its engines (the `[health]` table).
///
/// A background task probes every engine each `interval` (reachable? in recovery? how far
/// behind the primary?), each probe bounded by `probe_timeout`. A replica that fails a probe,
/// or a statement with a connection-level error, leaves the read rotation at once and comes
/// back after `recover_after` good probes in a row. A replica further behind than
/// `max_replica_lag` leaves the rotation until it is back under 80 % of the bound for
/// `recover_after` probes. An autocommit read that fails at the connection level is retried
/// once on another replica, then on the primary (`fallback_to_primary`).
///
/// | option | default | why |
/// |---|---|---|
/// | `enabled` | `true` | no probes and no ejection when `false` (every engine counts as up) |
/// | `interval` | 1 s | PgDog's LSN example and ProxySQL's read-only check use 1 s; GitLab's 60–120 s left error spikes of minutes when a replica went away |
/// | `probe_timeout` | 1 s | PgCat and ProxySQL time their checks out at 1 s: a blackholed replica costs at most that, once |
/// | `recover_after` | 2 | one good probe after a crash is often a server still starting; two is seconds, not minutes (PgDog bans for 5 min, PgCat 60 s) |
/// | `max_replica_lag.time` | 30 s | GitLab ejects at 60 s, PgDog's example at 60 s, and 10–30 s is where stale reads start to surprise users; read-your-writes (coming) needs no bound for correctness |
/// | `max_replica_lag.bytes` | none | bytes of WAL mean nothing without the write rate: set it when you know yours (GitLab: 8 MB) |
/// | `fallback_to_primary` | `true` | a read on the primary is a little load; a failed read is an error page |
/// | `require_all_engines` | `false` | `connect` needs the primary; replicas down at start join when they come up |
///
/// ```
/// use std::time::Duration;
/// use dbroute::{HealthConfig, LagBound, RoutingConfig};
///
/// let config = RoutingConfig::builder()
///     .primary("postgres://app@primary/shop")
///     .replica("postgres://app@replica1/shop")
///     .health(
///         HealthConfig::default()
///             .interval(Duration::from_millis(500))
///             .probe_timeout(Duration::from_millis(500))
///             .max_replica_lag(LagBound::default().time(Duration::from_secs(10)).bytes(64 << 20)),
///     )
///     .build()?;
/// assert_eq!(config.health.recover_after, 2);
/// # Ok::<(), dbroute::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct HealthConfig {
    /// Probe engines and eject failing or lagging replicas. Default `true`.
    pub enabled: bool,
    /// Time between probes of each engine. Default 1 s.
    #[serde(with = "super::duration::required")]
    pub interval: Duration,
    /// How long one probe may take (connecting included) before it counts as failed. Default 1 s.
    #[serde(with = "super::duration::required")]
    pub probe_timeout: Duration,
    /// Good probes in a row before an ejected engine is used again. Default 2.
    pub recover_after: u32,
    /// How far behind the primary a replica may fall and stay in the read rotation.
    pub max_replica_lag: LagBound,
    /// When no replica of the read group can take a read, run it on the primary (else fail
    /// with [`Error::NoReplicaAvailable`](crate::Error::NoReplicaAvailable)). Default `true`.
    pub fallback_to_primary: bool,
    /// Make `connect` fail when any engine is unreachable (else only the primary must be).
    /// Default `false`.
    pub require_all_engines: bool,
}

/// A bound on replication lag: a replica past either part leaves the read rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct LagBound {
    /// Bytes of WAL the replica has not replayed. Default: no bound.
    pub bytes: Option<u64>,
    /// Age of the last transaction it replayed, while it is behind. Default 30 s.
    #[serde(with = "super::duration::optional")]
    pub time: Option<Duration>,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            enabled: true,
            interval: Duration::from_secs(1),
            probe_timeout: Duration::from_secs(1),
            recover_after: 2,
            max_replica_lag: LagBound::default(),
            fallback_to_primary: true,
            require_all_engines: false,
        }
    }
}

impl Default for LagBound {
    fn default() -> Self {
        LagBound {
            bytes: None,
            time: Some(Duration::from_secs(30)),
        }
    }
}

impl HealthConfig {
    /// Sets `enabled`.
    #[must_use]
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Sets `interval`.
    #[must_use]
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Sets `probe_timeout`.
    #[must_use]
    pub fn probe_timeout(mut self, timeout: Duration) -> Self {
        self.probe_timeout = timeout;
        self
    }

    /// Sets `recover_after`.
    #[must_use]
    pub fn recover_after(mut self, probes: u32) -> Self {
        self.recover_after = probes;
        self
    }

    /// Sets `max_replica_lag`.
    #[must_use]
    pub fn max_replica_lag(mut self, bound: LagBound) -> Self {
        self.max_replica_lag = bound;
        self
    }

    /// Sets `fallback_to_primary`.
    #[must_use]
    pub fn fallback_to_primary(mut self, fallback: bool) -> Self {
        self.fallback_to_primary = fallback;
        self
    }

    /// Sets `require_all_engines`.
    #[must_use]
    pub fn require_all_engines(mut self, require: bool) -> Self {
        self.require_all_engines = require;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let problem = |field: &'static str, problem: &str| {
            Err(ConfigError::Health {
                field,
                problem: problem.to_owned(),
            })
        };
        if self.interval.is_zero() {
            return problem(
                "interval",
                "is 0; probe at least every few seconds (default 1s)",
            );
        }
        if self.interval > Duration::from_secs(3600) {
            return problem(
                "interval",
                "is over 1h; a replica that died would stay in the rotation that long: probe at \
                 least every hour (default 1s)",
            );
        }
        if self.probe_timeout.is_zero() {
            return problem(
                "probe_timeout",
                "is 0; give a probe time to answer (default 1s)",
            );
        }
        if self.probe_timeout > self.interval {
            return problem(
                "probe_timeout",
                "is longer than interval; probes would pile up: make it at most the interval",
            );
        }
        if self.recover_after == 0 {
            return problem(
                "recover_after",
                "is 0; an ejected engine needs at least 1 good probe to come back (default 2)",
            );
        }
        if self.max_replica_lag.bytes == Some(0) {
            return problem(
                "max_replica_lag.bytes",
                "is 0; every replica is a little behind: leave it unset or give a real bound",
            );
        }
        if self.max_replica_lag.time.is_some_and(|t| t.is_zero()) {
            return problem(
                "max_replica_lag.time",
                "is 0; every replica is a little behind: leave it unset or give a real bound",
            );
        }
        Ok(())
    }
}

impl LagBound {
    /// No bound at all: lag never ejects a replica.
    pub fn none() -> Self {
        LagBound {
            bytes: None,
            time: None,
        }
    }

    /// Sets the bound in bytes of WAL.
    #[must_use]
    pub fn bytes(mut self, bytes: u64) -> Self {
        self.bytes = Some(bytes);
        self
    }

    /// Sets the bound in time.
    #[must_use]
    pub fn time(mut self, time: Duration) -> Self {
        self.time = Some(time);
        self
    }
}
