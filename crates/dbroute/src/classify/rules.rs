//! The statement rules: which statements are reads, and what inside a read makes it not one.
//! The table is in the [module docs](super).

use super::dynamic::{self, Arg, Parameter, Template};
use super::functions::{self, FunctionSet};
use super::lexer::{Lexer, Token, Unterminated};
use super::{Classification, Dialect, Reason, Templates};

/// What the classifier knows beyond the built-in rules: configured and catalog-loaded write
/// functions, relations a standby cannot read (and the schemas holding them), and the
/// functions among the write functions whose calls may be judged by their arguments.
#[derive(Default, Clone, Copy)]
pub(crate) struct Known<'x> {
    pub(crate) functions: &'x [&'x FunctionSet],
    pub(crate) relations: Option<&'x FunctionSet>,
    pub(crate) schemas: Option<&'x FunctionSet>,
    pub(crate) templates: Option<&'x Templates>,
}

/// How deep statements made by dynamic SQL are followed (a function whose text calls another
/// such function, ...) before the call is left to the primary.
const MAX_NESTING: u8 = 4;

/// Classifies `sql` with what is `known` beyond the built-in rules.
pub(crate) fn classify(sql: &str, dialect: Dialect, known: &Known<'_>) -> Classification {
    let classification = classify_unhinted(sql, dialect, known);
    if has_primary_hint(sql) {
        return Classification::new(Reason::Hint)
            .with_schema_change(classification.changes_schema())
            .with_copy_protocol(classification.uses_copy_protocol());
    }
    classification
}

fn classify_unhinted(sql: &str, dialect: Dialect, known: &Known<'_>) -> Classification {
    Rules::new(known, 0).classify_either(sql, dialect)
}

struct Rules<'x> {
    known: Known<'x>,
    extra: &'x [&'x FunctionSet],
    /// Relations a standby cannot read (`None` when there are none: the common case costs one
    /// branch per word).
    relations: Option<&'x FunctionSet>,
    /// How many statements made by dynamic SQL enclose this one.
    nesting: u8,
    /// Whether a statement read so far uses COPY's sub-protocol.
    copy_protocol: std::cell::Cell<bool>,
}

impl<'x> Rules<'x> {
    fn new(known: &Known<'x>, nesting: u8) -> Self {
        Rules {
            known: *known,
            extra: known.functions,
            relations: known.relations.filter(|set| !set.is_empty()),
            nesting,
            copy_protocol: std::cell::Cell::new(false),
        }
    }
}

