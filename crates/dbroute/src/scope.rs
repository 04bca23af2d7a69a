//! Task-scoped routing context: overrides ([`use_bind_group`], [`primary_context`],
//! [`replica_context`], [`reset_routing_context`]), the consistency mode
//! ([`with_consistency`]), the record of the scope's write positions (read-your-writes), and
//! the session a task works in ([`Session::scope`](crate::Session::scope)).
//!
//! Each takes a future and runs it with the context in force, like the reference design's
//! context managers, but scoped to a future instead of a block: the context ends when the
//! future completes or is dropped, nests (the innermost override wins, and an override keeps
//! the enclosing session), and never leaks into other tasks, because it lives in a
//! [`tokio::task_local!`].
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
//! Spawned tasks start with no context: wrap their future in [`with_current_context`] (or use
//! [`spawn`]) to carry the spawner's context (override and session) into them.
//!
//! A scope chooses the group for *reads*. A statement that is not provably read-only still goes
//! to the primary unless the scoped group is marked writable: a write never reaches a replica.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use crate::consistency::{Consistency, Record, new_record};

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

/// A session as the context holds it: type-erased, since the context is one task-local for
/// every database type. The router asks it what the decision needs and downcasts it to run.
pub(crate) trait EnteredSession: Send + Sync {
    /// The session's number.
    fn id(&self) -> u64;
    /// Which router it belongs to ([`Router::key`](crate::Router)).
    fn router_key(&self) -> usize;
    /// Whether its primary transaction is open.
    fn tx_open(&self) -> bool;
    /// Itself, for downcasting to the concrete unit.
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

/// A session entered with [`Session::scope`](crate::Session::scope).
#[derive(Clone)]
pub(crate) struct SessionLink(pub(crate) Arc<dyn EnteredSession>);

/// The routing context in force for the current task. [`current_context`] returns it.
#[derive(Clone, Default)]
pub struct RoutingContext {
    target: Option<ScopeTarget>,
    session: Option<SessionLink>,
    /// The mode of [`with_consistency`](crate::with_consistency), over the router's.
    pub(crate) consistency: Option<Consistency>,
    /// The positions this scope's writes reached; `None` outside every scope that keeps one
    /// (the router's own record then serves).
    pub(crate) record: Option<Arc<Record>>,
}

/// The context outside every scope.
static NO_CONTEXT: RoutingContext = RoutingContext {
    target: None,
    session: None,
    consistency: None,
    record: None,
};

impl RoutingContext {
    /// The innermost override, `None` outside any scope (or inside [`reset_routing_context`]).
    pub fn target(&self) -> Option<&ScopeTarget> {
        self.target.as_ref()
    }

    /// A context forcing `target`, with no session.
    pub fn new(target: Option<ScopeTarget>) -> Self {
        RoutingContext {
            target,
            ..RoutingContext::default()
        }
    }

    /// The consistency mode set by the innermost
    /// [`with_consistency`], if any.
    pub fn consistency(&self) -> Option<Consistency> {
        self.consistency
    }

    /// Starts a record of positions unless the context has one.
    pub(crate) fn ensure_record(&mut self) {
        self.record.get_or_insert_with(new_record);
    }

    /// Whether a session is entered ([`Session::scope`](crate::Session::scope)).
    pub fn in_session(&self) -> bool {
        self.session.is_some()
    }

    /// Runs `future` with this context in force.
    pub fn scope<F: Future>(self, future: F) -> impl Future<Output = F::Output> {
        CONTEXT.scope(self, future)
    }

    /// Runs `f` with this context in force, synchronously: for code polled outside the
    /// request's future, such as a streamed response body that the server polls after the
    /// handler returned (the framework integrations wrap bodies this way).
    ///
    /// ```
    /// use dbroute::{current_context, primary_context, ScopeTarget};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let captured = primary_context(async { current_context() }).await;
    /// let target = captured.clone().in_scope(|| current_context().target().cloned());
    /// assert_eq!(target, Some(ScopeTarget::Primary));
    /// # }
    /// ```
    pub fn in_scope<R>(self, f: impl FnOnce() -> R) -> R {
        CONTEXT.sync_scope(self, f)
    }

