//! Observability of routed statements: a `tracing` span per statement (target
//! [`STATEMENT_TARGET`]), and, with the `metrics` feature, counters, histograms and gauges
//! through the `metrics` facade. The names are listed in the README's "Observability".
//!
//! Both cost next to nothing when nobody listens: a span is created only when a subscriber
//! enables `dbroute::statement` at `DEBUG` (otherwise `Span::none()`, and every later record
//! is a branch), and metric handles are registered once per engine when the router is built
//! (an increment is then one call through the recorder's handle, no key lookup, no
//! allocation).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_core::future::BoxFuture;
use futures_core::stream::BoxStream;
use tracing::field::Empty;
use tracing::{Instrument, Span};

/// The target of the per-statement span.
pub const STATEMENT_TARGET: &str = "dbroute::statement";

/// A span for one statement, its text (masked, at most `text_bytes`; none when `0`) recorded
/// when the span is enabled. The routing fields are recorded once they are known.
pub(crate) fn statement_span(sql: &str, text_bytes: usize) -> Span {
    let span = tracing::debug_span!(
        target: STATEMENT_TARGET,
        "statement",
        group = Empty,
        engine = Empty,
        role = Empty,
        reason = Empty,
        unit = Empty,
        in_transaction = Empty,
        causal = Empty,
        statement = Empty,
        attempts = Empty,
        error = Empty,
    );
    if text_bytes > 0 && !span.is_disabled() {
        span.record("statement", masked(sql, text_bytes).as_str());
    }
    span
}

/// `sql` with its string literals replaced by `'?'` (and dollar-quoted bodies by `$$?$$`),
/// cut to at most `limit` bytes on a character boundary (`...` marks a cut). Literals can hold
/// secrets (`ALTER ROLE ... PASSWORD '...'`); what cannot be read safely is cut, not shown.
pub(crate) fn masked(sql: &str, limit: usize) -> String {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len().min(limit) + 3);
    let mut i = 0;
    // An unterminated literal: the rest is not shown.
    let mut cut = false;
    while i < bytes.len() && out.len() < limit && !cut {
        match bytes[i] {
            b'\'' => {
                out.push_str("'?'");
                match closing_quote(bytes, i + 1) {
                    Some(end) => i = end + 1,
                    None => cut = true,
                }
            }
            b'$' => match dollar_tag(bytes, i) {
                Some(tag) => {
                    out.push_str("$$?$$");
                    let body = i + tag.len();
                    match find(bytes, body, tag) {
                        Some(end) => i = end + tag.len(),
                        None => cut = true,
                    }
                }
                None => {
                    out.push('$');
                    i += 1;
                }
            },
            _ => {
                let next = next_boundary(sql, i);
                out.push_str(&sql[i..next]);
                i = next;
            }
        }
    }
    if out.len() > limit {
        let mut end = limit;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
    }
    if cut || i < bytes.len() {
        out.push_str("...");
    }
    out
}

/// The index of the quote closing a literal whose body starts at `from` (`''` is an escaped
/// quote; a backslash escapes the next byte, as in `E'...'` and MySQL: read either way, the
/// literal ends no earlier than its real end, so nothing of it shows).
fn closing_quote(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'\'' if bytes.get(i + 1) == Some(&b'\'') => i += 2,
            b'\'' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// A PostgreSQL dollar-quote opening (`$$` or `$tag$`) at `at`, if there is one.
fn dollar_tag(bytes: &[u8], at: usize) -> Option<&[u8]> {
    let rest = &bytes[at + 1..];
    let len = rest
        .iter()
        .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))?;
    (rest[len] == b'$' && !rest.first().is_some_and(u8::is_ascii_digit))
        .then(|| &bytes[at..at + len + 2])
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

fn next_boundary(text: &str, at: usize) -> usize {
    let mut next = at + 1;
    while !text.is_char_boundary(next) {
        next += 1;
    }
    next
}

/// `future`, boxed, polled inside `span` when the span is enabled. A disabled span is not
/// entered at all: entering one still costs a call per poll (a few hundred instructions per
/// statement where `tracing`'s `log` compatibility is compiled in, as sqlx has it).
pub(crate) fn future_in<'a, F>(future: F, span: Span) -> BoxFuture<'a, F::Output>
where
    F: Future + Send + 'a,
{
    if span.is_disabled() {
        Box::pin(future)
    } else {
        Box::pin(future.instrument(span))
    }
}

