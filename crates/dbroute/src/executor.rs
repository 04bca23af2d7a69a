//! `sqlx::Executor` for `&Router`, [`GroupHandle`], `&Session` / `&mut Session` and
//! `&Transaction` / `&mut Transaction`: the call site is unchanged, the statement is routed.
//!
//! sqlx hands an executor a query whose SQL text can only be read by consuming it
//! (`Execute::sql(self)`), so [`Routed`] takes the query apart (arguments, cached statement,
//! persistence flag, text), the router reads the text, and the same parts are handed on to the
//! chosen pool or connection. Nothing is copied but the cached statement handle.
//!
//! Every executor goes the same way ([`Via`]): decide ([`Via::decide`]), then run on an
//! engine's pool or in a unit of work's transaction. A unit's statement is decided again under
//! the unit's lock, so the decision and the lazy `BEGIN` are one step for concurrent users.

use futures_core::future::BoxFuture;
use futures_core::stream::BoxStream;
use futures_util::{FutureExt, StreamExt, TryStreamExt};
use sqlx::database::Database;
use sqlx::error::BoxDynError;
use sqlx::pool::PoolConnection;
use sqlx::{Either, Error, Execute, Executor, SqlStr};
use std::sync::Arc;
use std::time::Instant;
use tracing::Span;

use crate::backend::Backend;
use crate::consistency::Need;
use crate::observe;
use crate::policy::{Decision, GroupId, RouteReason, SessionState, Target};
use crate::router::{Engine, GroupHandle, NoSuchGroup, PendingWrite, Router, is_connection_error};
use crate::session::{LevelId, Locked, Session, Transaction, Unit};
use crate::stats::ErrorKind;

/// A query taken apart so its SQL can be read before it is executed.
pub(crate) struct Routed<DB: Database> {
    sql: SqlStr,
    arguments: Option<Result<Option<DB::Arguments>, BoxDynError>>,
    statement: Option<DB::Statement>,
    persistent: bool,
}

impl<DB: Backend> Routed<DB> {
    /// The same query again, to run elsewhere after a failed attempt; `None` when its
    /// arguments could not be encoded (it will fail wherever it runs).
    fn try_clone(&self) -> Option<Self> {
        let arguments = match &self.arguments {
            Some(Ok(Some(arguments))) => Some(Ok(Some(DB::clone_arguments(arguments)))),
            Some(Ok(None)) | None => Some(Ok(None)),
            Some(Err(_)) => return None,
        };
        Some(Routed {
            sql: self.sql.clone(),
            arguments,
            statement: self.statement.clone(),
            persistent: self.persistent,
        })
    }
}

impl<DB: Database> Routed<DB> {
    fn new<'q, E: Execute<'q, DB>>(mut query: E) -> Self {
        let arguments = Some(query.take_arguments());
        let statement = query.statement().cloned();
        let persistent = query.persistent();
        Routed {
            sql: query.sql(),
            arguments,
            statement,
            persistent,
        }
    }

    fn text(&self) -> &str {
        self.sql.as_str()
    }
}

impl<DB: Database> Execute<'_, DB> for Routed<DB> {
    fn sql(self) -> SqlStr {
        self.sql
    }

    fn statement(&self) -> Option<&DB::Statement> {
        self.statement.as_ref()
    }

    fn take_arguments(&mut self) -> Result<Option<DB::Arguments>, BoxDynError> {
        self.arguments.take().unwrap_or(Ok(None))
    }

    fn persistent(&self) -> bool {
        self.persistent
    }
}

type Step<DB> = Either<<DB as Database>::QueryResult, <DB as Database>::Row>;

