//! [`ConfigError`]: everything a configuration can get wrong, one variant per problem.
//!
//! Each message names the problem and the fix. URLs appear only redacted, and no message
//! quotes a value that could hold a password (a TOML line, an environment variable's value).

use std::fmt;
use std::path::PathBuf;

/// Why a configuration was rejected. Match on the variant; print it for the fix.
///
/// ```
/// use dbroute::{ConfigError, Error, RoutingConfig};
///
/// let error = RoutingConfig::builder().build().unwrap_err();
/// assert!(matches!(error, Error::Config(ConfigError::NoPrimary)));
/// assert!(error.to_string().contains("set primary_connection_string"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Neither `primary_connection_string` nor `engines` is set.
    #[error(
        "no primary: set primary_connection_string (with read_replicas), or engines with a \
         \"default\" group"
    )]
    NoPrimary,

    /// Both shapes of configuration are used at once.
    #[error(
        "both primary_connection_string and engines are set; use one: \
         primary_connection_string with read_replicas, or engines with named groups"
    )]
    PrimaryAndEngines,

    /// `read_replicas` next to `engines`.
    #[error(
        "read_replicas is set together with engines; put the replicas in the engines map under \
         the read group instead"
    )]
    ReplicasWithEngines,

    /// A group or engine with an empty name.
    #[error("{what} has an empty name; name it")]
    EmptyName {
        /// `"a group"` or `"an engine"`.
        what: &'static str,
    },

    /// A group other than the read group holds no engine.
    #[error(
        "group {group:?} has no engines; give it at least one URL or remove it (only the read \
         group may be empty: its reads then go to the default group)"
    )]
    EmptyGroup {
        /// The group.
        group: String,
    },

    /// A writable group (the default group, or one marked writable) holds several engines.
    #[error(
        "{role} {group:?} has {count} engines, but writes, transactions and catalog loads need \
         exactly one database there; keep the one that takes writes, and put replicas in the \
         read group (read_replicas = [...] or [engines] read = [...])"
    )]
    SeveralWriters {
        /// `"the default group"` or `"the writable group"`.
        role: &'static str,
        /// The group.
        group: String,
        /// How many engines it has.
        count: usize,
    },

    /// An engine with weight 0.
    #[error(
        "engine {engine:?} has weight 0; weights start at 1 (remove the engine to send it nothing)"
    )]
    ZeroWeight {
        /// The engine.
        engine: String,
    },

    /// The weights of one group add up to too much.
    #[error(
        "group {group:?}: the weights add up to {total} (after dividing by their common factor \
         {divisor}); keep the sum at most {max}, e.g. use 2 and 1 rather than 2000 and 1001"
    )]
    WeightSum {
        /// The group.
        group: String,
        /// The reduced sum.
        total: u64,
        /// The common factor divided out.
        divisor: u32,
        /// The largest sum allowed.
        max: u64,
    },

    /// Two engines share a name.
    #[error("two engines are named {name:?}; engine names must be unique, rename one")]
    DuplicateEngine {
        /// The name.
        name: String,
    },

    /// `default_group` or `read_group` names a group that does not exist.
    #[error("unknown engine group {name:?}; the router has: {known}")]
    UnknownGroup {
        /// The name asked for.
        name: String,
        /// The names the config has, comma-separated.
        known: String,
    },

    /// `groups.<name>` options for a group with no engines.
    #[error("options are given for group {group:?}, which has no engines; known groups: {known}")]
    OptionsForUnknownGroup {
        /// The group.
        group: String,
        /// The names the config has, comma-separated.
        known: String,
    },

    /// A URL that cannot be used; shown redacted.
    #[error("bad connection string {url} for engine {engine:?}: {reason}")]
    ConnectionString {
        /// The engine.
        engine: String,
        /// The URL, with any password replaced by `***`.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// Engines of different databases in one config.
    #[error(
        "engines of different databases in one router: {first:?} is {first_kind} but {other:?} \
         is {other_kind}; use one router per database"
    )]
    MixedBackends {
        /// The first engine.
        first: String,
        /// Its database.
        first_kind: &'static str,
        /// An engine of another database.
        other: String,
        /// That one's database.
        other_kind: &'static str,
    },

    /// In-memory SQLite named by several engines: each would get its own empty database.
    #[error(
        "engine {engine:?} is an in-memory SQLite database, which exists only inside one pool: \
         other engines could not see it; use one engine (RoutingConfig::sqlite(\":memory:\") \
         does) or a database file"
    )]
    SharedInMemory {
        /// The engine.
        engine: String,
    },

    /// The read group is marked writable.
    #[error(
        "the read group {group:?} is marked writable; it holds replicas, so remove \
         `writable = true` (writes always go to the default group)"
    )]
    WritableReadGroup {
        /// The group.
        group: String,
    },

    /// Pool options that cannot work.
    #[error("{owner}: {problem}")]
    Pool {
        /// Whose options: `engine "replica-1"`.
        owner: String,
        /// What is wrong and the fix.
        problem: String,
    },

    /// A `[health]` option that cannot work.
    #[error("health.{field} {problem}")]
    Health {
        /// The option.
        field: &'static str,
        /// What is wrong and the fix.
        problem: String,
    },

    /// A `[consistency]` option that cannot work.
    #[error("consistency.{field} {problem}")]
    Consistency {
        /// The option.
        field: &'static str,
        /// What is wrong and the fix.
        problem: String,
    },

    /// The config's URLs are of another database than the router type.
    #[error(
        "the configuration's URLs are {config} but this router is for {router}; use the matching \
         router type (PgRouter, SqliteRouter)"
    )]
    BackendMismatch {
        /// The config's database.
        config: &'static str,
        /// The router's database.
        router: &'static str,
    },

    /// A router was built outside a Tokio runtime.
    #[error(
        "a router must be built inside a Tokio runtime (its pools spawn maintenance tasks); call \
         it from async code or within Runtime::block_on / enter"
    )]
    NoRuntime,

    /// A configuration file could not be read.
    #[error("cannot read the routing configuration from {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// A TOML document could not be parsed into a config.
    #[error("cannot load the routing configuration from {origin}: {source}")]
    Toml {
        /// `"TOML"` or the file's path.
        origin: String,
        /// Where and what, with secrets removed.
        #[source]
        source: TomlError,
    },

    /// A `DBROUTE_*` environment variable is unknown or has a value that does not fit.
    #[error("cannot load the routing configuration from the environment: {variable}: {problem}")]
    Env {
        /// The variable's name.
        variable: String,
        /// What is wrong (never the value itself, which may hold a password).
        problem: String,
    },
}

impl ConfigError {
    /// `true` for an unknown `default_group` / `read_group`.
    pub fn is_unknown_group(&self) -> bool {
        matches!(self, ConfigError::UnknownGroup { .. })
    }
}

/// A TOML parse error without the quoted line the `toml` crate prints, which would show a
/// password sitting on that line. Values in the message have their passwords replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TomlError {
    line: usize,
    column: usize,
    message: String,
}

impl TomlError {
    #[cfg(feature = "toml")]
    pub(crate) fn new(line: usize, column: usize, message: String) -> Self {
        TomlError {
            line,
            column,
            message,
        }
    }

    /// The 1-based line of the problem (0 when unknown).
    pub fn line(&self) -> usize {
        self.line
    }

    /// The 1-based column of the problem (0 when unknown).
    pub fn column(&self) -> usize {
        self.column
    }

    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for TomlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "line {}, column {}: ", self.line, self.column)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for TomlError {}
