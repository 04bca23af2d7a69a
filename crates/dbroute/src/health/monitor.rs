//! The health monitor: one background task per router that probes every engine.
//!
//! Each engine gets a connection of its own (not one from its pool: a full pool must not make
//! a healthy engine look dead), and each probe, connecting included, is bounded by
//! `probe_timeout`. The primary is probed first, then the replicas at once, so that each
//! replica's lag is measured against a fresh primary position. An engine that keeps failing is
//! probed less often (every interval for its first 20 failures, then twice as far apart every
//! 10 failures, up to 30 s), so a long outage costs little while a restart within 20 intervals
//! is seen within an interval or two.
//!
//! The task holds nothing of the router: it ends when the router is dropped (its stop signal's
//! sender goes away with it) or closed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::{Connection, Executor, Pool};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{EngineHealth, EngineState, Probe};
use crate::backend::Backend;
use crate::config::HealthConfig;

/// The longest back-off between probes of an engine that keeps failing.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// An engine as the monitor sees it.
pub(crate) struct Watched<DB: Backend> {
    pub(crate) name: String,
    /// Its pool: swept of dead connections when the engine comes back.
    pub(crate) pool: Pool<DB>,
    pub(crate) options: <DB::Connection as Connection>::Options,
    pub(crate) primary: bool,
    /// Whether it replays the primary, so that its lag means something.
    pub(crate) measure_lag: bool,
    pub(crate) health: Arc<EngineHealth>,
    /// Its counters, whose `metrics` gauges each probe updates.
    pub(crate) stats: Arc<crate::stats::Counters>,
}

/// The running monitor; dropping it stops the task.
#[derive(Debug)]
pub(crate) struct Monitor {
    stop: watch::Sender<bool>,
    wake: Arc<Notify>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Monitor {
    /// Starts probing `engines` (on the current Tokio runtime).
    pub(crate) fn start<DB: Backend>(engines: Vec<Watched<DB>>, config: HealthConfig) -> Self
    where
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    {
        let (stop, stopped) = watch::channel(false);
        let wake = Arc::new(Notify::new());
        let slots = engines
            .into_iter()
            .map(|watched| Slot {
                watched,
                connection: None,
                next: Instant::now(),
            })
            .collect();
        let task = tokio::spawn(run::<DB>(slots, config, stopped, Arc::clone(&wake)));
        Monitor {
            stop,
            wake,
            task: Mutex::new(Some(task)),
        }
    }

    /// Probes soon, not at the next interval (a sign of failover was seen).
    pub(crate) fn probe_soon(&self) {
        self.wake.notify_one();
    }

    /// Stops the task and waits for it to end.
    pub(crate) async fn stop(&self) {
        let _ = self.stop.send(true);
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

struct Slot<DB: Backend> {
    watched: Watched<DB>,
    connection: Option<DB::Connection>,
    /// No probe before this (back-off).
    next: Instant,
}

async fn run<DB: Backend>(
    mut slots: Vec<Slot<DB>>,
    config: HealthConfig,
    mut stopped: watch::Receiver<bool>,
    wake: Arc<Notify>,
) where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    tracing::debug!(engines = slots.len(), interval = ?config.interval, "health monitor started");
    loop {
        tokio::select! {
            _ = tokio::time::sleep(config.interval) => {}
            _ = wake.notified() => {}
            changed = stopped.changed() => {
                if changed.is_err() || *stopped.borrow() {
                    break;
                }
            }
        }
        round::<DB>(&mut slots, &config).await;
    }
    tracing::debug!("health monitor stopped");
}

/// One probe of every engine that is due: the primary first, then the replicas at once.
async fn round<DB: Backend>(slots: &mut [Slot<DB>], config: &HealthConfig)
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let now = Instant::now();
    let (primaries, replicas): (Vec<&mut Slot<DB>>, Vec<&mut Slot<DB>>) = slots
        .iter_mut()
        .filter(|slot| slot.next <= now)
        .partition(|slot| slot.watched.primary);
    let mut primary_position = None;
    for slot in primaries {
        let outcome = probe::<DB>(slot, config).await;
        primary_position = apply(slot, outcome, None, config)
            .0
            .or(slot.watched.health.position());
    }
    futures_util::future::join_all(replicas.into_iter().map(|slot| async {
        let outcome = probe::<DB>(slot, config).await;
        let back = apply(slot, outcome, primary_position, config).1;
        if back {
            sweep(&slot.watched.pool, config.probe_timeout).await;
        }
    }))
    .await;
}

/// Drops the dead connections a pool still holds from before its engine went away (a restart
/// leaves them idle; replicas' pools do not ping before use), so that the engine's return is
/// not met by a failure on each of them.
async fn sweep<DB: Backend>(pool: &Pool<DB>, timeout: Duration) {
    let mut held = Vec::new();
    for _ in 0..pool.num_idle() {
        match tokio::time::timeout(timeout, pool.acquire()).await {
            Ok(Ok(connection)) => held.push(connection),
            _ => break,
        }
    }
    let mut dead = 0;
    for connection in &mut held {
        if connection.ping().await.is_err() {
            connection.close_on_drop();
            dead += 1;
        }
    }
    if dead > 0 {
        tracing::debug!(dead, "closed connections that died with their engine");
    }
}

/// Probes one engine, connecting first if needed, all within `probe_timeout`.
async fn probe<DB: Backend>(slot: &mut Slot<DB>, config: &HealthConfig) -> Result<Probe, String>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let attempt = async {
        if slot.connection.is_none() {
            slot.connection = Some(DB::Connection::connect_with(&slot.watched.options).await?);
        }
        match slot.connection.as_mut() {
            Some(connection) => DB::probe(connection).await,
            None => Err(sqlx::Error::PoolClosed),
        }
    };
    let outcome = match tokio::time::timeout(config.probe_timeout, attempt).await {
        Ok(Ok(probe)) => Ok(probe),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!("no answer within {:?}", config.probe_timeout)),
    };
    if outcome.is_err() {
        slot.connection = None;
    }
    outcome
}