/// What a statement was run on.
pub(crate) enum Via<'c, DB: Backend> {
    /// The router, or an explicit handle's group.
    Router(&'c Router<DB>, Option<GroupId>),
    /// A session.
    Session(&'c Arc<Unit<DB>>),
    /// An explicit transaction (at this level): every statement joins it.
    Transaction(&'c Arc<Unit<DB>>, LevelId),
}

impl<DB: Backend> Clone for Via<'_, DB> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<DB: Backend> Copy for Via<'_, DB> {}

/// A decision and the session (if any) the statement runs in.
type Decided<DB> = (Decision, Option<Arc<Unit<DB>>>);

/// Where a statement runs.
enum Route<'c, DB: Backend> {
    /// An engine of this group (or the primary, for a read of a read group with no replica
    /// up), and the session the statement belongs to, if any (its writes count for
    /// read-your-writes).
    Engine(On<'c, DB>),
    Unit(Arc<Unit<DB>>),
}

/// A statement bound for an engine.
pub(crate) struct On<'c, DB: Backend> {
    router: &'c Router<DB>,
    engine: &'c Engine<DB>,
    group: GroupId,
    decision: Decision,
    /// Why it runs on `engine`: the decision's reason, unless a read that had to see earlier
    /// writes fell back to the primary.
    reason: RouteReason,
    unit: Option<Arc<Unit<DB>>>,
}

impl<'c, DB: Backend> Via<'c, DB>
where
    for<'a> &'a mut DB::Connection: Executor<'a, Database = DB>,
{
    fn router(self) -> &'c Router<DB> {
        match self {
            Via::Router(router, _) => router,
            Via::Session(unit) | Via::Transaction(unit, _) => &unit.router,
        }
    }

    /// The decision and the session (if any) the statement runs in. (Errors are boxed: the
    /// result of every statement's decision stays small.)
    fn decide(self, sql: &str) -> Result<Decided<DB>, Box<crate::Error>> {
        let unknown = |e: NoSuchGroup| Box::new(e.into_error(self.router()));
        match self {
            Via::Router(router, handle) => {
                let (decision, link) = router.decide_in_context(sql, handle).map_err(unknown)?;
                Ok((decision, link.and_then(Unit::from_link)))
            }
            Via::Session(unit) => {
                let router = &unit.router;
                let context = router.context().map_err(unknown)?;
                let state = SessionState {
                    tx_open: unit.depth() > 0,
                };
                let decision = router.decide(sql, None, Some(state), &context);
                Ok((decision, Some(Arc::clone(unit))))
            }
            Via::Transaction(unit, _) => Ok((
                Decision {
                    target: Target::Unit,
                    reason: RouteReason::Transaction,
                    classification: unit.router.classifier().classify(sql),
                    causal: false,
                },
                Some(Arc::clone(unit)),
            )),
        }
    }

    fn route(self, sql: &str) -> Result<Route<'c, DB>, Box<crate::Error>> {
        let router = self.router();
        let (decision, unit) = self.decide(sql)?;
        if decision.classification.uses_copy_protocol() {
            // The driver would fail mid-protocol and the engine be blamed (and ejected) for it.
            return Err(Box::new(crate::Error::CopyProtocol));
        }
        match decision.target {
            Target::Group(group) => {
                let engine = router.usable_engine(group, &decision)?;
                if engine.primary {
                    router.guard().check(unit.as_ref().map(|u| u.id))?;
                }
                if !decision.causal {
                    // A read at a position is logged where its engine is settled.
                    router.log_route(engine, group, &decision);
                }
                Ok(Route::Engine(On {
                    router,
                    engine,
                    group,
                    reason: decision.reason,
                    decision,
                    unit,
                }))
            }
            Target::Unit => unit.map(Route::Unit).ok_or_else(|| {
                Box::new(crate::Error::Sqlx(Error::Protocol(
                    "dbroute: a session decision without a session (this is a bug)".into(),
                )))
            }),
            Target::Refused(group) => Err(Box::new(crate::Error::WriteOutsideSession {
                group: router.group_name(group).to_owned(),
            })),
        }
    }

    /// Makes the unit's transaction ready for a statement: a session begins it on demand; a
    /// transaction handle's level must still be open.
    async fn open(self, locked: &mut Locked<'_, DB>) -> Result<(), Error> {
        match self {
            Via::Transaction(_, level) => locked.check_current(level),
            _ => locked.ensure_open().await,
        }
    }

    /// Runs one statement for its optional row.
    fn fetch_optional<'e>(self, routed: Routed<DB>) -> BoxFuture<'e, Result<Option<DB::Row>, Error>>
    where
        'c: 'e,
    {
        let router = self.router();
        if !router.catalog().is_current() {
            return async move {
                router.ensure_catalog().await;
                self.fetch_optional(routed).await
            }
            .boxed();
        }
        let span = observe::statement_span(routed.text(), router.trace_statement_text());
        match span.in_scope(|| self.route(routed.text())) {
            Err(error) => {
                span.record("error", tracing::field::display(&error));
                futures_util::future::ready(Err((*error).into())).boxed()
            }
            Ok(Route::Engine(on)) => {
                on.trace(&span);
                observe::future_in(optional_on_engine::<DB>(on, routed, span.clone()), span)
            }
            Ok(Route::Unit(unit)) => {
                let traced = span.clone();
                let statement = async move {
                    let mut locked = unit.lock().await?;
                    let (decision, _) = self.decide(routed.text())?;
                    if decision.target != Target::Unit {
                        drop(locked);
                        return self.fetch_optional(routed).await;
                    }
                    trace_unit(&traced, &unit, &decision);
                    self.open(&mut locked).await?;
                    log_unit(&unit, &decision);
                    let statement = locked.count_statement(decision.classification);
                    let started = Instant::now();
                    let result = locked.connection()?.fetch_optional(routed).await;
                    unit.served(decision.reason, &result, started);
                    trace_outcome(&traced, 1, result.as_ref().err());
                    locked.record(statement, &result);
                    result
                };
                observe::future_in(statement, span)
            }
        }
    }

    /// Runs one statement for all its results.
    fn fetch_many<'e>(self, routed: Routed<DB>) -> BoxStream<'e, Result<Step<DB>, Error>>
    where
        'c: 'e,
    {
        let router = self.router();
        if !router.catalog().is_current() {
            return Box::pin(sqlx_core::try_stream! {
                router.ensure_catalog().await;
                let mut steps = self.fetch_many(routed);
                while let Some(step) = steps.try_next().await? {
                    r#yield!(step);
                }
                Ok(())
            });
        }
        let span = observe::statement_span(routed.text(), router.trace_statement_text());
        match span.in_scope(|| self.route(routed.text())) {
            Err(error) => {
                span.record("error", tracing::field::display(&error));
                futures_util::stream::once(async move { Err((*error).into()) }).boxed()
            }
            Ok(Route::Engine(on)) => {
                on.trace(&span);
                observe::stream_in(many_on_engine::<DB>(on, routed, span.clone()), span)
            }
            Ok(Route::Unit(unit)) => {
                observe::stream_in(self.many_in_unit(unit, routed, span.clone()), span)
            }
        }
    }

    /// Runs one statement in `unit` for all its results (see [`fetch_many`](Self::fetch_many)).
    fn many_in_unit<'e>(
        self,
        unit: Arc<Unit<DB>>,
        routed: Routed<DB>,
        span: Span,
    ) -> BoxStream<'e, Result<Step<DB>, Error>>
    where
        'c: 'e,
    {
        Box::pin(sqlx_core::try_stream! {
                let mut locked = unit.lock().await?;
                let (decision, _) = self.decide(routed.text())?;
                if decision.target != Target::Unit {
                    drop(locked);
                    let mut steps = self.fetch_many(routed);
                    while let Some(step) = steps.try_next().await? {
                        r#yield!(step);
                    }
                    return Ok(());
                }
                trace_unit(&span, &unit, &decision);
                self.open(&mut locked).await?;
                log_unit(&unit, &decision);
                let statement = locked.count_statement(decision.classification);
                let started = Instant::now();
                let mut outcome = Ok(());
                {
                    let mut steps = locked.connection()?.fetch_many(routed);
                    while let Some(step) = steps.next().await {
                        match step {
                            Ok(step) => r#yield!(step),
                            Err(error) => {
                                outcome = Err(error);
                                break;
                            }
                        }
                    }
                }
                unit.served(decision.reason, &outcome, started);
                trace_outcome(&span, 1, outcome.as_ref().err());
                locked.record(statement, &outcome);
                outcome
        })
    }

    /// Prepares where the statement would run: a unit's open transaction sees the tables it
    /// created and never waits on its own locks.
    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [DB::TypeInfo],
    ) -> BoxFuture<'e, Result<DB::Statement, Error>>
    where
        'c: 'e,
    {
        async move {
            match self.route(sql.as_str())? {
                Route::Engine(on) => on.engine.pool.prepare_with(sql, parameters).await,
                Route::Unit(unit) => {
                    let mut locked = unit.lock().await?;
                    if locked.in_transaction() {
                        return locked.connection()?.prepare_with(sql, parameters).await;
                    }
                    drop(locked);
                    let primary = &self.router().primary_engine().pool;
                    primary.prepare_with(sql, parameters).await
                }
            }
        }
        .boxed()
    }

    /// Describes where the statement would run (see [`prepare_with`](Self::prepare_with)).
    fn describe<'e>(
        self,
        sql: SqlStr,
    ) -> BoxFuture<'e, Result<sqlx_core::describe::Describe<DB>, Error>>
    where
        'c: 'e,
    {
        async move {
            match self.route(sql.as_str())? {
                Route::Engine(on) => on.engine.pool.describe(sql).await,
                Route::Unit(unit) => {
                    let mut locked = unit.lock().await?;
                    if locked.in_transaction() {
                        return locked.connection()?.describe(sql).await;
                    }
                    drop(locked);
                    self.router().primary_engine().pool.describe(sql).await
                }
            }
        }
        .boxed()
    }
}

