//! Units of work: [`Session`] (sticky-after-write, lazy transaction) and [`Transaction`]
//! (from [`Router::begin`], [`Router::begin_read_only`] or [`Session::begin`]).
//!
//! Both are handles onto one shared unit (`unit.rs`): a pooled connection with its transaction
//! and savepoints, used by one statement at a time. The files: `mod.rs` (sessions),
//! `transaction.rs` (transactions and the router's `begin` methods), `unit.rs` (the shared
//! core).

mod transaction;
mod unit;

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use futures_core::future::BoxFuture;
use sqlx::Executor;

pub use transaction::{Transaction, TransactionConnection};
pub(crate) use unit::{LevelId, Locked, Unit};

use crate::backend::Backend;
use crate::router::Router;
use crate::scope::{EnteredSession, SessionLink, enter_session};
use unit::Kind;

/// A unit of work: reads go to replicas until the first statement that must run on the
/// primary; that statement begins a transaction on the primary, and while it is open every
/// later statement of the session, reads included, runs inside it (so the session reads its
/// own uncommitted writes and keeps its row locks). [`commit`](Self::commit) and
/// [`rollback`](Self::rollback) end the transaction and the stickiness; dropping the last
/// handle of a session with an open transaction rolls it back.
///
/// `&Session` and `&mut Session` are [`sqlx::Executor`]s. A session is shared: clones are
/// handles onto the same unit of work, and concurrent statements (`join!`ed futures of one
/// request) run one at a time on its connection, the decision and the lazy `BEGIN` taken
/// together. A stream holds the session's connection until it ends or is dropped: collect it
/// before running the next statement of the same session.
///
/// ```no_run
/// # async fn demo(router: &dbroute::PgRouter) -> Result<(), sqlx::Error> {
/// let session = router.session();
/// let users = sqlx::query("SELECT * FROM users").fetch_all(&session).await?; // replica
/// sqlx::query("INSERT INTO users (name) VALUES ('alice')").execute(&session).await?; // primary, BEGIN
/// assert!(session.is_sticky());
/// let alice = sqlx::query("SELECT * FROM users WHERE name = 'alice'")
///     .fetch_one(&session) // primary, same transaction: sees the insert
///     .await?;
/// session.commit().await?; // COMMIT; reads go to replicas again
/// assert!(!session.is_sticky());
/// # Ok(()) }
/// ```
///
/// With `sticky_after_write = false`, writes still share the session's transaction, but reads
/// keep going to replicas. With `enabled = false`, everything runs on the primary, and the
/// session is still one transaction from its first write to its commit.
///
/// # Nested transactions
///
/// [`begin`](Self::begin) opens the transaction now, or a savepoint in it when it is open;
/// the returned [`Transaction`] commits (releases) or rolls back that level alone:
///
/// ```no_run
/// # async fn demo(router: &dbroute::PgRouter) -> Result<(), sqlx::Error> {
/// let session = router.session();
/// sqlx::query("INSERT INTO orders (id) VALUES (1)").execute(&session).await?;
/// let savepoint = session.begin().await?;
/// let duplicate = sqlx::query("INSERT INTO orders (id) VALUES (1)").execute(&savepoint).await;
/// if duplicate.is_err() {
///     savepoint.rollback().await?; // the order of the outer transaction stays
/// } else {
///     savepoint.commit().await?;
/// }
/// session.commit().await?;
/// # Ok(()) }
/// ```
///
/// # Statements on the router inside a session
///
/// [`scope`](Self::scope) makes the session the task's unit of work: inside it, statements
/// through `&router` (and its handles) that need the primary join the session's transaction,
/// reads follow its stickiness, and [`Router::begin`] opens a savepoint in it. Outside it,
/// a statement of the same task that needs another primary connection while the session
/// holds one fails at once with [`Error::SessionInProgress`](crate::Error::SessionInProgress)
/// instead of waiting on itself.
pub struct Session<DB: Backend> {
    unit: Arc<Unit<DB>>,
}

impl<DB: Backend> Clone for Session<DB> {
    fn clone(&self) -> Self {
        Session {
            unit: Arc::clone(&self.unit),
        }
    }
}

impl<DB: Backend> Router<DB> {
    /// A new unit of work: reads go to replicas until its first write, which begins a
    /// transaction on the primary that every later statement joins. See [`Session`].
    pub fn session(&self) -> Session<DB> {
        Session {
            unit: Unit::new(self, Kind::Session, self.primary_engine()),
        }
    }
}

impl<DB: Backend> Session<DB> {
    /// "Am I stuck to the primary?": a write has begun a transaction that later reads join
    /// (with `sticky_after_write`, or with routing off, where everything runs on the primary).
    pub fn is_sticky(&self) -> bool {
        let router = self.router();
        self.in_transaction() && (router.sticky_after_write() || !router.enabled())
    }

    /// Whether the session holds an open primary transaction.
    pub fn in_transaction(&self) -> bool {
        self.unit.depth() > 0
    }

    /// The session's number, as logs and errors show it (`session #3`).
    pub fn id(&self) -> u64 {
        self.unit.id
    }

    /// The router this session belongs to.
    pub fn router(&self) -> &Router<DB> {
        &self.unit.router
    }