/// `stream` polled inside `span` when the span is enabled (see [`future_in`]).
pub(crate) fn stream_in<'a, T: 'a>(stream: BoxStream<'a, T>, span: Span) -> BoxStream<'a, T> {
    if span.is_disabled() {
        stream
    } else {
        Box::pin(InSpan {
            inner: stream,
            span,
        })
    }
}

/// A stream polled inside `span` (tracing's `Instrument` is for futures only).
struct InSpan<S> {
    inner: S,
    span: Span,
}

impl<S: Stream + Unpin> Stream for InSpan<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = &mut *self;
        let _entered = this.span.enter();
        Pin::new(&mut this.inner).poll_next(cx)
    }
}

pub(crate) use facade::EngineMetrics;

#[cfg(feature = "metrics")]
mod facade {
    use std::time::Duration;

    use metrics::{Counter, Gauge, Histogram};

    use crate::policy::RouteReason;
    use crate::stats::ErrorKind;

    /// One engine's handles, registered with the recorder installed when the router is built.
    #[derive(Debug)]
    pub(crate) struct EngineMetrics {
        statements: Vec<Counter>,
        errors: Vec<Counter>,
        statement_seconds: Histogram,
        acquire_seconds: Histogram,
        up: Gauge,
        lag_seconds: Gauge,
        lag_bytes: Gauge,
    }

    impl EngineMetrics {
        pub(crate) fn new(group: &str, engine: &str, role: &'static str) -> Self {
            describe();
            let labels = [
                ("group", group.to_owned()),
                ("engine", engine.to_owned()),
                ("role", role.to_owned()),
            ];
            let with = |key: &'static str, value: &'static str| {
                let mut all = labels.to_vec();
                all.push((key, value.to_owned()));
                all
            };
            EngineMetrics {
                statements: RouteReason::ALL
                    .iter()
                    .map(|r| {
                        metrics::counter!("dbroute_statements_total", &with("reason", r.as_str()))
                    })
                    .collect(),
                errors: ErrorKind::ALL
                    .iter()
                    .map(|k| {
                        metrics::counter!(
                            "dbroute_statement_errors_total",
                            &with("kind", k.as_str())
                        )
                    })
                    .collect(),
                statement_seconds: metrics::histogram!("dbroute_statement_seconds", &labels),
                acquire_seconds: metrics::histogram!("dbroute_acquire_seconds", &labels),
                up: metrics::gauge!("dbroute_engine_up", &labels),
                lag_seconds: metrics::gauge!("dbroute_replica_lag_seconds", &labels),
                lag_bytes: metrics::gauge!("dbroute_replica_lag_bytes", &labels),
            }
        }

        pub(crate) fn served(&self, reason: RouteReason) {
            if let Some(counter) = self.statements.get(reason.index()) {
                counter.increment(1);
            }
        }

        pub(crate) fn failed(&self, kind: ErrorKind) {
            if let Some(counter) = self.errors.get(kind.index()) {
                counter.increment(1);
            }
        }

        pub(crate) fn statement_took(&self, elapsed: Duration) {
            self.statement_seconds.record(elapsed.as_secs_f64());
        }

        pub(crate) fn acquire_took(&self, elapsed: Duration) {
            self.acquire_seconds.record(elapsed.as_secs_f64());
        }

        /// After each health probe: whether the engine is in the rotation, and its lag.
        pub(crate) fn health(&self, up: bool, lag: Option<(u64, Duration)>) {
            self.up.set(if up { 1.0 } else { 0.0 });
            if let Some((bytes, time)) = lag {
                self.lag_bytes.set(bytes as f64);
                self.lag_seconds.set(time.as_secs_f64());
            }
        }
    }

    /// Units and help texts, for exporters that show them (once per process).
    fn describe() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            use metrics::Unit;
            metrics::describe_counter!(
                "dbroute_statements_total",
                "Statements sent to an engine, by the reason they were routed there."
            );
            metrics::describe_counter!(
                "dbroute_statement_errors_total",
                "Statements that failed on an engine, by kind of error."
            );
            metrics::describe_histogram!(
                "dbroute_statement_seconds",
                Unit::Seconds,
                "Time from a connection in hand to a statement's last row or error."
            );
            metrics::describe_histogram!(
                "dbroute_acquire_seconds",
                Unit::Seconds,
                "Time to get a connection from an engine's pool."
            );
            metrics::describe_gauge!(
                "dbroute_engine_up",
                "1 while the engine is in the rotation, 0 while it is down or lagging."
            );
            metrics::describe_gauge!(
                "dbroute_replica_lag_seconds",
                Unit::Seconds,
                "How far a replica's replay is behind the primary, in time."
            );
            metrics::describe_gauge!(
                "dbroute_replica_lag_bytes",
                Unit::Bytes,
                "How far a replica's replay is behind the primary, in WAL bytes."
            );
        });
    }
}

