//! [`Unit`]: one transaction on one connection, shared by the handles that use it.
//!
//! A [`Session`](super::Session) and the [`Transaction`](super::Transaction)s opened from it
//! (or from the router) are handles onto a unit. The unit owns its pooled connection (not a
//! sqlx `Transaction`), so that it can
//!
//! * run statements for several handles and `join!`ed futures, one at a time, behind one lock
//!   in which the decision and the lazy `BEGIN` happen together;
//! * nest savepoints (levels) under handles that outlive each other's borrows;
//! * see every statement's outcome, and refuse to report a transaction that the database
//!   rolled back (PostgreSQL aborts at the first error) as committed;
//! * run code on the same connection right after `COMMIT` returns (the commit's replication
//!   position, the catalog reload, user hooks).
//!
//! Transaction control goes through sqlx's `TransactionManager`, so sqlx's own depth
//! bookkeeping (and its rollback of a connection dropped mid-transaction) stays right.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex};

use futures_core::future::BoxFuture;
use sqlx::pool::PoolConnection;
use sqlx::{Database, Executor, Pool, SqlSafeStr};
use sqlx_core::transaction::TransactionManager;
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

use crate::backend::Backend;
use crate::classify::Classification;
use crate::consistency::Record;
use crate::error::Error;
use crate::guard::owner_key;
use crate::policy::RouteReason;
use crate::router::{Engine, PendingWrite, Router};
use crate::stats::Counters;

/// What a unit is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A [`Session`](super::Session): statements are routed; the transaction begins lazily.
    Session,
    /// A transaction from [`Router::begin`]: every statement runs in it, on the primary.
    Transaction,
    /// A transaction from [`Router::begin_read_only`]: every statement runs in it.
    ReadOnly,
}

impl Kind {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Kind::Session => "session",
            Kind::Transaction | Kind::ReadOnly => "transaction",
        }
    }
}

/// One unit of work. Shared (`Arc`) by its handles; the last one dropped rolls back whatever
/// is still open.
pub(crate) struct Unit<DB: Backend> {
    pub(crate) router: Router<DB>,
    pub(crate) id: u64,
    pub(crate) kind: Kind,
    pool: Pool<DB>,
    engine: String,
    /// Its engine's counters.
    stats: Arc<Counters>,
    /// Whether the connection comes from the primary (then the self-deadlock guard knows it).
    on_primary: bool,
    /// Open levels (0: no transaction), readable without the lock.
    depth: AtomicUsize,
    /// The task or thread that used the unit last (see [`crate::guard`]).
    owner: Arc<AtomicU64>,
    /// Levels whose handles went away while the unit was busy: rolled back at the next lock.
    abandoned: StdMutex<Vec<LevelId>>,
    /// The positions its commits reached ([`Session::token`](super::Session::token)).
    pub(crate) record: Arc<Record>,
    state: Mutex<State<DB>>,
}

struct State<DB: Backend> {
    connection: Option<PoolConnection<DB>>,
    levels: Vec<Level>,
    /// Statements run in the current transaction.
    statements: u64,
    /// DDL ran in it: the catalog is reloaded after it commits.
    schema_changed: bool,
    /// Something that is not a plain read ran in it: its commit's position is captured.
    wrote: bool,
    next_serial: u64,
}

/// One level of nesting: the transaction (level 1) or a savepoint.
struct Level {
    /// Tells a level from a later one at the same depth, so a stale handle cannot act on it.
    serial: u64,
    failure: Option<Failure>,
}

#[derive(Clone)]
struct Failure {
    statement: u64,
    cause: String,
}

/// A level as a handle remembers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LevelId {
    pub(crate) depth: usize,
    serial: u64,
}

impl<DB: Backend> Unit<DB> {
    /// A unit whose transaction will run on `engine`.
    pub(crate) fn new(router: &Router<DB>, kind: Kind, engine: &Engine<DB>) -> Arc<Self> {
        Arc::new(Unit {
            id: router.next_unit_id(),
            router: router.clone(),
            kind,
            pool: engine.pool.clone(),
            engine: engine.name.clone(),
            stats: Arc::clone(&engine.stats),
            on_primary: engine.primary,
            depth: AtomicUsize::new(0),
            owner: Arc::new(AtomicU64::new(owner_key())),
            abandoned: StdMutex::new(Vec::new()),
            record: Arc::default(),
            state: Mutex::new(State {
                connection: None,
                levels: Vec::new(),
                statements: 0,
                schema_changed: false,
                wrote: false,
                next_serial: 0,
            }),
        })
    }

