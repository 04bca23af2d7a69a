//! Engine health: what the router knows of each engine, how it learns it, and the report
//! [`Router::health`](crate::Router::health) returns.
//!
//! Every engine carries an [`EngineHealth`]: atomics the hot path reads without a lock (is it
//! usable?) and the monitor and failed statements write. The state machine:
//!
//! * **up** → **down** at once: a failed probe, or a statement that failed at the connection
//!   level (refused, reset, timed out, pool exhausted). SQL errors never count.
//! * **up** → **lagging**: a probe found it further behind the primary than
//!   `max_replica_lag`.
//! * **down** / **lagging** → **up**: `recover_after` good probes in a row (for lagging ones:
//!   back under 80 % of the bound, so an engine near the bound does not flap).
//!
//! Only engines in the **up** state take reads. The files: `mod.rs` (state), `monitor.rs`
//! (the background task that probes).

pub(crate) mod monitor;

use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::Serialize;

pub(crate) use crate::backend::Probe;
use crate::config::HealthConfig;

/// Where an engine stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EngineState {
    /// Answering, and (for a replica) close enough to the primary: in the rotation.
    Up,
    /// Answering, but further behind the primary than `max_replica_lag`: out of the rotation.
    Lagging,
    /// Not answering: out of the rotation until the monitor sees it answer again.
    Down,
}

impl EngineState {
    fn from_u8(value: u8) -> Self {
        match value {
            0 => EngineState::Up,
            1 => EngineState::Lagging,
            _ => EngineState::Down,
        }
    }

    fn as_u8(self) -> u8 {
        match self {
            EngineState::Up => 0,
            EngineState::Lagging => 1,
            EngineState::Down => 2,
        }
    }

    /// `"up"`, `"lagging"` or `"down"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            EngineState::Up => "up",
            EngineState::Lagging => "lagging",
            EngineState::Down => "down",
        }
    }
}

impl std::fmt::Display for EngineState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// No value measured yet (lags, positions).
const UNKNOWN: u64 = u64::MAX;

/// How many engines of a group are not up: the picker's fast path when it is 0.
#[derive(Debug, Default)]
pub(crate) struct GroupHealth {
    degraded: AtomicUsize,
}

impl GroupHealth {
    /// Whether every engine of the group is up.
    #[inline]
    pub(crate) fn all_up(&self) -> bool {
        self.degraded.load(Ordering::Acquire) == 0
    }
}

/// What the router knows of one engine.
#[derive(Debug)]
pub(crate) struct EngineHealth {
    state: AtomicU8,
    /// When the state last changed, in milliseconds since [`epoch`].
    since: AtomicU64,
    lag_bytes: AtomicU64,
    lag_millis: AtomicU64,
    /// The engine's WAL position at its last probe (primary: written; replica: replayed).
    position: AtomicU64,
    /// 0: not known yet, 1: not in recovery, 2: in recovery.
    in_recovery: AtomicU8,
    /// Good probes in a row since it left the rotation.
    good_probes: AtomicU32,
    /// Failed probes in a row: the monitor backs off while they pile up.
    failed_probes: AtomicU32,
    in_flight: AtomicUsize,
    /// Statements that failed on it at the connection level since the router was built.
    statement_failures: AtomicU64,
    last_error: Mutex<Option<String>>,
    group: Arc<GroupHealth>,
}

impl EngineHealth {
    pub(crate) fn new(group: Arc<GroupHealth>) -> Self {
        EngineHealth {
            state: AtomicU8::new(EngineState::Up.as_u8()),
            since: AtomicU64::new(now_ms()),
            lag_bytes: AtomicU64::new(UNKNOWN),
            lag_millis: AtomicU64::new(UNKNOWN),
            position: AtomicU64::new(UNKNOWN),
            in_recovery: AtomicU8::new(0),
            good_probes: AtomicU32::new(0),
            failed_probes: AtomicU32::new(0),
            in_flight: AtomicUsize::new(0),
            statement_failures: AtomicU64::new(0),
            last_error: Mutex::new(None),
            group,
        }
    }

    /// Whether it takes statements now: the hot path's question.
    #[inline]
    pub(crate) fn is_up(&self) -> bool {
        self.state.load(Ordering::Acquire) == EngineState::Up.as_u8()
    }

