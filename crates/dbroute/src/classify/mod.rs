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
//! | `INSERT`, `UPDATE`, `DELETE`, `MERGE`, `REPLACE`, `TRUNCATE`, `COPY` ... | primary | [`Reason::Write`] |
//! | `CREATE`, `ALTER`, `DROP`, `GRANT`, `VACUUM` ... | primary | [`Reason::Ddl`] |
//! | `BEGIN`, `COMMIT`, `SAVEPOINT` ... | primary | [`Reason::Transaction`] |
//! | `SET`, `LISTEN`, `PREPARE`, cursors, `LOCK`, `CALL`, `DO`, `PRAGMA` ... | primary | [`Reason::SessionCommand`] |
//! | a read with `FOR UPDATE`/`FOR SHARE`/`FOR [NO] KEY ...`/`LOCK IN SHARE MODE` | primary | [`Reason::LockingRead`] |
//! | a read with `INSERT`/`UPDATE`/`DELETE`/`MERGE` inside (data-modifying CTE) | primary | [`Reason::DataModifyingCte`] |
//! | `SELECT ... INTO` (table creation, `OUTFILE`, `@var`) | primary | [`Reason::SelectInto`] |
//! | a read calling `nextval`, `pg_advisory_lock`, `GET_LOCK`, ... | primary | [`Reason::WriteFunction`] |
//! | `SELECT`, `WITH`, `VALUES`, `TABLE`, `SHOW`, `EXPLAIN` (without `ANALYZE` of a write) | replica | [`Reason::Read`] |
//! | anything else | primary | [`Reason::Unrecognized`] |
//!
//! Text with several statements goes to a replica only when every statement is a read;
//! otherwise to the primary with [`Reason::MultiStatement`].
//!
//! Where the server's settings change how text is lexed (backslash escapes in string literals:
//! PostgreSQL's `standard_conforming_strings`, MySQL's `NO_BACKSLASH_ESCAPES`), the text is
//! classified under both readings and the primary wins if either reading needs it.

mod functions;
mod lexer;

use std::fmt;

use lexer::{Lexer, Token, Unterminated};

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
}

impl Reason {
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
}

impl Classification {
    const fn new(reason: Reason) -> Self {
        Classification { reason }
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
    if has_primary_hint(sql) {
        return Classification::new(Reason::Hint);
    }
    let (first, ambiguous) = classify_text(sql, dialect, default_backslash_escapes(dialect));
    if !ambiguous || !first.is_read() {
        return first;
    }
    // A backslash inside a literal: read it the other way too, and keep the safer answer.
    classify_text(sql, dialect, !default_backslash_escapes(dialect)).0
}

/// A leading `/* dbroute:primary */` (or `-- dbroute:primary` line) forces the primary. A
/// `dbroute:replica` hint needs no code: a read goes to a replica anyway, and a write must not.
fn has_primary_hint(sql: &str) -> bool {
    let text = sql.trim_start();
    let body = if let Some(rest) = text.strip_prefix("/*") {
        rest.split_once("*/").map_or("", |(body, _)| body)
    } else if let Some(rest) = text.strip_prefix("--") {
        rest.lines().next().unwrap_or("")
    } else {
        return false;
    };
    body.trim() == "dbroute:primary"
}

fn default_backslash_escapes(dialect: Dialect) -> bool {
    dialect == Dialect::MySql
}

/// Classifies every statement of the text; returns the answer and whether a backslash made
/// the lexing depend on server settings.
fn classify_text(sql: &str, dialect: Dialect, backslash_escapes: bool) -> (Classification, bool) {
    let mut lexer = Lexer::new(sql, dialect, backslash_escapes);
    let mut statements = 0usize;
    let mut verdict = Reason::Empty;
    loop {
        match classify_statement(&mut lexer) {
            Err(Unterminated) => return (Classification::new(Reason::Unparseable), false),
            Ok((None, true)) => break,
            Ok((None, false)) => continue,
            Ok((Some(reason), at_end)) => {
                statements += 1;
                verdict = match (statements, verdict, reason) {
                    (1, _, reason) => reason,
                    (_, Reason::Read, Reason::Read) => Reason::Read,
                    _ => Reason::MultiStatement,
                };
                if at_end {
                    break;
                }
            }
        }
    }
    (Classification::new(verdict), lexer.saw_ambiguous_backslash)
}

/// Classifies one statement, up to its `;` or the end of the text. Returns its reason (`None`
/// for an empty statement) and whether the text ended.
fn classify_statement(lexer: &mut Lexer<'_>) -> Result<(Option<Reason>, bool), Unterminated> {
    let Some(lead) = leading_keyword(lexer)? else {
        return Ok((None, true));
    };
    let lead = match lead {
        Lead::Keyword(word) => word,
        Lead::EndOfStatement => return Ok((None, false)),
        Lead::Other => return skip_statement(lexer, Reason::Unrecognized),
    };
    match statement_kind(lead) {
        Some(Reason::Read) => scan_read(lexer),
        Some(reason) => skip_statement(lexer, reason),
        None => skip_statement(lexer, Reason::Unrecognized),
    }
}

enum Lead<'a> {
    Keyword(&'a [u8]),
    EndOfStatement,
    Other,
}

/// The statement's leading keyword, past opening parentheses and `EXPLAIN` with its options.
/// `Ok(None)` at the end of the text.
fn leading_keyword<'a>(lexer: &mut Lexer<'a>) -> Result<Option<Lead<'a>>, Unterminated> {
    let mut explaining = false;
    loop {
        let Some(token) = lexer.next_token()? else {
            return Ok(None);
        };
        let word = match token {
            Token::Open => continue,
            Token::Semicolon => return Ok(Some(Lead::EndOfStatement)),
            Token::Word(s, e) => lexer.slice(s, e),
            _ => return Ok(Some(Lead::Other)),
        };
        if is(word, "EXPLAIN") || (is(word, "DESCRIBE") || is(word, "DESC")) {
            explaining = true;
            if lexer.peek_token()? == Some(Token::Open) {
                skip_parenthesized(lexer)?;
            }
            continue;
        }
        if explaining && is_explain_option(word) {
            continue;
        }
        if explaining && !is_statement_keyword(word) {
            // `DESCRIBE table` / `EXPLAIN table` (MySQL): a read of the table's shape.
            return Ok(Some(Lead::Keyword(b"SHOW")));
        }
        return Ok(Some(Lead::Keyword(word)));
    }
}

