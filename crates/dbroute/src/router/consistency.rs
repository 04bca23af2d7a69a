//! The router's side of read-your-writes: the positions captured after writes, the replica a
//! read at a position may use, tokens in and out, and [`Router::consistency_stats`].

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::Executor;
use sqlx::pool::PoolConnection;

use super::{Engine, Router, is_connection_error};
use crate::backend::Backend;
use crate::config::ConsistencyConfig;
use crate::consistency::{Consistency, ConsistencyToken, NO_POSITION, Need, Record, TokenError};
use crate::error::{Error, Result};
use crate::policy::{GroupId, RouteReason};
use crate::scope::with_context;

/// A position this far past the primary's last probed one cannot be a real write: the read
/// goes to the primary at once instead of waiting for it (a forged or foreign token costs no
/// waiting). 16 GiB of WAL is far more than any primary writes between two probes.
const FAR_AHEAD: u64 = 16 << 30;

/// What the router keeps for read-your-writes.
pub(super) struct ConsistencyState {
    pub(super) mode: Consistency,
    pub(super) max_wait: Duration,
    /// The fingerprint tokens carry.
    pub(super) cluster: u64,
    /// The record of writes made outside every scope that keeps one.
    record: Arc<Record>,
    stats: Counters,
}

impl ConsistencyState {
    /// The state for `config`, naming the cluster by `consistency.cluster` or else `identity`
    /// (the primary's host and port).
    pub(super) fn new(config: &ConsistencyConfig, identity: &str) -> Self {
        ConsistencyState {
            mode: config.mode,
            max_wait: config.max_wait,
            cluster: fingerprint(config.cluster.as_deref().unwrap_or(identity)),
            record: Arc::default(),
            stats: Counters::default(),
        }
    }
}

/// A write whose position is not recorded yet: see [`Router::pending_write`].
pub(crate) struct PendingWrite {
    cluster: u64,
    /// The scope's record, and a session's own.
    records: [Option<Arc<Record>>; 2],
}

impl PendingWrite {
    /// The write certainly wrote nothing (it was never sent, or the database rejected it).
    pub(crate) fn nothing_written(mut self) {
        self.records = [None, None];
    }
}

impl Drop for PendingWrite {
    fn drop(&mut self) {
        for record in self.records.iter_mut().filter_map(Option::take) {
            record.unknown(self.cluster);
        }
    }
}

