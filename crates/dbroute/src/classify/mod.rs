//! Where a statement is classified: may this SQL text run on a replica?
//!
//! [`classify`] reads SQL text (never the sqlx method that carries it: `INSERT ... RETURNING`
//! arrives through `fetch_one`) and answers [`Route::Replica`] only when the text is provably
//! read-only. Everything else, including text it does not understand, goes to
//! [`Route::Primary`]: misrouting a read costs a little load on the primary, misrouting a write
//! is an outage or silent data divergence.
//!
//! ```
//! use dbroute::{classify, Dialect, Reason, Route};
//!
//! let read = classify("SELECT name FROM users WHERE id = $1", Dialect::Postgres);
//! assert_eq!(read.route(), Route::Replica);
//!
//! let locking = classify("SELECT * FROM jobs FOR UPDATE SKIP LOCKED", Dialect::Postgres);
//! assert_eq!((locking.route(), locking.reason()), (Route::Primary, Reason::LockingRead));
//!
//! // Comments and literals never fool it.
//! let sneaky = classify("SELECT '; DELETE FROM users' /* ; DROP TABLE t */", Dialect::Postgres);
//! assert_eq!(sneaky.route(), Route::Replica);
//! ```
//!
//! The rules, in the order they apply to each statement of the text:
//!
//! | statement | route | reason |
//! |---|---|---|
//! | leading `/* dbroute:primary */` hint | primary | [`Reason::Hint`] |
//! | unterminated quote or comment | primary | [`Reason::Unparseable`] |
//! | empty (only comments / whitespace) | primary | [`Reason::Empty`] |
//! | `INSERT`, `UPDATE`, `DELETE`, `MERGE`, `REPLACE`, `TRUNCATE`, `EXPLAIN ANALYZE` of these, `COPY ... FROM`, `COPY ... TO` a server file or program ... | primary | [`Reason::Write`] |
//! | `CREATE`, `ALTER`, `DROP`, `GRANT`, `VACUUM` ... | primary | [`Reason::Ddl`] |
//! | `BEGIN`, `COMMIT`, `SAVEPOINT` ... | primary | [`Reason::Transaction`] |
//! | `SET`, `LISTEN`, `PREPARE`, cursors, `LOCK`, `CALL`, `DO`, `PRAGMA` ... | primary | [`Reason::SessionCommand`] |
//! | a read with `FOR UPDATE`/`FOR SHARE`/`FOR [NO] KEY ...`/`LOCK IN SHARE MODE` | primary | [`Reason::LockingRead`] |
//! | a read with `INSERT`/`UPDATE`/`DELETE`/`MERGE` inside (data-modifying CTE) | primary | [`Reason::DataModifyingCte`] |
//! | `SELECT ... INTO` (table creation, `OUTFILE`, `@var`) | primary | [`Reason::SelectInto`] |
//! | a read calling `nextval`, `pg_advisory_lock`, `GET_LOCK`, ..., or a catalog function whose dynamic SQL, made from the call's literal arguments, is not a read | primary | [`Reason::WriteFunction`] |
//! | a read (or a planned-only `EXPLAIN`) naming an unlogged table or a view that calls a writing function, from the primary's catalog, or calling `table_to_xml('t')`, `query_to_xml('<query>')`, ... whose argument names one | primary | [`Reason::PrimaryOnlyRelation`] |
//! | `SELECT`, `WITH`, `VALUES`, `TABLE`, `SHOW`, `EXPLAIN` without `ANALYZE` of anything it can plan (planned, not run: writes, locks and functions included), `COPY ... TO STDOUT` of a table or a read | replica | [`Reason::Read`] |
//! | anything else | primary | [`Reason::Unrecognized`] |
//!
//! Text with several statements goes to a replica only when every statement is a read;
//! otherwise to the primary with [`Reason::MultiStatement`].
//!
//! Where the server's settings change how text is lexed (backslash escapes in string literals:
//! PostgreSQL's `standard_conforming_strings`, MySQL's `NO_BACKSLASH_ESCAPES`), the text is
//! classified under both readings and the primary wins if either reading needs it.
//!
//! Session and transaction commands go to the primary because a router hands each statement
//! to whichever pooled connection is free: a `SET`, `PREPARE` or `DECLARE CURSOR` run on one
//! replica connection would be missing from the next statement's connection. The primary is
//! where sessions and their transactions live.
//!
//! [`Classifier`] adds configured and catalog-loaded write functions and a cache; the router
//! classifies through one. The files: `lexer.rs` (quotes, comments, dialects), `rules.rs` (the
//! table above), `functions.rs` (side-effect functions), `dynamic.rs` (calls judged by their
//! literal arguments), `cache.rs`, `classifier.rs`.

