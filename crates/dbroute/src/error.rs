//! The one error type of dbroute, and its `Result` alias.
//!
//! Every message says what is wrong and how to fix it, and never contains a password:
//! connection strings appear only in their redacted form (see [`ConnectionString`]).
//!
//! [`ConnectionString`]: crate::ConnectionString

/// `Result<T, dbroute::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when configuring or using a router.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid; the message names the problem and the fix.
    #[error("invalid routing configuration: {0}")]
    Config(String),

    /// A group name that the router does not have: from [`Router::group`], a
    /// [`use_bind_group`] scope, or the configuration's `default_group` / `read_group`.
    ///
    /// [`Router::group`]: crate::Router::group
    /// [`use_bind_group`]: crate::use_bind_group
    #[error("unknown engine group {name:?}; the router has: {known}")]
    UnknownGroup {
        /// The name asked for.
        name: String,
        /// The names the router knows, comma-separated.
        known: String,
    },

    /// A connection string that cannot be used; it is shown redacted.
    #[error("bad connection string {url} for engine {engine:?}: {reason}")]
    ConnectionString {
        /// The engine's name.
        engine: String,
        /// The connection string, with any password replaced by `***`.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// Connecting to an engine failed.
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

    /// The configuration file could not be read or parsed.
    #[error("cannot load the routing configuration from {origin}: {reason}")]
    Load {
        /// Where it came from: a file path or `"environment"`.
        origin: String,
        /// What went wrong.
        reason: String,
    },

    /// An error from the database driver while running a statement.
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
}

impl Error {
    /// `true` for [`Error::UnknownGroup`].
    pub fn is_unknown_group(&self) -> bool {
        matches!(self, Error::UnknownGroup { .. })
    }

    /// `true` when the configuration (or its loading) is at fault, not the database.
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            Error::Config(_)
                | Error::UnknownGroup { .. }
                | Error::ConnectionString { .. }
                | Error::Load { .. }
        )
    }
}

impl From<Error> for sqlx::Error {
    /// Routing errors surface through sqlx's `Executor` methods as `sqlx::Error::Configuration`.
    fn from(error: Error) -> Self {
        match error {
            Error::Sqlx(inner) => inner,
            other => sqlx::Error::Configuration(Box::new(other)),
        }
    }
}
