//! [`ConsistencyConfig`]: what reads must see of earlier writes (the `[consistency]` table).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::consistency::Consistency;
use crate::error::ConfigError;

/// The longest `max_wait`: a read that may wait longer belongs in a background job
/// ([`Router::wait_for`](crate::Router::wait_for)).
pub const MAX_WAIT_LIMIT: Duration = Duration::from_secs(10);

/// What reads must see of earlier writes (the `[consistency]` table).
///
/// | option | default | why |
/// |---|---|---|
/// | `mode` | `read_your_writes` | reads after a write see it; measured on real replication, 0 stale reads in 1,000 and over 90 % still on replicas (BENCHMARKS.md) |
/// | `max_wait` | 50 ms | how long a read may wait for a replica to replay a write before it runs on the primary: same-zone replicas replay within a few milliseconds, so most reads that wait at all wait far less; a longer bound only adds latency to reads the primary serves anyway |
/// | `cluster` | the primary's host and port | the name tokens carry: services that reach the same primary by different names must share it |
///
/// ```
/// use std::time::Duration;
/// use dbroute::{Consistency, ConsistencyConfig, RoutingConfig};
///
/// let config = RoutingConfig::builder()
///     .primary("postgres://app@primary/shop")
///     .replica("postgres://app@replica1/shop")
///     .consistency(
///         ConsistencyConfig::default()
///             .mode(Consistency::ReadYourWrites)
///             .max_wait(Duration::from_millis(20))
///             .cluster("shop-production"),
///     )
///     .build()?;
/// assert_eq!(config.consistency.max_wait, Duration::from_millis(20));
/// # Ok::<(), dbroute::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ConsistencyConfig {
    /// The router-wide mode; [`with_consistency`](crate::with_consistency) overrides it in a
    /// scope. Default `read_your_writes`.
    pub mode: Consistency,
    /// How long a read may wait for a replica to replay the writes it must see before it runs
    /// on the primary. Default 50 ms; at most 10 s.
    #[serde(with = "super::duration::required")]
    pub max_wait: Duration,
    /// The cluster's name in [`ConsistencyToken`](crate::ConsistencyToken)s. Default: the
    /// primary's host and port.
    pub cluster: Option<String>,
}

impl Default for ConsistencyConfig {
    fn default() -> Self {
        ConsistencyConfig {
            mode: Consistency::ReadYourWrites,
            max_wait: Duration::from_millis(50),
            cluster: None,
        }
    }
}

impl ConsistencyConfig {
    /// Sets `mode`.
    #[must_use]
    pub fn mode(mut self, mode: Consistency) -> Self {
        self.mode = mode;
        self
    }

    /// Sets `max_wait`.
    #[must_use]
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// Sets `cluster`.
    #[must_use]
    pub fn cluster(mut self, name: impl Into<String>) -> Self {
        self.cluster = Some(name.into());
        self
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let problem = |field: &'static str, problem: &str| {
            Err(ConfigError::Consistency {
                field,
                problem: problem.to_owned(),
            })
        };
        if self.max_wait > MAX_WAIT_LIMIT {
            return problem(
                "max_wait",
                "is over 10s; a read should not wait that long for a replica: keep it short \
                 (default 50ms) and wait in background jobs with Router::wait_for",
            );
        }
        if let Some(name) = &self.cluster
            && (name.trim().is_empty() || name.len() > 200)
        {
            return problem(
                "cluster",
                "must be a name of 1 to 200 characters (or unset, for the primary's host and port)",
            );
        }
        Ok(())
    }
}