fn is_explain_option(word: &[u8]) -> bool {
    // `EXPLAIN ANALYZE <write>` executes the write: the inner statement decides the route.
    [
        "ANALYZE",
        "ANALYSE",
        "VERBOSE",
        "QUERY",
        "PLAN",
        "EXTENDED",
        "PARTITIONS",
    ]
    .iter()
    .any(|option| is(word, option))
        || starts_with_ignore_case(word, b"FORMAT")
}

fn is_statement_keyword(word: &[u8]) -> bool {
    statement_kind(word).is_some()
}

fn skip_parenthesized(lexer: &mut Lexer<'_>) -> Result<(), Unterminated> {
    let mut depth = 0usize;
    while let Some(token) = lexer.next_token()? {
        match token {
            Token::Open => depth += 1,
            Token::Close => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Ok(());
                }
            }
            Token::Semicolon => return Ok(()),
            _ => {}
        }
    }
    Ok(())
}

/// What a statement's leading keyword makes it. `Some(Read)` means "a read, if nothing inside
/// says otherwise"; `None`, a keyword not known here.
fn statement_kind(word: &[u8]) -> Option<Reason> {
    const KINDS: &[(Reason, &[&str])] = &[
        (Reason::Read, &["SELECT", "WITH", "VALUES", "TABLE", "SHOW"]),
        (
            Reason::Write,
            &[
                "INSERT", "UPDATE", "DELETE", "MERGE", "REPLACE", "UPSERT", "TRUNCATE", "COPY",
                "LOAD", "IMPORT",
            ],
        ),
        (
            Reason::Ddl,
            &[
                "CREATE",
                "ALTER",
                "DROP",
                "COMMENT",
                "GRANT",
                "REVOKE",
                "RENAME",
                "REINDEX",
                "CLUSTER",
                "VACUUM",
                "ANALYZE",
                "ANALYSE",
                "REFRESH",
                "SECURITY",
                "OPTIMIZE",
                "REPAIR",
                "INSTALL",
                "UNINSTALL",
            ],
        ),
        (
            Reason::Transaction,
            &[
                "BEGIN",
                "START",
                "COMMIT",
                "END",
                "ROLLBACK",
                "SAVEPOINT",
                "RELEASE",
                "ABORT",
                "XA",
            ],
        ),
        (
            Reason::SessionCommand,
            &[
                "SET",
                "RESET",
                "LISTEN",
                "UNLISTEN",
                "NOTIFY",
                "PREPARE",
                "EXECUTE",
                "EXEC",
                "DEALLOCATE",
                "DECLARE",
                "FETCH",
                "MOVE",
                "CLOSE",
                "LOCK",
                "UNLOCK",
                "CALL",
                "DO",
                "DISCARD",
                "USE",
                "HANDLER",
                "FLUSH",
                "KILL",
                "ATTACH",
                "DETACH",
                "PRAGMA",
                "CHECKPOINT",
            ],
        ),
    ];
    KINDS
        .iter()
        .find(|(_, words)| words.iter().any(|w| is(word, w)))
        .map(|(reason, _)| *reason)
}

