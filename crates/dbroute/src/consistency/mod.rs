//! Read-your-writes by replication position: [`Consistency`] modes, the positions a scope has
//! written up to, and [`ConsistencyToken`]s that carry them across tasks, requests and
//! services.
//!
//! After a write commits on the primary, the router reads the primary's WAL position (in a
//! statement of its own, after `COMMIT` returned: a position taken in the same round trip can
//! precede the commit record) and records it in the current scope. A later read in that scope,
//! in [`Consistency::ReadYourWrites`], goes only to a replica that has replayed past that
//! position: the health monitor's cached replay positions answer most reads for free; when they
//! are older than the position, one cheap query asks the picked replica, polling briefly, up to
//! `max_wait` in all, then the read runs on the primary.
//!
//! The scope is the innermost of: a request (middleware wraps each in
//! [`reset_routing_context`](crate::reset_routing_context), which starts a fresh record), a
//! [`with_consistency`](crate::with_consistency) or [`Router::with_token`](crate::Router::with_token) scope, or, outside
//! every scope, the router itself (every read then follows every write made through it).
//!
//! The files: `mod.rs` (modes, the record of positions), `token.rs` ([`ConsistencyToken`]).
//! The router's side (capture, the replica check, tokens in and out) is in
//! `router/consistency.rs`.

mod token;

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Deserializer, Serialize};

pub use token::{ConsistencyToken, TokenError};

/// What a read must see of the writes before it.
///
/// | mode | a read after a write goes to | cost |
/// |---|---|---|
/// | `eventual` | any replica that is up (it may not have the write yet) | none |
/// | `read_your_writes` (default) | a replica that has replayed the write, else the primary after at most `max_wait` | one round trip after each committed write; a check only when cached positions do not suffice |
/// | `strong` | the primary, always | every read on the primary |
///
/// Set it router-wide (`consistency.mode`) and override it per scope with
/// [`with_consistency`](crate::with_consistency). Scopes that pick a group themselves ([`replica_context`],
/// [`use_bind_group`], explicit handles) are explicit choices and are not overridden.
///
/// [`replica_context`]: crate::replica_context
/// [`use_bind_group`]: crate::use_bind_group
///
/// ```
/// use dbroute::Consistency;
///
/// assert_eq!("read_your_writes".parse::<Consistency>(), Ok(Consistency::ReadYourWrites));
/// assert_eq!(Consistency::default(), Consistency::ReadYourWrites);
/// assert_eq!(Consistency::Strong.to_string(), "strong");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Consistency {
    /// Reads go to any replica that is up: after a commit they may miss it for a moment.
    Eventual,
    /// Reads after a write go only to replicas that have replayed it (or to the primary).
    #[default]
    ReadYourWrites,
    /// Reads go to the primary, like [`primary_context`](crate::primary_context), as a mode.
    Strong,
}

impl Consistency {
    /// `"eventual"`, `"read_your_writes"` or `"strong"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Consistency::Eventual => "eventual",
            Consistency::ReadYourWrites => "read_your_writes",
            Consistency::Strong => "strong",
        }
    }
}

impl fmt::Display for Consistency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Consistency {
    type Err = String;

    /// Case-insensitive; `-` and `_` are the same. The error does not repeat the input.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "eventual" => Ok(Consistency::Eventual),
            "read_your_writes" => Ok(Consistency::ReadYourWrites),
            "strong" => Ok(Consistency::Strong),
            _ => Err("not a consistency mode; use eventual, read_your_writes or strong".into()),
        }
    }
}

impl<'de> Deserialize<'de> for Consistency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A position of no write at all.
pub(crate) const NO_POSITION: u64 = 0;

/// The positions the writes of one scope reached, per cluster (a scope may use routers of
/// several clusters). Shared by the scope and everything that carries its context.
#[derive(Debug, Default)]
pub(crate) struct Record {
    /// Whether any mark exists: a scope that wrote nothing is answered without the lock.
    marked: AtomicBool,
    marks: Mutex<Vec<Mark>>,
}

#[derive(Debug, Clone, Copy)]
struct Mark {
    cluster: u64,
    /// The highest position captured after a write.
    position: u64,
    /// Set when a write's position could not be read (the connection broke after the commit,
    /// or the write ran where dbroute could not see it): the time, on `clock`, it was noted.
    unknown_since: Option<u64>,
    /// Orders "unknown" notes and the starts of captures.
    clock: u64,
}

/// What a read in a scope must wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// No write to wait for.
    Nothing,
    /// Replicas must have replayed this position.
    Position(u64),
    /// A write's position is unknown: capture the primary's position now, then wait for it.
    Unknown,
}

/// Taken just before a capture starts: every write noted unknown before it is covered by the
/// capture.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket(u64);

impl Record {
    fn with_mark<R>(&self, cluster: u64, f: impl FnOnce(&mut Mark) -> R) -> R {
        let mut marks = self.marks.lock().unwrap_or_else(|e| e.into_inner());
        let index = match marks.iter().position(|m| m.cluster == cluster) {
            Some(index) => index,
            None => {
                marks.push(Mark {
                    cluster,
                    position: NO_POSITION,
                    unknown_since: None,
                    clock: 0,
                });
                self.marked.store(true, Ordering::Release);
                marks.len() - 1
            }
        };
        f(&mut marks[index])
    }

    /// What a read of `cluster` must wait for.
    #[inline]
    pub(crate) fn need(&self, cluster: u64) -> Need {
        if !self.marked.load(Ordering::Acquire) {
            return Need::Nothing;
        }
        let marks = self.marks.lock().unwrap_or_else(|e| e.into_inner());
        match marks.iter().find(|m| m.cluster == cluster) {
            Some(mark) if mark.unknown_since.is_some() => Need::Unknown,
            Some(mark) if mark.position != NO_POSITION => Need::Position(mark.position),
            _ => Need::Nothing,
        }
    }

    /// The highest position recorded for `cluster`.
    pub(crate) fn position(&self, cluster: u64) -> u64 {
        let marks = self.marks.lock().unwrap_or_else(|e| e.into_inner());
        marks
            .iter()
            .find(|m| m.cluster == cluster)
            .map_or(NO_POSITION, |m| m.position)
    }

    /// Takes a ticket for a capture about to start.
    pub(crate) fn ticket(&self, cluster: u64) -> Ticket {
        self.with_mark(cluster, |mark| {
            mark.clock += 1;
            Ticket(mark.clock)
        })
    }

    /// Records a position captured after `ticket` was taken: it covers every write that
    /// returned before, so it also settles writes noted unknown before the ticket.
    pub(crate) fn captured(&self, cluster: u64, position: u64, ticket: Ticket) {
        self.with_mark(cluster, |mark| {
            mark.position = mark.position.max(position);
            if mark.unknown_since.is_some_and(|since| since < ticket.0) {
                mark.unknown_since = None;
            }
        });
    }

    /// Merges a position known from elsewhere (a token).
    pub(crate) fn merge(&self, cluster: u64, position: u64) {
        self.with_mark(cluster, |mark| mark.position = mark.position.max(position));
    }

    /// Notes a write whose position is unknown: reads capture the primary's position first.
    pub(crate) fn unknown(&self, cluster: u64) {
        self.with_mark(cluster, |mark| {
            mark.clock += 1;
            // The latest note: a capture settles the unknown writes only if it started after
            // all of them.
            mark.unknown_since = Some(mark.clock);
        });
    }
}

/// A fresh record, for a new scope.
pub(crate) fn new_record() -> Arc<Record> {
    Arc::new(Record::default())
}

#[cfg(test)]
mod tests;
