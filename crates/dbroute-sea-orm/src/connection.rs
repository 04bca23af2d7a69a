//! `ConnectionTrait` and `StreamTrait`: SeaORM's statements, bound with sea-query's sqlx
//! values, run through the router's sqlx executors, which route them by text; the driver's rows
//! and results come back as SeaORM's.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use sea_orm::sea_query::Values;
use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr, Statement, StreamTrait,
};
use sea_query_sqlx::SqlxValues;

use crate::{SeaRouter, SeaSession, SeaTransaction};

/// A statement that failed to execute.
pub(crate) fn exec_err(error: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(Arc::new(error)))
}

/// A query that failed.
pub(crate) fn query_err(error: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(Arc::new(error)))
}

/// Beginning, committing or rolling back failed.
pub(crate) fn conn_err(error: sqlx::Error) -> DbErr {
    DbErr::Conn(RuntimeErr::SqlxError(Arc::new(error)))
}

/// The sqlx query of a SeaORM statement: its text (which the router reads) and its values.
fn values(statement: Statement) -> (sqlx::AssertSqlSafe<String>, SqlxValues) {
    let values = statement.values.unwrap_or(Values(Vec::new()));
    (sqlx::AssertSqlSafe(statement.sql), SqlxValues(values))
}

/// `ConnectionTrait` and `StreamTrait` for `$ty` over database `$db`: `$executor(self)` is the
/// sqlx executor the statements run on.
macro_rules! connection {
    ($ty:ty, $db:ty, $backend:expr, |$this:ident| $executor:expr) => {
        #[async_trait::async_trait]
        impl ConnectionTrait for $ty {
            fn get_database_backend(&self) -> DbBackend {
                $backend
            }

            async fn execute_raw(&self, statement: Statement) -> Result<ExecResult, DbErr> {
                let $this = self;
                let (sql, values) = values(statement);
                let done = sqlx::query_with::<$db, _>(sql, values)
                    .execute($executor)
                    .await
                    .map_err(exec_err)?;
                Ok(done.into())
            }

            async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
                let $this = self;
                let sql = sqlx::AssertSqlSafe(sql.to_owned());
                let done = sqlx::raw_sql(sql)
                    .execute($executor)
                    .await
                    .map_err(exec_err)?;
                Ok(done.into())
            }

            async fn query_one_raw(
                &self,
                statement: Statement,
            ) -> Result<Option<QueryResult>, DbErr> {
                let $this = self;
                let (sql, values) = values(statement);
                let row = sqlx::query_with::<$db, _>(sql, values)
                    .fetch_optional($executor)
                    .await
                    .map_err(query_err)?;
                Ok(row.map(QueryResult::from))
            }

            async fn query_all_raw(&self, statement: Statement) -> Result<Vec<QueryResult>, DbErr> {
                let $this = self;
                let (sql, values) = values(statement);
                let rows = sqlx::query_with::<$db, _>(sql, values)
                    .fetch_all($executor)
                    .await
                    .map_err(query_err)?;
                Ok(rows.into_iter().map(QueryResult::from).collect())
            }
        }

        impl StreamTrait for $ty {
            type Stream<'a> = BoxStream<'a, Result<QueryResult, DbErr>>;

            fn get_database_backend(&self) -> DbBackend {
                $backend
            }

            fn stream_raw<'a>(
                &'a self,
                statement: Statement,
            ) -> Pin<Box<dyn Future<Output = Result<Self::Stream<'a>, DbErr>> + 'a + Send>> {
                let $this = self;
                let (sql, values) = values(statement);
                let rows = sqlx::query_with::<$db, _>(sql, values).fetch($executor);
                let rows = rows.map(|row| row.map(QueryResult::from).map_err(query_err));
                Box::pin(std::future::ready(Ok(rows.boxed())))
            }
        }
    };
}

/// The three connection types over database `$db`.
macro_rules! connections {
    ($db:ty, $backend:expr) => {
        connection!(SeaRouter<$db>, $db, $backend, |this| &this.router);
        connection!(SeaSession<$db>, $db, $backend, |this| &this.session);
        connection!(SeaTransaction<$db>, $db, $backend, |this| &this.transaction);
    };
}

#[cfg(feature = "postgres")]
connections!(sqlx::Postgres, DbBackend::Postgres);

#[cfg(feature = "sqlite")]
connections!(sqlx::Sqlite, DbBackend::Sqlite);
