//! The [`Router`]: engines grouped by name, built from a config, and the decision of where
//! each statement runs.
//!
//! The decision, in order (the first rule that applies wins; the table itself is a pure
//! function in `policy.rs`, tested without a database for every combination of inputs):
//!
//! | # | rule | reads go to | other statements go to |
//! |---|---|---|---|
//! | 1 | `enabled = false` | the primary | the primary |
//! | 2 | explicit handle ([`Router::group`], [`Router::primary`], [`Router::replica`]) | that group | that group if writable, else the primary |
//! | 3 | innermost scope ([`use_bind_group`], [`primary_context`], [`replica_context`]) | that group | that group if writable, else the primary |
//! | 4 | [`Session`] stuck after a write (`sticky_after_write`) | the session's primary transaction | the session's primary transaction |
//! | 5 | statement rules ([`classify`]) | the read group (or the primary when it is empty) | the primary (in a session: its transaction) |
//!
//! "The primary" is the default group's one engine. In a [`Session`] (or inside
//! [`Session::scope`]), a statement that must go to the primary runs inside the session's
//! transaction, begun on first need; a session's write aimed at another writable group is
//! refused rather than left outside the session's transaction.
//!
//! The files: `mod.rs` (building a router, the decision), `handles.rs` (explicit groups),
//! `explain.rs` (`explain` / `route`), `catalog.rs` (functions learnt from the primary).
//!
//! [`use_bind_group`]: crate::use_bind_group
//! [`primary_context`]: crate::primary_context
//! [`replica_context`]: crate::replica_context
//! [`classify`]: crate::classify()
//! [`Session`]: crate::Session
//! [`Session::scope`]: crate::Session::scope

mod catalog;
mod consistency;
mod explain;
mod handles;
mod health;
mod stats;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::{Executor, Pool};

pub use catalog::CatalogCounts;
pub use consistency::ConsistencyStats;
pub(crate) use consistency::PendingWrite;
pub use explain::{Destination, Explanation};
pub use handles::GroupHandle;
pub(crate) use health::is_connection_error;

use crate::backend::{Backend, Role, lazy_pool};
use crate::classify::{Classifier, Dialect};
use crate::config::{
    ConfigError, ConsistencyConfig, DEFAULT_CACHE_SLOTS, HealthConfig, Plan, RoutingConfig,
};
use crate::consistency::Consistency;
use crate::error::{Error, Result};
use crate::guard::Guard;
use crate::health::monitor::Monitor;
use crate::health::{EngineHealth, GroupHealth};
use crate::policy::{self, Decision, Facts, GroupId, Layout, SessionState};
use crate::scope::{ScopeTarget, SessionLink, with_context};
use crate::select::Picker;
use crate::stats::Counters;
use catalog::Catalog;
use consistency::ConsistencyState;

/// Routes each statement to the primary or a replica; `&Router` is a [`sqlx::Executor`].
///
/// A router is a handle: cloning it is cheap and every clone shares the same pools. Build it
/// once at start-up and share it (in axum state, an actix `Data`, a static).
///
/// ```no_run
/// use dbroute::{PgRouter, RoutingConfig};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let config = RoutingConfig::builder()
///     .primary("postgres://app@primary/shop")
///     .replica("postgres://app@replica1/shop")
///     .build()?;
/// let router = PgRouter::connect(&config).await?;
///
/// // Plain read: a replica.
/// let names: Vec<String> = sqlx::query_scalar("SELECT name FROM users").fetch_all(&router).await?;
/// // Write (even through a fetch method): the primary.
/// let id: i64 = sqlx::query_scalar("INSERT INTO users (name) VALUES ($1) RETURNING id")
///     .bind("alice")
///     .fetch_one(&router)
///     .await?;
/// # Ok(()) }
/// ```
///
/// # Trade-offs
///
/// * Each statement on `&Router` runs on its own (autocommit): a read right after a write may
///   reach a replica that has not replayed the write yet. Use a [`Session`](crate::Session)
///   (reads after its first write stay on the primary) or
///   [`primary_context`](crate::primary_context) where a read must see the latest data.
/// * When the read group is empty or absent, reads go to the primary: that is a
///   configuration choice (a single database during development), not a failover.
/// * Pools are per engine: `max_connections = 20` with two replicas opens up to 60.
pub struct Router<DB: Backend> {
    inner: Arc<Inner<DB>>,
}