    pub(crate) fn state(&self) -> EngineState {
        EngineState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// The position at the last probe, if any.
    pub(crate) fn position(&self) -> Option<u64> {
        known(self.position.load(Ordering::Acquire))
    }

    /// A replica said it has replayed up to `position` (asked for read-your-writes): raises the
    /// cached position, which the next probe overwrites with what it sees.
    pub(crate) fn replayed(&self, position: u64) {
        let _ = self
            .position
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |old| {
                (old == UNKNOWN || old < position).then_some(position)
            });
    }

    /// Whether the last probe said it is in recovery (a standby).
    pub(crate) fn in_recovery(&self) -> Option<bool> {
        match self.in_recovery.load(Ordering::Acquire) {
            1 => Some(false),
            2 => Some(true),
            _ => None,
        }
    }

    /// A statement failed on it at the connection level: out of the rotation now. Returns
    /// whether this changed its state.
    pub(crate) fn statement_failed(&self, error: &str) -> bool {
        self.statement_failures.fetch_add(1, Ordering::AcqRel);
        self.failed(error)
    }

    /// A probe (or the check at start-up) failed: out of the rotation now, and it counts
    /// toward the monitor's back-off. Returns whether this changed its state.
    pub(crate) fn probe_failed(&self, error: &str) -> bool {
        self.failed_probes.fetch_add(1, Ordering::AcqRel);
        self.failed(error)
    }

    fn failed(&self, error: &str) -> bool {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error.to_owned());
        self.good_probes.store(0, Ordering::Release);
        self.set_state(EngineState::Down)
    }

    /// Failed probes in a row.
    pub(crate) fn failed_probes(&self) -> u32 {
        self.failed_probes.load(Ordering::Acquire)
    }

    /// A probe answered. `lag` is the replica's distance to the primary, `None` for the
    /// primary itself (or where it cannot be measured). Returns the state before and after.
    pub(crate) fn probed(
        &self,
        probe: Probe,
        lag: Option<(u64, Duration)>,
        config: &HealthConfig,
    ) -> (EngineState, EngineState) {
        self.failed_probes.store(0, Ordering::Release);
        self.in_recovery.store(
            match probe.in_recovery {
                None => 0,
                Some(false) => 1,
                Some(true) => 2,
            },
            Ordering::Release,
        );
        if let Some(position) = probe.position {
            self.position.store(position, Ordering::Release);
        }
        if let Some((bytes, time)) = lag {
            self.lag_bytes.store(bytes, Ordering::Release);
            self.lag_millis
                .store(time.as_millis() as u64, Ordering::Release);
        }
        let before = self.state();
        let bound = config.max_replica_lag;
        let over = |share: f64| {
            lag.is_some_and(|(bytes, time)| {
                bound.bytes.is_some_and(|b| bytes as f64 > b as f64 * share)
                    || bound
                        .time
                        .is_some_and(|t| time.as_secs_f64() > t.as_secs_f64() * share)
            })
        };
        let after = match before {
            EngineState::Up if over(1.0) => EngineState::Lagging,
            EngineState::Up => EngineState::Up,
            // Leaving the rotation was immediate; coming back takes `recover_after` good probes
            // in a row, and for lag, being back under 80 % of the bound.
            EngineState::Lagging | EngineState::Down => {
                let good = match over(0.8) {
                    true => {
                        self.good_probes.store(0, Ordering::Release);
                        0
                    }
                    false => self.good_probes.fetch_add(1, Ordering::AcqRel) + 1,
                };
                match (good >= config.recover_after, over(1.0)) {
                    (true, _) => EngineState::Up,
                    (false, true) => EngineState::Lagging,
                    (false, false) => before,
                }
            }
        };
        if after == EngineState::Up {
            self.good_probes.store(0, Ordering::Release);
        }
        self.set_state(after);
        (before, after)
    }

    /// Moves to `new`; returns whether that changed the state.
    fn set_state(&self, new: EngineState) -> bool {
        let old = EngineState::from_u8(self.state.swap(new.as_u8(), Ordering::AcqRel));
        if old == new {
            return false;
        }
        self.since.store(now_ms(), Ordering::Release);
        match (old, new) {
            (EngineState::Up, _) => self.group.degraded.fetch_add(1, Ordering::AcqRel),
            (_, EngineState::Up) => self.group.degraded.fetch_sub(1, Ordering::AcqRel),
            _ => 0,
        };
        true
    }

    /// Counts a statement on the engine while the returned guard lives.
    #[inline]
    pub(crate) fn in_flight(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(self))
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        let since = self.since.load(Ordering::Acquire);
        Snapshot {
            state: self.state(),
            lag_bytes: known(self.lag_bytes.load(Ordering::Acquire)),
            lag: known(self.lag_millis.load(Ordering::Acquire)).map(Duration::from_millis),
            in_recovery: self.in_recovery(),
            for_time: Duration::from_millis(now_ms().saturating_sub(since)),
            in_flight: self.in_flight.load(Ordering::Acquire),
            statement_failures: self.statement_failures.load(Ordering::Acquire),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }
}

