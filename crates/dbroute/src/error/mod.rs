//! The one error type of dbroute, its `Result` alias, and how it travels inside `sqlx::Error`.
//!
//! Two kinds of calls, two error types:
//!
//! * **Building** a config or a router (`RoutingConfig::builder().build()`, `from_toml_file`,
//!   `PgRouter::connect`) returns [`Error`], whose [`Error::Config`] holds a typed
//!   [`ConfigError`].
//! * **Running** statements and units of work (every `Executor` call, [`Session`] and
//!   [`Transaction`] methods, [`Router::group`], [`Router::begin`]) returns `sqlx::Error`, so
//!   an application whose error type converts from `sqlx::Error` uses `?` everywhere.
//!   dbroute's own failures ride inside it: [`Error::TransactionAborted`] as
//!   `sqlx::Error::Database` (SQLSTATE `25P02`), the others as `sqlx::Error::Configuration`.
//!   [`Error::from_sqlx`] gets the typed error back:
//!
//! ```no_run
//! # async fn demo(router: &dbroute::PgRouter) {
//! let result = dbroute::use_bind_group("reporting", sqlx::query("SELECT 1").execute(router)).await;
//! if let Err(error) = result {
//!     match dbroute::Error::from_sqlx(&error) {
//!         Some(routing) if routing.is_unknown_group() => eprintln!("fix the group name: {routing}"),
//!         Some(routing) => eprintln!("routing: {routing}"),
//!         None => eprintln!("database: {error}"),
//!     }
//! }
//! # }
//! ```
//!
//! Every message says what is wrong and how to fix it, and never contains a password:
//! connection strings appear only in their redacted form (see [`ConnectionString`]).
//!
//! [`ConnectionString`]: crate::ConnectionString
//! [`Session`]: crate::Session
//! [`Transaction`]: crate::Transaction
//! [`Router::group`]: crate::Router::group
//! [`Router::begin`]: crate::Router::begin

mod config;

use std::borrow::Cow;

pub use config::{ConfigError, TomlError};

/// `Result<T, dbroute::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when configuring or using a router.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid; the [`ConfigError`] names the problem and the fix.
    #[error("invalid routing configuration: {0}")]
    Config(#[from] ConfigError),

    /// A [`ConsistencyToken`](crate::ConsistencyToken) that cannot be used: malformed, or of
    /// another cluster.
    #[error(transparent)]
    Token(#[from] crate::consistency::TokenError),

    /// A group name that the router does not have, from [`Router::group`](crate::Router::group)
    /// or a [`use_bind_group`](crate::use_bind_group) scope.
    #[error("unknown engine group {name:?}; the router has: {known}")]
    UnknownGroup {
        /// The name asked for.
        name: String,
        /// The names the router knows, comma-separated.
        known: String,
    },

    /// Connecting to an engine failed when the router was built.
    #[error("cannot connect to engine {engine:?} ({url}): {source}")]
    Connect {
        /// The engine's name.
        engine: String,
        /// The connection string, with any password replaced by `***`.
        url: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },

    /// A statement inside a transaction failed, so the database rolled the transaction (or
    /// savepoint) back; committing it reports this instead of pretending it committed.
    #[error(
        "the {unit} was rolled back because statement {statement} in it failed: {cause} \
         (PostgreSQL aborts a transaction at its first error; put a statement that may fail \
         inside a savepoint: session.begin())"
    )]
    TransactionAborted {
        /// `"transaction"` or `"savepoint"`.
        unit: &'static str,
        /// The failed statement's number, counting from 1 at the transaction's start.
        statement: u64,
        /// The database's message for it.
        cause: String,
    },

    /// No engine of the group is up (all down or too far behind), and falling back to the
    /// primary is off or not possible (a write, or a group other than the read group).
    #[error(
        "no engine of group {group:?} is up ({why}); the statement fails here rather than \
         waiting (for the read group, health.fallback_to_primary = true sends reads to the \
         primary instead)"
    )]
    NoReplicaAvailable {
        /// The group.
        group: String,
        /// Down, lagging: what the health monitor last saw.
        why: String,
    },

    /// The engine a statement needs is down (the health monitor has not seen it answer since
    /// it failed), so the statement fails at once instead of waiting for a timeout.
    #[error(
        "engine {engine:?} ({url}) is down since {since_ms} ms ago ({cause}); statements that \
         need it fail at once until the health monitor sees it answer again"
    )]
    EngineDown {
        /// The engine.
        engine: String,
        /// Its URL, with any password replaced by `***`.
        url: String,
        /// How long ago it went down.
        since_ms: u64,
        /// Its last failure, as the driver reported it.
        cause: String,
    },

    /// The primary reports that it is in recovery (a standby: demoted by a failover), so a
    /// write would fail there.
    #[error(
        "engine {engine:?} ({url}) is configured as the primary but reports that it is in \
         recovery (a standby, probably after a failover); writes fail at once until it is a \
         primary again: point the configuration at the new primary"
    )]
    PrimaryInRecovery {
        /// The engine.
        engine: String,
        /// Its URL, with any password replaced by `***`.
        url: String,
    },

    /// A transaction handle was used after an enclosing transaction (or its session) had
    /// already ended it.
    #[error(
        "this transaction already ended when an enclosing transaction or its session committed \
         or rolled back; nothing ran or was committed through this handle"
    )]
    TransactionEnded,

    /// A statement needed a primary connection while this task holds one in an open session or
    /// transaction: waiting for another would wait on itself (with SQLite's single writer,
    /// forever; on PostgreSQL, until the pool runs dry under load).
    #[error(
        "this task holds the open primary transaction of {holder}; run the statement through it, \
         or inside session.scope(...) where statements join it, or commit it first (to write \
         independently on purpose, spawn a task)"
    )]
    SessionInProgress {
        /// `session #3` or `transaction #4`.
        holder: String,
    },

    /// A session's write was routed to another writable group; a session's transaction lives on
    /// the primary and cannot include another database.
    #[error(
        "a session's write was routed to writable group {group:?}, but a session's transaction \
         lives on the primary and cannot include another database; run it through \
         router.group({group:?}) outside the session (its own autocommit or transaction)"
    )]
    WriteOutsideSession {
        /// The writable group.
        group: String,
    },

    /// A `COPY ... FROM STDIN` or `COPY ... TO STDOUT` sent as a statement: COPY's data flows
    /// in a sub-protocol of its own, which sqlx's executors do not speak (the server would be
    /// left mid-COPY). Refused before it reaches any engine, so no engine is blamed for it.
    #[error(
        "COPY ... FROM STDIN / TO STDOUT cannot run as a statement: use sqlx's COPY API \
         (sqlx::postgres::PgPoolCopyExt) on the engine it belongs to, e.g. \
         router.primary_pool().copy_in_raw(..) to load, or copy_out_raw(..) to read"
    )]
    CopyProtocol,

    /// An error from the database driver.
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
}

