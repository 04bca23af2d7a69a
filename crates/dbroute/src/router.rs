//! The [`Router`]: engines grouped by name, and the decision of where each statement runs.
//!
//! The decision, in order (the first rule that applies wins):
//!
//! | # | rule | reads go to | other statements go to |
//! |---|---|---|---|
//! | 1 | `enabled = false` | default group, first engine | default group, first engine |
//! | 2 | explicit handle ([`Router::group`], [`Router::primary`], [`Router::replica`]) | that group | that group if writable, else the primary |
//! | 3 | innermost scope ([`use_bind_group`], [`primary_context`], [`replica_context`]) | that group | that group if writable, else the primary |
//! | 4 | [`Session`] stuck after a write (`sticky_after_write`) | the session's primary transaction | the session's primary transaction |
//! | 5 | statement rules ([`classify`]) | the read group (or the default group when it is empty) | the primary (in a session: its transaction) |
//!
//! "The primary" is the default group. In a [`Session`], a statement that must go to the
//! primary runs inside the session's transaction, begun on first need.
//!
//! [`use_bind_group`]: crate::use_bind_group
//! [`primary_context`]: crate::primary_context
//! [`replica_context`]: crate::replica_context
//! [`classify`]: crate::classify()

use std::fmt;
use std::sync::Arc;

use sqlx::{Pool, Transaction};

use crate::backend::{Backend, Role, lazy_pool};
use crate::classify::{Classification, Classifier, Dialect, Reason};
use crate::config::{Plan, RoutingConfig};
use crate::error::{Error, Result};
use crate::scope::{ScopeTarget, with_target};
use crate::select::Picker;
use crate::session::Session;

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
///   reach a replica that has not replayed the write yet. Use a [`Session`] (reads after its
///   first write stay on the primary) or [`primary_context`](crate::primary_context) where a
///   read must see the latest data.
/// * When the read group is empty or absent, reads go to the default group: that is a
///   configuration choice (a single database during development), not a failover.
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
    default_group: usize,
    read_group: Option<usize>,
    sticky_after_write: bool,
    enabled: bool,
    classifier: Classifier,
    load_volatile_functions: bool,
}

pub(crate) struct Group<DB: Backend> {
    name: String,
    writable: bool,
    engines: Vec<Engine<DB>>,
    picker: Picker,
}

pub(crate) struct Engine<DB: Backend> {
    name: String,
    /// The URL with its password redacted, for errors.
    shown_url: String,
    pool: Pool<DB>,
}

/// Why a statement went where it went (see the decision table on [`Router`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RouteReason {
    /// `enabled = false`: everything goes to the default group's first engine.
    RoutingDisabled,
    /// An explicit handle chose the group.
    ExplicitGroup,
    /// A scope chose the group.
    ScopedGroup,
    /// A session stuck to its primary transaction after a write.
    StickyAfterWrite,
    /// The statement rules decided; the classifier's reason says why.
    Statement(Reason),
}

impl fmt::Display for RouteReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteReason::RoutingDisabled => f.write_str("routing disabled"),
            RouteReason::ExplicitGroup => f.write_str("explicit group"),
            RouteReason::ScopedGroup => f.write_str("scoped group"),
            RouteReason::StickyAfterWrite => f.write_str("sticky after write"),
            RouteReason::Statement(reason) => write!(f, "statement: {reason}"),
        }
    }
}

/// Where a statement will run, as [`Router::explain`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Explanation<'r> {
    /// The group's name.
    pub group: &'r str,
    /// Why.
    pub reason: RouteReason,
    /// The classifier's view of the statement.
    pub classification: Classification,
}

/// The engine a statement was sent to, as [`Router::route`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Destination<'r> {
    /// The group's name.
    pub group: &'r str,
    /// The engine's name.
    pub engine: &'r str,
    /// Why.
    pub reason: RouteReason,
}

/// Where the decision sends a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// An engine of this group, picked by the group's strategy.
    Group(usize),
    /// The session's primary transaction.
    Transaction,
}

/// What the decision needs to know of a session.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SessionState {
    pub(crate) tx_open: bool,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Decision {
    pub(crate) target: Target,
    pub(crate) reason: RouteReason,
    pub(crate) classification: Classification,
}