/// Runs one statement on `on.engine` for its optional row: counted in flight, failures
/// reported (see [`Router::engine_failed`]). A read on a replica that fails at the connection
/// level is run again on the next engine ([`Router::failover`]) with the same arguments: they
/// are cloned before each attempt, since an attempt consumes them. A read that must see the
/// scope's writes waits for a replica that has them ([`On::connection`]); a write's position is
/// captured on its connection once it returns. Schema changes reload the catalog when the
/// statement returns.
async fn optional_on_engine<DB: Backend>(
    mut on: On<'_, DB>,
    mut routed: Routed<DB>,
    span: Span,
) -> Result<Option<DB::Row>, Error>
where
    for<'a> &'a mut DB::Connection: Executor<'a, Database = DB>,
{
    let router = on.router;
    let retry = retryable(&on);
    let mut pending = captures::<DB>(&on).then(|| router.pending_write(None));
    let mut tried = 0;
    let result = loop {
        let spare = if retry { routed.try_clone() } else { None };
        let outcome = {
            let connection = on.connection().await;
            let _in_flight = on.engine.health.in_flight();
            match connection {
                Ok(mut connection) => {
                    on.engine.stats.served(on.reason);
                    let started = Instant::now();
                    let row = connection.fetch_optional(routed).await;
                    on.engine.stats.statement_took(started.elapsed());
                    if let Some(pending) = pending.take() {
                        settle_write::<DB>(router, &mut connection, pending, row.as_ref().err())
                            .await;
                    }
                    row
                }
                Err(error) => {
                    // Nothing was sent.
                    if let Some(pending) = pending.take() {
                        pending.nothing_written();
                    }
                    Err(error)
                }
            }
        };
        let error = match outcome {
            Ok(row) => {
                on.finished(&span, tried + 1, None);
                break Ok(row);
            }
            Err(error) => error,
        };
        on.failed(&error);
        tried += 1;
        match next_attempt(router, on.engine, on.group, &error, spare, tried) {
            Some((next, again)) => (on.engine, routed) = (next, again),
            None => {
                on.finished(&span, tried, Some(&error));
                break Err(error);
            }
        }
    };
    if on.decision.classification.changes_schema() {
        reload_catalog::<DB>(router).await;
    }
    result
}