/// A statement in flight on an engine, until dropped.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<EngineHealth>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What [`EngineHealth::snapshot`] reads, before the router adds names.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub(crate) state: EngineState,
    pub(crate) lag_bytes: Option<u64>,
    pub(crate) lag: Option<Duration>,
    pub(crate) in_recovery: Option<bool>,
    pub(crate) for_time: Duration,
    pub(crate) in_flight: usize,
    pub(crate) statement_failures: u64,
    pub(crate) last_error: Option<String>,
}

/// One engine in [`Router::health`](crate::Router::health)'s report.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct EngineReport {
    /// Its group.
    pub group: String,
    /// Its name.
    pub engine: String,
    /// `"primary"`, `"writer"` (a writable group's) or `"replica"`, as configured.
    pub role: &'static str,
    /// Where it stands.
    pub state: EngineState,
    /// How long it has been in that state.
    #[serde(serialize_with = "as_millis")]
    pub for_time: Duration,
    /// Bytes of WAL behind the primary at the last probe (the read group's replicas).
    pub lag_bytes: Option<u64>,
    /// Age of the last replayed transaction while behind, at the last probe (the read group's
    /// replicas).
    #[serde(serialize_with = "option_as_millis")]
    pub lag: Option<Duration>,
    /// What the engine said of itself: in recovery (a standby) or not. A replica that is not,
    /// or a primary that is, has changed role (a failover).
    pub in_recovery: Option<bool>,
    /// Statements running on it now.
    pub in_flight: usize,
    /// Statements that failed on it at the connection level since the router was built (each
    /// then ran again elsewhere when it could).
    pub statement_failures: u64,
    /// Its last connection-level failure, as the driver reported it (no URLs, no passwords).
    pub last_error: Option<String>,
    /// Its URL, with any password redacted.
    pub url: String,
    /// Its pool: configured bounds, and connections now.
    pub pool: PoolReport,
}

/// An engine's pool in an [`EngineReport`].
#[derive(Debug, Clone, Copy, Serialize)]
#[non_exhaustive]
pub struct PoolReport {
    /// Most connections it opens.
    pub max_connections: u32,
    /// Connections it keeps open even when idle.
    pub min_connections: u32,
    /// How long a statement waits for a free connection.
    #[serde(serialize_with = "as_millis")]
    pub acquire_timeout: Duration,
    /// Connections open now.
    pub open: u32,
    /// ... of which idle.
    pub idle: usize,
}

/// The health of every engine of a router: [`Router::health`](crate::Router::health).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct HealthReport {
    /// Every engine, groups in order.
    pub engines: Vec<EngineReport>,
}

impl HealthReport {
    /// The report of engine `name`.
    pub fn engine(&self, name: &str) -> Option<&EngineReport> {
        self.engines.iter().find(|e| e.engine == name)
    }
}

fn as_millis<S: serde::Serializer>(duration: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(duration.as_millis() as u64)
}

fn option_as_millis<S: serde::Serializer>(
    duration: &Option<Duration>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match duration {
        Some(d) => s.serialize_some(&(d.as_millis() as u64)),
        None => s.serialize_none(),
    }
}

fn known(value: u64) -> Option<u64> {
    (value != UNKNOWN).then_some(value)
}

/// Milliseconds since the first use of the health clock in this process (monotonic).
fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64
}

#[cfg(test)]
mod tests;
