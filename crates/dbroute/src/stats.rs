//! What each engine served and why, how long it took, and what failed: counters bumped once
//! per routed statement (relaxed atomic adds, no allocation, no lock), read as a snapshot by
//! [`Router::stats`], and mirrored to the `metrics` facade when that feature is on.
//!
//! [`Router::stats`]: crate::Router::stats

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

use crate::observe::EngineMetrics;
use crate::policy::RouteReason;

/// One engine's counters, shared by the engine and the units of work running on it.
#[derive(Debug)]
pub(crate) struct Counters {
    by_reason: [AtomicU64; RouteReason::COUNT],
    errors: [AtomicU64; ErrorKind::COUNT],
    statement_time: Latency,
    acquire_time: Latency,
    metrics: EngineMetrics,
}

impl Counters {
    /// Counters for engine `engine` (`role`) of `group`; with the `metrics` feature, its
    /// handles are registered with the recorder installed now.
    pub(crate) fn new(group: &str, engine: &str, role: &'static str) -> Self {
        Counters {
            by_reason: std::array::from_fn(|_| AtomicU64::new(0)),
            errors: std::array::from_fn(|_| AtomicU64::new(0)),
            statement_time: Latency::default(),
            acquire_time: Latency::default(),
            metrics: EngineMetrics::new(group, engine, role),
        }
    }

    /// A statement was sent to the engine for `reason`.
    pub(crate) fn served(&self, reason: RouteReason) {
        // `get`: a reason without a counter (none: a test checks) must not panic a query.
        if let Some(count) = self.by_reason.get(reason.index()) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        self.metrics.served(reason);
    }

    /// A statement failed on the engine with `error`.
    pub(crate) fn failed(&self, error: &sqlx::Error) {
        let kind = ErrorKind::of(error);
        if let Some(count) = self.errors.get(kind.index()) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        self.metrics.failed(kind);
    }

    /// A statement ran on the engine for `elapsed` (from the connection in hand to its last
    /// row or its error).
    pub(crate) fn statement_took(&self, elapsed: Duration) {
        self.statement_time.record(elapsed);
        self.metrics.statement_took(elapsed);
    }

    /// Getting a connection from the engine's pool took `elapsed` (successful or not).
    pub(crate) fn acquire_took(&self, elapsed: Duration) {
        self.acquire_time.record(elapsed);
        self.metrics.acquire_took(elapsed);
    }

    /// The engine's `metrics` gauges.
    pub(crate) fn metrics(&self) -> &EngineMetrics {
        &self.metrics
    }

    /// The counts so far, for engine `engine` of `group`.
    pub(crate) fn snapshot(&self, group: &str, engine: &str, role: &'static str) -> EngineStats {
        let reasons: Vec<ReasonCount> = RouteReason::ALL
            .iter()
            .zip(&self.by_reason)
            .map(|(&reason, count)| ReasonCount {
                reason,
                statements: count.load(Ordering::Relaxed),
            })
            .filter(|count| count.statements > 0)
            .collect();
        let errors_by_kind: Vec<ErrorCount> = ErrorKind::ALL
            .iter()
            .zip(&self.errors)
            .map(|(&kind, count)| ErrorCount {
                kind,
                errors: count.load(Ordering::Relaxed),
            })
            .filter(|count| count.errors > 0)
            .collect();
        EngineStats {
            group: group.to_owned(),
            engine: engine.to_owned(),
            role,
            statements: reasons.iter().map(|r| r.statements).sum(),
            errors: errors_by_kind.iter().map(|e| e.errors).sum(),
            reasons,
            errors_by_kind,
            statement_time: self.statement_time.snapshot(),
            acquire_time: self.acquire_time.snapshot(),
        }
    }
}

/// Why a statement failed on an engine, as [`EngineStats::errors_by_kind`] and the
/// `dbroute_statement_errors_total` metric count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The server refused or failed the statement (an SQL error: a constraint, a syntax
    /// error, a read-only transaction, a serialization failure, ...).
    Database,
    /// The connection failed: unreachable, reset, TLS, a protocol error, a closed pool.
    Connection,
    /// No connection came free within the pool's `acquire_timeout`.
    PoolTimeout,
    /// Anything else the driver reported (decoding a row, a missing column, ...).
    Other,
}

impl ErrorKind {
    pub(crate) const COUNT: usize = 4;
    pub(crate) const ALL: [ErrorKind; Self::COUNT] = [
        ErrorKind::Database,
        ErrorKind::Connection,
        ErrorKind::PoolTimeout,
        ErrorKind::Other,
    ];