impl<DB: Backend> Router<DB> {
    /// Builds the router and opens one connection to every engine (writers first), so a bad
    /// URL, password or unreachable server fails here rather than on the first query. Pools
    /// then grow on demand up to their `max_connections`.
    pub async fn connect(config: &RoutingConfig) -> Result<Self> {
        let router = Self::connect_lazy(config)?;
        router.check_connections().await?;
        if router.inner.load_volatile_functions {
            router.refresh_volatile_functions().await?;
        }
        Ok(router)
    }

    /// Builds the router without connecting: each pool opens its first connection when its
    /// first statement runs. Configuration errors are still reported here. No functions are
    /// loaded from the catalog: call
    /// [`refresh_volatile_functions`](Self::refresh_volatile_functions) once the primary is up.
    ///
    /// Like sqlx's pools, it must run inside a Tokio runtime; outside one it returns an error
    /// instead of panicking.
    pub fn connect_lazy(config: &RoutingConfig) -> Result<Self> {
        let plan = config.plan()?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::Config(
                "a router must be built inside a Tokio runtime (its pools spawn maintenance \
                 tasks); call it from async code or within Runtime::block_on / enter"
                    .into(),
            ));
        }
        if plan.backend != DB::KIND {
            return Err(Error::Config(format!(
                "the configuration's URLs are {} but this router is for {}; use the matching \
                 router type (PgRouter, SqliteRouter)",
                plan.backend.name(),
                DB::KIND.name()
            )));
        }
        Self::from_plan(plan)
    }

    fn from_plan(plan: Plan) -> Result<Self> {
        let mut groups = Vec::with_capacity(plan.groups.len());
        for group in &plan.groups {
            let role = if group.writable {
                Role::Writer
            } else {
                Role::Reader
            };
            let engines = group
                .engines
                .iter()
                .map(|e| {
                    Ok(Engine {
                        name: e.name.clone(),
                        shown_url: e.url.redacted(),
                        pool: lazy_pool::<DB>(e, role)?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let weights: Vec<u32> = group.engines.iter().map(|e| e.weight).collect();
            groups.push(Group {
                name: group.name.clone(),
                writable: group.writable,
                picker: Picker::new(plan.strategy, &weights).map_err(Error::Config)?,
                engines,
            });
        }
        tracing::info!(
            groups = groups.len(),
            engines = groups.iter().map(|g| g.engines.len()).sum::<usize>(),
            enabled = plan.enabled,
            "dbroute router built"
        );
        Ok(Router {
            inner: Arc::new(Inner {
                groups,
                default_group: plan.default_group,
                read_group: plan.read_group,
                sticky_after_write: plan.sticky_after_write,
                enabled: plan.enabled,
                classifier: Classifier::new(plan.backend.dialect())
                    .with_write_functions(&plan.write_functions)
                    .with_cache(plan.classification_cache),
                load_volatile_functions: plan.load_volatile_functions,
            }),
        })
    }

    /// A router over pools you already have (for tests and `#[sqlx::test]`): group
    /// `"default"` holds `primary` (engine `primary`), group `"read"` holds `replicas`
    /// (engines `replica-1`, ...), round-robin, sticky after write.
    pub fn from_pools(primary: Pool<DB>, replicas: impl IntoIterator<Item = Pool<DB>>) -> Self {
        let engine = |name: String, pool| Engine {
            name,
            shown_url: "(a pool given to Router::from_pools)".to_owned(),
            pool,
        };
        let replicas: Vec<Engine<DB>> = replicas
            .into_iter()
            .enumerate()
            .map(|(i, pool)| engine(format!("replica-{}", i + 1), pool))
            .collect();
        let group = |name: &str, writable, engines: Vec<Engine<DB>>| Group {
            name: name.to_owned(),
            writable,
            picker: Picker::uniform(engines.len()),
            engines,
        };
        let has_replicas = !replicas.is_empty();
        Router {
            inner: Arc::new(Inner {
                groups: vec![
                    group(
                        crate::config::DEFAULT_GROUP,
                        true,
                        vec![engine("primary".into(), primary)],
                    ),
                    group(crate::config::READ_GROUP, false, replicas),
                ],
                default_group: 0,
                read_group: has_replicas.then_some(1),
                sticky_after_write: true,
                enabled: true,
                classifier: Classifier::new(DB::KIND.dialect())
                    .with_cache(crate::config::DEFAULT_CACHE_SLOTS),
                load_volatile_functions: false,
            }),
        }
    }

    async fn check_connections(&self) -> Result<()> {
        let mut engines: Vec<&Group<DB>> = self.inner.groups.iter().collect();
        // SQLite readers need the writer to have created the file and switched it to WAL.
        engines.sort_by_key(|g| !g.writable);
        for group in engines {
            for engine in &group.engines {
                engine
                    .pool
                    .acquire()
                    .await
                    .map_err(|source| Error::Connect {
                        engine: engine.name.clone(),
                        url: engine.shown_url.clone(),
                        source,
                    })?;
                tracing::debug!(engine = %engine.name, group = %group.name, "engine reachable");
            }
        }
        Ok(())
    }

    /// An executor bound to group `name`: reads run there; other statements run there only
    /// when the group is writable, and on the primary otherwise. An unknown name is an error.
    ///
    /// ```no_run
    /// # async fn demo(router: &dbroute::PgRouter) -> Result<(), Box<dyn std::error::Error>> {
    /// let analytics = router.group("analytics")?;
    /// let n: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(analytics).await?;
    /// assert!(router.group("no-such-group").unwrap_err().is_unknown_group());
    /// # Ok(()) }
    /// ```
    pub fn group(&self, name: &str) -> Result<GroupHandle<'_, DB>> {
        let group = self.find_group(name)?;
        Ok(GroupHandle {
            router: self,
            group,
        })
    }

    /// An executor bound to the default group (the primary), for reads that must be fresh.
    ///
    /// ```no_run
    /// # async fn demo(router: &dbroute::PgRouter) -> Result<(), sqlx::Error> {
    /// let balance: i64 = sqlx::query_scalar("SELECT balance FROM accounts WHERE id = 1")
    ///     .fetch_one(router.primary())
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn primary(&self) -> GroupHandle<'_, DB> {
        GroupHandle {
            router: self,
            group: self.inner.default_group,
        }
    }

    /// An executor bound to the read group (the default group when the read group is empty).
    /// Writes through it still go to the primary.
    ///
    /// ```no_run
    /// # async fn demo(router: &dbroute::PgRouter) -> Result<(), sqlx::Error> {
    /// let rows = sqlx::query("SELECT * FROM report").fetch_all(router.replica()).await?;
    /// # Ok(()) }
    /// ```
    pub fn replica(&self) -> GroupHandle<'_, DB> {
        GroupHandle {
            router: self,
            group: self.read_group(),
        }
    }

    /// Reloads, from the primary's catalog, the user-defined functions the database declares
    /// `VOLATILE` (PostgreSQL; other databases declare none), so that a statement calling one
    /// goes to the primary. Returns how many there are. Cached decisions are forgotten.
    ///
    /// [`connect`](Self::connect) calls it when `load_volatile_functions` is on (the default).
    /// Call it again after deploying new functions. Why on by default: a read that calls a
    /// writing function would otherwise reach a replica and fail there; a function that only
    /// reads but is left `VOLATILE` (PostgreSQL's default for new functions) costs a read on
    /// the primary, which declaring it `STABLE` fixes.
    ///
    /// ```no_run
    /// # async fn demo(router: &dbroute::PgRouter) -> Result<(), dbroute::Error> {
    /// // After a migration that added functions:
    /// let known = router.refresh_volatile_functions().await?;
    /// println!("{known} volatile functions route to the primary");
    /// # Ok(()) }
    /// ```
    pub async fn refresh_volatile_functions(&self) -> Result<usize> {
        let names = DB::volatile_functions(self.primary_pool()).await?;
        let count = names.as_ref().map_or(0, Vec::len);
        if let Some(names) = names {
            self.inner.classifier.set_volatile_functions(&names);
            tracing::info!(
                count,
                "loaded volatile functions from the primary's catalog"
            );
        }
        Ok(count)
    }

    /// Opens a transaction on the primary. Every statement in it runs on the primary.
    ///
    /// ```no_run
    /// # async fn demo(router: &dbroute::PgRouter) -> Result<(), sqlx::Error> {
    /// let mut tx = router.begin().await?;
    /// sqlx::query("UPDATE accounts SET balance = balance - 10 WHERE id = 1").execute(&mut *tx).await?;
    /// sqlx::query("UPDATE accounts SET balance = balance + 10 WHERE id = 2").execute(&mut *tx).await?;
    /// tx.commit().await?;
    /// # Ok(()) }
    /// ```
    pub async fn begin(&self) -> Result<Transaction<'static, DB>, sqlx::Error> {
        let disabled = !self.inner.enabled;
        let pool = self.engine(self.inner.default_group, disabled).pool.clone();
        match DB::BEGIN_WRITE {
            Some(statement) => pool.begin_with(statement).await,
            None => pool.begin().await,
        }
    }

    /// Opens a `READ ONLY` transaction on one replica (picked by the strategy), so that a
    /// multi-statement read sees one consistent snapshot. Writes inside it fail.
    ///
    /// ```no_run
    /// # async fn demo(router: &dbroute::PgRouter) -> Result<(), sqlx::Error> {
    /// let mut snapshot = router.begin_read_only().await?;
    /// let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders").fetch_one(&mut *snapshot).await?;
    /// let items: i64 = sqlx::query_scalar("SELECT count(*) FROM order_items").fetch_one(&mut *snapshot).await?;
    /// snapshot.commit().await?; // both counts come from the same snapshot of one replica
    /// # Ok(()) }
    /// ```
    pub async fn begin_read_only(&self) -> Result<Transaction<'static, DB>, sqlx::Error> {
        // With routing disabled, everything (this too) goes to the default group's first engine.
        let engine = match self.inner.enabled {
            true => self.engine(self.read_group(), false),
            false => self.engine(self.inner.default_group, true),
        };
        tracing::debug!(target: "dbroute::decision", engine = %engine.name, "read-only transaction");
        engine.pool.begin_with(DB::BEGIN_READ_ONLY).await
    }

    /// A new unit of work: reads go to replicas until its first write, which begins a
    /// transaction on the primary that every later statement joins. See [`Session`].
    pub fn session(&self) -> Session<DB> {
        Session::new(self.clone())
    }

    /// Where `sql` would run now, on the router itself (no session), under the current scope.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")]
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), dbroute::Error> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let router = dbroute::SqliteRouter::connect(&dbroute::RoutingConfig::sqlite(dir.path().join("app.db"))).await?;
    /// assert_eq!(router.explain("SELECT 1")?.group, "read");
    /// assert_eq!(router.explain("DELETE FROM t")?.group, "default");
    /// # Ok(()) }
    /// # #[cfg(not(feature = "sqlite"))] fn main() {}
    /// ```
    pub fn explain(&self, sql: &str) -> Result<Explanation<'_>> {
        let (group, decision) = self.decide_group(sql, None)?;
        Ok(Explanation {
            group: &self.inner.groups[group].name,
            reason: decision.reason,
            classification: decision.classification,
        })
    }

    /// Decides where `sql` runs and picks the engine, exactly as running it on the router
    /// would (so round-robin moves on): the routing hot path without the database.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")]
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), dbroute::Error> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let router = dbroute::SqliteRouter::connect_lazy(&dbroute::RoutingConfig::sqlite(dir.path().join("app.db")))?;
    /// let destination = router.route("SELECT * FROM users")?;
    /// assert_eq!((destination.group, destination.engine), ("read", "reader"));
    /// # Ok(()) }
    /// # #[cfg(not(feature = "sqlite"))] fn main() {}
    /// ```
    pub fn route(&self, sql: &str) -> Result<Destination<'_>> {
        let (group, decision) = self.decide_group(sql, None)?;
        let engine = self.engine(group, decision.reason == RouteReason::RoutingDisabled);
        Ok(Destination {
            group: &self.inner.groups[group].name,
            engine: &engine.name,
            reason: decision.reason,
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

    /// The dialect statements are classified in.
    pub fn dialect(&self) -> Dialect {
        self.inner.classifier.dialect()
    }

    /// The router's classifier (with its configured and loaded functions, and its cache).
    pub fn classifier(&self) -> &Classifier {
        &self.inner.classifier
    }

    /// Closes every pool.
    pub async fn close(&self) {
        for engine in self.inner.groups.iter().flat_map(|g| &g.engines) {
            engine.pool.close().await;
        }
    }

    fn read_group(&self) -> usize {
        self.inner.read_group.unwrap_or(self.inner.default_group)
    }

    fn find_group(&self, name: &str) -> Result<usize> {
        self.inner
            .groups
            .iter()
            .position(|g| g.name == name)
            .ok_or_else(|| Error::UnknownGroup {
                name: name.to_owned(),
                known: self.group_names().collect::<Vec<_>>().join(", "),
            })
    }

    fn resolve_scope(&self, target: Option<&ScopeTarget>) -> Result<Option<usize>> {
        Ok(match target {
            None => None,
            Some(ScopeTarget::Primary) => Some(self.inner.default_group),
            Some(ScopeTarget::Replica) => Some(self.read_group()),
            Some(ScopeTarget::Group(name)) => Some(self.find_group(name)?),
        })
    }

    /// The decision table of the module docs. `pinned` is an explicit handle's group;
    /// `session` is `None` on the router itself, else whether the session's primary
    /// transaction is open.
    pub(crate) fn decide(
        &self,
        sql: &str,
        pinned: Option<usize>,
        session: Option<SessionState>,
    ) -> Result<Decision> {
        let inner = &*self.inner;
        let classification = inner.classifier.classify(sql);
        let decision = |target, reason| Decision {
            target,
            reason,
            classification,
        };
        let default = inner.default_group;
        if !inner.enabled {
            return Ok(decision(
                Target::Group(default),
                RouteReason::RoutingDisabled,
            ));
        }
        let read = classification.is_read();
        let tx_open = session.is_some_and(|s| s.tx_open);
        // In a session, the primary means its transaction: begun for a write, joined once open.
        let primary = if session.is_some() && (!read || tx_open) {
            Target::Transaction
        } else {
            Target::Group(default)
        };
        let (chosen, why) = match pinned {
            Some(group) => (Some(group), RouteReason::ExplicitGroup),
            None => (
                with_target(|t| self.resolve_scope(t))?,
                RouteReason::ScopedGroup,
            ),
        };
        let statement = RouteReason::Statement(classification.reason());
        Ok(match (chosen, read) {
            (Some(group), false) if group != default && inner.groups[group].writable => {
                decision(Target::Group(group), why)
            }
            (_, false) => decision(primary, statement),
            (Some(group), true) if group == default => decision(primary, why),
            (Some(group), true) => decision(Target::Group(group), why),
            (None, true) if tx_open && inner.sticky_after_write => {
                decision(Target::Transaction, RouteReason::StickyAfterWrite)
            }
            (None, true) => decision(Target::Group(self.read_group()), statement),
        })
    }

    /// The decision for a statement outside any session, and its group. (Outside a session
    /// there is no transaction to join: a primary decision names the default group.)
    pub(crate) fn decide_group(
        &self,
        sql: &str,
        pinned: Option<usize>,
    ) -> Result<(usize, Decision)> {
        let decision = self.decide(sql, pinned, None)?;
        let group = match decision.target {
            Target::Group(group) => group,
            Target::Transaction => self.inner.default_group,
        };
        Ok((group, decision))
    }

    /// The engine a decision for `group` runs on.
    pub(crate) fn engine(&self, group: usize, first: bool) -> &Engine<DB> {
        let mut group = &self.inner.groups[group];
        if group.engines.is_empty() {
            // Only an empty read group gets here (validation rejects other empty groups):
            // its reads go to the default group, which always has an engine.
            group = &self.inner.groups[self.inner.default_group];
        }
        let index = if first { 0 } else { group.picker.pick() };
        group.engines.get(index).unwrap_or(&group.engines[0])
    }

    /// The pool a [`Target::Group`] decision runs on, logging the route.
    pub(crate) fn pool_for(&self, group: usize, decision: &Decision) -> &Pool<DB> {
        let engine = self.engine(group, decision.reason == RouteReason::RoutingDisabled);
        tracing::debug!(
            target: "dbroute::decision",
            engine = %engine.name,
            group = %self.inner.groups[group].name,
            reason = %decision.reason,
            "route"
        );
        &engine.pool
    }

    /// The default group's first engine: for `prepare`, `describe` and `acquire`.
    pub(crate) fn primary_pool(&self) -> &Pool<DB> {
        &self.engine(self.inner.default_group, true).pool
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

/// An executor bound to one group: see [`Router::group`]. Cheap to copy.
pub struct GroupHandle<'r, DB: Backend> {
    pub(crate) router: &'r Router<DB>,
    pub(crate) group: usize,
}

impl<DB: Backend> Clone for GroupHandle<'_, DB> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<DB: Backend> Copy for GroupHandle<'_, DB> {}

impl<DB: Backend> GroupHandle<'_, DB> {
    /// The group's name.
    pub fn name(&self) -> &str {
        &self.router.inner.groups[self.group].name
    }
}

impl<DB: Backend> fmt::Debug for GroupHandle<'_, DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupHandle")
            .field("group", &self.name())
            .finish()
    }
}