impl Rules<'_> {
    /// Classifies the text under the dialect's default reading of backslashes and, where a
    /// backslash makes it matter, under the other one too.
    fn classify_either(&self, sql: &str, dialect: Dialect) -> Classification {
        let default = default_backslash_escapes(dialect);
        let (first, ambiguous) = self.classify_text(sql, dialect, default);
        let unterminated = |c: Classification| c.reason() == Reason::Unparseable;
        if !ambiguous || !first.is_read() && !unterminated(first) {
            return first;
        }
        // A backslash inside a literal: read it the other way too, and keep the safer answer.
        let second = self.classify_text(sql, dialect, !default).0;
        // PostgreSQL parses the whole text before running any of it: under a setting that
        // leaves a literal unterminated, nothing runs at all, so the other reading decides.
        // (MySQL runs a multi-statement text one statement at a time.)
        match (dialect, unterminated(first), unterminated(second)) {
            (Dialect::Postgres, true, false) => second,
            (Dialect::Postgres, false, true) => first,
            (_, true, _) => first,
            _ => second,
        }
    }

    /// Whether a statement made by dynamic SQL (or passed as text to a function that runs
    /// it) only reads; `false` past [`MAX_NESTING`].
    fn nested_reads_only(&self, sql: &str) -> bool {
        self.nesting < MAX_NESTING
            && Rules::new(&self.known, self.nesting + 1)
                .classify_either(sql, Dialect::Postgres)
                .is_read()
    }

    /// Classifies every statement of the text; returns the answer and whether a backslash made
    /// the lexing depend on server settings.
    fn classify_text(
        &self,
        sql: &str,
        dialect: Dialect,
        backslash_escapes: bool,
    ) -> (Classification, bool) {
        let mut lexer = Lexer::new(sql, dialect, backslash_escapes);
        let mut statements = 0usize;
        let mut verdict = Reason::Empty;
        let mut changes_schema = false;
        loop {
            match self.classify_statement(&mut lexer) {
                Err(Unterminated) => {
                    let ambiguous = lexer.saw_ambiguous_backslash;
                    return (Classification::new(Reason::Unparseable), ambiguous);
                }
                Ok((None, true)) => break,
                Ok((None, false)) => continue,
                Ok((Some(reason), at_end)) => {
                    statements += 1;
                    changes_schema |= matches!(reason, Reason::Ddl | Reason::SelectInto);
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
        let classification = Classification::new(verdict)
            .with_schema_change(changes_schema)
            .with_copy_protocol(self.copy_protocol.get());
        (classification, lexer.saw_ambiguous_backslash)
    }

    /// Classifies one statement, up to its `;` or the end of the text. Returns its reason (`None`
    /// for an empty statement) and whether the text ended.
    fn classify_statement(
        &self,
        lexer: &mut Lexer<'_>,
    ) -> Result<(Option<Reason>, bool), Unterminated> {
        let Some(lead) = leading_keyword(lexer)? else {
            return Ok((None, true));
        };
        let (lead, PlanOnly(plan_only)) = match lead {
            Lead::Keyword(word, plan_only) => (word, plan_only),
            Lead::EndOfStatement => return Ok((None, false)),
            Lead::Other => return skip_statement(lexer, Reason::Unrecognized),
        };
        match statement_kind(lead) {
            // Only planned, never run: nothing in it executes (volatile functions are never
            // evaluated while planning; locks, `INTO` and data-modifying CTEs only act when
            // run). Planning still opens the relations, which a standby refuses for some.
            Some(_) if plan_only && is_plannable(lead) => self.scan_relations(lexer, Reason::Read),
            Some(Reason::Read) => self.scan_read(lexer),
            Some(Reason::Write) if !plan_only && is(lead, "COPY") => {
                let direction = copy_direction(lexer)?;
                self.copy_protocol
                    .set(self.copy_protocol.get() || direction != CopyDirection::Server);
                match direction {
                    // Copied out to the client: a read of a table or of a query, which must
                    // itself be a read (`COPY (DELETE ... RETURNING *) TO STDOUT` is not).
                    CopyDirection::ToClient => self.scan_read(lexer),
                    _ => skip_statement(lexer, Reason::Write),
                }
            }
            Some(reason) => skip_statement(lexer, reason),
            None => skip_statement(lexer, Reason::Unrecognized),
        }
    }

    /// Scans the rest of a read for anything that makes it not read-only, with one token of
    /// lookahead (a word followed by `(` is a call; `FOR` followed by `UPDATE` is a lock).
    fn scan_read(&self, shared: &mut Lexer<'_>) -> Result<(Option<Reason>, bool), Unterminated> {
        // A local copy of the lexer lets its fields live in registers through the loop.
        let mut local = *shared;
        let result = self.scan_read_local(&mut local);
        *shared = local;
        result
    }

    #[inline(always)]
    fn scan_read_local(
        &self,
        lexer: &mut Lexer<'_>,
    ) -> Result<(Option<Reason>, bool), Unterminated> {
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
                        if functions::is_write_function(word, self.extra) {
                            self.write_call_hazard(word, lexer)
                        } else {
                            self.reads_relations_by_name(word, lexer)
                        }
                    } else if matches!(token, Token::Word(..)) {
                        let next_word = match next {
                            Some(Token::Word(s, e)) => lexer.slice(s, e),
                            _ => &[],
                        };
                        read_hazard(word, next_word, depth).or_else(|| self.relation_hazard(word))
                    } else {
                        self.relation_hazard(word)
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
}

impl Rules<'_> {
    /// Whether `word` names a relation a standby cannot read. Any word counts (a column that
    /// shares the name only costs a read on the primary); only the last part of a qualified
    /// name is compared, case-insensitively, as for functions.
    fn relation_hazard(&self, word: &[u8]) -> Option<Reason> {
        let relations = self.relations?;
        functions::is_listed(word, relations).then_some(Reason::PrimaryOnlyRelation)
    }

    /// Whether a call of `name` (its `(` just read by `lexer`) reads, by name, a relation a
    /// standby cannot read. `table_to_xml('t', ...)` reads `t`, `query_to_xml('SELECT ...',
    /// ...)` and `ts_stat('SELECT ...')` what the query reads, `schema_to_xml('s', ...)` every
    /// relation of `s`, `database_to_xml(...)` every relation (a standby refuses it as soon as
    /// the database holds one unlogged table). Judged only once the catalog lists such
    /// relations, and from a literal first argument; otherwise the call goes to the primary.
    fn reads_relations_by_name(&self, name: &[u8], lexer: &Lexer<'_>) -> Option<Reason> {
        let relations = self.relations?;
        let by_name = ByName::of(name)?;
        let first = dynamic::call_args(lexer).and_then(|args| args.into_iter().next());
        let Some(Arg::Literal(first)) = first else {
            return Some(Reason::PrimaryOnlyRelation);
        };
        let refused = match by_name {
            ByName::Relation => {
                functions::is_listed(dynamic::relation_name(&first).as_bytes(), relations)
            }
            ByName::Query => !self.nested_reads_only(&first),
            ByName::Schema => self
                .known
                .schemas
                .is_none_or(|schemas| functions::is_listed(first.as_bytes(), schemas)),
            ByName::Everything => true,
        };
        refused.then_some(Reason::PrimaryOnlyRelation)
    }

    /// A call of a write function (its `(` just read by `lexer`): a write, unless it is a
    /// learnt function whose only writes are dynamic SQL made from its parameters, and the
    /// statements it would make from this call's literal arguments all read.
    fn write_call_hazard(&self, name: &[u8], lexer: &Lexer<'_>) -> Option<Reason> {
        let templates = self.known.templates.filter(|t| !t.is_empty());
        let function = templates.and_then(|templates| {
            let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
            templates.get(lower.as_str())
        });
        let reads = function.is_some_and(|function| {
            dynamic::call_args(lexer).is_some_and(|args| {
                args.len() <= function.inputs
                    && function.statements.iter().all(|template| {
                        template
                            .instantiate(&args)
                            .is_some_and(|sql| self.nested_reads_only(&sql))
                    })
            })
        });
        (!reads).then_some(Reason::WriteFunction)
    }

    /// Skips to the end of the statement, answering `reason` unless it names a relation a
    /// standby cannot read.
    fn scan_relations(
        &self,
        lexer: &mut Lexer<'_>,
        reason: Reason,
    ) -> Result<(Option<Reason>, bool), Unterminated> {
        if self.relations.is_none() {
            return skip_statement(lexer, reason);
        }
        let mut verdict = reason;
        loop {
            match lexer.next_token()? {
                None => return Ok((Some(verdict), true)),
                Some(Token::Semicolon) => return Ok((Some(verdict), false)),
                Some(Token::Word(s, e) | Token::Quoted(s, e)) => {
                    if let Some(found) = self.relation_hazard(lexer.slice(s, e)) {
                        verdict = escalate(verdict, found);
                    }
                }
                Some(_) => {}
            }
        }
    }
}

/// Which relations a built-in reads by the name its first argument gives.
#[derive(Clone, Copy)]
enum ByName {
    Relation,
    Query,
    Schema,
    Everything,
}

impl ByName {
    /// Checked for every call once relations are known: no allocation.
    fn of(name: &[u8]) -> Option<Self> {
        if is(name, "ts_stat") {
            return Some(ByName::Query);
        }
        let lower = |b: &u8| b.to_ascii_lowercase();
        if !name.windows(7).any(|w| w.iter().map(lower).eq(*b"_to_xml")) {
            return None;
        }
        let starts = |prefix: &[u8]| starts_with_ignore_case(name, prefix);
        Some(match () {
            _ if starts(b"table_to_xml") => ByName::Relation,
            _ if starts(b"query_to_xml") => ByName::Query,
            _ if starts(b"schema_to_xml") => ByName::Schema,
            // `database_to_xml*`, `cursor_to_xml*` and any other `*_to_xml*`.
            _ => ByName::Everything,
        })
    }
}

/// What a PL/pgSQL block may do, judged from its words alone.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Block {
    /// It only reads.
    Reads,
    /// It only reads, but for `EXECUTE`s of these templates, made from constants and input
    /// parameters that the block never assigns.
    Dynamic(Vec<Template>),
    /// It may write.
    MayWrite,
}

/// What a PL/pgSQL block may do, judged from its words alone (the block's structure is not
/// parsed, so the judgement errs toward "may write"): no word that writes, changes state,
/// locks or runs dynamic SQL (`INSERT` ... `EXECUTE`, `SET`, `UPDATE` and `SHARE` also
/// catching `FOR UPDATE` / `FOR SHARE`), no call of a function that writes, no relation a
/// standby cannot read. Literals and comments are skipped as in a statement; `EXPLAIN`'s
/// options are not statements. Given the function's parameters, an `EXECUTE` of text made
/// from constants and input parameters that appear nowhere else in the block (so are never
/// assigned, shadowed or aliased) is a [`Template`] instead of a hazard.
pub(crate) fn analyze_block(block: &str, known: &Known<'_>, inputs: Option<&[Parameter]>) -> Block {
    let rules = Rules::new(known, 0);
    let mut lexer = Lexer::new(block, Dialect::Postgres, false);
    let mut templates = Vec::new();
    // Parameters named outside a template: they may be assigned, so what a template makes of
    // them is not what the call passed.
    let mut elsewhere = vec![false; inputs.map_or(0, dynamic::input_count)];
    let mut previous: &[u8] = b"";
    loop {
        let Ok(spanned) = lexer.next_spanned() else {
            return Block::MayWrite;
        };
        let Some((token, text)) = spanned else {
            break;
        };
        let word = match token {
            Token::Word(s, e) | Token::Quoted(s, e) => lexer.slice(s, e),
            _ => b"",
        };
        let bare = matches!(token, Token::Word(..));
        if bare && is(word, "EXECUTE") {
            match inputs.and_then(|inputs| dynamic::execute_template(&mut lexer, inputs)) {
                Some(template) => templates.push(template),
                None => return Block::MayWrite,
            }
            previous = text;
            continue;
        } else if bare && is(word, "EXPLAIN") {
            if skip_explain_words(&mut lexer).is_err() {
                return Block::MayWrite;
            }
        } else if let Some(index) = inputs.and_then(|i| dynamic::parameter(token, text, i)) {
            // `RETURN QUERY` is the keyword even where a parameter is named `query`.
            let keyword = is(previous, "RETURN") && is(word, "QUERY");
            if let Some(seen) = elsewhere.get_mut(index).filter(|_| !keyword) {
                *seen = true;
            }
        }
        if !word.is_empty() {
            let mut after = lexer;
            let call = after.next_token() == Ok(Some(Token::Open));
            let hazard = call
                && (functions::is_write_function(word, rules.extra)
                    || rules.reads_relations_by_name(word, &after).is_some())
                || rules.relation_hazard(word).is_some()
                || bare && is_block_hazard(word);
            if hazard {
                return Block::MayWrite;
            }
        }
        previous = text;
    }
    let uses_elsewhere = |t: &Template| (0..elsewhere.len()).any(|i| elsewhere[i] && t.uses(i));
    match templates {
        _ if templates.iter().any(uses_elsewhere) => Block::MayWrite,
        _ if templates.is_empty() => Block::Reads,
        templates => Block::Dynamic(templates),
    }
}

/// Whether a PL/pgSQL block only reads (see [`analyze_block`]; `EXECUTE` may write).
#[cfg(test)]
pub(crate) fn block_reads_only(block: &str, known: &Known<'_>) -> bool {
    analyze_block(block, known, None) == Block::Reads
}

/// Skips `EXPLAIN`'s options, parenthesized or not: the statement after them is scanned.
fn skip_explain_words(lexer: &mut Lexer<'_>) -> Result<(), Unterminated> {
    if lexer.peek_token()? == Some(Token::Open) {
        skip_explain_options(lexer)?;
    }
    while let Some(Token::Word(s, e)) = lexer.peek_token()? {
        if !is_explain_option(lexer.slice(s, e)) {
            break;
        }
        lexer.next_token()?;
    }
    Ok(())
}

/// Words that make a PL/pgSQL block possibly not read-only.
fn is_block_hazard(word: &[u8]) -> bool {
    const HAZARDS: &[&str] = &[
        "INSERT",
        "UPDATE",
        "DELETE",
        "MERGE",
        "TRUNCATE",
        "COPY",
        "CREATE",
        "ALTER",
        "DROP",
        "GRANT",
        "REVOKE",
        "EXECUTE",
        "CALL",
        "DO",
        "COMMIT",
        "ROLLBACK",
        "SAVEPOINT",
        "RELEASE",
        "LOCK",
        "SHARE",
        "NOTIFY",
        "LISTEN",
        "UNLISTEN",
        "REFRESH",
        "VACUUM",
        "ANALYZE",
        "ANALYSE",
        "CLUSTER",
        "REINDEX",
        "SECURITY",
        "COMMENT",
        "IMPORT",
        "SET",
        "RESET",
        "DISCARD",
        "PREPARE",
        "DEALLOCATE",
        "LOAD",
        "CHECKPOINT",
        "REASSIGN",
    ];
    HAZARDS.iter().any(|hazard| is(word, hazard))
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

enum Lead<'a> {
    /// The statement's keyword, and whether an `EXPLAIN` without `ANALYZE` only plans it.
    Keyword(&'a [u8], PlanOnly),
    EndOfStatement,
    Other,
}

/// Whether the statement is inside an `EXPLAIN` (or `DESCRIBE`) that only plans it: no
/// `ANALYZE` among its options, however spelt (`ANALYZE`, `(ANALYZE)`, `(ANALYZE off)`: any
/// mention counts as executing, the safe side).
#[derive(Clone, Copy, PartialEq, Eq)]
struct PlanOnly(bool);

/// The statement's leading keyword, past opening parentheses and `EXPLAIN` with its options.
/// `Ok(None)` at the end of the text.
fn leading_keyword<'a>(lexer: &mut Lexer<'a>) -> Result<Option<Lead<'a>>, Unterminated> {
    let mut explaining = false;
    let mut analyze = false;
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
                analyze |= skip_explain_options(lexer)?;
            }
            continue;
        }
        if explaining && is_explain_option(word) {
            analyze |= is_analyze(word);
            continue;
        }
        let plan_only = PlanOnly(explaining && !analyze);
        if explaining && !is_statement_keyword(word) {
            // `DESCRIBE table` / `EXPLAIN table` (MySQL): a read of the table's shape.
            return Ok(Some(Lead::Keyword(b"SHOW", plan_only)));
        }
        return Ok(Some(Lead::Keyword(word, plan_only)));
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

