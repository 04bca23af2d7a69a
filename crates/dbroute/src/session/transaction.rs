//! [`Transaction`]: an explicit transaction or savepoint, and the router's `begin` methods.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use sqlx::Executor;
use tokio::sync::MappedMutexGuard;

use super::Unit;
use super::unit::{Kind, LevelId};
use crate::backend::Backend;
use crate::classify::{Classification, Reason};
use crate::policy::{Facts, Target};
use crate::router::Router;

/// A transaction (or a savepoint in one) that every statement run on it joins.
///
/// From [`Router::begin`] (on the primary), [`Router::begin_read_only`] (a `READ ONLY`
/// transaction on one replica), [`Session::begin`](crate::Session::begin) or
/// [`Transaction::begin`] (a savepoint). `&Transaction` and `&mut Transaction` are
/// [`sqlx::Executor`]s. Dropped without [`commit`](Self::commit) or
/// [`rollback`](Self::rollback), it rolls back.
///
/// [`commit`](Self::commit) does not report a transaction that the database rolled back as
/// committed: if a statement run through the transaction failed (PostgreSQL then aborts the
/// whole transaction), it rolls back and returns
/// [`Error::TransactionAborted`](crate::Error::TransactionAborted). Statements run on the raw
/// [`connection`](Self::connection) are not seen.
///
/// ```no_run
/// # async fn demo(router: &dbroute::PgRouter) -> Result<(), sqlx::Error> {
/// let tx = router.begin().await?;
/// sqlx::query("UPDATE accounts SET balance = balance - 10 WHERE id = 1").execute(&tx).await?;
/// sqlx::query("UPDATE accounts SET balance = balance + 10 WHERE id = 2").execute(&tx).await?;
/// tx.commit().await?;
/// # Ok(()) }
/// ```
pub struct Transaction<DB: Backend> {
    unit: Arc<Unit<DB>>,
    level: LevelId,
    finished: bool,
}

impl<DB: Backend> Router<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    /// Opens a transaction on the primary (SQLite: `BEGIN IMMEDIATE`). Every statement run
    /// on it runs in it, on the primary.
    ///
    /// Inside [`Session::scope`](crate::Session::scope) it opens a level of the session's
    /// transaction instead (a savepoint once that is open), so that a request keeps to one
    /// primary connection.
    ///
    /// ```no_run
    /// # async fn demo(router: &dbroute::PgRouter) -> Result<(), sqlx::Error> {
    /// let tx = router.begin().await?;
    /// sqlx::query("UPDATE accounts SET balance = balance - 10 WHERE id = 1").execute(&tx).await?;
    /// tx.commit().await?;
    /// # Ok(()) }
    /// ```
    pub async fn begin(&self) -> Result<Transaction<DB>, sqlx::Error> {
        let context = self.context().map_err(|e| e.into_error(self))?;
        if let Some(unit) = context.session.and_then(Unit::from_link) {
            return Transaction::<DB>::open_in(unit).await;
        }
        let unit = Unit::new(self, Kind::Transaction, self.primary_engine());
        Transaction::<DB>::open_in(unit).await
    }

    /// Opens a `READ ONLY` transaction where a read would go now (a replica picked by the
    /// strategy, or the group of the current scope: the primary inside
    /// [`primary_context`](crate::primary_context)), so that a multi-statement read sees one
    /// consistent snapshot. Writes inside it fail. (On the primary, it needs a connection of
    /// its own: in a task that holds a session's primary transaction it is refused with
    /// [`Error::SessionInProgress`](crate::Error::SessionInProgress).)
    ///
    /// ```no_run
    /// # async fn demo(router: &dbroute::PgRouter) -> Result<(), sqlx::Error> {
    /// let snapshot = router.begin_read_only().await?;
    /// let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders").fetch_one(&snapshot).await?;
    /// let items: i64 = sqlx::query_scalar("SELECT count(*) FROM order_items").fetch_one(&snapshot).await?;
    /// snapshot.commit().await?; // both counts come from the same snapshot of one replica
    /// # Ok(()) }
    /// ```
    pub async fn begin_read_only(&self) -> Result<Transaction<DB>, sqlx::Error> {
        let context = self.context().map_err(|e| e.into_error(self))?;
        let facts = Facts {
            classification: Classification::new(Reason::Read),
            handle: None,
            scope: context.scope,
            session: None,
            consistency: context.consistency,
        };
        let decision = self.decide_facts(facts);
        let Target::Group(group) = decision.target else {
            return Err(sqlx::Error::Protocol(
                "dbroute: a read decided outside any session must name a group (this is a bug)"
                    .into(),
            ));
        };
        let mut engine = self.engine_for(group, &decision)?;
        if decision.causal {
            // Its snapshot must see the scope's writes: a replica that has replayed them.
            let (at, connection) = self
                .connection_at(engine, group, self.need(None), None)
                .await;
            drop(connection?);
            engine = at;
        }
        let unit = Unit::new(self, Kind::ReadOnly, engine);
        Transaction::<DB>::open_in(unit).await
    }
}