    /// The kind of `error`.
    pub fn of(error: &sqlx::Error) -> Self {
        use sqlx::Error::*;
        match error {
            Database(_) => ErrorKind::Database,
            PoolTimedOut => ErrorKind::PoolTimeout,
            Io(_) | Tls(_) | Protocol(_) | PoolClosed | WorkerCrashed => ErrorKind::Connection,
            _ => ErrorKind::Other,
        }
    }

    /// A stable snake_case name, for logs and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Database => "database",
            ErrorKind::Connection => "connection",
            ErrorKind::PoolTimeout => "pool_timeout",
            ErrorKind::Other => "other",
        }
    }

    pub(crate) const fn index(self) -> usize {
        match self {
            ErrorKind::Database => 0,
            ErrorKind::Connection => 1,
            ErrorKind::PoolTimeout => 2,
            ErrorKind::Other => 3,
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Buckets of a [`Latency`]: bucket `i` holds durations under 2^`i` microseconds; the last
/// one everything from about 2 minutes up.
const BUCKETS: usize = 28;

/// A histogram of durations in power-of-two buckets of microseconds: one relaxed add for the
/// count, one for the bucket, one for the sum and a `fetch_max`, per record.
#[derive(Debug)]
struct Latency {
    buckets: [AtomicU64; BUCKETS],
    total_micros: AtomicU64,
    max_micros: AtomicU64,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            total_micros: AtomicU64::new(0),
            max_micros: AtomicU64::new(0),
        }
    }
}

impl Latency {
    fn record(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let bucket = (u64::BITS - micros.leading_zeros()) as usize;
        if let Some(count) = self.buckets.get(bucket.min(BUCKETS - 1)) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        self.total_micros.fetch_add(micros, Ordering::Relaxed);
        self.max_micros.fetch_max(micros, Ordering::Relaxed);
    }

    fn snapshot(&self) -> LatencyStats {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let count: u64 = counts.iter().sum();
        let total = Duration::from_micros(self.total_micros.load(Ordering::Relaxed));
        let max = Duration::from_micros(self.max_micros.load(Ordering::Relaxed));
        // The upper bound of the bucket holding the `q` quantile, capped by the maximum seen.
        let quantile = |q: f64| {
            let rank = ((count as f64) * q).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (bucket, n) in counts.iter().enumerate() {
                seen += n;
                if seen >= rank {
                    return Duration::from_micros(1u64 << bucket).min(max);
                }
            }
            max
        };
        LatencyStats {
            count,
            total,
            mean: total.checked_div(count.max(1) as u32).unwrap_or_default(),
            max,
            p50: if count == 0 {
                Duration::ZERO
            } else {
                quantile(0.5)
            },
            p99: if count == 0 {
                Duration::ZERO
            } else {
                quantile(0.99)
            },
        }
    }
}

/// Durations of one kind on one engine, in [`EngineStats`]. Quantiles come from power-of-two
/// buckets: each is the upper bound of its bucket (at most twice the true value, never more
/// than `max`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LatencyStats {
    /// How many were recorded.
    pub count: u64,
    /// Their sum.
    pub total: Duration,
    /// `total / count`.
    pub mean: Duration,
    /// The longest.
    pub max: Duration,
    /// Half took at most this long (bucket upper bound).
    pub p50: Duration,
    /// 99 % took at most this long (bucket upper bound).
    pub p99: Duration,
}

/// What every engine of a router served since it was built: [`Router::stats`].
///
/// ```no_run
/// # fn demo(router: &dbroute::PgRouter) {
/// for engine in router.stats().engines {
///     println!("{} ({}): {} statements", engine.engine, engine.role, engine.statements);
///     for count in &engine.reasons {
///         println!("  {}: {}", count.reason, count.statements);
///     }
/// }
/// # }
/// ```
///
/// [`Router::stats`]: crate::Router::stats
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct RouterStats {
    /// Every engine, groups in order (the order of [`Router::health`]).
    ///
    /// [`Router::health`]: crate::Router::health
    pub engines: Vec<EngineStats>,
}

impl RouterStats {
    /// The figures of engine `name`.
    pub fn engine(&self, name: &str) -> Option<&EngineStats> {
        self.engines.iter().find(|e| e.engine == name)
    }

    /// Statements served by every engine, all reasons.
    pub fn statements(&self) -> u64 {
        self.engines.iter().map(|e| e.statements).sum()
    }
}

