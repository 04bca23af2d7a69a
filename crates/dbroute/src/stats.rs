//! What each engine served and why: counters bumped once per routed statement (one relaxed
//! atomic add, no allocation, no lock), read as a snapshot by [`Router::stats`].
//!
//! [`Router::stats`]: crate::Router::stats

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::policy::RouteReason;

/// One engine's counters, shared by the engine and the units of work running on it.
#[derive(Debug)]
pub(crate) struct Counters {
    by_reason: [AtomicU64; RouteReason::COUNT],
    errors: AtomicU64,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            by_reason: std::array::from_fn(|_| AtomicU64::new(0)),
            errors: AtomicU64::new(0),
        }
    }
}

impl Counters {
    /// A statement was sent to the engine for `reason`.
    pub(crate) fn served(&self, reason: RouteReason) {
        // `get`: a reason without a counter (none: a test checks) must not panic a query.
        if let Some(count) = self.by_reason.get(reason.index()) {
            count.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A statement failed on the engine (an SQL error or a broken connection).
    pub(crate) fn failed(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
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
        EngineStats {
            group: group.to_owned(),
            engine: engine.to_owned(),
            role,
            statements: reasons.iter().map(|r| r.statements).sum(),
            errors: self.errors.load(Ordering::Relaxed),
            reasons,
        }
    }
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
}

impl EngineStats {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Reason;

    #[test]
    fn every_reason_has_its_own_counter() {
        for (index, reason) in RouteReason::ALL.iter().enumerate() {
            assert_eq!(reason.index(), index, "{reason}");
        }
        let counters = Counters::default();
        counters.served(RouteReason::Statement(Reason::Read));
        counters.served(RouteReason::Statement(Reason::Read));
        counters.served(RouteReason::Statement(Reason::Hint));
        counters.served(RouteReason::RoutingDisabled);
        counters.failed();
        let stats = counters.snapshot("default", "primary", "primary");
        assert_eq!(stats.statements, 4);
        assert_eq!(stats.errors, 1);
        assert_eq!(stats.for_reason(RouteReason::Statement(Reason::Read)), 2);
        assert_eq!(stats.for_reason(RouteReason::Statement(Reason::Hint)), 1);
        assert_eq!(stats.for_reason(RouteReason::RoutingDisabled), 1);
        assert_eq!(stats.for_reason(RouteReason::Transaction), 0);
        assert_eq!(stats.reasons.len(), 3, "unseen reasons are left out");
    }

    #[test]
    fn a_snapshot_serializes_reasons_by_name() {
        let counters = Counters::default();
        counters.served(RouteReason::Statement(Reason::LockingRead));
        let json =
            serde_json::to_string(&counters.snapshot("default", "primary", "primary")).unwrap();
        assert!(json.contains(r#""reason":"locking_read""#), "{json}");
    }
}
