//! `dbroute`: the command-line face of dbroute.
//!
//! ```text
//! dbroute classify [--dialect postgres|mysql|sqlite] [--write-functions f,g] [--catalog URL] SQL
//! dbroute classify --jsonl [--summary] [--dialect ...] [--write-functions f,g] < queries.jsonl
//! dbroute check [--config dbroute.toml | --env] [--wait SECONDS]
//! ```
//!
//! `check` connects to every engine of a config and prints what each server says it is (see
//! `check.rs`); it exits 1 when one is down or not what the config says.
//!
//! With a statement, it prints the route and the reason (`replica (read)`). With `--jsonl` it
//! reads JSON Lines `{"sql": "..."}` from standard input and writes one line per input line,
//! in order, flushed as it goes: `{"route": "primary", "reason": "write"}`, or
//! `{"error": "..."}` for a line it cannot read (processing continues). `--summary` prints,
//! instead, the totals and the share of statements replicas would take: replay a query log to
//! predict how much read traffic routing moves off the primary.

mod catalog;
mod check;

use std::io::{self, BufRead, BufWriter, Write};
use std::process::ExitCode;
use std::time::Duration;

use check::{CheckArgs, Source};

use dbroute::{Classification, Classifier, Dialect, Reason};
use serde::{Deserialize, Serialize};

const USAGE: &str = "\
usage: dbroute classify [--dialect postgres|mysql|sqlite] [--write-functions f,g] [--catalog URL] SQL
       dbroute classify --jsonl [--summary] [--dialect ...] [--write-functions f,g] < queries.jsonl
       dbroute check [--config dbroute.toml | --env] [--wait SECONDS]

  SQL                 classify one statement; prints `<route> (<reason>)`
  --jsonl             read JSON Lines {\"sql\": \"...\"} from stdin, write one JSON result per line
  --summary           with --jsonl: print totals and the replica offload percentage instead
  --dialect D         postgres (default), mysql or sqlite
  --write-functions   extra comma-separated functions that send a statement to the primary
  --catalog URL       first load what the router learns from this live PostgreSQL database's
                      catalog (its VOLATILE functions), so the answers are the router's

  check               connect to every engine; print each one's group, role, what the server
                      says it is (primary or standby), state, lag, pool and redacted URL; exit 1
                      when an engine is down, a replica accepts writes or a primary is in recovery
  --config FILE       the engines of a dbroute TOML config (default: dbroute.toml)
  --env               the engines of the DBROUTE_* environment variables
  --wait SECONDS      how long to wait for every engine's first probe (default 5)";

/// What the command line asks for.
#[derive(Debug)]
enum Command {
    Classify(Args),
    Check(CheckArgs),
}

fn parse_command(args: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut all = args.peekable();
    if all.peek().map(String::as_str) != Some("check") {
        return parse_args(all).map(Command::Classify);
    }
    all.next();
    let mut check = CheckArgs {
        source: Source::File("dbroute.toml".into()),
        wait: Duration::from_secs(5),
    };
    while let Some(arg) = all.next() {
        match arg.as_str() {
            "--config" => {
                let file = all.next().ok_or("--config needs a file")?;
                check.source = Source::File(file.into());
            }
            "--env" => check.source = Source::Env,
            "--wait" => {
                let text = all.next().ok_or("--wait needs a number of seconds")?;
                let seconds: f64 = text
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && (0.0..=300.0).contains(s))
                    .ok_or_else(|| format!("--wait {text:?}: give seconds, 0 to 300"))?;
                check.wait = Duration::from_secs_f64(seconds);
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown option {other:?} for check")),
        }
    }
    Ok(Command::Check(check))
}

/// What the command line asks for.
#[derive(Debug, Default)]
struct Args {
    dialect: Dialect,
    jsonl: bool,
    summary: bool,
    write_functions: Vec<String>,
    /// A live PostgreSQL database whose catalog the router would load.
    catalog: Option<String>,
    sql: Option<String>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    match args.next().as_deref() {
        Some("classify") => {}
        Some("-h" | "--help") => return Err(String::new()),
        Some(other) => return Err(format!("unknown command {other:?}")),
        None => return Err("missing command".into()),
    }
    let mut parsed = Args::default();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--jsonl" => parsed.jsonl = true,
            "--summary" => parsed.summary = true,
            "--dialect" => {
                parsed.dialect = match args.next().as_deref() {
                    Some("postgres" | "postgresql" | "pg") => Dialect::Postgres,
                    Some("mysql" | "mariadb") => Dialect::MySql,
                    Some("sqlite") => Dialect::Sqlite,
                    other => return Err(format!("unknown dialect {other:?}")),
                }
            }
            "--write-functions" => {
                let list = args.next().ok_or("--write-functions needs a list")?;
                parsed
                    .write_functions
                    .extend(list.split(',').map(str::to_owned));
            }
            "--catalog" => {
                parsed.catalog = Some(args.next().ok_or("--catalog needs a postgres:// URL")?);
            }
            "-h" | "--help" => return Err(String::new()),
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            _ if parsed.sql.is_some() => return Err("give one SQL statement (quote it)".into()),
            _ => parsed.sql = Some(arg),
        }
    }
    match (&parsed.sql, parsed.jsonl) {
        (Some(_), true) => Err("give either SQL or --jsonl, not both".into()),
        (None, false) => Err("give a SQL statement, or --jsonl to read standard input".into()),
        _ if parsed.summary && !parsed.jsonl => Err("--summary goes with --jsonl".into()),
        _ => Ok(parsed),
    }
}

