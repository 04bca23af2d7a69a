//! What differs between databases: pool set-up per role, `BEGIN` statements, how errors affect
//! transactions, and the catalog.
//!
//! [`Backend`] is sealed and implemented for each sqlx driver dbroute supports (behind its
//! feature). Everything else in the crate is generic over it, as sqlx's core is over
//! `Database`.

use std::str::FromStr;

use futures_core::future::BoxFuture;

use sqlx::pool::PoolOptions;
use sqlx::{Connection, Database, Executor, Pool};

use crate::config::{
    BackendKind, ConfigError, DEFAULT_ACQUIRE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, EnginePlan,
    PoolConfig,
};
use crate::error::Result;
pub(crate) use sealed::Role;

pub(crate) mod sealed {
    use super::*;

    /// Whether an engine may take writes: it decides read-only safety belts.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    #[allow(unreachable_pub)]
    pub enum Role {
        /// In a writable group (the default group, or one marked writable).
        Writer,
        /// In a read-only group (replicas): its connections refuse writes where the database can.
        Reader,
    }

    /// The backend-specific parts, out of users' reach: only dbroute implements them.
    pub trait Sealed: Database {
        /// Which family of URLs this backend accepts.
        const KIND: BackendKind;

        /// The statement that opens a read-only transaction.
        const BEGIN_READ_ONLY: &'static str;

        /// The statement that opens a write transaction on the primary, if not sqlx's default.
        const BEGIN_WRITE: Option<&'static str> = None;

        /// Whether an error inside a transaction aborts it, so that `COMMIT` rolls back
        /// (PostgreSQL) rather than committing the statements that succeeded (SQLite).
        const ERROR_ABORTS_TRANSACTION: bool;

        /// Whether [`catalog`](Self::catalog) reads a catalog.
        const HAS_CATALOG: bool = false;

        /// Whether replicas replay the primary by position, so that read-your-writes must
        /// check them (PostgreSQL). Where it is `false` (SQLite's readers share the primary's
        /// file), a committed write is visible to every reader at once.
        const HAS_POSITIONS: bool = false;

        /// What names the database server a router writes to: the cluster of its tokens
        /// unless `consistency.cluster` names it.
        fn cluster_identity(options: &<Self::Connection as Connection>::Options) -> String;

        /// The primary's WAL position now (after a write's commit returned).
        fn write_position<'c>(
            _connection: &'c mut Self::Connection,
        ) -> BoxFuture<'c, Result<u64, sqlx::Error>>
        where
            for<'x> &'x mut Self::Connection: Executor<'x, Database = Self>,
        {
            Box::pin(async { Ok(0) })
        }

        /// How far a replica has replayed (`None`: it cannot say).
        fn replay_position<'c>(
            _connection: &'c mut Self::Connection,
        ) -> BoxFuture<'c, Result<Option<u64>, sqlx::Error>>
        where
            for<'x> &'x mut Self::Connection: Executor<'x, Database = Self>,
        {
            Box::pin(async { Ok(None) })
        }

        /// A copy of a query's arguments, to run it again elsewhere after a failed attempt.
        fn clone_arguments(arguments: &Self::Arguments) -> Self::Arguments;

        /// Adjusts parsed connect options for an engine's role.
        fn prepare_options(
            options: <Self::Connection as Connection>::Options,
            role: Role,
        ) -> <Self::Connection as Connection>::Options;

        /// Adjusts pool options for an engine's role; `in_memory` for a database that lives
        /// only as long as its connections.
        fn prepare_pool(
            options: PoolOptions<Self>,
            _role: Role,
            _in_memory: bool,
        ) -> PoolOptions<Self> {
            options
        }

        /// What routing needs from the database's catalog (PostgreSQL: user-defined
        /// `VOLATILE` functions, unlogged relations, views and what they call and read);
        /// `None` where the database has no such catalog.
        fn catalog<'c, E>(_executor: E) -> BoxFuture<'c, Result<Option<CatalogRows>, sqlx::Error>>
        where
            E: 'c + Executor<'c, Database = Self>,
        {
            Box::pin(async { Ok(None) })
        }

        /// One health probe: does it answer, is it in recovery, where is its WAL.
        fn probe<'c>(
            connection: &'c mut Self::Connection,
        ) -> BoxFuture<'c, Result<Probe, sqlx::Error>>
        where
            for<'x> &'x mut Self::Connection: Executor<'x, Database = Self>,
        {
            Box::pin(async move {
                connection.execute("SELECT 1").await?;
                Ok(Probe {
                    in_recovery: None,
                    position: None,
                    replay_age: None,
                })
            })
        }
    }
}

