//! The router's side of engine health: checks at start-up, the engine a statement may use
//! (with the fallback of reads to the primary), ejection on connection-level failures, and
//! [`Router::health`].

use std::time::Duration;

use sqlx::Executor;
use sqlx::pool::PoolConnection;

use super::{Engine, Group, Router};
use crate::backend::Backend;
use crate::config::HealthConfig;
use crate::error::{Error, Result};
use crate::health::monitor::{Monitor, Watched};
use crate::health::{EngineReport, HealthReport, PoolReport};
use crate::policy::{Decision, GroupId};

/// Starts probing the engines of `groups`. Lag is measured for the read group's replicas
/// only: they replay the primary by definition, while another group may be a server of its own
/// (a warehouse, a shard) whose WAL positions mean nothing next to the primary's.
pub(super) fn start_monitor<DB: Backend>(
    groups: &[Group<DB>],
    read_group: Option<GroupId>,
    config: HealthConfig,
) -> Monitor
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let watched = groups
        .iter()
        .enumerate()
        .flat_map(|(index, g)| g.engines.iter().map(move |e| (index, e)))
        .map(|(index, engine)| Watched {
            name: engine.name.clone(),
            pool: engine.pool.clone(),
            options: (*engine.pool.connect_options()).clone(),
            primary: engine.primary,
            measure_lag: !engine.primary && Some(index) == read_group,
            health: std::sync::Arc::clone(&engine.health),
            stats: std::sync::Arc::clone(&engine.stats),
        })
        .collect();
    Monitor::start::<DB>(watched, config)
}

/// What an engine's pool is set to and holds now.
fn pool_report<DB: Backend>(pool: &sqlx::Pool<DB>) -> PoolReport {
    let options = pool.options();
    PoolReport {
        max_connections: options.get_max_connections(),
        min_connections: options.get_min_connections(),
        acquire_timeout: options.get_acquire_timeout(),
        open: pool.size(),
        idle: pool.num_idle(),
    }
}

/// Whether `error` says the engine itself is in trouble (not the statement): it could not be
/// reached, the connection broke, or no connection came in time.
pub(crate) fn is_connection_error(error: &sqlx::Error) -> bool {
    use crate::stats::ErrorKind;
    matches!(
        ErrorKind::of(error),
        ErrorKind::Connection | ErrorKind::PoolTimeout
    )
}

impl<DB: Backend> Router<DB> {
    /// The health of every engine: state, lag, role, in-flight statements, last failure.
    ///
    /// ```no_run
    /// # fn demo(router: &dbroute::PgRouter) {
    /// for engine in router.health().engines {
    ///     println!("{} {}: {} (lag {:?})", engine.group, engine.engine, engine.state, engine.lag);
    /// }
    /// # }
    /// ```
    pub fn health(&self) -> HealthReport {
        let engines = self
            .every_engine()
            .map(|(index, group, engine)| {
                let snapshot = engine.health.snapshot();
                EngineReport {
                    group: group.name.clone(),
                    engine: engine.name.clone(),
                    role: self.role(index, engine),
                    state: snapshot.state,
                    for_time: snapshot.for_time,
                    lag_bytes: snapshot.lag_bytes,
                    lag: snapshot.lag,
                    in_recovery: snapshot.in_recovery,
                    in_flight: snapshot.in_flight,
                    statement_failures: snapshot.statement_failures,
                    last_error: snapshot.last_error,
                    url: engine.shown_url.clone(),
                    pool: pool_report(&engine.pool),
                }
            })
            .collect();
        HealthReport { engines }
    }

    /// The engine a statement for `group` may use now: one that is up; for a read of the read
    /// group with none up, the primary (`fallback_to_primary`). The primary itself must be up,
    /// and, for anything but a read, not in recovery: otherwise the statement fails at once.
    pub(crate) fn usable_engine(
        &self,
        group: GroupId,
        decision: &Decision,
    ) -> std::result::Result<&Engine<DB>, Box<Error>> {
        let read = decision.classification.is_read();
        let engine = match self.engine(group) {
            Some(engine) => engine,
            None => self.fallback(group, read)?,
        };
        if engine.primary {
            self.check_primary(engine, read)?;
        }
        Ok(engine)
    }

    fn fallback(&self, group: GroupId, read: bool) -> std::result::Result<&Engine<DB>, Box<Error>> {
        let primary = self.primary_engine();
        let replicas = Some(group) == self.inner.read_group && group != self.default_group();
        if replicas && read && self.inner.health.fallback_to_primary {
            tracing::debug!(target: "dbroute::decision", group = %self.group_name(group), "no replica up: the read goes to the primary");
            return Ok(primary);
        }
        if group == self.default_group() {
            return Err(Box::new(engine_down(primary)));
        }
        let states: Vec<String> = self.inner.groups[group]
            .engines
            .iter()
            .map(|e| format!("{} {}", e.name, e.health.state()))
            .collect();
        Err(Box::new(Error::NoReplicaAvailable {
            group: self.group_name(group).to_owned(),
            why: states.join(", "),
        }))
    }

    /// An error if the primary cannot take a statement now (down; or, for anything but a read,
    /// in recovery).
    pub(crate) fn check_primary(
        &self,
        primary: &Engine<DB>,
        read: bool,
    ) -> std::result::Result<(), Box<Error>> {
        if !primary.health.is_up() {
            return Err(Box::new(engine_down(primary)));
        }
        if !read && primary.health.in_recovery() == Some(true) {
            return Err(Box::new(Error::PrimaryInRecovery {
                engine: primary.name.clone(),
                url: primary.shown_url.clone(),
            }));
        }
        Ok(())
    }

