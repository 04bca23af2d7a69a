//! The classifier against a real SQL parser (sqlparser) over the corpus: whenever the parser
//! sees a write, a lock or a side-effect function, the classifier must say primary. Every case
//! where the classifier is more conservative than the parser is listed, with its
//! justification, in `tests/corpus/conservative.txt`; the test fails if that list is not
//! exactly the set of such cases, so it never goes stale.

mod corpus;

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use dbroute::{BUILTIN_WRITE_FUNCTION_PREFIXES, BUILTIN_WRITE_FUNCTIONS, Dialect, classify};
use sqlparser::ast::{Expr, Query, SetExpr, Statement, Visit, Visitor};
use sqlparser::dialect::{MySqlDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;

/// What the parser's tree says about a text: `Some(true)` read-only, `Some(false)` a write,
/// lock or side effect, `None` not parsed.
fn parser_says_read(sql: &str, dialect: Dialect) -> Option<bool> {
    let statements = match dialect {
        Dialect::MySql => Parser::parse_sql(&MySqlDialect {}, sql),
        Dialect::Sqlite => Parser::parse_sql(&SQLiteDialect {}, sql),
        _ => Parser::parse_sql(&PostgreSqlDialect {}, sql),
    }
    .ok()?;
    if statements.is_empty() {
        return None;
    }
    Some(statements.iter().all(statement_is_read))
}

fn statement_is_read(statement: &Statement) -> bool {
    match statement {
        Statement::Query(_) => {
            let mut finder = Hazards::default();
            let _ = statement.visit(&mut finder);
            !finder.found
        }
        // Without ANALYZE, EXPLAIN only plans: even EXPLAIN DELETE changes nothing.
        Statement::Explain {
            statement, analyze, ..
        } => !analyze || statement_is_read(statement),
        // COPY ... TO only reads.
        Statement::Copy { to: true, .. } => true,
        Statement::ExplainTable { .. } => true,
        other => {
            let name = format!("{other:?}");
            name.starts_with("Show")
        }
    }
}

/// Finds writes, locks, `SELECT INTO` and side-effect functions anywhere in a query tree.
#[derive(Default)]
struct Hazards {
    found: bool,
}

impl Visitor for Hazards {
    type Break = ();

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<()> {
        if !matches!(statement, Statement::Query(_)) {
            self.found = true;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if !query.locks.is_empty() || body_writes(&query.body) {
            self.found = true;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if let Expr::Function(function) = expr {
            let name = function.name.to_string();
            let last = name
                .rsplit('.')
                .next()
                .unwrap_or(&name)
                .trim_matches(['"', '`']);
            let lower = last.to_ascii_lowercase();
            if BUILTIN_WRITE_FUNCTIONS.contains(&lower.as_str())
                || BUILTIN_WRITE_FUNCTION_PREFIXES
                    .iter()
                    .any(|p| lower.starts_with(p))
            {
                self.found = true;
            }
        }
        ControlFlow::Continue(())
    }
}

fn body_writes(body: &SetExpr) -> bool {
    match body {
        SetExpr::Select(select) => select.into.is_some(),
        SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Merge(_) => true,
        SetExpr::SetOperation { left, right, .. } => body_writes(left) || body_writes(right),
        SetExpr::Query(query) => !query.locks.is_empty() || body_writes(&query.body),
        _ => false,
    }
}

/// The listed conservative cases: one per line (`Dialect reason: "text"`), justified by the
/// `#` comment lines above them.
fn listed_conservative() -> BTreeSet<String> {
    include_str!("corpus/conservative.txt")
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// The README states the corpus's size; it must be the corpus's size.
#[test]
fn the_readme_states_the_corpus_size() {
    let readme = include_str!("../../../README.md");
    let claim = readme
        .split_once("-text corpus")
        .and_then(|(before, _)| before.rsplit(' ').next())
        .expect("the README states the corpus size as \"N-text corpus\"");
    let claimed: usize = claim.replace(',', "").parse().expect("a number");
    assert_eq!(claimed, corpus::corpus().len(), "README says {claim}");
}

#[test]
fn the_classifier_never_says_replica_when_the_parser_sees_a_write() {
    let corpus = corpus::corpus();
    assert!(
        corpus.len() >= 1_000,
        "corpus has {} statements",
        corpus.len()
    );
    let (mut parsed, mut conservative, mut unsafe_cases) = (0, BTreeSet::new(), Vec::new());
    for (dialect, sql) in &corpus {
        let Some(parser_read) = parser_says_read(sql, *dialect) else {
            continue;
        };
        parsed += 1;
        let ours = classify(sql, *dialect);
        match (parser_read, ours.is_read()) {
            (false, true) => unsafe_cases.push(format!("{dialect:?}: {sql}")),
            (true, false) => {
                conservative.insert(format!("{dialect:?} {}: {sql:?}", ours.reason()));
            }
            _ => {}
        }
    }
    assert!(
        unsafe_cases.is_empty(),
        "writes the classifier would send to a replica:\n{}",
        unsafe_cases.join("\n")
    );
    assert!(
        parsed >= 900,
        "only {parsed} of {} statements parsed",
        corpus.len()
    );
    let listed = listed_conservative();
    let missing: Vec<_> = conservative.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&conservative).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "tests/corpus/conservative.txt is out of date.\nunlisted conservative cases:\n{}\n\nlisted but no longer conservative:\n{}",
        missing
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        stale
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
    );
    println!(
        "corpus: {} texts, {parsed} parsed by sqlparser, {} conservative cases listed",
        corpus.len(),
        conservative.len()
    );
}