/// What one probe saw. (Public only because the sealed `Backend` trait names it; not
/// reachable from outside the crate.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(unreachable_pub)]
pub struct Probe {
    /// `pg_is_in_recovery()`; `None` where the database has no such notion.
    pub(crate) in_recovery: Option<bool>,
    /// The WAL position: written (primary) or replayed (replica).
    pub(crate) position: Option<u64>,
    /// How long ago the replica replayed its last transaction, while it is behind.
    pub(crate) replay_age: Option<std::time::Duration>,
}

/// The catalog rows routing learns from (`Sealed::catalog`). (Public only because
/// the sealed `Backend` trait names it.)
#[derive(Debug, Default, Clone, PartialEq, Eq)]
#[allow(unreachable_pub)]
pub struct CatalogRows {
    /// User-defined functions declared `VOLATILE`, one entry per overload: name, and its body
    /// when it is written in SQL or PL/pgSQL (a text body).
    pub(crate) volatile_functions: Vec<(String, Option<FunctionBody>)>,
    /// Relations a standby cannot read at all (unlogged tables and sequences): oid and name.
    pub(crate) unlogged: Vec<(i64, String)>,
    /// Every view outside the system schemas: oid and name.
    pub(crate) views: Vec<(i64, String)>,
    /// Functions a view's definition calls (directly or as an operator's implementation):
    /// view oid and function name.
    pub(crate) view_calls: Vec<(i64, String)>,
    /// Relations a view's definition reads (view oid and relation oid), and the partitions
    /// and inheritance children a scan of a table reads (parent oid and child oid).
    pub(crate) view_reads: Vec<(i64, i64)>,
    /// Tables with partitions or inheritance children: oid and name.
    pub(crate) parents: Vec<(i64, String)>,
    /// The schema of each unlogged relation and view: oid and schema name.
    pub(crate) schemas: Vec<(i64, String)>,
}

/// A function's body, in a language dbroute can read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(unreachable_pub)]
pub enum FunctionBody {
    /// `LANGUAGE sql`: SQL statements.
    Sql(String),
    /// `LANGUAGE plpgsql`: a block.
    PlPgSql {
        /// The block, as `CREATE FUNCTION` gave it.
        block: String,
        /// Its parameters (`None` for a variadic function).
        inputs: Option<Vec<crate::classify::Parameter>>,
    },
}

/// A `pg_lsn` text (`16/B374D848`) as a number.
#[cfg(any(feature = "postgres", test))]
pub(crate) fn parse_lsn(text: &str) -> Option<u64> {
    let (high, low) = text.split_once('/')?;
    let high = u64::from_str_radix(high, 16).ok()?;
    let low = u64::from_str_radix(low, 16).ok()?;
    Some(high << 32 | low)
}

/// A database dbroute can route for: `sqlx::Postgres` and `sqlx::Sqlite` (each behind its
/// feature). Sealed: the backend-specific parts are dbroute's own.
pub trait Backend: sealed::Sealed {}

impl<DB: sealed::Sealed> Backend for DB {}

/// Builds one engine's pool, lazily: no connection is opened until first use.
pub(crate) fn lazy_pool<DB: Backend>(engine: &EnginePlan, role: Role) -> Result<Pool<DB>> {
    let url = &engine.url;
    let options = <<DB::Connection as Connection>::Options as FromStr>::from_str(url.expose())
        .map_err(|e| ConfigError::ConnectionString {
            engine: engine.name.clone(),
            url: url.redacted(),
            reason: url.scrub(&e.to_string()),
        })?;
    let options = DB::prepare_options(options, role);
    let in_memory = DB::KIND.is_in_memory(url);
    let pool = DB::prepare_pool(pool_options::<DB>(engine.pool, role), role, in_memory);
    Ok(pool.connect_lazy_with(options))
}