    fn with_target(mut self, target: ScopeTarget) -> Self {
        self.target = Some(target);
        self
    }
}

impl PartialEq for RoutingContext {
    fn eq(&self, other: &Self) -> bool {
        self.target == other.target
            && self.session.as_ref().map(|s| s.0.id()) == other.session.as_ref().map(|s| s.0.id())
            && self.consistency == other.consistency
            && match (&self.record, &other.record) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (a, b) => a.is_none() && b.is_none(),
            }
    }
}

impl Eq for RoutingContext {}

impl fmt::Debug for RoutingContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoutingContext")
            .field("target", &self.target)
            .field("session", &self.session.as_ref().map(|s| s.0.id()))
            .field("consistency", &self.consistency)
            .finish_non_exhaustive()
    }
}

/// The context in force for the current task (the default, "no override", outside a scope).
pub fn current_context() -> RoutingContext {
    CONTEXT.try_with(Clone::clone).unwrap_or_default()
}

/// Calls `f` with the current context without cloning it: the router's hot path.
pub(crate) fn with_context<R>(f: impl Fn(&RoutingContext) -> R) -> R {
    CONTEXT.try_with(&f).unwrap_or_else(|_| f(&NO_CONTEXT))
}

impl RoutingContext {
    pub(crate) fn target_ref(&self) -> Option<&ScopeTarget> {
        self.target.as_ref()
    }

    pub(crate) fn session_ref(&self) -> Option<&SessionLink> {
        self.session.as_ref()
    }
}

/// Runs `future` inside `session`, keeping the override in force where it is polled.
///
/// The context is read when first polled, not when built: in
/// `session.scope(primary_context(fut))` the inner scope is built first, outside the outer.
pub(crate) async fn enter_session<F: Future>(session: SessionLink, future: F) -> F::Output {
    let mut context = current_context();
    context.session = Some(session);
    context.scope(future).await
}

/// Runs `future` with `target` over the context in force where it is polled.
async fn with_override<F: Future>(target: ScopeTarget, future: F) -> F::Output {
    current_context().with_target(target).scope(future).await
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
    with_override(ScopeTarget::Group(Arc::from(name)), future)
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
    with_override(ScopeTarget::Primary, future)
}

/// Runs `future` with reads routed to the read group, even in a session stuck to the primary.
/// Writes still go to the primary.
///
/// ```no_run
/// # async fn demo(router: &dbroute::PgRouter) -> Result<(), sqlx::Error> {
/// let session = router.session();
/// sqlx::query("UPDATE stats SET hits = hits + 1").execute(&session).await?;
/// // The session is sticky now, but this report may read slightly stale data.
/// let rows = dbroute::replica_context(async {
///     sqlx::query("SELECT * FROM big_report").fetch_all(&session).await
/// })
/// .await?;
/// session.commit().await?;
/// # Ok(()) }
/// ```
pub fn replica_context<F: Future>(future: F) -> impl Future<Output = F::Output> {
    with_override(ScopeTarget::Replica, future)
}

/// Runs `future` with no override and no session, whatever the enclosing scopes say, and a
/// fresh record of write positions (read-your-writes then follows this scope's writes only).
/// Framework middleware wraps each request in it, so nothing leaks from one request into the
/// next.
pub fn reset_routing_context<F: Future>(future: F) -> impl Future<Output = F::Output> {
    RoutingContext {
        record: Some(new_record()),
        ..RoutingContext::default()
    }
    .scope(future)
}

/// Wraps `future` so that it runs with the *current* context (override and session),
/// wherever it is polled: use it for futures handed to `tokio::spawn`, which start with none.
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

/// Runs `future` with reads in `mode`, over the router's configured mode. The positions of the
/// writes made so far in the enclosing scope still count; a scope that had no record of its own
/// starts one.
///
/// ```no_run
/// # async fn demo(router: &dbroute::PgRouter) -> Result<(), sqlx::Error> {
/// use dbroute::{Consistency, with_consistency};
///
/// // A balance shown right after a payment: read it on the primary.
/// let balance: i64 = with_consistency(Consistency::Strong, async {
///     sqlx::query_scalar("SELECT balance FROM accounts WHERE id = 1").fetch_one(router).await
/// })
/// .await?;
/// # Ok(()) }
/// ```
pub async fn with_consistency<F: Future>(mode: Consistency, future: F) -> F::Output {
    let mut context = current_context();
    context.consistency = Some(mode);
    context.ensure_record();
    context.scope(future).await
}

/// `tokio::spawn`, carrying the current context into the new task.
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(with_current_context(future))
}