/// FNV-1a: stable across processes, versions and platforms, unlike std's hasher.
fn fingerprint(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[derive(Default)]
struct Counters {
    captures: AtomicU64,
    capture_failures: AtomicU64,
    checked_reads: AtomicU64,
    cached: AtomicU64,
    position_queries: AtomicU64,
    replica_after_wait: AtomicU64,
    primary_fallbacks: AtomicU64,
    waited_micros: AtomicU64,
}

/// What read-your-writes has done since the router was built: [`Router::consistency_stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[non_exhaustive]
pub struct ConsistencyStats {
    /// Positions read from the primary after a committed write (one round trip each).
    pub captures: u64,
    /// Captures that failed (the writes' reads then captured the position first).
    pub capture_failures: u64,
    /// Reads that had to see earlier writes and could have run on a replica.
    pub checked_reads: u64,
    /// ... of which the cached replay positions placed on a replica, with no query.
    pub cached: u64,
    /// Replay positions asked of replicas for them.
    pub position_queries: u64,
    /// ... of which ran on a replica after asking (and perhaps waiting).
    pub replica_after_wait: u64,
    /// ... of which ran on the primary: no replica had replayed the writes within `max_wait`.
    pub primary_fallbacks: u64,
    /// Time those reads spent asking and waiting, in all.
    #[serde(serialize_with = "micros")]
    pub waited: Duration,
}

impl ConsistencyStats {
    /// The share of checked reads that ran on a replica (1.0 when there were none).
    pub fn replica_share(&self) -> f64 {
        match self.checked_reads {
            0 => 1.0,
            n => (n - self.primary_fallbacks) as f64 / n as f64,
        }
    }
}

fn micros<S: serde::Serializer>(duration: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(duration.as_micros() as u64)
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl<DB: Backend> Router<DB> {
    /// The router-wide consistency mode (`consistency.mode`).
    pub fn consistency(&self) -> Consistency {
        self.inner.consistency.mode
    }

    /// What read-your-writes has done so far: captures, checks, and where checked reads went.
    pub fn consistency_stats(&self) -> ConsistencyStats {
        let c = &self.inner.consistency.stats;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        ConsistencyStats {
            captures: load(&c.captures),
            capture_failures: load(&c.capture_failures),
            checked_reads: load(&c.checked_reads),
            cached: load(&c.cached),
            position_queries: load(&c.position_queries),
            replica_after_wait: load(&c.replica_after_wait),
            primary_fallbacks: load(&c.primary_fallbacks),
            waited: Duration::from_micros(load(&c.waited_micros)),
        }
    }

    /// The mode in force: the innermost [`with_consistency`](crate::with_consistency), else
    /// the router's.
    pub(crate) fn mode_in_context(&self) -> Consistency {
        with_context(|c| c.consistency).unwrap_or(self.inner.consistency.mode)
    }

    /// Whether writes in the current scope must record their position.
    pub(crate) fn tracks_writes(&self) -> bool {
        DB::HAS_POSITIONS && self.mode_in_context() != Consistency::Eventual
    }

    /// The record of the current scope (the router's own outside every scope that keeps one).
    fn scope_record(&self) -> Arc<Record> {
        with_context(|c| c.record.clone())
            .unwrap_or_else(|| Arc::clone(&self.inner.consistency.record))
    }

    /// What a read in the current scope (and in `unit`, a session's record) must see.
    pub(crate) fn need(&self, unit: Option<&Record>) -> Need {
        let cluster = self.inner.consistency.cluster;
        let scope = with_context(|c| {
            c.record
                .as_deref()
                .unwrap_or(&self.inner.consistency.record)
                .need(cluster)
        });
        let own = unit.map_or(Need::Nothing, |u| u.need(cluster));
        match (scope, own) {
            (Need::Unknown, _) | (_, Need::Unknown) => Need::Unknown,
            (Need::Position(a), Need::Position(b)) => Need::Position(a.max(b)),
            (Need::Position(p), Need::Nothing) | (Need::Nothing, Need::Position(p)) => {
                Need::Position(p)
            }
            (Need::Nothing, Need::Nothing) => Need::Nothing,
        }
    }

    /// A write about to run (or commit) in the current scope, and in `unit`'s record for a
    /// session's commit: until [`capture_after_write`](Self::capture_after_write) records its
    /// position, dropping the guard (a failed capture, a cancelled statement or commit, a
    /// stream dropped half-read) notes the write's position as unknown, so the scope's next
    /// read captures the primary's position first.
    pub(crate) fn pending_write(&self, unit: Option<&Arc<Record>>) -> PendingWrite {
        PendingWrite {
            cluster: self.inner.consistency.cluster,
            records: [Some(self.scope_record()), unit.cloned()],
        }
    }

    /// After a write committed on `connection` (the primary's): reads its position and
    /// records it where `pending` says. A failure is logged, and `pending` notes the position
    /// as unknown.
    pub(crate) async fn capture_after_write(
        &self,
        connection: &mut DB::Connection,
        mut pending: PendingWrite,
    ) where
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    {
        let cluster = pending.cluster;
        let tickets = pending
            .records
            .each_ref()
            .map(|r| r.as_ref().map(|r| r.ticket(cluster)));
        let stats = &self.inner.consistency.stats;
        match DB::write_position(connection).await {
            Ok(position) => {
                bump(&stats.captures);
                for (record, ticket) in pending.records.iter_mut().zip(tickets) {
                    if let (Some(record), Some(ticket)) = (record.take(), ticket) {
                        record.captured(cluster, position, ticket);
                    }
                }
            }
            Err(error) => {
                bump(&stats.capture_failures);
                tracing::warn!(%error, "could not read the primary's position after a write: the next read captures it first");
            }
        }
    }

    /// Notes a write dbroute could not see (a raw primary connection): the scope's next read
    /// captures the primary's position first.
    pub(crate) fn unseen_write(&self) {
        if self.tracks_writes() {
            self.scope_record().unknown(self.inner.consistency.cluster);
        }
    }

    /// Settles an unknown position in the current scope (and `unit`'s record): the primary's
    /// position now covers every write that returned before.
    async fn settle(&self, unit: Option<&Record>) -> Result<u64, sqlx::Error>
    where
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    {
        let cluster = self.inner.consistency.cluster;
        let scope = self.scope_record();
        let tickets = (scope.ticket(cluster), unit.map(|r| r.ticket(cluster)));
        let primary = self.primary_engine();
        let mut connection = self.connection(primary).await?;
        let position = DB::write_position(&mut connection).await?;
        bump(&self.inner.consistency.stats.captures);
        scope.captured(cluster, position, tickets.0);
        if let (Some(record), Some(ticket)) = (unit, tickets.1) {
            record.captured(cluster, position, ticket);
        }
        Ok(position)
    }

    /// A connection for a read of `group` that must see `need`: on `picked` or another replica
    /// of the group that has replayed the position (cached positions first; else asking the
    /// replicas, briefly polling, up to `max_wait`), else on the primary. Returns the engine
    /// it is on, for failure reports and failover.
    pub(crate) async fn connection_at<'r>(
        &'r self,
        picked: &'r Engine<DB>,
        group: GroupId,
        need: Need,
        unit: Option<&Record>,
    ) -> (&'r Engine<DB>, Result<PoolConnection<DB>, sqlx::Error>)
    where
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    {
        let position = match need {
            Need::Nothing => return (picked, self.connection(picked).await),
            Need::Position(position) => position,
            Need::Unknown => match self.settle(unit).await {
                Ok(position) => position,
                Err(error) => {
                    tracing::warn!(%error, "could not read the primary's position: the read goes to the primary");
                    return self.not_caught_up(group, None).await;
                }
            },
        };
        if picked.primary {
            return (picked, self.connection(picked).await);
        }
        let stats = &self.inner.consistency.stats;
        bump(&stats.checked_reads);
        let engines = &self.inner.groups[group].engines;
        if let Some(engine) = caught_up(picked, engines, position) {
            bump(&stats.cached);
            return self.placed(engine, group, None, None).await;
        }
        let primary_at = self.primary_engine().health.position();
        if primary_at.is_some_and(|p| position > p.saturating_add(FAR_AHEAD)) {
            tracing::warn!(
                "a read must see a position far past the primary's: a forged or foreign token? it goes to the primary"
            );
            return self.not_caught_up(group, None).await;
        }
        let start = Instant::now();
        let deadline = start + self.inner.consistency.max_wait;
        let (mut candidate, mut round) = (picked, 0u32);
        loop {
            match self.ask(candidate, position).await {
                Ok(Some(connection)) => {
                    bump(&stats.replica_after_wait);
                    return self
                        .placed(candidate, group, Some(start), Some(connection))
                        .await;
                }
                Ok(None) => {}
                Err(error) if is_connection_error(&error) => return (candidate, Err(error)),
                Err(error) => {
                    tracing::warn!(engine = %candidate.name, %error, "could not ask a replica how far it replayed");
                    break;
                }
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            if let Some(engine) = caught_up(candidate, engines, position) {
                return self.placed(engine, group, Some(start), None).await;
            }
            let next = next_replica(candidate, engines).unwrap_or(candidate);
            if std::ptr::eq(next, picked) || std::ptr::eq(next, candidate) {
                // A full round without luck: wait a little longer each time.
                if round > 0 {
                    let pause = Duration::from_millis(1 << (round - 1).min(3));
                    tokio::time::sleep(pause.min(deadline - now)).await;
                }
                round += 1;
            }
            candidate = next;
        }
        self.not_caught_up(group, Some(start)).await
    }

    /// Asks `engine` how far it replayed: its connection when it is at `position`.
    async fn ask(
        &self,
        engine: &Engine<DB>,
        position: u64,
    ) -> Result<Option<PoolConnection<DB>>, sqlx::Error>
    where
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    {
        let mut connection = self.connection(engine).await?;
        bump(&self.inner.consistency.stats.position_queries);
        let replayed = DB::replay_position(&mut connection).await?;
        if let Some(replayed) = replayed {
            engine.health.replayed(replayed);
        }
        Ok(replayed
            .is_some_and(|r| r >= position)
            .then_some(connection))
    }

    /// The read runs on `engine` (with `connection` when one is already taken); `start` is
    /// when it began to ask replicas, if it did.
    async fn placed<'r>(
        &'r self,
        engine: &'r Engine<DB>,
        group: GroupId,
        start: Option<Instant>,
        connection: Option<PoolConnection<DB>>,
    ) -> (&'r Engine<DB>, Result<PoolConnection<DB>, sqlx::Error>) {
        self.log_checked(engine, group, "read", start);
        match connection {
            Some(connection) => (engine, Ok(connection)),
            None => (engine, self.connection(engine).await),
        }
    }

    /// No replica has replayed the position in time: the primary, unless reads may not fall
    /// back to it (`fallback_to_primary = false`).
    async fn not_caught_up(
        &self,
        group: GroupId,
        start: Option<Instant>,
    ) -> (&Engine<DB>, Result<PoolConnection<DB>, sqlx::Error>) {
        bump(&self.inner.consistency.stats.primary_fallbacks);
        let primary = self.primary_engine();
        self.log_checked(
            primary,
            group,
            RouteReason::ReplicaNotCaughtUp.as_str(),
            start,
        );
        if !self.inner.health.fallback_to_primary {
            let error = Error::NoReplicaAvailable {
                group: self.group_name(group).to_owned(),
                why: format!(
                    "none had replayed the writes this read must see within {:?} \
                     (consistency.max_wait), and health.fallback_to_primary is false",
                    self.inner.consistency.max_wait
                ),
            };
            return (primary, Err(error.into()));
        }
        if let Err(error) = self.check_primary(primary, true) {
            return (primary, Err((*error).into()));
        }
        (primary, self.connection(primary).await)
    }

    /// The `dbroute::decision` event of a read that had to see earlier writes, with the time
    /// since `start` (none without one), which is added to the reads' waiting total.
    fn log_checked(
        &self,
        engine: &Engine<DB>,
        group: GroupId,
        reason: &str,
        start: Option<Instant>,
    ) {
        let waited = start.map_or(Duration::ZERO, |s| s.elapsed());
        let waited_us = waited.as_micros() as u64;
        let stats = &self.inner.consistency.stats;
        stats.waited_micros.fetch_add(waited_us, Ordering::Relaxed);
        tracing::debug!(
            target: "dbroute::decision",
            engine = %engine.name,
            group = %self.group_name(group),
            reason,
            waited_us,
            "route at the scope's position"
        );
    }

    /// A token of the writes made so far in the current scope (outside every scope that keeps
    /// a record: through this router), to carry to another task, request or service.
    ///
    /// ```no_run
    /// # async fn demo(router: &dbroute::PgRouter) -> Result<(), sqlx::Error> {
    /// sqlx::query("UPDATE profiles SET name = 'Ada' WHERE id = 1").execute(router).await?;
    /// let token = router.token().await?;
    /// // e.g. as a response header: the client sends it back with its next request.
    /// let header = token.to_string();
    /// # Ok(()) }
    /// ```
    pub async fn token(&self) -> Result<ConsistencyToken, sqlx::Error>
    where
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    {
        let cluster = self.inner.consistency.cluster;
        let position = match self.scope_record().need(cluster) {
            Need::Unknown => self.settle(None).await?,
            Need::Position(position) => position,
            Need::Nothing => NO_POSITION,
        };
        Ok(ConsistencyToken::new(cluster, position))
    }

    /// A token for `record` (a session's), settling an unknown position first.
    pub(crate) async fn token_of(&self, record: &Record) -> Result<ConsistencyToken, sqlx::Error>
    where
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    {
        let cluster = self.inner.consistency.cluster;
        let position = match record.need(cluster) {
            Need::Unknown => self.settle(Some(record)).await?,
            _ => record.position(cluster),
        };
        Ok(ConsistencyToken::new(cluster, position))
    }

    /// Runs `future` so that its reads see the writes `token` names (merged into the current
    /// scope's record, or a new one). Fails at once, with [`TokenError::OtherCluster`], for
    /// a token of another cluster.
    ///
    /// ```no_run
    /// # async fn demo(router: &dbroute::PgRouter, header: &str) -> Result<(), Box<dyn std::error::Error>> {
    /// let token: dbroute::ConsistencyToken = header.parse()?; // a typed error, never a panic
    /// let name: String = router
    ///     .with_token(&token, async {
    ///         sqlx::query_scalar("SELECT name FROM profiles WHERE id = 1").fetch_one(router).await
    ///     })?
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn with_token<F: Future>(
        &self,
        token: &ConsistencyToken,
        future: F,
    ) -> Result<impl Future<Output = F::Output> + use<F, DB>> {
        let cluster = self.check_token(token)?;
        let position = token.position();
        Ok(async move {
            let mut context = crate::scope::current_context();
            context.ensure_record();
            if let Some(record) = &context.record {
                record.merge(cluster, position);
            }
            context.scope(future).await
        })
    }

    /// Merges `token` into the current scope's record (the router's own outside every scope
    /// that keeps one): later reads in the scope see the writes it names. For middleware that
    /// has already entered the request's scope; elsewhere, [`with_token`](Self::with_token)
    /// scopes it to a future. Fails, changing nothing, for a token of another cluster.
    ///
    /// ```no_run
    /// # async fn demo(router: &dbroute::PgRouter, token: dbroute::ConsistencyToken) -> Result<(), dbroute::Error> {
    /// dbroute::reset_routing_context(async {
    ///     router.import_token(&token)?;
    ///     // ... the request's reads see the token's writes
    ///     Ok::<_, dbroute::Error>(())
    /// })
    /// .await
    /// # }
    /// ```
    pub fn import_token(&self, token: &ConsistencyToken) -> Result<()> {
        let cluster = self.check_token(token)?;
        self.scope_record().merge(cluster, token.position());
        Ok(())
    }

    /// The router's cluster, if `token` is of it.
    fn check_token(&self, token: &ConsistencyToken) -> Result<u64> {
        let cluster = self.inner.consistency.cluster;
        if token.cluster() != cluster {
            return Err(Error::Token(TokenError::OtherCluster {
                token: format!("{:016x}", token.cluster()),
                expected: format!("{cluster:016x}"),
            }));
        }
        Ok(cluster)
    }

    /// Waits until a replica of the read group has replayed the writes `token` names, up to
    /// `timeout`: `true` when one has (reads with the token then run on replicas), `false`
    /// when none has in time (they would run on the primary). For background jobs, whose
    /// reads can afford to wait longer than a request's (GitLab's Sidekiq pattern):
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # async fn demo(router: &dbroute::PgRouter, job_token: &str) -> Result<(), Box<dyn std::error::Error>> {
    /// // Enqueued with `router.token().await?.to_string()` in the payload.
    /// let token: dbroute::ConsistencyToken = job_token.parse()?;
    /// if !router.wait_for(&token, Duration::from_secs(2)).await? {
    ///     tracing::info!("replicas still behind: this job reads from the primary");
    /// }
    /// router.with_token(&token, async {
    ///     // the job's reads see everything the enqueuing request wrote
    /// })?.await;
    /// # Ok(()) }
    /// ```
    pub async fn wait_for(&self, token: &ConsistencyToken, timeout: Duration) -> Result<bool>
    where
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    {
        self.check_token(token)?;
        let Some(group) = self.inner.read_group.filter(|g| *g != self.default_group()) else {
            return Ok(true);
        };
        let position = token.position();
        if !DB::HAS_POSITIONS || position == NO_POSITION {
            return Ok(true);
        }
        let engines = &self.inner.groups[group].engines;
        // A timeout past what the clock can count means no deadline.
        let deadline = Instant::now().checked_add(timeout);
        let mut pause = Duration::from_millis(1);
        loop {
            for engine in engines.iter().filter(|e| e.health.is_up()) {
                if engine.health.position().is_some_and(|p| p >= position) {
                    return Ok(true);
                }
                match self.ask(engine, position).await {
                    Ok(Some(_)) => return Ok(true),
                    Ok(None) => {}
                    Err(error) => {
                        tracing::debug!(engine = %engine.name, %error, "could not ask a replica how far it replayed")
                    }
                }
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left == Some(Duration::ZERO) {
                return Ok(false);
            }
            tokio::time::sleep(left.map_or(pause, |left| pause.min(left))).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }
}

/// `picked`, or another replica that is up, whose cached replay position is at `position`.
fn caught_up<'r, DB: Backend>(
    picked: &'r Engine<DB>,
    engines: &'r [Engine<DB>],
    position: u64,
) -> Option<&'r Engine<DB>> {
    let at = |e: &Engine<DB>| e.health.position().is_some_and(|p| p >= position);
    if at(picked) {
        return Some(picked);
    }
    engines.iter().find(|e| e.health.is_up() && at(e))
}

/// The replica after `current` among those up, in order, wrapping around.
fn next_replica<'r, DB: Backend>(
    current: &Engine<DB>,
    engines: &'r [Engine<DB>],
) -> Option<&'r Engine<DB>> {
    let index = engines.iter().position(|e| std::ptr::eq(e, current))?;
    (1..=engines.len())
        .map(|step| &engines[(index + step) % engines.len()])
        .find(|e| e.health.is_up())
}