fn is_analyze(word: &[u8]) -> bool {
    is(word, "ANALYZE") || is(word, "ANALYSE")
}

/// Skips `EXPLAIN`'s parenthesized options; whether they mention `ANALYZE`.
fn skip_explain_options(lexer: &mut Lexer<'_>) -> Result<bool, Unterminated> {
    let mut depth = 0usize;
    let mut analyze = false;
    while let Some(token) = lexer.next_token()? {
        match token {
            Token::Open => depth += 1,
            Token::Close => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    break;
                }
            }
            Token::Semicolon => break,
            Token::Word(s, e) | Token::Quoted(s, e) => analyze |= is_analyze(lexer.slice(s, e)),
            Token::Other => {}
        }
    }
    Ok(analyze)
}

/// Where a `COPY` moves its data.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CopyDirection {
    /// `TO STDOUT`: out to the client, in COPY's sub-protocol (a read).
    ToClient,
    /// `FROM STDIN`: in from the client, in COPY's sub-protocol (a write).
    FromClient,
    /// A server file or program, either way (a write: it changes the server).
    Server,
}

/// Where `COPY`, just read, moves its data: the first `TO` or `FROM` outside parentheses and
/// the word after it decide, without consuming anything.
fn copy_direction(lexer: &Lexer<'_>) -> Result<CopyDirection, Unterminated> {
    let mut probe = *lexer;
    let mut depth = 0usize;
    while let Some(token) = probe.next_token()? {
        match token {
            Token::Open => depth += 1,
            Token::Close => depth = depth.saturating_sub(1),
            Token::Semicolon => break,
            Token::Word(s, e) if depth == 0 => {
                let word = probe.slice(s, e);
                let (client, direction) = match () {
                    _ if is(word, "TO") => ("STDOUT", CopyDirection::ToClient),
                    _ if is(word, "FROM") => ("STDIN", CopyDirection::FromClient),
                    _ => continue,
                };
                return Ok(match probe.next_token()? {
                    Some(Token::Word(s, e)) if is(probe.slice(s, e), client) => direction,
                    _ => CopyDirection::Server,
                });
            }
            _ => {}
        }
    }
    Ok(CopyDirection::Server)
}