/// Records a probe's outcome; returns the position it saw, and whether the engine just came
/// back into the rotation.
fn apply<DB: Backend>(
    slot: &mut Slot<DB>,
    outcome: Result<Probe, String>,
    primary_position: Option<u64>,
    config: &HealthConfig,
) -> (Option<u64>, bool) {
    let Slot { watched, next, .. } = slot;
    let health = &watched.health;
    let role = if watched.primary {
        "primary"
    } else {
        "replica"
    };
    let probe = match outcome {
        Ok(probe) => probe,
        Err(error) => {
            if health.probe_failed(&error) {
                tracing::warn!(engine = %watched.name, role, %error, "engine down: out of the rotation");
            }
            watched.stats.metrics().health(health.is_up(), None);
            *next = Instant::now() + backoff(config.interval, health.failed_probes());
            return (None, false);
        }
    };
    *next = Instant::now();
    let was_in_recovery = health.in_recovery();
    let lag = match (watched.measure_lag, primary_position, probe.position) {
        (true, Some(primary), Some(replayed)) => {
            let bytes = primary.saturating_sub(replayed);
            let time = match bytes {
                0 => Duration::ZERO,
                _ => probe.replay_age.unwrap_or_default(),
            };
            Some((bytes, time))
        }
        _ => None,
    };
    let (before, after) = health.probed(probe, lag, config);
    watched
        .stats
        .metrics()
        .health(after == EngineState::Up, lag);
    report_role(watched, was_in_recovery, probe.in_recovery);
    let back = before != EngineState::Up && after == EngineState::Up;
    match (before, after) {
        (EngineState::Up, EngineState::Lagging) => tracing::warn!(
            engine = %watched.name,
            lag_bytes = lag.map(|l| l.0),
            lag = ?lag.map(|l| l.1),
            "replica lagging past max_replica_lag: out of the rotation"
        ),
        _ if back => tracing::info!(engine = %watched.name, role, "engine back in the rotation"),
        _ => {}
    }
    (probe.position, back)
}

/// Logs a role that is not the configured one: a replica out of recovery (promoted), a
/// primary in recovery (demoted). Once per change.
fn report_role<DB: Backend>(watched: &Watched<DB>, before: Option<bool>, now: Option<bool>) {
    if before == now {
        return;
    }
    match (watched.primary, now) {
        (true, Some(true)) => tracing::warn!(
            engine = %watched.name,
            "the primary reports it is in recovery (a standby): writes fail until it is a primary again"
        ),
        (false, Some(false)) => tracing::warn!(
            engine = %watched.name,
            "a replica reports it is not in recovery (promoted?): it still takes reads only"
        ),
        _ => {}
    }
}

/// The wait before the next probe of an engine that failed `failures` probes in a row.
fn backoff(interval: Duration, failures: u32) -> Duration {
    let doublings = (failures.saturating_sub(10) / 10).min(16);
    interval
        .saturating_mul(1 << doublings)
        .min(MAX_BACKOFF.max(interval))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_starts_after_twenty_failures_and_stops_at_thirty_seconds() {
        let second = Duration::from_secs(1);
        assert_eq!(backoff(second, 1), second);
        assert_eq!(backoff(second, 19), second);
        assert_eq!(backoff(second, 20), 2 * second);
        assert_eq!(backoff(second, 30), 4 * second);
        assert_eq!(backoff(second, 1000), MAX_BACKOFF);
    }
}