    /// The engine its transaction runs on.
    pub(crate) fn engine_name(&self) -> &str {
        &self.engine
    }

    /// One of its statements ran on its engine for `reason`, with `outcome`, from `started`:
    /// counted and timed.
    pub(crate) fn served<T>(
        &self,
        reason: RouteReason,
        outcome: &Result<T, sqlx::Error>,
        started: std::time::Instant,
    ) {
        self.stats.served(reason);
        self.stats.statement_took(started.elapsed());
        if let Err(error) = outcome {
            self.stats.failed(error);
        }
    }

    /// Open levels: 0 when no transaction is open.
    pub(crate) fn depth(&self) -> usize {
        self.depth.load(Ordering::Acquire)
    }

    /// `session #3`, `transaction #4`: for logs and errors.
    pub(crate) fn label(&self) -> String {
        format!("{} #{}", self.kind.label(), self.id)
    }

    /// Takes the unit for one statement or operation: waits for other users, applies the
    /// rollbacks of dropped handles, and records the current task as the user.
    pub(crate) async fn lock(&self) -> Result<Locked<'_, DB>, sqlx::Error>
    where
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    {
        let state = self.state.lock().await;
        self.owner.store(owner_key(), Ordering::Relaxed);
        let mut locked = Locked { unit: self, state };
        let abandoned =
            std::mem::take(&mut *self.abandoned.lock().unwrap_or_else(|e| e.into_inner()));
        if let Some(lowest) = abandoned
            .into_iter()
            .filter(|level| locked.state.current(*level))
            .min_by_key(|level| level.depth)
        {
            locked.rollback_to(lowest.depth - 1).await?;
        }
        Ok(locked)
    }

    /// A handle at `level` went away without commit or rollback: roll that level back, now
    /// if the unit is free (the rollback is queued on the connection), else at the next lock.
    pub(crate) fn abandon(&self, level: LevelId) {
        match self.state.try_lock() {
            Ok(mut state) if state.current(level) => {
                state.start_rollback_to(level.depth - 1);
                self.after_levels_changed(&mut state);
            }
            Ok(_) => {}
            Err(_) => self
                .abandoned
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(level),
        }
    }

    /// The connection of `level`'s transaction, for raw use until the guard drops. What runs
    /// on it is unseen, so the catalog is reloaded after the commit.
    pub(crate) async fn raw_connection(
        &self,
        level: LevelId,
    ) -> Result<MappedMutexGuard<'_, DB::Connection>, sqlx::Error>
    where
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    {
        let Locked { mut state, .. } = self.lock().await?;
        if !state.current(level) {
            return Err(Error::TransactionEnded.into());
        }
        state.schema_changed = true;
        state.wrote = true;
        MutexGuard::try_map(state, |s| s.connection.as_deref_mut())
            .map_err(|_| Error::TransactionEnded.into())
    }

    fn after_levels_changed(&self, state: &mut State<DB>) {
        self.depth.store(state.levels.len(), Ordering::Release);
        if state.levels.is_empty() {
            // Returned to the pool, whose release check flushes any queued rollback.
            state.connection = None;
            state.statements = 0;
            state.schema_changed = false;
            state.wrote = false;
            if self.on_primary {
                self.router.guard().release(self.id);
            }
        }
    }
}

impl<DB: Backend> Drop for Unit<DB> {
    fn drop(&mut self) {
        let state = self.state.get_mut();
        if state.levels.is_empty() {
            return;
        }
        state.start_rollback_to(0);
        state.connection = None;
        if self.on_primary {
            self.router.guard().release(self.id);
        }
        tracing::debug!(target: "dbroute::decision", unit = %self.label(), "dropped with an open transaction: rolled back");
    }
}

impl<DB: Backend> State<DB> {
    fn current(&self, level: LevelId) -> bool {
        level.depth >= 1
            && self
                .levels
                .get(level.depth - 1)
                .is_some_and(|l| l.serial == level.serial)
    }

    /// Queues rollbacks down to `keep` levels (no await: for drops).
    fn start_rollback_to(&mut self, keep: usize) {
        if let Some(connection) = self.connection.as_mut() {
            while self.levels.len() > keep {
                DB::TransactionManager::start_rollback(&mut **connection);
                self.levels.pop();
            }
        }
        self.levels.truncate(keep);
    }
}

/// A unit taken for one operation: the statement, commit or rollback runs while it is held.
pub(crate) struct Locked<'u, DB: Backend> {
    unit: &'u Unit<DB>,
    state: MutexGuard<'u, State<DB>>,
}