/// Pool options from an engine's settings, which the validated plan has already completed
/// with the defaults (the fallbacks below only keep this total). A replica's connections are
/// not pinged before each use: a read that meets a dead one is retried elsewhere, and the
/// ping is a round trip on every statement.
fn pool_options<DB: Database>(config: PoolConfig, role: Role) -> PoolOptions<DB> {
    PoolOptions::new()
        .max_connections(config.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS))
        .min_connections(config.min_connections.unwrap_or(0))
        .acquire_timeout(config.acquire_timeout.unwrap_or(DEFAULT_ACQUIRE_TIMEOUT))
        .idle_timeout(config.idle_timeout)
        .max_lifetime(config.max_lifetime)
        .test_before_acquire(config.test_before_acquire.unwrap_or(role == Role::Writer))
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection, Postgres};

    impl sealed::Sealed for Postgres {
        const KIND: BackendKind = BackendKind::Postgres;
        const BEGIN_READ_ONLY: &'static str = "BEGIN READ ONLY";
        const ERROR_ABORTS_TRANSACTION: bool = true;
        const HAS_CATALOG: bool = true;
        const HAS_POSITIONS: bool = true;

        fn clone_arguments(arguments: &PgArguments) -> PgArguments {
            arguments.clone()
        }

        fn cluster_identity(options: &PgConnectOptions) -> String {
            format!(
                "postgres://{}:{}",
                options.get_host().to_ascii_lowercase(),
                options.get_port()
            )
        }

        fn write_position<'c>(
            connection: &'c mut PgConnection,
        ) -> BoxFuture<'c, Result<u64, sqlx::Error>> {
            Box::pin(async move {
                let text: String = sqlx::query_scalar(WRITE_POSITION)
                    .fetch_one(connection)
                    .await?;
                parse_lsn(&text).ok_or_else(|| {
                    sqlx::Error::Protocol(format!("dbroute: not a WAL position: {text:?}"))
                })
            })
        }

        fn replay_position<'c>(
            connection: &'c mut PgConnection,
        ) -> BoxFuture<'c, Result<Option<u64>, sqlx::Error>> {
            Box::pin(async move {
                let text: Option<String> = sqlx::query_scalar(REPLAY_POSITION)
                    .fetch_one(connection)
                    .await?;
                Ok(text.as_deref().and_then(parse_lsn))
            })
        }

        fn prepare_options(options: PgConnectOptions, role: Role) -> PgConnectOptions {
            match role {
                Role::Writer => options,
                // A safety belt: even a replica that accepts writes (a misconfigured "replica"
                // pointing at the primary) refuses them on these connections.
                Role::Reader => options.options([("default_transaction_read_only", "on")]),
            }
        }

        fn catalog<'c, E>(executor: E) -> BoxFuture<'c, Result<Option<CatalogRows>, sqlx::Error>>
        where
            E: 'c + Executor<'c, Database = Postgres>,
        {
            Box::pin(async move {
                type Row = (
                    String,
                    String,
                    i64,
                    i64,
                    Option<String>,
                    Option<Vec<String>>,
                );
                let rows: Vec<Row> = sqlx::query_as(CATALOG).fetch_all(executor).await?;
                let mut catalog = CatalogRows::default();
                for (kind, name, id, of, body, extra) in rows {
                    let body = body.filter(|b| !b.trim().is_empty());
                    if matches!(kind.as_str(), "unlogged" | "view" | "parent") {
                        let schema = extra.as_ref().and_then(|s| s.first()).cloned();
                        catalog.schemas.push((id, schema.unwrap_or_default()));
                    }
                    match kind.as_str() {
                        "function" => catalog.volatile_functions.push((
                            name,
                            body.map(|block| match id {
                                1 => FunctionBody::Sql(block),
                                _ => FunctionBody::PlPgSql {
                                    block,
                                    inputs: extra
                                        .map(|all| all.iter().map(|p| parameter(p)).collect()),
                                },
                            }),
                        )),
                        "unlogged" => catalog.unlogged.push((id, name)),
                        "parent" => {
                            catalog.parents.push((id, name));
                            catalog.view_reads.push((id, of));
                        }
                        "view" => catalog.views.push((id, name)),
                        "calls" => catalog.view_calls.push((id, name)),
                        _ => catalog.view_reads.push((id, of)),
                    }
                }
                Ok(Some(catalog))
            })
        }

        fn probe<'c>(
            connection: &'c mut PgConnection,
        ) -> BoxFuture<'c, Result<Probe, sqlx::Error>> {
            Box::pin(async move {
                let (in_recovery, position, replay_age): (bool, Option<String>, Option<f64>) =
                    sqlx::query_as(PROBE).fetch_one(connection).await?;
                Ok(Probe {
                    in_recovery: Some(in_recovery),
                    position: position.as_deref().and_then(parse_lsn),
                    replay_age: replay_age
                        .and_then(|s| std::time::Duration::try_from_secs_f64(s.max(0.0)).ok()),
                })
            })
        }
    }

    /// Role, WAL position (written on a primary, replayed on a standby) and the age of the last
    /// replayed transaction, in one round trip. `pg_current_wal_lsn()` fails on a standby, so
    /// each branch calls only what its role allows (GitLab's load balancer does the same).
    const PROBE: &str = "\
        SELECT pg_is_in_recovery(), \
          (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() \
                ELSE pg_current_wal_lsn() END)::text, \
          CASE WHEN pg_is_in_recovery() \
               THEN EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8 END";

    /// A position at or after the end of every commit record that has returned: with
    /// `synchronous_commit` on (the default), a commit returns once its record is flushed, so
    /// the flush position covers it, and replicas receive everything up to it at once. The
    /// insert position would too, but it also covers records of transactions still running,
    /// which the primary ships only when it flushes them (up to `wal_writer_delay`, 200 ms,
    /// later), so reads would wait for other sessions' work. With `synchronous_commit = off` a
    /// commit returns before its flush: the insert position is the one that covers it.
    const WRITE_POSITION: &str = "\
        SELECT (CASE WHEN current_setting('synchronous_commit') = 'off' \
                THEN pg_current_wal_insert_lsn() ELSE pg_current_wal_flush_lsn() END)::text";

    /// How far a standby has replayed; a server that is not one (a "replica" pointing at the
    /// primary itself) has every write it returned.
    const REPLAY_POSITION: &str = "\
        SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() \
                ELSE pg_current_wal_insert_lsn() END)::text";

    /// A parameter as [`CATALOG`] gives it: `+name` for an input, `-name` for an output.
    fn parameter(text: &str) -> crate::classify::Parameter {
        crate::classify::Parameter {
            name: text.get(1..).unwrap_or_default().to_owned(),
            input: text.starts_with('+'),
        }
    }

    /// User-defined functions (not procedures: `CALL` goes to the primary anyway) whose
    /// volatility is `VOLATILE`, outside the system schemas. Built-in volatile functions such
    /// as `random()` are safe on a replica; the built-in ones that are not are in dbroute's
    /// own list.
    /// In one round trip (the executor may be a single connection): user-defined `VOLATILE`
    /// functions (with the body of those written in SQL or PL/pgSQL, and the input parameter
    /// names of the PL/pgSQL ones); unlogged relations (a standby refuses to open them, even
    /// to plan), the views outside the system schemas and the tables with partitions or
    /// inheritance children (a scan of one reads them), with their schemas and children; the functions each view's `ON SELECT` rule calls, read from
    /// the rule's stored tree (function and operator-implementation ids: calls of built-in
    /// functions leave no trace in `pg_depend`); and, from the rule's dependencies, the
    /// relations it reads. Only catalogs are read: no lock on any view (`pg_get_viewdef` would
    /// take one, and wait behind a migration's DDL).
    const CATALOG: &str = "\
        SELECT 'function', p.proname::text, \
          CASE l.lanname WHEN 'sql' THEN 1 ELSE 2 END::int8, 0::int8, \
          CASE WHEN l.lanname IN ('sql', 'plpgsql') THEN p.prosrc END, \
          CASE WHEN l.lanname = 'plpgsql' AND p.provariadic = 0 THEN ARRAY( \
            SELECT CASE WHEN p.proargmodes IS NULL OR p.proargmodes[i] IN ('i', 'b') \
                        THEN '+' ELSE '-' END || coalesce(p.proargnames[i], '') \
            FROM pg_catalog.generate_series(1, \
              coalesce(pg_catalog.array_length(p.proargmodes, 1), p.pronargs)) AS s(i) \
            ORDER BY i) END \
        FROM pg_catalog.pg_proc p \
        JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
        JOIN pg_catalog.pg_language l ON l.oid = p.prolang \
        WHERE p.provolatile = 'v' AND p.prokind <> 'p' \
          AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
          AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' \
        UNION ALL \
        SELECT 'unlogged', c.relname::text, c.oid::int8, 0, NULL, ARRAY[n.nspname::text] \
        FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
        WHERE c.relpersistence = 'u' AND c.relkind IN ('r', 'p', 'S') \
        UNION ALL \
        SELECT 'view', c.relname::text, c.oid::int8, 0, NULL, ARRAY[n.nspname::text] \
        FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
        WHERE c.relkind = 'v' AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
        UNION ALL \
        SELECT 'parent', c.relname::text, i.inhparent::int8, i.inhrelid::int8, NULL, \
          ARRAY[n.nspname::text] \
        FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhparent \
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
        WHERE c.relkind IN ('r', 'p') \
        UNION ALL \
        SELECT DISTINCT 'calls', p.proname::text, r.ev_class::int8, 0, NULL::text, NULL::text[] \
        FROM pg_catalog.pg_rewrite r \
        JOIN pg_catalog.pg_class c ON c.oid = r.ev_class \
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
        CROSS JOIN LATERAL pg_catalog.regexp_matches(r.ev_action::text, \
          ':(?:funcid|opfuncid) ([0-9]+)', 'g') AS m(ids) \
        JOIN pg_catalog.pg_proc p ON p.oid = m.ids[1]::oid \
        WHERE r.ev_type = '1' AND c.relkind = 'v' \
          AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
        UNION ALL \
        SELECT DISTINCT 'reads', '', r.ev_class::int8, d.refobjid::int8, NULL::text, NULL::text[] \
        FROM pg_catalog.pg_rewrite r \
        JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass \
          AND d.objid = r.oid AND d.refclassid = 'pg_catalog.pg_class'::regclass \
        WHERE r.ev_type = '1' AND d.refobjid <> r.ev_class";
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use sqlx::Sqlite;
    use sqlx::sqlite::{
        SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous,
    };
    use std::time::Duration;

    impl sealed::Sealed for Sqlite {
        const KIND: BackendKind = BackendKind::Sqlite;
        const BEGIN_READ_ONLY: &'static str = "BEGIN";
        // Take the write lock up front: a deferred transaction that reads first and writes
        // later fails with SQLITE_BUSY instead of waiting.
        const BEGIN_WRITE: Option<&'static str> = Some("BEGIN IMMEDIATE");
        // A failed statement is undone alone; the transaction goes on and commits the rest.
        const ERROR_ABORTS_TRANSACTION: bool = false;

        fn clone_arguments(arguments: &SqliteArguments) -> SqliteArguments {
            arguments.clone()
        }

        fn cluster_identity(options: &SqliteConnectOptions) -> String {
            format!("sqlite://{}", options.get_filename().display())
        }

        fn prepare_options(options: SqliteConnectOptions, role: Role) -> SqliteConnectOptions {
            let options = options
                .busy_timeout(Duration::from_secs(5))
                .synchronous(SqliteSynchronous::Normal);
            match role {
                Role::Writer => options
                    .journal_mode(SqliteJournalMode::Wal)
                    .create_if_missing(true),
                // `query_only` is a second belt, and lets a test ask a connection what it is.
                Role::Reader => options.read_only(true).pragma("query_only", "ON"),
            }
        }

        fn prepare_pool(
            options: PoolOptions<Sqlite>,
            role: Role,
            in_memory: bool,
        ) -> PoolOptions<Sqlite> {
            match (role, in_memory) {
                // The database is its one connection: never let the pool close it.
                (_, true) => options
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None),
                // SQLite has one writer at a time: one connection queues writers in the pool
                // instead of failing them with SQLITE_BUSY. Keeping it open also keeps the
                // WAL's -shm file, which read-only connections need.
                (Role::Writer, false) => options.max_connections(1).min_connections(1),
                (Role::Reader, false) => options,
            }
        }
    }
}