/// The data-modifying statements whose plan `EXPLAIN` shows without running them.
/// Statements `EXPLAIN` plans without running them (`CREATE`: only `CREATE TABLE ... AS` and
/// `CREATE MATERIALIZED VIEW` can be explained; any other is a syntax error everywhere).
fn is_plannable(word: &[u8]) -> bool {
    [
        "SELECT", "WITH", "VALUES", "TABLE", "INSERT", "UPDATE", "DELETE", "MERGE", "CREATE",
    ]
    .iter()
    .any(|keyword| is(word, keyword))
}

fn is_statement_keyword(word: &[u8]) -> bool {
    statement_kind(word).is_some()
}

/// What a statement's leading keyword makes it. `Some(Read)` means "a read, if nothing inside
/// says otherwise"; `None`, a keyword not known here.
fn statement_kind(word: &[u8]) -> Option<Reason> {
    let mut buffer = [0u8; 16];
    if word.len() > buffer.len() {
        return None;
    }
    for (out, byte) in buffer.iter_mut().zip(word) {
        *out = byte.to_ascii_uppercase();
    }
    // A `match` compiles to a switch on length and bytes, not a scan of every keyword.
    Some(match &buffer[..word.len()] {
        b"SELECT" | b"WITH" | b"VALUES" | b"TABLE" | b"SHOW" => Reason::Read,
        b"INSERT" | b"UPDATE" | b"DELETE" | b"MERGE" | b"REPLACE" | b"UPSERT" | b"TRUNCATE"
        | b"COPY" | b"LOAD" | b"IMPORT" => Reason::Write,
        b"CREATE" | b"ALTER" | b"DROP" | b"COMMENT" | b"GRANT" | b"REVOKE" | b"RENAME"
        | b"REINDEX" | b"CLUSTER" | b"VACUUM" | b"ANALYZE" | b"ANALYSE" | b"REFRESH"
        | b"SECURITY" | b"OPTIMIZE" | b"REPAIR" | b"INSTALL" | b"UNINSTALL" => Reason::Ddl,
        b"BEGIN" | b"START" | b"COMMIT" | b"END" | b"ROLLBACK" | b"SAVEPOINT" | b"RELEASE"
        | b"ABORT" | b"XA" => Reason::Transaction,
        b"SET" | b"RESET" | b"LISTEN" | b"UNLISTEN" | b"NOTIFY" | b"PREPARE" | b"EXECUTE"
        | b"EXEC" | b"DEALLOCATE" | b"DECLARE" | b"FETCH" | b"MOVE" | b"CLOSE" | b"LOCK"
        | b"UNLOCK" | b"CALL" | b"DO" | b"DISCARD" | b"USE" | b"HANDLER" | b"FLUSH" | b"KILL"
        | b"ATTACH" | b"DETACH" | b"PRAGMA" | b"CHECKPOINT" => Reason::SessionCommand,
        _ => return None,
    })
}