mod cache;
mod classifier;
mod dynamic;
mod functions;
mod hash;
mod lexer;
mod rules;

pub(crate) use classifier::Learnt;
#[cfg(test)]
pub(crate) use dynamic::tests as dynamic_tests;
pub(crate) use dynamic::{DynamicFunction, Parameter, input_count};
pub(crate) use functions::{FunctionSet, function_set};
pub(crate) use rules::Block;

/// Learnt functions whose calls are judged by their arguments ([`DynamicFunction`]), by
/// lower-cased name.
pub(crate) type Templates = std::collections::HashMap<
    Box<str>,
    DynamicFunction,
    std::hash::BuildHasherDefault<hash::FastHasher>,
>;

use std::fmt;

pub use cache::MAX_CACHED_LEN;
pub use classifier::Classifier;
pub use functions::{BUILTIN_WRITE_FUNCTION_PREFIXES, BUILTIN_WRITE_FUNCTIONS};

/// The SQL dialect a statement is written in; it decides comment, quote and escape rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Dialect {
    /// PostgreSQL (and wire-compatible servers such as Aurora PostgreSQL).
    #[default]
    Postgres,
    /// MySQL and MariaDB.
    MySql,
    /// SQLite.
    Sqlite,
}

/// Where a statement may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// The primary (the default group): the only place a write may go.
    Primary,
    /// A replica (the read group): the statement is provably read-only.
    Replica,
}