impl<DB: Backend> Transaction<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    /// Opens the next level of `unit`: its transaction, or a savepoint in it.
    pub(crate) async fn open_in(unit: Arc<Unit<DB>>) -> Result<Self, sqlx::Error> {
        let level = unit.lock().await?.begin().await?;
        Ok(Transaction {
            unit,
            level,
            finished: false,
        })
    }

    /// Opens a savepoint inside this transaction; its handle commits (releases) or rolls back
    /// that savepoint alone.
    pub async fn begin(&self) -> Result<Transaction<DB>, sqlx::Error> {
        Transaction::<DB>::open_in(Arc::clone(&self.unit)).await
    }

    /// Commits: `COMMIT` for a transaction, `RELEASE SAVEPOINT` for a savepoint. If a
    /// statement in it failed, rolls back and returns
    /// [`Error::TransactionAborted`](crate::Error::TransactionAborted).
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        self.finished = true;
        let mut locked = self.unit.lock().await?;
        locked.commit::<()>(self.level, None).await.map(drop)
    }

    /// Rolls back: the whole transaction, or everything since the savepoint.
    pub async fn rollback(mut self) -> Result<(), sqlx::Error> {
        self.finished = true;
        self.unit.lock().await?.rollback(self.level).await
    }

    /// The transaction's connection, for code that needs the driver's own connection type
    /// (`COPY`, `sqlx::migrate!().run(&mut *connection)`). Statements run on it are not
    /// routed and not seen by [`commit`](Self::commit)'s check; the transaction is unusable
    /// otherwise until the returned guard is dropped.
    pub async fn connection(&self) -> Result<TransactionConnection<'_, DB>, sqlx::Error> {
        Ok(TransactionConnection(
            self.unit.raw_connection(self.level).await?,
        ))
    }
}

impl<DB: Backend> Transaction<DB> {
    /// How deep this level is: 1 for a transaction, 2 and more for savepoints.
    pub fn depth(&self) -> usize {
        self.level.depth
    }

    pub(crate) fn unit(&self) -> &Arc<Unit<DB>> {
        &self.unit
    }

    pub(crate) fn level(&self) -> LevelId {
        self.level
    }
}

impl<DB: Backend> Drop for Transaction<DB> {
    fn drop(&mut self) {
        if !self.finished {
            self.unit.abandon(self.level);
        }
    }
}

impl<DB: Backend> fmt::Debug for Transaction<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction")
            .field("unit", &self.unit.label())
            .field("depth", &self.level.depth)
            .finish()
    }
}

/// A transaction's connection, borrowed from [`Transaction::connection`].
pub struct TransactionConnection<'t, DB: Backend>(MappedMutexGuard<'t, DB::Connection>);

impl<DB: Backend> Deref for TransactionConnection<'_, DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        &self.0
    }
}

impl<DB: Backend> DerefMut for TransactionConnection<'_, DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        &mut self.0
    }
}

impl<DB: Backend> fmt::Debug for TransactionConnection<'_, DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TransactionConnection")
    }
}
