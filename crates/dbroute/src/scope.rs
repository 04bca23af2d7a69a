//! Task-scoped routing overrides: [`use_bind_group`], [`primary_context`],
//! [`replica_context`], [`reset_routing_context`].
//!
//! Each takes a future and runs it with the override in force, like the reference design's
//! context managers, but scoped to a future instead of a block: the override ends when the
//! future completes or is dropped, nests (the innermost scope wins), and never leaks into
//! other tasks, because it lives in a [`tokio::task_local!`].
//!
//! ```
//! use dbroute::{current_context, primary_context, use_bind_group, ScopeTarget};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let target = use_bind_group("analytics", async {
//!     primary_context(async { current_context().target().cloned() }).await
//! })
//! .await;
//! assert_eq!(target, Some(ScopeTarget::Primary));
//! assert_eq!(current_context().target(), None);
//! # }
//! ```
//!
//! Spawned tasks start with no override: wrap their future in [`with_current_context`] (or use
//! [`spawn`]) to carry the spawner's override into them.
//!
//! A scope chooses the group for *reads*. A statement that is not provably read-only still goes
//! to the primary unless the scoped group is marked writable: a write never reaches a replica.

use std::future::Future;
use std::sync::Arc;

tokio::task_local! {
    static CONTEXT: RoutingContext;
}

/// The group an override points at.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ScopeTarget {
    /// The default group (the primary): [`primary_context`].
    Primary,
    /// The read group (the replicas): [`replica_context`].
    Replica,
    /// A group by name: [`use_bind_group`].
    Group(Arc<str>),
}

/// The routing override in force for the current task. [`current_context`] returns it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoutingContext {
    target: Option<ScopeTarget>,
}

impl RoutingContext {
    /// The innermost override, `None` outside any scope (or inside [`reset_routing_context`]).
    pub fn target(&self) -> Option<&ScopeTarget> {
        self.target.as_ref()
    }

    /// A context forcing `target`.
    pub fn new(target: Option<ScopeTarget>) -> Self {
        RoutingContext { target }
    }

    /// Runs `future` with this context in force.
    pub fn scope<F: Future>(self, future: F) -> impl Future<Output = F::Output> {
        CONTEXT.scope(self, future)
    }
}

/// The override in force for the current task (the default, "no override", outside a scope).
pub fn current_context() -> RoutingContext {
    CONTEXT.try_with(Clone::clone).unwrap_or_default()
}

/// Calls `f` with the current override without cloning it: the router's hot path.
pub(crate) fn with_target<R>(f: impl Fn(Option<&ScopeTarget>) -> R) -> R {
    CONTEXT
        .try_with(|ctx| f(ctx.target.as_ref()))
        .unwrap_or_else(|_| f(None))
}

/// Runs `future` with reads routed to group `name` (an unknown name is an error when a
/// statement runs, never a silent fallback).
///
/// ```no_run
/// # async fn demo(router: &dbroute::PgRouter) -> Result<(), sqlx::Error> {
/// use dbroute::use_bind_group;
///
/// let total: i64 = use_bind_group("analytics", async {
///     sqlx::query_scalar("SELECT count(*) FROM orders").fetch_one(router).await
/// })
/// .await?;
/// # Ok(()) }
/// ```
pub fn use_bind_group<F: Future>(name: &str, future: F) -> impl Future<Output = F::Output> {
    RoutingContext::new(Some(ScopeTarget::Group(Arc::from(name)))).scope(future)
}

/// Runs `future` with reads routed to the primary, for reads that must see the latest data.
///
/// ```no_run
/// # async fn demo(router: &dbroute::PgRouter) -> Result<(), sqlx::Error> {
/// let balance: i64 = dbroute::primary_context(async {
///     sqlx::query_scalar("SELECT balance FROM accounts WHERE id = 1").fetch_one(router).await
/// })
/// .await?;
/// # Ok(()) }
/// ```
pub fn primary_context<F: Future>(future: F) -> impl Future<Output = F::Output> {
    RoutingContext::new(Some(ScopeTarget::Primary)).scope(future)
}

/// Runs `future` with reads routed to the read group, even in a session stuck to the primary.
/// Writes still go to the primary.
///
/// ```no_run
/// # async fn demo(router: &dbroute::PgRouter) -> Result<(), sqlx::Error> {
/// let mut session = router.session();
/// sqlx::query("UPDATE stats SET hits = hits + 1").execute(&mut session).await?;
/// // The session is sticky now, but this report may read slightly stale data.
/// let rows = dbroute::replica_context(async {
///     sqlx::query("SELECT * FROM big_report").fetch_all(&mut session).await
/// })
/// .await?;
/// session.commit().await?;
/// # Ok(()) }
/// ```
pub fn replica_context<F: Future>(future: F) -> impl Future<Output = F::Output> {
    RoutingContext::new(Some(ScopeTarget::Replica)).scope(future)
}

/// Runs `future` with no override, whatever the enclosing scopes say. Framework middleware
/// wraps each request in it, so nothing leaks from one request into the next.
pub fn reset_routing_context<F: Future>(future: F) -> impl Future<Output = F::Output> {
    RoutingContext::default().scope(future)
}

/// Wraps `future` so that it runs with the *current* override, wherever it is polled: use it
/// for futures handed to `tokio::spawn`, which start with no override.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use dbroute::{current_context, primary_context, with_current_context, ScopeTarget};
///
/// let child = primary_context(async {
///     tokio::spawn(with_current_context(async { current_context().target().cloned() }))
/// })
/// .await;
/// assert_eq!(child.await.unwrap(), Some(ScopeTarget::Primary));
/// # }
/// ```
pub fn with_current_context<F: Future>(future: F) -> impl Future<Output = F::Output> {
    current_context().scope(future)
}

/// `tokio::spawn`, carrying the current override into the new task.
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(with_current_context(future))
}
