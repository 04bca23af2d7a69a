//! `sqlx::Executor` for `&Router`, [`GroupHandle`] and `&mut Session`, and `Acquire` for
//! `&Router`: the call site is unchanged, the statement is routed.
//!
//! sqlx hands an executor a query whose SQL text can only be read by consuming it
//! (`Execute::sql(self)`), so [`Routed`] takes the query apart (arguments, cached statement,
//! persistence flag, text), the router reads the text, and the same parts are handed on to the
//! chosen pool or connection. Nothing is copied but the cached statement handle.

use futures_core::future::BoxFuture;
use futures_core::stream::BoxStream;
use futures_util::{FutureExt, StreamExt, TryFutureExt};
use sqlx::database::Database;
use sqlx::error::BoxDynError;
use sqlx::pool::PoolConnection;
use sqlx::{Acquire, Either, Error, Execute, Executor, Pool, SqlStr, Transaction};

use crate::backend::Backend;
use crate::router::{Decision, GroupHandle, Router, Target};
use crate::session::Session;

/// A query taken apart so its SQL can be read before it is executed.
pub(crate) struct Routed<DB: Database> {
    sql: SqlStr,
    arguments: Option<Result<Option<DB::Arguments>, BoxDynError>>,
    statement: Option<DB::Statement>,
    persistent: bool,
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

fn error_stream<'e, T: Send + 'e>(error: crate::Error) -> BoxStream<'e, Result<T, Error>> {
    futures_util::stream::once(async move { Err(error.into()) }).boxed()
}

/// The pool for a statement on the router or a handle (never a session transaction).
fn pool_of<'r, DB: Backend>(
    router: &'r Router<DB>,
    sql: &str,
    pinned: Option<usize>,
) -> crate::Result<&'r Pool<DB>> {
    let (group, decision) = router.decide_group(sql, pinned)?;
    Ok(router.pool_for(group, &decision))
}

macro_rules! routed_executor {
    ($ty:ty, $router:expr, $pinned:expr) => {
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
                let routed = Routed::new(query);
                let (router, pinned) = ($router(self), $pinned(self));
                match pool_of(router, routed.text(), pinned) {
                    Ok(pool) => pool.fetch_many(routed),
                    Err(error) => error_stream(error),
                }
            }

            fn fetch_optional<'e, 'q: 'e, E>(
                self,
                query: E,
            ) -> BoxFuture<'e, Result<Option<DB::Row>, Error>>
            where
                'c: 'e,
                E: 'q + Execute<'q, DB>,
            {
                let routed = Routed::new(query);
                let (router, pinned) = ($router(self), $pinned(self));
                match pool_of(router, routed.text(), pinned) {
                    Ok(pool) => pool.fetch_optional(routed),
                    Err(error) => futures_util::future::ready(Err(error.into())).boxed(),
                }
            }

            fn prepare_with<'e>(
                self,
                sql: SqlStr,
                parameters: &'e [DB::TypeInfo],
            ) -> BoxFuture<'e, Result<DB::Statement, Error>>
            where
                'c: 'e,
            {
                $router(self).primary_pool().prepare_with(sql, parameters)
            }

            #[doc(hidden)]
            fn describe<'e>(
                self,
                sql: SqlStr,
            ) -> BoxFuture<'e, Result<sqlx_core::describe::Describe<DB>, Error>>
            where
                'c: 'e,
            {
                $router(self).primary_pool().describe(sql)
            }
        }
    };
}

routed_executor!(&'c Router<DB>, |r: &'c Router<DB>| r, |_| None);
routed_executor!(
    GroupHandle<'c, DB>,
    |h: GroupHandle<'c, DB>| h.router,
    |h: GroupHandle<'c, DB>| Some(h.group)
);

/// Where a session's statement runs: a pool, or the session's own primary transaction.
enum SessionRoute<'c, DB: Backend> {
    Pool(&'c Pool<DB>),
    Transaction(&'c mut Session<DB>, Decision),
}

fn route_session<'c, DB: Backend>(
    session: &'c mut Session<DB>,
    sql: &str,
) -> crate::Result<SessionRoute<'c, DB>> {
    let decision = session.decide(sql)?;
    Ok(match decision.target {
        Target::Group(group) => {
            let session: &'c Session<DB> = session;
            SessionRoute::Pool(session.router().pool_for(group, &decision))
        }
        Target::Transaction => SessionRoute::Transaction(session, decision),
    })
}

impl<'c, DB: Backend> Executor<'c> for &'c mut Session<DB>
where
    for<'a> &'a mut DB::Connection: Executor<'a, Database = DB>,
{
    type Database = DB;

    fn fetch_many<'e, 'q: 'e, E>(self, query: E) -> BoxStream<'e, Result<Step<DB>, Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, DB>,
    {
        let routed = Routed::new(query);
        match route_session(self, routed.text()) {
            Err(error) => error_stream(error),
            Ok(SessionRoute::Pool(pool)) => pool.fetch_many(routed),
            Ok(SessionRoute::Transaction(session, decision)) => async move {
                let conn = session.transaction(&decision).await?;
                Ok::<_, Error>(conn.fetch_many(routed))
            }
            .try_flatten_stream()
            .boxed(),
        }
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<DB::Row>, Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, DB>,
    {
        let routed = Routed::new(query);
        match route_session(self, routed.text()) {
            Err(error) => futures_util::future::ready(Err(error.into())).boxed(),
            Ok(SessionRoute::Pool(pool)) => pool.fetch_optional(routed),
            Ok(SessionRoute::Transaction(session, decision)) => async move {
                let conn = session.transaction(&decision).await?;
                conn.fetch_optional(routed).await
            }
            .boxed(),
        }
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [DB::TypeInfo],
    ) -> BoxFuture<'e, Result<DB::Statement, Error>>
    where
        'c: 'e,
    {
        let session: &'c Session<DB> = self;
        session
            .router()
            .primary_pool()
            .prepare_with(sql, parameters)
    }

    #[doc(hidden)]
    fn describe<'e>(
        self,
        sql: SqlStr,
    ) -> BoxFuture<'e, Result<sqlx_core::describe::Describe<DB>, Error>>
    where
        'c: 'e,
    {
        let session: &'c Session<DB> = self;
        session.router().primary_pool().describe(sql)
    }
}

/// `acquire` hands out a primary connection and `begin` a primary transaction: code generic
/// over `Acquire` gets the one place every statement is safe.
impl<'c, DB: Backend> Acquire<'c> for &'c Router<DB>
where
    for<'a> &'a mut DB::Connection: Executor<'a, Database = DB>,
{
    type Database = DB;
    type Connection = PoolConnection<DB>;

    fn acquire(self) -> BoxFuture<'c, Result<Self::Connection, Error>> {
        self.primary_pool().acquire().boxed()
    }

    fn begin(self) -> BoxFuture<'c, Result<Transaction<'c, DB>, Error>> {
        async move {
            let transaction: Transaction<'c, DB> = Router::begin(self).await?;
            Ok(transaction)
        }
        .boxed()
    }
}