/// Runs one statement on `on.engine` for all its results, as [`optional_on_engine`] does; a
/// read is run again elsewhere only while it has yielded nothing.
fn many_on_engine<'e, DB: Backend>(
    on: On<'e, DB>,
    routed: Routed<DB>,
    span: Span,
) -> BoxStream<'e, Result<Step<DB>, Error>>
where
    for<'a> &'a mut DB::Connection: Executor<'a, Database = DB>,
{
    Box::pin(sqlx_core::try_stream! {
        let router = on.router;
        let retry = retryable(&on);
        let mut pending = captures::<DB>(&on).then(|| router.pending_write(None));
        let (mut on, mut routed, mut tried) = (on, routed, 0);
        let outcome = loop {
            let spare = if retry { routed.try_clone() } else { None };
            let (yielded, failure) = {
                let connection = on.connection().await;
                let _in_flight = on.engine.health.in_flight();
                let (mut yielded, mut failure) = (false, None);
                match connection {
                    Ok(mut connection) => {
                        on.engine.stats.served(on.reason);
                        let started = Instant::now();
                        {
                            let mut steps = connection.fetch_many(routed);
                            while let Some(step) = steps.next().await {
                                match step {
                                    Ok(step) => {
                                        yielded = true;
                                        r#yield!(step);
                                    }
                                    Err(error) => {
                                        failure = Some(error);
                                        break;
                                    }
                                }
                            }
                        }
                        on.engine.stats.statement_took(started.elapsed());
                        if let Some(pending) = pending.take() {
                            settle_write::<DB>(router, &mut connection, pending, failure.as_ref())
                                .await;
                        }
                    }
                    Err(error) => {
                        if let Some(pending) = pending.take() {
                            pending.nothing_written();
                        }
                        failure = Some(error);
                    }
                }
                (yielded, failure)
            };
            let Some(error) = failure else {
                on.finished(&span, tried + 1, None);
                break Ok(());
            };
            on.failed(&error);
            tried += 1;
            let spare = spare.filter(|_| !yielded);
            match next_attempt(router, on.engine, on.group, &error, spare, tried) {
                Some((next, again)) => (on.engine, routed) = (next, again),
                None => {
                    on.finished(&span, tried, Some(&error));
                    break Err(error);
                }
            }
        };
        if on.decision.classification.changes_schema() {
            reload_catalog::<DB>(router).await;
        }
        outcome
    })
}