fn main() -> ExitCode {
    let args = match parse_command(std::env::args().skip(1)) {
        Ok(Command::Classify(args)) => args,
        Ok(Command::Check(check)) => {
            return match check::run(&check) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::FAILURE,
                Err(message) => {
                    eprintln!("dbroute check: {message}");
                    ExitCode::FAILURE
                }
            };
        }
        Err(message) => {
            if !message.is_empty() {
                eprintln!("dbroute: {message}\n");
            }
            eprintln!("{USAGE}");
            return if message.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    let classifier = Classifier::new(args.dialect)
        .with_write_functions(&args.write_functions)
        .with_cache(4096);
    let outcome = match &args.catalog {
        None => classify_with(&args, &|sql| Ok(classifier.classify(sql))),
        Some(url) => match catalog::Catalog::load(url, &args.write_functions) {
            Ok(catalog) => classify_with(&args, &|sql| catalog.classify(sql)),
            Err(message) => {
                eprintln!("dbroute classify: {message}");
                return ExitCode::FAILURE;
            }
        },
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`| head`) is a normal way to stop reading.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dbroute: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Classifies the statement, or replays standard input, with `classify`.
fn classify_with(args: &Args, classify: &Classify<'_>) -> io::Result<()> {
    match &args.sql {
        Some(sql) => match classify(sql) {
            Ok(classification) => {
                println!("{classification}");
                Ok(())
            }
            Err(error) => Err(io::Error::other(error)),
        },
        None => replay(classify, args.summary),
    }
}

#[derive(Deserialize)]
struct Input {
    sql: String,
}

#[derive(Serialize)]
struct Output {
    route: &'static str,
    reason: &'static str,
}

#[derive(Serialize)]
struct Failure {
    error: String,
}

/// Totals for `--summary`.
#[derive(Default)]
struct Summary {
    replica: u64,
    primary: u64,
    errors: u64,
    reasons: Vec<(Reason, u64)>,
}

impl Summary {
    fn add(&mut self, classification: Classification) {
        if classification.is_read() {
            self.replica += 1;
        } else {
            self.primary += 1;
        }
        match self
            .reasons
            .iter_mut()
            .find(|(r, _)| *r == classification.reason())
        {
            Some((_, n)) => *n += 1,
            None => self.reasons.push((classification.reason(), 1)),
        }
    }

    fn write(mut self, out: &mut impl Write) -> io::Result<()> {
        let total = self.replica + self.primary;
        let share = |n: u64| {
            if total == 0 {
                0.0
            } else {
                100.0 * n as f64 / total as f64
            }
        };
        writeln!(out, "statements: {total}")?;
        writeln!(
            out,
            "replica:    {} ({:.1}%)",
            self.replica,
            share(self.replica)
        )?;
        writeln!(
            out,
            "primary:    {} ({:.1}%)",
            self.primary,
            share(self.primary)
        )?;
        self.reasons
            .sort_by(|a, b| b.1.cmp(&a.1).then(a.0.as_str().cmp(b.0.as_str())));
        for (reason, n) in &self.reasons {
            writeln!(out, "  {:<20} {n}", reason.as_str())?;
        }
        writeln!(out, "unreadable lines: {}", self.errors)?;
        writeln!(out, "replica offload: {:.1}%", share(self.replica))
    }
}

/// `--jsonl`: one output line per input line, flushed as it goes.
/// How a statement is classified: by the classifier alone, or by a router with its catalog.
type Classify<'a> = dyn Fn(&str) -> Result<Classification, String> + 'a;

fn replay(classify: &Classify<'_>, summary_only: bool) -> io::Result<()> {
    let stdin = io::stdin().lock();
    let mut out = BufWriter::new(io::stdout().lock());
    let mut summary = Summary::default();
    for line in stdin.split(b'\n') {
        let line = line?;
        let result = std::str::from_utf8(&line)
            .map_err(|e| format!("line is not UTF-8: {e}"))
            .and_then(|text| {
                serde_json::from_str::<Input>(text.trim_end_matches('\r'))
                    .map_err(|e| format!("expected {{\"sql\": \"...\"}}: {e}"))
            })
            .and_then(|input| classify(&input.sql));
        match &result {
            Ok(classification) => summary.add(*classification),
            Err(_) => summary.errors += 1,
        }
        if summary_only {
            continue;
        }
        match result {
            Ok(c) => serde_json::to_writer(
                &mut out,
                &Output {
                    route: c.route().as_str(),
                    reason: c.reason().as_str(),
                },
            ),
            Err(error) => serde_json::to_writer(&mut out, &Failure { error }),
        }
        .map_err(io::Error::other)?;
        out.write_all(b"\n")?;
        out.flush()?;
    }
    if summary_only {
        summary.write(&mut out)?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        parse_args(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn arguments() {
        let args = parse(&["classify", "--dialect", "mysql", "SELECT 1"]).unwrap();
        assert_eq!(
            (args.dialect, args.sql.as_deref()),
            (Dialect::MySql, Some("SELECT 1"))
        );
        assert!(
            parse(&["classify", "--jsonl", "--summary"])
                .unwrap()
                .summary
        );
        assert!(
            parse(&["classify"])
                .unwrap_err()
                .contains("give a SQL statement")
        );
        assert!(
            parse(&["classify", "--summary", "SELECT 1"])
                .unwrap_err()
                .contains("--jsonl")
        );
        assert!(
            parse(&["classify", "--dialect", "oracle"])
                .unwrap_err()
                .contains("unknown dialect")
        );
        assert!(
            parse(&["frobnicate"])
                .unwrap_err()
                .contains("unknown command")
        );
    }
}
