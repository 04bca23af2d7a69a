//! `TransactionTrait` and `TransactionSession`: SeaORM's transactions are dbroute's, so the
//! router sees their commit (read-your-writes captures the position there) and nested ones are
//! savepoints.

use std::fmt::{Debug, Display};
use std::future::Future;
use std::pin::Pin;

use sea_orm::{
    AccessMode, ConnectionTrait, DbBackend, DbErr, IsolationLevel, TransactionError,
    TransactionOptions, TransactionSession, TransactionTrait,
};

use crate::connection::{conn_err, query_err};
use crate::{SeaRouter, SeaSession, SeaTransaction};

/// Runs `callback` in `txn`: commit on `Ok`, roll back on `Err` (as SeaORM's own
/// `transaction` does).
async fn run<Tx, F, T, E>(txn: Tx, callback: F) -> Result<T, TransactionError<E>>
where
    Tx: TransactionSession + Send + Sync,
    F: for<'c> FnOnce(&'c Tx) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>> + Send,
    T: Send,
    E: Display + Debug + Send,
{
    let outcome = callback(&txn).await;
    match outcome {
        Ok(value) => {
            txn.commit().await.map_err(TransactionError::Connection)?;
            Ok(value)
        }
        Err(error) => {
            txn.rollback().await.map_err(TransactionError::Connection)?;
            Err(TransactionError::Transaction(error))
        }
    }
}

/// The `SET TRANSACTION` that gives a just-begun transaction of `depth` the options that its
/// `BEGIN` did not already give; an error for a savepoint (whose transaction's settings are
/// fixed) or for what the database cannot do.
fn settings(
    backend: DbBackend,
    depth: usize,
    isolation: Option<IsolationLevel>,
    access: Option<AccessMode>,
) -> Result<Option<String>, DbErr> {
    let mut clauses = Vec::new();
    if let Some(level) = isolation {
        clauses.push(format!("ISOLATION LEVEL {level}"));
    }
    if let Some(mode) = access {
        clauses.push(mode.to_string());
    }
    if clauses.is_empty() {
        return Ok(None);
    }
    if depth > 1 {
        return Err(DbErr::Custom(format!(
            "dbroute: {} applies to a whole transaction, not to a savepoint inside one; \
             set it where the outermost transaction begins",
            clauses.join(", ")
        )));
    }
    match backend {
        DbBackend::Postgres => Ok(Some(format!("SET TRANSACTION {}", clauses.join(", ")))),
        // SQLite's transactions are serializable whatever is asked; there is no `SET
        // TRANSACTION`, and a read-only one is begun on the router (its reader).
        DbBackend::Sqlite if access == Some(AccessMode::ReadOnly) => Err(DbErr::Custom(
            "dbroute: on SQLite a read-only transaction is begun from the router \
             (SeaRouter::begin_with_config), which opens it on the reader; not inside a \
             session or transaction"
                .into(),
        )),
        _ => Ok(None),
    }
}

/// `TransactionTrait` for `$ty` over `$db`: `$begin(self)` begins a read-write dbroute
/// transaction; `$read_only(self)`, when given, a read-only one where reads go.
macro_rules! transactions {
    ($ty:ty, $db:ty, |$this:ident| $begin:expr, $read_only:expr) => {
        #[async_trait::async_trait]
        impl TransactionTrait for $ty {
            type Transaction = SeaTransaction<$db>;

            async fn begin(&self) -> Result<SeaTransaction<$db>, DbErr> {
                let $this = self;
                Ok(SeaTransaction::from($begin.await.map_err(conn_err)?))
            }

            async fn begin_with_config(
                &self,
                isolation: Option<IsolationLevel>,
                access: Option<AccessMode>,
            ) -> Result<SeaTransaction<$db>, DbErr> {
                let $this = self;
                let read_only: Option<_> = $read_only;
                let (txn, access) = match (access, read_only) {
                    (Some(AccessMode::ReadOnly), Some(read_only)) => (read_only.await, None),
                    _ => ($begin.await, access),
                };
                let txn = SeaTransaction::from(txn.map_err(conn_err)?);
                let backend = txn.get_database_backend();
                if let Some(set) = settings(backend, txn.transaction.depth(), isolation, access)? {
                    txn.execute_unprepared(&set).await?;
                }
                Ok(txn)
            }

            async fn begin_with_options(
                &self,
                options: TransactionOptions,
            ) -> Result<SeaTransaction<$db>, DbErr> {
                // SQLite's transaction mode: the writer pool has one connection, in WAL mode,
                // so every transaction on it already excludes other writers, which is what
                // IMMEDIATE and EXCLUSIVE ask for.
                self.begin_with_config(options.isolation_level, options.access_mode)
                    .await
            }

            async fn transaction<F, T, E>(&self, callback: F) -> Result<T, TransactionError<E>>
            where
                F: for<'c> FnOnce(
                        &'c SeaTransaction<$db>,
                    )
                        -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
                    + Send,
                T: Send,
                E: Display + Debug + Send,
            {
                let txn = self.begin().await.map_err(TransactionError::Connection)?;
                run(txn, callback).await
            }

            async fn transaction_with_config<F, T, E>(
                &self,
                callback: F,
                isolation: Option<IsolationLevel>,
                access: Option<AccessMode>,
            ) -> Result<T, TransactionError<E>>
            where
                F: for<'c> FnOnce(
                        &'c SeaTransaction<$db>,
                    )
                        -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
                    + Send,
                T: Send,
                E: Display + Debug + Send,
            {
                let txn = self
                    .begin_with_config(isolation, access)
                    .await
                    .map_err(TransactionError::Connection)?;
                run(txn, callback).await
            }
        }
    };
}

/// Every transaction type over `$db`.
macro_rules! transaction_types {
    ($db:ty) => {
        transactions!(
            SeaRouter<$db>,
            $db,
            |this| this.router.begin(),
            Some(this.router.begin_read_only())
        );
        transactions!(
            SeaSession<$db>,
            $db,
            |this| this.session.begin(),
            None::<std::future::Ready<_>>
        );
        transactions!(
            SeaTransaction<$db>,
            $db,
            |this| this.transaction.begin(),
            None::<std::future::Ready<_>>
        );

        #[async_trait::async_trait]
        impl TransactionSession for SeaTransaction<$db> {
            async fn commit(self) -> Result<(), DbErr> {
                self.transaction.commit().await.map_err(query_err)
            }

            async fn rollback(self) -> Result<(), DbErr> {
                self.transaction.rollback().await.map_err(query_err)
            }
        }
    };
}

#[cfg(feature = "postgres")]
transaction_types!(sqlx::Postgres);

#[cfg(feature = "sqlite")]
transaction_types!(sqlx::Sqlite);