impl Error {
    /// `true` for an unknown group, at run time or in the configuration.
    pub fn is_unknown_group(&self) -> bool {
        matches!(
            self,
            Error::UnknownGroup { .. } | Error::Config(ConfigError::UnknownGroup { .. })
        )
    }

    /// `true` when the configuration (or its loading) is at fault, not the database.
    pub fn is_config(&self) -> bool {
        matches!(self, Error::Config(_) | Error::UnknownGroup { .. })
    }

    /// `true` for [`Error::TransactionAborted`].
    pub fn is_transaction_aborted(&self) -> bool {
        matches!(self, Error::TransactionAborted { .. })
    }

    /// `true` when an engine (or every replica) is unavailable: [`Error::NoReplicaAvailable`],
    /// [`Error::EngineDown`], [`Error::PrimaryInRecovery`].
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Error::NoReplicaAvailable { .. }
                | Error::EngineDown { .. }
                | Error::PrimaryInRecovery { .. }
        )
    }

    /// `true` for [`Error::SessionInProgress`].
    pub fn is_session_in_progress(&self) -> bool {
        matches!(self, Error::SessionInProgress { .. })
    }

    /// The dbroute error inside a `sqlx::Error` returned by a routed call, if it is one.
    ///
    /// ```
    /// let error: sqlx::Error = dbroute::Error::UnknownGroup { name: "x".into(), known: "default".into() }.into();
    /// assert!(dbroute::Error::from_sqlx(&error).is_some_and(|e| e.is_unknown_group()));
    /// assert!(dbroute::Error::from_sqlx(&sqlx::Error::RowNotFound).is_none());
    /// ```
    pub fn from_sqlx(error: &sqlx::Error) -> Option<&Error> {
        match error {
            sqlx::Error::Configuration(inner) => inner.downcast_ref::<Error>(),
            sqlx::Error::Database(inner) => inner
                .try_downcast_ref::<InDatabaseError>()
                .map(|wrapped| &wrapped.0),
            _ => None,
        }
    }
}

impl From<Error> for sqlx::Error {
    /// Routing errors surface through sqlx's calls as `sqlx::Error::Configuration`, and a
    /// rolled-back transaction as `sqlx::Error::Database` (SQLSTATE `25P02`); see
    /// [`Error::from_sqlx`].
    fn from(error: Error) -> Self {
        match error {
            Error::Sqlx(inner) => inner,
            aborted @ Error::TransactionAborted { .. } => {
                sqlx::Error::Database(Box::new(InDatabaseError(aborted)))
            }
            other => sqlx::Error::Configuration(Box::new(other)),
        }
    }
}

impl From<Box<Error>> for sqlx::Error {
    /// The hot path keeps errors boxed, so that results stay small.
    fn from(error: Box<Error>) -> Self {
        (*error).into()
    }
}

/// A dbroute error that reports what the database did (a rolled-back transaction), carried as
/// `sqlx::Error::Database` so applications handle it with their other database errors.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct InDatabaseError(Error);

impl sqlx::error::DatabaseError for InDatabaseError {
    fn message(&self) -> &str {
        "the transaction was rolled back because a statement in it failed"
    }

    /// `25P02`, PostgreSQL's `in_failed_sql_transaction`.
    fn code(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed("25P02"))
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        sqlx::error::ErrorKind::Other
    }
}
