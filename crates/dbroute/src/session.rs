//! [`Session`]: the unit of work, with sticky-after-write.

use std::fmt;

use sqlx::Transaction;

use crate::backend::Backend;
use crate::error::Result;
use crate::router::{Decision, Router, SessionState};

/// A unit of work: reads go to replicas until the first statement that must run on the
/// primary; that statement begins a transaction on the primary, and while it is open every
/// later statement of the session, reads included, runs inside it (so the session reads its
/// own uncommitted writes and keeps its row locks). [`commit`](Self::commit) and
/// [`rollback`](Self::rollback) end the transaction and the stickiness; dropping a session with
/// an open transaction rolls it back.
///
/// With `sticky_after_write = false`, writes still share the session's transaction, but reads
/// keep going to replicas.
///
/// `&mut Session` is a [`sqlx::Executor`]:
///
/// ```no_run
/// # async fn demo(router: &dbroute::PgRouter) -> Result<(), sqlx::Error> {
/// let mut session = router.session();
/// let users = sqlx::query("SELECT * FROM users").fetch_all(&mut session).await?; // replica
/// sqlx::query("INSERT INTO users (name) VALUES ('alice')").execute(&mut session).await?; // primary, BEGIN
/// assert!(session.is_sticky());
/// let alice = sqlx::query("SELECT * FROM users WHERE name = 'alice'")
///     .fetch_one(&mut session) // primary, same transaction: sees the insert
///     .await?;
/// session.commit().await?; // COMMIT; reads go to replicas again
/// assert!(!session.is_sticky());
/// # Ok(()) }
/// ```
pub struct Session<DB: Backend> {
    router: Router<DB>,
    transaction: Option<Transaction<'static, DB>>,
}

impl<DB: Backend> Session<DB> {
    pub(crate) fn new(router: Router<DB>) -> Self {
        Session {
            router,
            transaction: None,
        }
    }

    /// "Am I stuck to the primary?": a write has begun a transaction that later reads join.
    pub fn is_sticky(&self) -> bool {
        self.in_transaction() && self.router.sticky_after_write()
    }

    /// Whether the session holds an open primary transaction.
    pub fn in_transaction(&self) -> bool {
        self.transaction.is_some()
    }

    /// Commits the open transaction, if any, and resets stickiness.
    pub async fn commit(&mut self) -> Result<()> {
        if let Some(transaction) = self.transaction.take() {
            transaction.commit().await?;
            tracing::debug!(target: "dbroute::decision", "session committed");
        }
        Ok(())
    }

    /// Rolls back the open transaction, if any, and resets stickiness.
    pub async fn rollback(&mut self) -> Result<()> {
        if let Some(transaction) = self.transaction.take() {
            transaction.rollback().await?;
            tracing::debug!(target: "dbroute::decision", "session rolled back");
        }
        Ok(())
    }

    /// The router this session belongs to.
    pub fn router(&self) -> &Router<DB> {
        &self.router
    }

    pub(crate) fn decide(&self, sql: &str) -> Result<Decision> {
        let state = SessionState {
            tx_open: self.in_transaction(),
        };
        self.router.decide(sql, None, Some(state))
    }

    /// The session's primary transaction, begun now if not yet open.
    pub(crate) async fn transaction(
        &mut self,
        decision: &Decision,
    ) -> Result<&mut <DB as sqlx::Database>::Connection, sqlx::Error> {
        let transaction = match &mut self.transaction {
            Some(transaction) => transaction,
            slot @ None => {
                let begun = slot.insert(self.router.begin().await?);
                tracing::debug!(target: "dbroute::decision", reason = %decision.reason, "session began a primary transaction");
                begun
            }
        };
        tracing::debug!(target: "dbroute::decision", engine = "session transaction", reason = %decision.reason, "route");
        Ok(transaction.as_mut())
    }
}

impl<DB: Backend> fmt::Debug for Session<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("in_transaction", &self.in_transaction())
            .field("sticky", &self.is_sticky())
            .finish()
    }
}