    /// Runs `future` with this session as the task's unit of work: statements through the
    /// router inside it behave as if run on the session (see the [type docs](Self)). The
    /// framework integrations enter the request's session this way.
    ///
    /// ```no_run
    /// # async fn demo(router: &dbroute::PgRouter) -> Result<(), sqlx::Error> {
    /// async fn place_order(router: &dbroute::PgRouter) -> Result<(), sqlx::Error> {
    ///     sqlx::query("INSERT INTO orders (id) VALUES (9)").execute(router).await?;
    ///     Ok(())
    /// }
    ///
    /// let session = router.session();
    /// session.scope(place_order(router)).await?; // the INSERT ran in the session's transaction
    /// session.rollback().await?; // ... so this undoes it
    /// # Ok(()) }
    /// ```
    pub fn scope<F: Future>(&self, future: F) -> impl Future<Output = F::Output> {
        let link: Arc<dyn EnteredSession> = self.unit.clone();
        enter_session(SessionLink(link), future)
    }

    pub(crate) fn unit(&self) -> &Arc<Unit<DB>> {
        &self.unit
    }
}

impl<DB: Backend> Session<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    /// Opens the session's transaction now (or, when it is open, a savepoint in it) and
    /// returns a handle to that level: its commit releases the savepoint (or commits the
    /// transaction), its rollback undoes only that level.
    pub async fn begin(&self) -> Result<Transaction<DB>, sqlx::Error> {
        Transaction::<DB>::open_in(Arc::clone(&self.unit)).await
    }

    /// Commits the open transaction, if any, and resets stickiness. If a statement inside it
    /// failed (PostgreSQL then rolls the whole transaction back), this rolls back and returns
    /// [`Error::TransactionAborted`](crate::Error::TransactionAborted) naming the statement,
    /// instead of reporting a commit that did not happen.
    pub async fn commit(&self) -> Result<(), sqlx::Error> {
        self.commit_with(|_| Box::pin(async { Ok(()) }))
            .await
            .map(drop)
    }

    /// Commits like [`commit`](Self::commit), then runs `after` on the same connection right
    /// after `COMMIT` returned (before the connection goes back to the pool). Returns `None`
    /// when there was no transaction to commit.
    ///
    /// ```no_run
    /// # async fn demo(router: &dbroute::PgRouter) -> Result<(), sqlx::Error> {
    /// let session = router.session();
    /// sqlx::query("UPDATE stock SET n = n - 1 WHERE id = 1").execute(&session).await?;
    /// let position: Option<String> = session
    ///     .commit_with(|connection| Box::pin(async move {
    ///         sqlx::query_scalar("SELECT pg_current_wal_insert_lsn()::text")
    ///             .fetch_one(connection)
    ///             .await
    ///     }))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn commit_with<T, F>(&self, after: F) -> Result<Option<T>, sqlx::Error>
    where
        F: for<'c> FnOnce(&'c mut DB::Connection) -> BoxFuture<'c, Result<T, sqlx::Error>>
            + Send
            + 'static,
    {
        let mut locked = self.unit.lock().await?;
        match locked.outermost() {
            Some(level) => locked.commit(level, Some(Box::new(after))).await,
            None => Ok(None),
        }
    }

    /// Rolls back the open transaction, if any, and resets stickiness.
    pub async fn rollback(&self) -> Result<(), sqlx::Error> {
        self.unit.lock().await?.rollback_all().await
    }

    /// A token of the writes this session has committed (in `read_your_writes` or `strong`
    /// scopes), to carry to another task, request or service: reads under
    /// [`Router::with_token`] see them.
    ///
    /// ```no_run
    /// # async fn demo(router: &dbroute::PgRouter) -> Result<(), Box<dyn std::error::Error>> {
    /// let session = router.session();
    /// sqlx::query("INSERT INTO orders (id) VALUES (10)").execute(&session).await?;
    /// session.commit().await?;
    /// let token = session.token().await?;
    /// let worker = router.clone();
    /// tokio::spawn(async move {
    ///     let found = worker
    ///         .with_token(&token, async {
    ///             sqlx::query("SELECT 1 FROM orders WHERE id = 10").fetch_optional(&worker).await
    ///         })
    ///         .expect("a token of this router's cluster")
    ///         .await;
    ///     assert!(matches!(found, Ok(Some(_)))); // never a stale miss
    /// });
    /// # Ok(()) }
    /// ```
    pub async fn token(&self) -> Result<crate::ConsistencyToken, sqlx::Error> {
        self.unit.router.token_of(&self.unit.record).await
    }
}

impl<DB: Backend> fmt::Debug for Session<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.unit.id)
            .field("in_transaction", &self.in_transaction())
            .field("sticky", &self.is_sticky())
            .finish()
    }
}

impl<DB: Backend> EnteredSession for Unit<DB> {
    fn id(&self) -> u64 {
        self.id
    }

    fn router_key(&self) -> usize {
        self.router.key()
    }

    fn tx_open(&self) -> bool {
        self.depth() > 0
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

impl<DB: Backend> Unit<DB> {
    /// The unit behind an entered session (the router has checked it is one of its own).
    pub(crate) fn from_link(link: SessionLink) -> Option<Arc<Self>> {
        link.0.into_any().downcast::<Unit<DB>>().ok()
    }
}