impl<DB: Backend> On<'_, DB>
where
    for<'a> &'a mut DB::Connection: Executor<'a, Database = DB>,
{
    /// A connection for the next attempt: for a read that must see the scope's writes, on a
    /// replica that has them (or the primary, which then becomes the engine); else on the
    /// engine.
    async fn connection(&mut self) -> Result<PoolConnection<DB>, Error> {
        if !(self.decision.causal && DB::HAS_POSITIONS) {
            return self.router.connection(self.engine).await;
        }
        let unit = self.unit.as_deref().map(|u| &*u.record);
        let need = self.router.need(unit);
        if need == Need::Nothing {
            return self.router.connection(self.engine).await;
        }
        // Boxed: the check's future is large, and held inline it would be copied into every
        // statement's future, checked or not.
        let (engine, connection) =
            Box::pin(
                self.router
                    .connection_at(self.engine, self.group, need, unit),
            )
            .await;
        if engine.primary && !self.engine.primary {
            self.reason = RouteReason::ReplicaNotCaughtUp;
        }
        self.engine = engine;
        connection
    }

    /// The attempt failed on its engine: counted, and reported (see [`Router::engine_failed`]).
    fn failed(&self, error: &Error) {
        self.engine.stats.failed(error);
        self.router.engine_failed(self.engine, error);
    }

    /// Records where the statement is bound, in its span (when enabled).
    fn trace(&self, span: &Span) {
        if span.is_disabled() {
            return;
        }
        span.record("group", self.router.group_name(self.group));
        span.record("role", self.router.role(self.group, self.engine));
        span.record("engine", self.engine.name.as_str());
        span.record("reason", self.reason.as_str());
        span.record("causal", self.decision.causal);
        if let Some(unit) = &self.unit {
            span.record("unit", unit.label().as_str());
        }
    }

    /// Records where the statement ended (a failover or a fallback to the primary moves it),
    /// after `attempts`, and its error.
    fn finished(&self, span: &Span, attempts: usize, error: Option<&Error>) {
        if span.is_disabled() {
            return;
        }
        span.record("engine", self.engine.name.as_str());
        span.record("role", self.router.role(self.group, self.engine));
        span.record("reason", self.reason.as_str());
        trace_outcome(span, attempts, error);
    }
}

/// After a write returned on `connection`: its position is captured when it succeeded; an SQL
/// error rolled the statement back, so there is nothing to wait for; after any other failure
/// (the connection broke) whether it committed is unknown, and `pending` notes so.
async fn settle_write<DB: Backend>(
    router: &Router<DB>,
    connection: &mut DB::Connection,
    pending: PendingWrite,
    failure: Option<&Error>,
) where
    for<'a> &'a mut DB::Connection: Executor<'a, Database = DB>,
{
    match failure {
        None => router.capture_after_write(connection, pending).await,
        Some(Error::Database(_)) => pending.nothing_written(),
        Some(_) => drop(pending),
    }
}