    /// The engine after `failed` for a read that failed at the connection level: another
    /// replica of the group that is up, then the primary (`fallback_to_primary`, read group
    /// only). `tried` is how many engines have failed so far.
    pub(crate) fn failover(
        &self,
        group: GroupId,
        failed: &Engine<DB>,
        tried: usize,
    ) -> Option<&Engine<DB>> {
        if tried == 1
            && let Some(next) = self
                .engine(group)
                .filter(|e| !std::ptr::eq(*e, failed) && !e.primary)
        {
            return Some(next);
        }
        let primary = self.primary_engine();
        let replicas = Some(group) == self.inner.read_group;
        let usable = tried <= 2
            && replicas
            && self.inner.health.fallback_to_primary
            && primary.health.is_up()
            && !std::ptr::eq(primary, failed);
        usable.then_some(primary)
    }

    /// A connection of `engine`'s pool. With health checks on, a replica's comes within the
    /// probe timeout or counts as failed: a dead or unanswering replica costs a request at
    /// most that, once (sqlx's pool itself retries a refused connection until its acquire
    /// timeout).
    pub(crate) async fn connection(
        &self,
        engine: &Engine<DB>,
    ) -> std::result::Result<PoolConnection<DB>, sqlx::Error> {
        // Boxed: sqlx's acquire future is kilobytes, and moved by value it would be copied
        // into every future that holds it (a callgrind profile showed 30,000 instructions of
        // copying per statement).
        let acquire = Box::pin(engine.pool.acquire());
        let started = std::time::Instant::now();
        let outcome = if engine.primary || self.inner.monitor.is_none() {
            acquire.await
        } else {
            match tokio::time::timeout(self.inner.health.probe_timeout, acquire).await {
                Ok(outcome) => outcome,
                Err(_) => Err(sqlx::Error::PoolTimedOut),
            }
        };
        engine.stats.acquire_took(started.elapsed());
        outcome
    }

    /// The engine named `name`.
    pub(crate) fn engine_named(&self, name: &str) -> Option<&Engine<DB>> {
        self.inner
            .groups
            .iter()
            .flat_map(|g| &g.engines)
            .find(|e| e.name == name)
    }

    /// Reports a statement's failure on `engine`: a connection-level failure is logged naming
    /// the engine and, with health checks on, takes it out of the rotation until the monitor
    /// sees it answer again; SQLSTATE 25006 (read-only transaction) from the primary is a sign
    /// of failover, and the monitor probes at once.
    pub(crate) fn engine_failed(&self, engine: &Engine<DB>, error: &sqlx::Error) {
        if is_connection_error(error) {
            tracing::warn!(
                engine = %engine.name,
                url = %engine.shown_url,
                %error,
                "engine failed at the connection level (unreachable, timed out or pool exhausted)"
            );
            if self.inner.monitor.is_some() && engine.health.statement_failed(&error.to_string()) {
                tracing::warn!(engine = %engine.name, "engine down: out of the rotation until it answers probes");
            }
            return;
        }
        let read_only = error
            .as_database_error()
            .and_then(|e| e.code())
            .is_some_and(|code| code == "25006");
        if engine.primary && read_only {
            tracing::warn!(engine = %engine.name, "the primary refused a write as read-only: a failover? probing now");
            if let Some(monitor) = &self.inner.monitor {
                monitor.probe_soon();
            }
        }
    }

    /// At start-up: the primary must answer within the probe timeout; replicas that do not
    /// are marked down and picked up by the monitor when they come up (or, with
    /// `require_all_engines`, fail the start).
    pub(super) async fn check_engines(&self) -> Result<()> {
        let timeout = self.inner.health.probe_timeout;
        let primary = self.primary_engine();
        reach(primary, timeout).await?;
        let others = self
            .inner
            .groups
            .iter()
            .flat_map(|g| &g.engines)
            .filter(|e| !e.primary);
        let outcomes = futures_util::future::join_all(
            others.map(|engine| async move { (engine, reach(engine, timeout).await) }),
        )
        .await;
        for (engine, outcome) in outcomes {
            let Err(error) = outcome else {
                continue;
            };
            if self.inner.health.require_all_engines || self.inner.monitor.is_none() {
                return Err(error);
            }
            tracing::warn!(%error, "replica down at start: out of the rotation until it answers probes");
            engine.health.probe_failed(&error.to_string());
        }
        Ok(())
    }
}

/// Opens a connection of `engine`'s pool within `timeout`.
async fn reach<DB: Backend>(engine: &Engine<DB>, timeout: Duration) -> Result<()> {
    let connect = |source| Error::Connect {
        engine: engine.name.clone(),
        url: engine.shown_url.clone(),
        source,
    };
    match tokio::time::timeout(timeout, engine.pool.acquire()).await {
        Ok(Ok(_)) => {
            tracing::debug!(engine = %engine.name, "engine reachable");
            Ok(())
        }
        Ok(Err(source)) => Err(connect(source)),
        Err(_) => Err(connect(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no connection within {timeout:?} (health.probe_timeout)"),
        )))),
    }
}

fn engine_down<DB: Backend>(engine: &Engine<DB>) -> Error {
    let snapshot = engine.health.snapshot();
    Error::EngineDown {
        engine: engine.name.clone(),
        url: engine.shown_url.clone(),
        since_ms: snapshot.for_time.as_millis() as u64,
        cause: snapshot
            .last_error
            .unwrap_or_else(|| "no answer".to_owned()),
    }
}