impl Route {
    /// `"primary"` or `"replica"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Route::Primary => "primary",
            Route::Replica => "replica",
        }
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a statement got its [`Route`]. Machine-readable: see [`Reason::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// A provably read-only statement.
    Read,
    /// A data-modifying statement (`INSERT`, `UPDATE`, `DELETE`, `MERGE`, `COPY`, ...).
    Write,
    /// A schema or maintenance statement (`CREATE`, `ALTER`, `DROP`, `VACUUM`, ...).
    Ddl,
    /// A read that takes row locks (`FOR UPDATE`, `FOR SHARE`, `LOCK IN SHARE MODE`, ...).
    LockingRead,
    /// A read wrapping `INSERT`/`UPDATE`/`DELETE`/`MERGE`, such as a data-modifying CTE.
    DataModifyingCte,
    /// `SELECT ... INTO`: creates a table (PostgreSQL) or writes a file or variable (MySQL).
    SelectInto,
    /// A read calling a function with side effects or per-connection state (`nextval`, ...).
    WriteFunction,
    /// Session state (`SET`, `PREPARE`, cursors, `LISTEN`, ...): pooled connections carry no
    /// session state from one statement to the next, so it must stay on the primary, where
    /// transactions and sessions live.
    SessionCommand,
    /// Transaction control (`BEGIN`, `COMMIT`, `SAVEPOINT`, ...).
    Transaction,
    /// Several statements, at least one not a read.
    MultiStatement,
    /// An unterminated quote or comment: the text cannot be read safely.
    Unparseable,
    /// No statement at all (only whitespace or comments).
    Empty,
    /// A statement the classifier does not recognise as read-only.
    Unrecognized,
    /// A leading `/* dbroute:primary */` comment asked for the primary.
    Hint,
    /// A read naming a relation that a hot standby cannot read, learnt from the primary's
    /// catalog: an unlogged table (or sequence), a table with an unlogged partition or
    /// inheritance child, or a view whose definition calls a writing function or reads such a
    /// relation; or a call reading such a relation by the name its argument gives
    /// (`table_to_xml('t', ...)`).
    PrimaryOnlyRelation,
}

impl Reason {
    /// Every reason, in declaration order (`ALL[r.index()] == r`).
    pub(crate) const ALL: [Reason; 15] = [
        Reason::Read,
        Reason::Write,
        Reason::Ddl,
        Reason::LockingRead,
        Reason::DataModifyingCte,
        Reason::SelectInto,
        Reason::WriteFunction,
        Reason::SessionCommand,
        Reason::Transaction,
        Reason::MultiStatement,
        Reason::Unparseable,
        Reason::Empty,
        Reason::Unrecognized,
        Reason::Hint,
        Reason::PrimaryOnlyRelation,
    ];

    /// Its position in [`Reason::ALL`] (an exhaustive match: a new reason cannot be forgotten).
    pub(crate) const fn index(self) -> usize {
        match self {
            Reason::Read => 0,
            Reason::Write => 1,
            Reason::Ddl => 2,
            Reason::LockingRead => 3,
            Reason::DataModifyingCte => 4,
            Reason::SelectInto => 5,
            Reason::WriteFunction => 6,
            Reason::SessionCommand => 7,
            Reason::Transaction => 8,
            Reason::MultiStatement => 9,
            Reason::Unparseable => 10,
            Reason::Empty => 11,
            Reason::Unrecognized => 12,
            Reason::Hint => 13,
            Reason::PrimaryOnlyRelation => 14,
        }
    }

    /// A stable snake_case name, for logs and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::Read => "read",
            Reason::Write => "write",
            Reason::Ddl => "ddl",
            Reason::LockingRead => "locking_read",
            Reason::DataModifyingCte => "data_modifying_cte",
            Reason::SelectInto => "select_into",
            Reason::WriteFunction => "write_function",
            Reason::SessionCommand => "session_command",
            Reason::Transaction => "transaction",
            Reason::MultiStatement => "multi_statement",
            Reason::Unparseable => "unparseable",
            Reason::Empty => "empty",
            Reason::Unrecognized => "unrecognized",
            Reason::Hint => "hint",
            Reason::PrimaryOnlyRelation => "primary_only_relation",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The answer of [`classify`]: a route and the reason for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Classification {
    reason: Reason,
    changes_schema: bool,
    copy_protocol: bool,
}

impl Classification {
    pub(crate) const fn new(reason: Reason) -> Self {
        Classification {
            reason,
            changes_schema: false,
            copy_protocol: false,
        }
    }

    pub(crate) const fn with_copy_protocol(mut self, copy_protocol: bool) -> Self {
        self.copy_protocol = copy_protocol;
        self
    }

    /// Whether the text holds a `COPY ... FROM STDIN` or `COPY ... TO STDOUT`, whose data
    /// flows in COPY's own sub-protocol: the router refuses to run it as a statement
    /// ([`Error::CopyProtocol`](crate::Error::CopyProtocol)).
    ///
    /// ```
    /// use dbroute::{classify, Dialect};
    ///
    /// let out = classify("COPY t TO STDOUT", Dialect::Postgres);
    /// assert!(out.is_read() && out.uses_copy_protocol());
    /// assert!(!classify("COPY t TO '/srv/t.csv'", Dialect::Postgres).uses_copy_protocol());
    /// ```
    pub const fn uses_copy_protocol(self) -> bool {
        self.copy_protocol
    }

    pub(crate) const fn with_schema_change(mut self, changes_schema: bool) -> Self {
        self.changes_schema = changes_schema;
        self
    }

    /// Whether the text holds a statement that changes the schema (`CREATE`, `ALTER`, `DROP`,
    /// `SELECT ... INTO`, ...): after it commits, the router reloads what it learnt from the
    /// catalog.
    ///
    /// ```
    /// use dbroute::{classify, Dialect};
    ///
    /// assert!(classify("SELECT 1; CREATE FUNCTION f() RETURNS int AS 'SELECT 1' LANGUAGE sql", Dialect::Postgres).changes_schema());
    /// assert!(!classify("UPDATE t SET x = 1", Dialect::Postgres).changes_schema());
    /// ```
    pub const fn changes_schema(self) -> bool {
        self.changes_schema
    }

    /// Where the statement may run.
    pub const fn route(self) -> Route {
        match self.reason {
            Reason::Read => Route::Replica,
            _ => Route::Primary,
        }
    }

    /// Why.
    pub const fn reason(self) -> Reason {
        self.reason
    }

    /// `true` when the statement may run on a replica.
    pub const fn is_read(self) -> bool {
        matches!(self.reason, Reason::Read)
    }
}

impl fmt::Display for Classification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.route(), self.reason)
    }
}

/// Classifies SQL text: [`Route::Replica`] only when it is provably read-only.
///
/// Never panics, on any input; runs in time linear in the length of `sql`.
///
/// ```
/// use dbroute::{classify, Dialect, Reason};
///
/// let cte = "WITH moved AS (DELETE FROM inbox RETURNING *) SELECT count(*) FROM moved";
/// assert_eq!(classify(cte, Dialect::Postgres).reason(), Reason::DataModifyingCte);
/// assert_eq!(classify("SELECT nextval('ids')", Dialect::Postgres).reason(), Reason::WriteFunction);
/// assert_eq!(classify("SELECT 1; SELECT 2", Dialect::Sqlite).reason(), Reason::Read);
/// ```
pub fn classify(sql: &str, dialect: Dialect) -> Classification {
    rules::classify(sql, dialect, &rules::Known::default())
}

#[cfg(test)]
mod tests;