impl<DB: Backend> Clone for Router<DB> {
    fn clone(&self) -> Self {
        Router {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct Inner<DB: Backend> {
    groups: Vec<Group<DB>>,
    /// Whether each group takes writes when chosen explicitly, by index (for the policy).
    writable: Box<[bool]>,
    default_group: GroupId,
    read_group: Option<GroupId>,
    sticky_after_write: bool,
    enabled: bool,
    classifier: Classifier,
    catalog: Catalog,
    guard: Guard,
    next_unit: AtomicU64,
    health: HealthConfig,
    /// The background probes; dropped with the router, which stops them.
    monitor: Option<Monitor>,
    consistency: ConsistencyState,
    /// Bytes of statement text in tracing spans (`0`: none).
    trace_statement_text: usize,
}

struct Group<DB: Backend> {
    name: String,
    engines: Vec<Engine<DB>>,
    picker: Picker,
    health: Arc<GroupHealth>,
}

impl<DB: Backend> Group<DB> {
    fn new(name: &str, engines: Vec<Engine<DB>>, picker: Picker, health: Arc<GroupHealth>) -> Self {
        Group {
            name: name.to_owned(),
            engines,
            picker,
            health,
        }
    }
}

/// One database server's pool, with the names errors and logs show.
pub(crate) struct Engine<DB: Backend> {
    pub(crate) name: String,
    /// The URL with its password redacted, for errors.
    pub(crate) shown_url: String,
    pub(crate) pool: Pool<DB>,
    /// Whether this is the primary (the default group's one engine).
    pub(crate) primary: bool,
    /// What the router knows of its health.
    pub(crate) health: Arc<EngineHealth>,
    /// What it served, and why.
    pub(crate) stats: Arc<Counters>,
}

impl<DB: Backend> Router<DB> {
    /// Builds the router and opens one connection to every engine (writers first), so a bad
    /// URL, password or unreachable server fails here rather than on the first query, then
    /// loads the primary's catalog (`load_volatile_functions`). Pools then grow on demand up
    /// to their `max_connections`.
    pub async fn connect(config: &RoutingConfig) -> Result<Self>
    where
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    {
        let router = Self::connect_lazy(config)?;
        router.check_engines().await?;
        if router.inner.catalog.enabled() {
            router.refresh_volatile_functions().await?;
        }
        Ok(router)
    }

    /// Builds the router without connecting: each pool opens its first connection when its
    /// first statement runs, and the primary's catalog is loaded before the first statement
    /// is routed. Configuration errors are still reported here.
    ///
    /// Like sqlx's pools, it must run inside a Tokio runtime; outside one it returns an error
    /// instead of panicking.
    pub fn connect_lazy(config: &RoutingConfig) -> Result<Self>
    where
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    {
        let plan = config.plan()?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(ConfigError::NoRuntime.into());
        }
        if plan.backend != DB::KIND {
            return Err(ConfigError::BackendMismatch {
                config: plan.backend.name(),
                router: DB::KIND.name(),
            }
            .into());
        }
        Self::from_plan(plan)
    }

    fn from_plan(plan: Plan) -> Result<Self>
    where
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    {
        let mut groups = Vec::with_capacity(plan.groups.len());
        for (index, group) in plan.groups.iter().enumerate() {
            let role = if group.writable {
                Role::Writer
            } else {
                Role::Reader
            };
            let health = Arc::new(GroupHealth::default());
            let engines = group
                .engines
                .iter()
                .map(|e| {
                    let primary = index == plan.default_group;
                    let shown_role = engine_role(primary, group.writable);
                    Ok(Engine {
                        name: e.name.clone(),
                        shown_url: e.url.redacted(),
                        pool: lazy_pool::<DB>(e, role)?,
                        primary,
                        health: Arc::new(EngineHealth::new(Arc::clone(&health))),
                        stats: Arc::new(Counters::new(&group.name, &e.name, shown_role)),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let weights: Vec<u32> = group.engines.iter().map(|e| e.weight).collect();
            // Validation has checked the weights.
            let picker = Picker::new(plan.strategy, &weights)
                .unwrap_or_else(|_| Picker::uniform(engines.len()));
            groups.push(Group::new(&group.name, engines, picker, health));
        }
        tracing::info!(
            groups = groups.len(),
            engines = groups.iter().map(|g| g.engines.len()).sum::<usize>(),
            enabled = plan.enabled,
            "dbroute router built"
        );
        let writable = plan.groups.iter().map(|g| g.writable).collect();
        let primary = &groups[plan.default_group].engines[0];
        let consistency = ConsistencyState::new(
            &plan.consistency,
            &DB::cluster_identity(&primary.pool.connect_options()),
        );
        Ok(Router::<DB>::assemble(Inner {
            groups,
            writable,
            default_group: plan.default_group,
            read_group: plan.read_group,
            sticky_after_write: plan.sticky_after_write,
            enabled: plan.enabled,
            classifier: Classifier::new(plan.backend.dialect())
                .with_write_functions(&plan.write_functions)
                .with_read_only_functions(&plan.read_only_functions)
                .with_cache(plan.classification_cache),
            catalog: Catalog::new(DB::HAS_CATALOG && plan.load_volatile_functions),
            guard: Guard::default(),
            next_unit: AtomicU64::new(1),
            health: plan.health,
            monitor: None,
            consistency,
            trace_statement_text: plan.trace_statement_text,
        }))
    }

    /// The router over `inner`, with its health monitor started (when health checks are on
    /// and there is a Tokio runtime to run it).
    fn assemble(mut inner: Inner<DB>) -> Self
    where
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    {
        if inner.health.enabled && tokio::runtime::Handle::try_current().is_ok() {
            inner.monitor = Some(health::start_monitor::<DB>(
                &inner.groups,
                inner.read_group,
                inner.health,
            ));
        }
        Router {
            inner: Arc::new(inner),
        }
    }

    /// A router over pools you already have (for tests and `#[sqlx::test]`): group
    /// `"default"` holds `primary` (engine `primary`), group `"read"` holds `replicas`
    /// (engines `replica-1`, ...), round-robin, sticky after write.
    ///
    /// The replicas' pools get the read-only belt for the connections they open from now on
    /// (`set_connect_options`); connections a pool already holds keep their settings, so hand
    /// over pools that have not connected yet (`connect_lazy`). The primary's catalog
    /// (PostgreSQL `VOLATILE` functions) is loaded before the first statement is routed.
    pub fn from_pools(primary: Pool<DB>, replicas: impl IntoIterator<Item = Pool<DB>>) -> Self
    where
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    {
        let (primary_health, replica_health) = (
            Arc::new(GroupHealth::default()),
            Arc::new(GroupHealth::default()),
        );
        let engine = |name: String, pool, primary: bool| Engine {
            stats: Arc::new(Counters::new(
                if primary {
                    crate::config::DEFAULT_GROUP
                } else {
                    crate::config::READ_GROUP
                },
                &name,
                engine_role(primary, primary),
            )),
            name,
            shown_url: "(a pool given to Router::from_pools)".to_owned(),
            pool,
            primary,
            health: Arc::new(EngineHealth::new(Arc::clone(match primary {
                true => &primary_health,
                false => &replica_health,
            }))),
        };
        let replicas: Vec<Engine<DB>> = replicas
            .into_iter()
            .enumerate()
            .map(|(i, pool)| {
                let options = (*pool.connect_options()).clone();
                pool.set_connect_options(DB::prepare_options(options, Role::Reader));
                engine(format!("replica-{}", i + 1), pool, false)
            })
            .collect();
        let group = |name: &str, engines: Vec<Engine<DB>>, health| {
            let picker = Picker::uniform(engines.len());
            Group::new(name, engines, picker, health)
        };
        let consistency = ConsistencyState::new(
            &ConsistencyConfig::default(),
            &DB::cluster_identity(&primary.connect_options()),
        );
        let primary = vec![engine("primary".into(), primary, true)];
        let has_replicas = !replicas.is_empty();
        Router::<DB>::assemble(Inner {
            groups: vec![
                group(crate::config::DEFAULT_GROUP, primary, primary_health),
                group(crate::config::READ_GROUP, replicas, replica_health),
            ],
            writable: Box::new([true, false]),
            default_group: 0,
            read_group: has_replicas.then_some(1),
            sticky_after_write: true,
            enabled: true,
            classifier: Classifier::new(DB::KIND.dialect()).with_cache(DEFAULT_CACHE_SLOTS),
            catalog: Catalog::new(DB::HAS_CATALOG),
            guard: Guard::default(),
            next_unit: AtomicU64::new(1),
            health: HealthConfig::default(),
            monitor: None,
            consistency,
            trace_statement_text: 0,
        })
    }

    /// The names of the router's groups.
    pub fn group_names(&self) -> impl Iterator<Item = &str> {
        self.inner.groups.iter().map(|g| g.name.as_str())
    }

    /// The names of the engines of group `name`.
    pub fn engine_names(&self, name: &str) -> Result<Vec<&str>> {
        let group = &self.inner.groups[self.find_group(name)?];
        Ok(group.engines.iter().map(|e| e.name.as_str()).collect())
    }

    /// Whether sessions stick to the primary after a write.
    pub fn sticky_after_write(&self) -> bool {
        self.inner.sticky_after_write
    }

    /// Whether routing is on (`enabled`); off, everything runs on the primary.
    pub fn enabled(&self) -> bool {
        self.inner.enabled
    }

    /// The dialect statements are classified in.
    pub fn dialect(&self) -> Dialect {
        self.inner.classifier.dialect()
    }

    /// The router's classifier (with its configured and loaded functions, and its cache).
    pub fn classifier(&self) -> &Classifier {
        &self.inner.classifier
    }

    /// Stops the health monitor and closes every pool.
    pub async fn close(&self) {
        if let Some(monitor) = &self.inner.monitor {
            monitor.stop().await;
        }
        for engine in self.inner.groups.iter().flat_map(|g| &g.engines) {
            engine.pool.close().await;
        }
    }

    pub(crate) fn guard(&self) -> &Guard {
        &self.inner.guard
    }

    /// A fresh number for a session or transaction, for logs and errors.
    pub(crate) fn next_unit_id(&self) -> u64 {
        self.inner.next_unit.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn default_group(&self) -> GroupId {
        self.inner.default_group
    }

    pub(crate) fn group_name(&self, group: GroupId) -> &str {
        &self.inner.groups[group].name
    }

    fn read_group(&self) -> GroupId {
        self.inner.read_group.unwrap_or(self.inner.default_group)
    }

    fn find_group(&self, name: &str) -> Result<GroupId> {
        self.inner
            .groups
            .iter()
            .position(|g| g.name == name)
            .ok_or_else(|| self.unknown_group(name))
    }

    /// The full error for a group name the router does not have.
    pub(crate) fn unknown_group(&self, name: &str) -> Error {
        Error::UnknownGroup {
            name: name.to_owned(),
            known: self.group_names().collect::<Vec<_>>().join(", "),
        }
    }

    /// A group as handles and scopes use it: an empty (read) group means the primary.
    fn group_index(&self, name: &str) -> Option<GroupId> {
        let group = self.inner.groups.iter().position(|g| g.name == name)?;
        Some(match self.inner.groups[group].engines.is_empty() {
            true => self.inner.default_group,
            false => group,
        })
    }

    /// [`group_index`](Self::group_index), or the full error.
    pub(crate) fn resolve_group(&self, name: &str) -> Result<GroupId> {
        self.group_index(name)
            .ok_or_else(|| self.unknown_group(name))
    }

    fn resolve_scope(&self, target: &ScopeTarget) -> Result<GroupId, NoSuchGroup> {
        match target {
            ScopeTarget::Primary => Ok(self.inner.default_group),
            ScopeTarget::Replica => Ok(self.read_group()),
            ScopeTarget::Group(name) => self
                .group_index(name)
                .ok_or_else(|| NoSuchGroup(Arc::clone(name))),
        }
    }

    /// Identifies this router among others, for entered sessions.
    pub(crate) fn key(&self) -> usize {
        Arc::as_ptr(&self.inner) as usize
    }

    /// The current context as this router sees it: the innermost scope's group, the entered
    /// session if it is one of this router's, and the consistency mode.
    #[inline]
    pub(crate) fn context(&self) -> Result<InContext, NoSuchGroup> {
        with_context(|context| {
            let scope = context
                .target_ref()
                .map(|t| self.resolve_scope(t))
                .transpose()?;
            let session = context
                .session_ref()
                .filter(|s| s.0.router_key() == self.key());
            Ok(InContext {
                scope,
                session: session.cloned(),
                consistency: context.consistency.unwrap_or(self.inner.consistency.mode),
            })
        })
    }

    /// The decision for a statement on the router or an explicit handle, under the current
    /// context: its scope and, inside [`Session::scope`](crate::Session::scope), its session.
    #[inline]
    pub(crate) fn decide_in_context(
        &self,
        sql: &str,
        handle: Option<GroupId>,
    ) -> Result<(Decision, Option<SessionLink>), NoSuchGroup> {
        let context = self.context()?;
        let state = context.session.as_ref().map(|s| SessionState {
            tx_open: s.0.tx_open(),
        });
        let decision = self.decide(sql, handle, state, &context);
        Ok((decision, context.session))
    }

    /// Classifies `sql` and applies the precedence table (`policy::decide`).
    pub(crate) fn decide(
        &self,
        sql: &str,
        handle: Option<GroupId>,
        session: Option<SessionState>,
        context: &InContext,
    ) -> Decision {
        self.decide_facts(Facts {
            classification: self.inner.classifier.classify(sql),
            handle,
            scope: context.scope,
            session,
            consistency: context.consistency,
        })
    }

    /// Applies the precedence table to what is known.
    pub(crate) fn decide_facts(&self, facts: Facts) -> Decision {
        policy::decide(facts, &self.layout())
    }

    fn layout(&self) -> Layout<'_> {
        let inner = &*self.inner;
        Layout {
            default_group: inner.default_group,
            read_group: self.read_group(),
            writable: &inner.writable,
            enabled: inner.enabled,
            sticky_after_write: inner.sticky_after_write,
        }
    }

    /// An engine of `group` that is up, picked by the group's strategy; `None` when none is.
    pub(crate) fn engine(&self, group: GroupId) -> Option<&Engine<DB>> {
        let mut group = &self.inner.groups[group];
        if group.engines.is_empty() {
            // Only an empty read group gets here (validation rejects other empty groups):
            // its reads go to the default group, which always has its one engine.
            group = &self.inner.groups[self.inner.default_group];
        }
        let all_up = group.health.all_up();
        if !all_up && !group.engines.iter().any(|e| e.health.is_up()) {
            return None;
        }
        let index = group.picker.pick(all_up, |i| {
            group.engines.get(i).is_some_and(|e| e.health.is_up())
        })?;
        group.engines.get(index)
    }

    /// The primary: the default group's one engine.
    pub(crate) fn primary_engine(&self) -> &Engine<DB> {
        &self.inner.groups[self.inner.default_group].engines[0]
    }

    /// The engine a [`Target::Group`](policy::Target::Group) decision runs on (see
    /// [`usable_engine`](Self::usable_engine)), logging the route.
    pub(crate) fn engine_for(
        &self,
        group: GroupId,
        decision: &Decision,
    ) -> std::result::Result<&Engine<DB>, Box<Error>> {
        let engine = self.usable_engine(group, decision)?;
        self.log_route(engine, group, decision);
        Ok(engine)
    }

    /// The `dbroute::decision` event of a statement sent to an engine.
    /// Every engine with its group (and the group's index), groups in order.
    fn every_engine(&self) -> impl Iterator<Item = (GroupId, &Group<DB>, &Engine<DB>)> {
        let groups = self.inner.groups.iter().enumerate();
        groups.flat_map(|(index, group)| group.engines.iter().map(move |e| (index, group, e)))
    }

    /// An engine's role, for reports: `"primary"`, `"writer"` (a writable group's) or
    /// `"replica"`.
    pub(crate) fn role(&self, group: GroupId, engine: &Engine<DB>) -> &'static str {
        engine_role(engine.primary, self.inner.writable[group])
    }

    pub(crate) fn log_route(&self, engine: &Engine<DB>, group: GroupId, decision: &Decision) {
        tracing::debug!(
            target: "dbroute::decision",
            engine = %engine.name,
            group = %self.inner.groups[group].name,
            reason = %decision.reason,
            "route"
        );
    }

    /// Bytes of statement text its tracing spans carry.
    pub(crate) fn trace_statement_text(&self) -> usize {
        self.inner.trace_statement_text
    }

    pub(crate) fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }
}

/// How an engine is shown in reports, stats and metrics.
fn engine_role(primary: bool, writable_group: bool) -> &'static str {
    match (primary, writable_group) {
        (true, _) => "primary",
        (false, true) => "writer",
        (false, false) => "replica",
    }
}

/// The current context, resolved for one router.
pub(crate) struct InContext {
    pub(crate) scope: Option<GroupId>,
    pub(crate) session: Option<SessionLink>,
    pub(crate) consistency: Consistency,
}

/// A scope named a group the router does not have. Small, so the hot path's results stay
/// small; [`NoSuchGroup::into_error`] makes the full [`Error`].
#[derive(Debug)]
pub(crate) struct NoSuchGroup(Arc<str>);

impl NoSuchGroup {
    pub(crate) fn into_error<DB: Backend>(self, router: &Router<DB>) -> Error {
        router.unknown_group(&self.0)
    }
}

impl<DB: Backend> fmt::Debug for Router<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for group in &self.inner.groups {
            let names: Vec<&str> = group.engines.iter().map(|e| e.name.as_str()).collect();
            map.entry(&group.name, &names);
        }
        map.finish()
    }
}