#[cfg(not(feature = "metrics"))]
mod facade {
    use std::time::Duration;

    use crate::policy::RouteReason;
    use crate::stats::ErrorKind;

    /// Without the `metrics` feature: nothing to report to.
    #[derive(Debug)]
    pub(crate) struct EngineMetrics;

    impl EngineMetrics {
        pub(crate) fn new(_group: &str, _engine: &str, _role: &'static str) -> Self {
            EngineMetrics
        }

        pub(crate) fn served(&self, _reason: RouteReason) {}

        pub(crate) fn failed(&self, _kind: ErrorKind) {}

        pub(crate) fn statement_took(&self, _elapsed: Duration) {}

        pub(crate) fn acquire_took(&self, _elapsed: Duration) {}

        pub(crate) fn health(&self, _up: bool, _lag: Option<(u64, Duration)>) {}
    }
}

#[cfg(test)]
mod tests {
    use super::masked;

    #[test]
    fn literals_are_masked_and_text_is_cut_on_a_boundary() {
        let cases = [
            (
                "SELECT * FROM t WHERE id = $1",
                100,
                "SELECT * FROM t WHERE id = $1",
            ),
            (
                "ALTER ROLE app PASSWORD 'hunter2'",
                100,
                "ALTER ROLE app PASSWORD '?'",
            ),
            (
                "SELECT 'it''s', E'a\\'b', 'x'",
                100,
                "SELECT '?', E'?', '?'",
            ),
            (
                "SELECT $$secret$$, $tag$ also $ secret $tag$ FROM t",
                100,
                "SELECT $$?$$, $$?$$ FROM t",
            ),
            ("SELECT 'unterminated secret", 100, "SELECT '?'..."),
            ("SELECT 1 FROM users", 8, "SELECT 1..."),
            ("SELECT 'é'", 100, "SELECT '?'"),
            ("SELECT ééé", 9, "SELECT é..."),
        ];
        for (sql, limit, expected) in cases {
            assert_eq!(masked(sql, limit), expected, "{sql}");
        }
    }

    proptest::proptest! {
        /// Whatever surrounds it and wherever the text is cut, a secret inside a literal
        /// (quoted, escaped, dollar-quoted) never shows in a span's statement text.
        #[test]
        fn no_secret_in_a_literal_ever_shows(
            prefix in "[a-zA-Z0-9_ ,.()=<>*+-]{0,40}",
            secret in "[a-zA-Z0-9!@#%^&*()_+=:;,.<>/?|~ -]{6,20}",
            form in 0usize..5,
            suffix in ".{0,40}",
            limit in 0usize..120,
        ) {
            let literal = match form {
                0 => format!("'{secret}'"),
                1 => format!("E'\\'{secret}'"),
                2 => format!("$$ {secret} $$"),
                3 => format!("$tag${secret}$tag$"),
                _ => format!("'it''s {secret}'"),
            };
            let sql = format!("{prefix} {literal}{suffix}");
            let shown = masked(&sql, limit);
            proptest::prop_assert!(!shown.contains(&secret), "{sql:?} at {limit}: {shown:?}");
        }
    }

    #[test]
    fn no_literal_survives_masking() {
        // Every byte string: whatever is cut or masked, a literal's body never shows.
        let secret = "s3cr3t";
        for sql in [
            format!("SELECT '{secret}'"),
            format!("SELECT E'\\'{secret}'"),
            format!("SELECT $q${secret}$q$"),
            format!("SELECT '''{secret}'''"),
            format!("SELECT 'a' || '{secret}"),
        ] {
            for limit in 0..sql.len() + 2 {
                let shown = masked(&sql, limit);
                assert!(!shown.contains(secret), "{sql} at {limit}: {shown}");
                assert!(shown.len() <= limit + 3, "{sql} at {limit}: {shown}");
            }
        }
    }
}