impl<'u, DB: Backend> Locked<'u, DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    /// Whether the transaction is open.
    pub(crate) fn in_transaction(&self) -> bool {
        !self.state.levels.is_empty()
    }

    /// An error if `level` has ended (a handle outliving its enclosing transaction).
    pub(crate) fn check_current(&self, level: LevelId) -> Result<(), sqlx::Error> {
        match self.state.current(level) {
            true => Ok(()),
            false => Err(Error::TransactionEnded.into()),
        }
    }

    /// Opens the transaction if it is not open: the lazy `BEGIN` of a session.
    pub(crate) async fn ensure_open(&mut self) -> Result<(), sqlx::Error> {
        if !self.in_transaction() {
            self.begin().await?;
        }
        Ok(())
    }

    /// Opens a level: the transaction itself (taking a connection), or a savepoint in it.
    pub(crate) async fn begin(&mut self) -> Result<LevelId, sqlx::Error> {
        let unit = self.unit;
        if self.state.levels.is_empty() {
            if unit.on_primary {
                unit.router.guard().check(Some(unit.id))?;
            }
            if let Some(engine) = unit.router.engine_named(&unit.engine)
                && engine.primary
            {
                unit.router
                    .check_primary(engine, unit.kind == Kind::ReadOnly)?;
            }
            let acquiring = std::time::Instant::now();
            let acquired = unit.pool.acquire().await;
            unit.stats.acquire_took(acquiring.elapsed());
            let mut connection = acquired.inspect_err(|e| {
                if let Some(engine) = unit.router.engine_named(&unit.engine) {
                    unit.router.engine_failed(engine, e);
                }
            })?;
            let statement = match (unit.kind, DB::BEGIN_WRITE) {
                (Kind::ReadOnly, _) => Some(DB::BEGIN_READ_ONLY.into_sql_str()),
                (_, Some(begin)) => Some(begin.into_sql_str()),
                (_, None) => None,
            };
            DB::TransactionManager::begin(&mut *connection, statement).await?;
            self.state.connection = Some(connection);
            if unit.on_primary {
                unit.router
                    .guard()
                    .hold(unit.id, unit.kind.label(), Arc::clone(&unit.owner));
            }
            tracing::debug!(target: "dbroute::decision", unit = %unit.label(), engine = %unit.engine, "began a transaction");
        } else {
            DB::TransactionManager::begin(self.connection()?, None).await?;
        }
        let serial = self.state.next_serial;
        self.state.next_serial += 1;
        self.state.levels.push(Level {
            serial,
            failure: None,
        });
        unit.depth.store(self.state.levels.len(), Ordering::Release);
        Ok(LevelId {
            depth: self.state.levels.len(),
            serial,
        })
    }

    /// The open transaction's connection.
    pub(crate) fn connection(&mut self) -> Result<&mut DB::Connection, sqlx::Error> {
        match self.state.connection.as_mut() {
            Some(connection) => Ok(&mut **connection),
            None => Err(sqlx::Error::Protocol(
                "dbroute: no open transaction on this unit (this is a bug)".into(),
            )),
        }
    }

    /// Notes that a statement is about to run in the transaction; returns its number.
    pub(crate) fn count_statement(&mut self, classification: Classification) -> u64 {
        self.state.statements += 1;
        self.state.schema_changed |= classification.changes_schema();
        self.state.wrote |= !classification.is_read();
        self.state.statements
    }

    /// Records a statement's outcome. With PostgreSQL, an error aborts the transaction until
    /// its innermost savepoint is rolled back, and a success proves it is not aborted (every
    /// statement fails in an aborted transaction), so it clears what was recorded.
    pub(crate) fn record<T>(&mut self, statement: u64, outcome: &Result<T, sqlx::Error>) {
        if !DB::ERROR_ABORTS_TRANSACTION {
            return;
        }
        match outcome {
            Ok(_) => self.state.levels.iter_mut().for_each(|l| l.failure = None),
            Err(sqlx::Error::Database(error)) => {
                let first = self.state.levels.iter().all(|l| l.failure.is_none());
                if let (true, Some(level)) = (first, self.state.levels.last_mut()) {
                    level.failure = Some(Failure {
                        statement,
                        cause: error.message().to_owned(),
                    });
                }
            }
            Err(_) => {}
        }
    }

    /// Commits `level` (and any savepoint still open inside it): `COMMIT` for the
    /// transaction, `RELEASE SAVEPOINT` for a savepoint. When a statement inside failed, the
    /// database has rolled the level back: so does this, and says which statement it was.
    /// `hook` runs on the connection right after a `COMMIT` returns.
    pub(crate) async fn commit<T>(
        &mut self,
        level: LevelId,
        hook: Option<CommitHook<DB, T>>,
    ) -> Result<Option<T>, sqlx::Error> {
        if !self.state.current(level) {
            return Err(Error::TransactionEnded.into());
        }
        let keep = level.depth - 1;
        if let Some(failure) = self.failure_from(keep) {
            self.rollback_to(keep).await?;
            return Err(Error::TransactionAborted {
                unit: if keep == 0 {
                    "transaction"
                } else {
                    "savepoint"
                },
                statement: failure.statement,
                cause: failure.cause,
            }
            .into());
        }
        // Held across COMMIT: if it is cut short (an error, a cancelled future), whether it
        // committed is unknown, and reads in the scope capture the position first.
        let pending = self.captures_commit(keep).then(|| {
            let router = &self.unit.router;
            router.pending_write(Some(&self.unit.record))
        });
        while self.state.levels.len() > keep {
            if let Err(error) = DB::TransactionManager::commit(self.connection()?).await {
                // The database ended the level (or the connection is gone): don't reuse it.
                self.state.start_rollback_to(keep);
                self.unit.after_levels_changed(&mut self.state);
                return Err(error);
            }
            self.state.levels.pop();
        }
        let mut output = None;
        if keep == 0 {
            tracing::debug!(target: "dbroute::decision", unit = %self.unit.label(), "committed");
            output = self.after_commit(hook, pending).await?;
        }
        self.unit.after_levels_changed(&mut self.state);
        Ok(output)
    }

    /// Rolls back `level` (and any savepoint inside it). A level that already ended is left
    /// alone.
    pub(crate) async fn rollback(&mut self, level: LevelId) -> Result<(), sqlx::Error> {
        if !self.state.current(level) {
            return Ok(());
        }
        self.rollback_to(level.depth - 1).await
    }

    /// Rolls back everything open: the whole transaction.
    pub(crate) async fn rollback_all(&mut self) -> Result<(), sqlx::Error> {
        self.rollback_to(0).await
    }

    /// The outermost open level, for committing everything.
    pub(crate) fn outermost(&self) -> Option<LevelId> {
        self.state.levels.first().map(|l| LevelId {
            depth: 1,
            serial: l.serial,
        })
    }

    fn failure_from(&self, keep: usize) -> Option<Failure> {
        self.state.levels[keep..]
            .iter()
            .find_map(|l| l.failure.clone())
    }

    async fn rollback_to(&mut self, keep: usize) -> Result<(), sqlx::Error> {
        while self.state.levels.len() > keep {
            if let Err(error) = DB::TransactionManager::rollback(self.connection()?).await {
                self.state.start_rollback_to(keep);
                self.unit.after_levels_changed(&mut self.state);
                return Err(error);
            }
            self.state.levels.pop();
        }
        if keep == 0 {
            tracing::debug!(target: "dbroute::decision", unit = %self.unit.label(), "rolled back");
        }
        self.unit.after_levels_changed(&mut self.state);
        Ok(())
    }

    /// Whether committing down to `keep` levels must capture the position: the transaction
    /// itself, on the primary, if something in it wrote, in a scope that tracks writes.
    fn captures_commit(&self, keep: usize) -> bool {
        let unit = self.unit;
        keep == 0
            && self.state.wrote
            && unit.on_primary
            && unit.kind != Kind::ReadOnly
            && unit.router.tracks_writes()
    }

    /// Runs right after `COMMIT` returned, on the same connection: the position its writes
    /// reached (read-your-writes), the catalog reload after DDL, the user's hook.
    async fn after_commit<T>(
        &mut self,
        hook: Option<CommitHook<DB, T>>,
        pending: Option<PendingWrite>,
    ) -> Result<Option<T>, sqlx::Error> {
        let router = self.unit.router.clone();
        let schema_changed = self.state.schema_changed;
        let connection = self.connection()?;
        if let Some(pending) = pending {
            router.capture_after_write(connection, pending).await;
        }
        if schema_changed {
            router.refresh_catalog_on(connection).await;
        }
        match hook {
            Some(hook) => hook(connection).await.map(Some),
            None => Ok(None),
        }
    }
}

/// Code to run on a unit's connection right after its `COMMIT` returns.
pub(crate) type CommitHook<DB, T> = Box<
    dyn for<'c> FnOnce(
            &'c mut <DB as Database>::Connection,
        ) -> BoxFuture<'c, Result<T, sqlx::Error>>
        + Send,
>;