/// Whether a statement's position must be captured when it returns: a write on the primary,
/// outside any unit (a unit captures at its commit), in a scope that tracks writes.
fn captures<DB: Backend>(on: &On<'_, DB>) -> bool
where
    for<'a> &'a mut DB::Connection: Executor<'a, Database = DB>,
{
    !on.decision.classification.is_read() && on.engine.primary && on.router.tracks_writes()
}

/// Whether a failed attempt may be run again elsewhere: an autocommit read on a replica.
fn retryable<DB: Backend>(on: &On<'_, DB>) -> bool {
    on.decision.classification.is_read() && !on.engine.primary
}

/// The next engine and the query to run there, after `failed` failed with `error`: only for
/// connection-level failures of retryable reads (`spare` holds the query again).
fn next_attempt<'r, DB: Backend>(
    router: &'r Router<DB>,
    failed: &Engine<DB>,
    group: GroupId,
    error: &Error,
    spare: Option<Routed<DB>>,
    tried: usize,
) -> Option<(&'r Engine<DB>, Routed<DB>)> {
    if !is_connection_error(error) {
        return None;
    }
    let spare = spare?;
    let next = router.failover(group, failed, tried)?;
    tracing::debug!(
        target: "dbroute::decision",
        failed = %failed.name,
        engine = %next.name,
        "read failed over"
    );
    Some((next, spare))
}

/// After a schema change: the catalog is stale; reload it now.
async fn reload_catalog<DB: Backend>(router: &Router<DB>)
where
    for<'a> &'a mut DB::Connection: Executor<'a, Database = DB>,
{
    router.catalog().mark_stale();
    router.ensure_catalog().await;
}

/// Records a statement of `unit`, in its span (when enabled).
fn trace_unit<DB: Backend>(span: &Span, unit: &Unit<DB>, decision: &Decision) {
    if span.is_disabled() {
        return;
    }
    span.record("engine", unit.engine_name());
    span.record("unit", unit.label().as_str());
    span.record("in_transaction", unit.depth() > 0);
    span.record("reason", decision.reason.as_str());
}

/// Records how many attempts a statement took and the kind of its error, if any.
fn trace_outcome(span: &Span, attempts: usize, error: Option<&Error>) {
    span.record("attempts", attempts);
    if let Some(error) = error {
        span.record("error", ErrorKind::of(error).as_str());
    }
}

fn log_unit<DB: Backend>(unit: &Unit<DB>, decision: &Decision) {
    tracing::debug!(
        target: "dbroute::decision",
        engine = %unit.engine_name(),
        unit = %unit.label(),
        reason = %decision.reason,
        "route"
    );
}

macro_rules! routed_executor {
    ($ty:ty, $via:expr) => {
        impl<'c, DB: Backend> Executor<'c> for $ty
        where
            for<'a> &'a mut DB::Connection: Executor<'a, Database = DB>,
        {
            type Database = DB;

            fn fetch_many<'e, 'q: 'e, E>(self, query: E) -> BoxStream<'e, Result<Step<DB>, Error>>
            where
                'c: 'e,
                E: 'q + Execute<'q, DB>,
            {
                $via(self).fetch_many(Routed::new(query))
            }

            fn fetch_optional<'e, 'q: 'e, E>(
                self,
                query: E,
            ) -> BoxFuture<'e, Result<Option<DB::Row>, Error>>
            where
                'c: 'e,
                E: 'q + Execute<'q, DB>,
            {
                $via(self).fetch_optional(Routed::new(query))
            }

            fn prepare_with<'e>(
                self,
                sql: SqlStr,
                parameters: &'e [DB::TypeInfo],
            ) -> BoxFuture<'e, Result<DB::Statement, Error>>
            where
                'c: 'e,
            {
                $via(self).prepare_with(sql, parameters)
            }

            #[doc(hidden)]
            fn describe<'e>(
                self,
                sql: SqlStr,
            ) -> BoxFuture<'e, Result<sqlx_core::describe::Describe<DB>, Error>>
            where
                'c: 'e,
            {
                $via(self).describe(sql)
            }
        }
    };
}

routed_executor!(&'c Router<DB>, |router: &'c Router<DB>| Via::Router(
    router, None
));
routed_executor!(GroupHandle<'c, DB>, |handle: GroupHandle<'c, DB>| {
    Via::Router(handle.router, Some(handle.group))
});
routed_executor!(&'c Session<DB>, |session: &'c Session<DB>| Via::Session(
    session.unit()
));
routed_executor!(&'c mut Session<DB>, |session: &'c mut Session<DB>| {
    let session: &'c Session<DB> = session;
    Via::Session(session.unit())
});
routed_executor!(&'c Transaction<DB>, |tx: &'c Transaction<DB>| {
    Via::Transaction(tx.unit(), tx.level())
});
routed_executor!(&'c mut Transaction<DB>, |tx: &'c mut Transaction<DB>| {
    let tx: &'c Transaction<DB> = tx;
    Via::Transaction(tx.unit(), tx.level())
});
