//! `sqlx::Acquire` for `&Router`: code generic over `Acquire` (migrations, helpers taking
//! `impl Acquire`) gets the one place every statement is safe, the primary.

use std::fmt;
use std::ops::{Deref, DerefMut};

use futures_core::future::BoxFuture;
use futures_util::FutureExt;
use sqlx::pool::PoolConnection;
use sqlx::{Acquire, Error, Executor, Transaction};

use crate::backend::Backend;
use crate::router::Router;

/// A primary connection handed out by `Acquire::acquire` on `&Router`.
///
/// dbroute cannot see what runs on it, so when it is dropped the router assumes the schema
/// may have changed (this is how `sqlx::migrate!().run(&router)` works) and reloads the
/// primary's catalog before the next statement it routes, and assumes it wrote: the next read
/// in the scope that must see its writes reads the primary's position first.
pub struct PrimaryConnection<DB: Backend> {
    connection: PoolConnection<DB>,
    router: Router<DB>,
}

impl<DB: Backend> Deref for PrimaryConnection<DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        &self.connection
    }
}

impl<DB: Backend> DerefMut for PrimaryConnection<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        &mut self.connection
    }
}

impl<DB: Backend> Drop for PrimaryConnection<DB> {
    fn drop(&mut self) {
        self.router.catalog().mark_stale();
        // Whatever ran on it may have written: reads in this scope capture the position first.
        self.router.unseen_write();
    }
}

impl<DB: Backend> fmt::Debug for PrimaryConnection<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrimaryConnection")
    }
}

/// `acquire` hands out a primary connection and `begin` a sqlx transaction on the primary.
/// Both count as needing a primary connection for the self-deadlock guard. (For dbroute's own
/// transaction, with its checked commit, use [`Router::begin`].)
impl<'c, DB: Backend> Acquire<'c> for &'c Router<DB>
where
    for<'a> &'a mut DB::Connection: Executor<'a, Database = DB>,
{
    type Database = DB;
    type Connection = PrimaryConnection<DB>;

    fn acquire(self) -> BoxFuture<'c, Result<Self::Connection, Error>> {
        async move {
            self.guard().check(None)?;
            let primary = self.primary_engine();
            let connection = primary
                .pool
                .acquire()
                .await
                .inspect_err(|e| self.engine_failed(primary, e))?;
            Ok(PrimaryConnection {
                connection,
                router: self.clone(),
            })
        }
        .boxed()
    }

    fn begin(self) -> BoxFuture<'c, Result<Transaction<'c, DB>, Error>> {
        async move {
            self.guard().check(None)?;
            let pool = &self.primary_engine().pool;
            let transaction: Transaction<'c, DB> = match DB::BEGIN_WRITE {
                Some(statement) => pool.begin_with(statement).await?,
                None => pool.begin().await?,
            };
            Ok(transaction)
        }
        .boxed()
    }
}