/// One engine in [`RouterStats`].
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct EngineStats {
    /// Its group.
    pub group: String,
    /// Its name.
    pub engine: String,
    /// `"primary"`, `"writer"` (a writable group's) or `"replica"`, as configured.
    pub role: &'static str,
    /// Statements sent to it: each attempt counts, so a read that failed over counts on both
    /// engines. Statements of a session or transaction count on the engine its transaction
    /// runs on; the `BEGIN` and `COMMIT` the router sends itself do not count.
    pub statements: u64,
    /// Statements that failed on it: SQL errors and connection-level failures alike.
    pub errors: u64,
    /// Its statements by the reason they were routed there, in the order of
    /// [`RouteReason`]'s variants; reasons never seen are left out.
    pub reasons: Vec<ReasonCount>,
    /// Its errors by kind; kinds never seen are left out.
    pub errors_by_kind: Vec<ErrorCount>,
    /// How long its statements ran, from a connection in hand to the last row or the error
    /// (a statement in a session or transaction: its own time, not the transaction's).
    pub statement_time: LatencyStats,
    /// How long getting a connection from its pool took (a statement outside a session or
    /// transaction: one per attempt; a session or transaction: one when it begins).
    pub acquire_time: LatencyStats,
}

impl EngineStats {
    /// Its errors of `kind`.
    pub fn errors_of(&self, kind: ErrorKind) -> u64 {
        self.errors_by_kind
            .iter()
            .find(|e| e.kind == kind)
            .map_or(0, |e| e.errors)
    }

    /// Its statements routed for `reason`.
    pub fn for_reason(&self, reason: RouteReason) -> u64 {
        self.reasons
            .iter()
            .find(|r| r.reason == reason)
            .map_or(0, |r| r.statements)
    }
}

/// Statements an engine served for one reason.
#[derive(Debug, Clone, Copy, Serialize)]
#[non_exhaustive]
pub struct ReasonCount {
    /// Why they were routed there.
    pub reason: RouteReason,
    /// How many.
    pub statements: u64,
}

/// Errors of one kind on an engine.
#[derive(Debug, Clone, Copy, Serialize)]
#[non_exhaustive]
pub struct ErrorCount {
    /// What kind.
    pub kind: ErrorKind,
    /// How many.
    pub errors: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Reason;

    #[test]
    fn every_reason_has_its_own_counter() {
        for (index, reason) in RouteReason::ALL.iter().enumerate() {
            assert_eq!(reason.index(), index, "{reason}");
        }
        let counters = Counters::new("default", "primary", "primary");
        counters.served(RouteReason::Statement(Reason::Read));
        counters.served(RouteReason::Statement(Reason::Read));
        counters.served(RouteReason::Statement(Reason::Hint));
        counters.served(RouteReason::RoutingDisabled);
        counters.failed(&sqlx::Error::PoolTimedOut);
        let stats = counters.snapshot("default", "primary", "primary");
        assert_eq!(stats.statements, 4);
        assert_eq!(stats.errors, 1);
        assert_eq!(stats.errors_of(ErrorKind::PoolTimeout), 1);
        assert_eq!(stats.errors_of(ErrorKind::Database), 0);
        assert_eq!(stats.for_reason(RouteReason::Statement(Reason::Read)), 2);
        assert_eq!(stats.for_reason(RouteReason::Statement(Reason::Hint)), 1);
        assert_eq!(stats.for_reason(RouteReason::RoutingDisabled), 1);
        assert_eq!(stats.for_reason(RouteReason::Transaction), 0);
        assert_eq!(stats.reasons.len(), 3, "unseen reasons are left out");
    }

    #[test]
    fn a_snapshot_serializes_reasons_by_name() {
        let counters = Counters::new("default", "primary", "primary");
        counters.served(RouteReason::Statement(Reason::LockingRead));
        counters.failed(&sqlx::Error::Protocol("x".into()));
        let json =
            serde_json::to_string(&counters.snapshot("default", "primary", "primary")).unwrap();
        assert!(json.contains(r#""reason":"locking_read""#), "{json}");
        assert!(json.contains(r#""kind":"connection""#), "{json}");
    }

    #[test]
    fn latencies_land_in_power_of_two_buckets() {
        let latency = Latency::default();
        assert_eq!(latency.snapshot(), LatencyStats::default());
        for micros in [100, 100, 100, 100, 100, 100, 100, 100, 100, 5_000] {
            latency.record(Duration::from_micros(micros));
        }
        let stats = latency.snapshot();
        assert_eq!(stats.count, 10);
        assert_eq!(stats.total, Duration::from_micros(5_900));
        assert_eq!(stats.mean, Duration::from_micros(590));
        assert_eq!(stats.max, Duration::from_micros(5_000));
        // 100 us falls in [64, 128): its bound is 128 us; the top one is capped by the max.
        assert_eq!(stats.p50, Duration::from_micros(128));
        assert_eq!(stats.p99, Duration::from_micros(5_000));
        latency.record(Duration::from_secs(100_000));
        assert_eq!(
            latency.snapshot().count,
            11,
            "huge durations land in the last bucket"
        );
    }
}