/// Scans the rest of a read for anything that makes it not read-only, with one token of
/// lookahead (a word followed by `(` is a call; `FOR` followed by `UPDATE` is a lock).
fn scan_read(lexer: &mut Lexer<'_>) -> Result<(Option<Reason>, bool), Unterminated> {
    let mut depth = 0usize;
    let mut verdict = Reason::Read;
    let mut current = lexer.next_token()?;
    loop {
        let token = match current {
            None => return Ok((Some(verdict), true)),
            Some(Token::Semicolon) => return Ok((Some(verdict), false)),
            Some(token) => token,
        };
        let next = lexer.next_token()?;
        match token {
            Token::Open => depth += 1,
            Token::Close => depth = depth.saturating_sub(1),
            Token::Quoted(s, e) | Token::Word(s, e) => {
                let word = lexer.slice(s, e);
                let hazard = if next == Some(Token::Open) {
                    // A call: `replace(...)` and MySQL's `insert(...)` are string functions.
                    functions::is_write_function(word).then_some(Reason::WriteFunction)
                } else if matches!(token, Token::Word(..)) {
                    let next_word = match next {
                        Some(Token::Word(s, e)) => lexer.slice(s, e),
                        _ => &[],
                    };
                    read_hazard(word, next_word, depth)
                } else {
                    None
                };
                if let Some(found) = hazard {
                    verdict = escalate(verdict, found);
                }
            }
            Token::Other | Token::Semicolon => {}
        }
        current = next;
    }
}

/// Whether the keyword `word` (followed by `next_word`, or `b""`), inside a read, makes the
/// statement not read-only.
fn read_hazard(word: &[u8], next_word: &[u8], depth: usize) -> Option<Reason> {
    // Fast exit: every hazard keyword is 3 to 8 bytes and starts with one of these letters.
    let first = word.first()?.to_ascii_uppercase();
    if !(3..=8).contains(&word.len()) || !b"FLIUDMNP".contains(&first) {
        return None;
    }
    if is(word, "FOR") {
        let locks = ["UPDATE", "SHARE", "NO", "KEY"];
        locks
            .iter()
            .any(|w| is(next_word, w))
            .then_some(Reason::LockingRead)
    } else if is(word, "LOCK") {
        // MySQL `LOCK IN SHARE MODE`.
        is(next_word, "IN").then_some(Reason::LockingRead)
    } else if is(word, "INTO") {
        Some(Reason::SelectInto)
    } else if ["INSERT", "UPDATE", "DELETE", "MERGE"]
        .iter()
        .any(|w| is(word, w))
    {
        Some(if depth > 0 {
            Reason::DataModifyingCte
        } else {
            Reason::Write
        })
    } else if is(word, "NEXT") || is(word, "PREVIOUS") {
        // MariaDB sequences: `NEXT VALUE FOR s`.
        is(next_word, "VALUE").then_some(Reason::WriteFunction)
    } else {
        None
    }
}

/// The most specific reason wins; any non-read reason beats `Read`.
fn escalate(current: Reason, found: Reason) -> Reason {
    if current == Reason::Read {
        found
    } else {
        current
    }
}

/// Skips to the end of the statement, answering `reason` for it.
fn skip_statement(
    lexer: &mut Lexer<'_>,
    reason: Reason,
) -> Result<(Option<Reason>, bool), Unterminated> {
    loop {
        match lexer.next_token()? {
            None => return Ok((Some(reason), true)),
            Some(Token::Semicolon) => return Ok((Some(reason), false)),
            Some(_) => {}
        }
    }
}

fn is(word: &[u8], keyword: &str) -> bool {
    word.eq_ignore_ascii_case(keyword.as_bytes())
}

fn starts_with_ignore_case(word: &[u8], prefix: &[u8]) -> bool {
    word.len() >= prefix.len() && word[..prefix.len()].eq_ignore_ascii_case(prefix)
}

#[cfg(test)]
mod tests;
