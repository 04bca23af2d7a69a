//! # dbroute-sea-orm
//!
//! [SeaORM](https://www.sea-ql.org/SeaORM/) on a dbroute router: [`SeaRouter`],
//! [`SeaSession`] and [`SeaTransaction`] are SeaORM connections (`ConnectionTrait`,
//! `StreamTrait`, `TransactionTrait`), so unchanged SeaORM code routes by SQL text, the way
//! every sqlx statement through the router does: `Entity::find().all(&db)` on a replica,
//! `ActiveModel::insert(&db)` (an `INSERT ... RETURNING`, which SeaORM sends as a query) on the
//! primary, `db.transaction(..)` in one primary transaction, `find().stream(&db)` on a replica.
//!
//! ```no_run
//! use dbroute::{PgRouter, RoutingConfig};
//! use dbroute_sea_orm::SeaRouter;
//! use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = RoutingConfig::builder()
//!     .primary("postgres://app@primary/shop")
//!     .replica("postgres://app@replica1/shop")
//!     .build()?;
//! let db = SeaRouter::new(PgRouter::connect(&config).await?);
//!
//! // Any SeaORM API takes `&db`: `Entity::find().all(&db)`, `model.insert(&db)`, ...
//! let backend = db.get_database_backend();
//! db.execute_raw(Statement::from_string(backend, "UPDATE accounts SET n = n + 1")).await?;
//!
//! let txn = db.begin().await?; // the primary; nested `begin` is a savepoint
//! txn.execute_unprepared("UPDATE accounts SET n = 0").await?;
//! sea_orm::TransactionSession::commit(txn).await?;
//! # Ok(()) }
//! ```
//!
//! Why wrappers rather than `&PgRouter` itself: the router's own `begin`, `commit` and
//! `rollback` return sqlx errors, and as inherent methods they would shadow SeaORM's
//! (`db.begin().await?` in a function returning `DbErr` would not compile). A `SeaRouter`
//! shares the router's pools, scopes and health: build one from the router, clone it freely.

mod connection;
mod repository;
mod transaction;

pub use repository::{Connection, Filter, Repository, RepositoryError};

use std::fmt;

use dbroute::{Backend, Router, Session, Transaction};

/// A dbroute [`Router`] as a SeaORM connection. Cheap to clone (it is the router's handle).
pub struct SeaRouter<DB: Backend> {
    router: Router<DB>,
}

/// A [`SeaRouter`] over PostgreSQL.
#[cfg(feature = "postgres")]
pub type PgSeaRouter = SeaRouter<sqlx::Postgres>;

/// A [`SeaRouter`] over the embedded SQLite default.
#[cfg(feature = "sqlite")]
pub type SqliteSeaRouter = SeaRouter<sqlx::Sqlite>;

impl<DB: Backend> SeaRouter<DB> {
    /// `router`, for SeaORM.
    pub fn new(router: Router<DB>) -> Self {
        SeaRouter { router }
    }

    /// The router, for sqlx statements, scopes, health and figures.
    pub fn router(&self) -> &Router<DB> {
        &self.router
    }

    /// A unit of work ([`dbroute::Session`]) as a SeaORM connection: reads on replicas until
    /// its first write, which begins a primary transaction that later statements join.
    pub fn session(&self) -> SeaSession<DB> {
        SeaSession::from(self.router.session())
    }
}

/// `SeaRouter::primary_connection` for `$db`, from SeaORM's connector `$connect`.
macro_rules! primary_connection {
    ($db:ty, $connect:path) => {
        impl SeaRouter<$db> {
            /// A SeaORM `DatabaseConnection` on the primary's pool (shared, not a second pool),
            /// for the APIs that take that concrete type: above all `sea-orm-migration`, whose
            /// migrations must run on the primary:
            ///
            /// ```ignore
            /// Migrator::up(&db.primary_connection(), None).await?;
            /// ```
            ///
            /// Statements on it bypass the router: use it for schema work.
            pub fn primary_connection(&self) -> sea_orm::DatabaseConnection {
                $connect(self.router.primary_pool().clone())
            }
        }
    };
}

#[cfg(feature = "postgres")]
primary_connection!(
    sqlx::Postgres,
    sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool
);

#[cfg(feature = "sqlite")]
primary_connection!(
    sqlx::Sqlite,
    sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool
);

impl<DB: Backend> From<Router<DB>> for SeaRouter<DB> {
    fn from(router: Router<DB>) -> Self {
        SeaRouter::new(router)
    }
}

impl<DB: Backend> Clone for SeaRouter<DB> {
    fn clone(&self) -> Self {
        SeaRouter::new(self.router.clone())
    }
}

impl<DB: Backend> fmt::Debug for SeaRouter<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SeaRouter").field(&self.router).finish()
    }
}

/// A dbroute [`Session`] as a SeaORM connection; `From<Session>` wraps one (such as the
/// request's session of `dbroute-axum` or `dbroute-actix`).
pub struct SeaSession<DB: Backend> {
    session: Session<DB>,
}

impl<DB: Backend> SeaSession<DB> {
    /// The session, for sqlx statements and its own API.
    pub fn session(&self) -> &Session<DB> {
        &self.session
    }
}

impl<DB: Backend> SeaSession<DB>
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    /// Commits the session's transaction, if its first write began one (its reads go back
    /// to replicas); see [`Session::commit`].
    pub async fn commit(&self) -> Result<(), sea_orm::DbErr> {
        self.session.commit().await.map_err(connection::query_err)
    }

    /// Rolls the session's transaction back, if there is one; see [`Session::rollback`].
    pub async fn rollback(&self) -> Result<(), sea_orm::DbErr> {
        self.session.rollback().await.map_err(connection::query_err)
    }
}

impl<DB: Backend> From<Session<DB>> for SeaSession<DB> {
    fn from(session: Session<DB>) -> Self {
        SeaSession { session }
    }
}

impl<DB: Backend> Clone for SeaSession<DB> {
    fn clone(&self) -> Self {
        SeaSession::from(self.session.clone())
    }
}

impl<DB: Backend> fmt::Debug for SeaSession<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SeaSession").field(&self.session).finish()
    }
}

/// A dbroute [`Transaction`] as a SeaORM transaction: commit and rollback through
/// [`sea_orm::TransactionSession`]; `begin` inside it opens a savepoint.
pub struct SeaTransaction<DB: Backend> {
    transaction: Transaction<DB>,
}

impl<DB: Backend> SeaTransaction<DB> {
    /// The transaction, for sqlx statements.
    pub fn transaction(&self) -> &Transaction<DB> {
        &self.transaction
    }
}

impl<DB: Backend> From<Transaction<DB>> for SeaTransaction<DB> {
    fn from(transaction: Transaction<DB>) -> Self {
        SeaTransaction { transaction }
    }
}

impl<DB: Backend> fmt::Debug for SeaTransaction<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SeaTransaction")
            .field(&self.transaction)
            .finish()
    }
}