/// Whether the keyword `word` (followed by `next_word`, or `b""`), inside a read, makes the
/// statement not read-only.
#[inline]
fn read_hazard(word: &[u8], next_word: &[u8], depth: usize) -> Option<Reason> {
    // Every hazard keyword is 3 to 8 bytes: compare whole words as one integer each.
    if !(3..=8).contains(&word.len()) {
        return None;
    }
    const FOR: u64 = key(b"FOR");
    const LOCK: u64 = key(b"LOCK");
    const INTO: u64 = key(b"INTO");
    const INSERT: u64 = key(b"INSERT");
    const UPDATE: u64 = key(b"UPDATE");
    const DELETE: u64 = key(b"DELETE");
    const MERGE: u64 = key(b"MERGE");
    const NEXT: u64 = key(b"NEXT");
    const PREVIOUS: u64 = key(b"PREVIOUS");
    match key(word) {
        FOR => ["UPDATE", "SHARE", "NO", "KEY"]
            .iter()
            .any(|w| is(next_word, w))
            .then_some(Reason::LockingRead),
        // MySQL `LOCK IN SHARE MODE`.
        LOCK => is(next_word, "IN").then_some(Reason::LockingRead),
        INTO => Some(Reason::SelectInto),
        INSERT | UPDATE | DELETE | MERGE if depth > 0 => Some(Reason::DataModifyingCte),
        INSERT | UPDATE | DELETE | MERGE => Some(Reason::Write),
        // MariaDB sequences: `NEXT VALUE FOR s`.
        NEXT | PREVIOUS => is(next_word, "VALUE").then_some(Reason::WriteFunction),
        _ => None,
    }
}

/// A word of at most 8 bytes as one integer, ASCII letters folded to upper case. Clearing bit
/// 5 maps `a-z` onto `A-Z` and never maps a non-letter onto a letter, so two keys are equal
/// exactly when the words are equal ignoring case (for keywords made of letters).
#[inline]
const fn key(word: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    let mut i = 0;
    while i < word.len() && i < 8 {
        bytes[i] = word[i] & !0x20;
        i += 1;
    }
    u64::from_le_bytes(bytes) | ((word.len() as u64) << 59)
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
