//! The decision: where a statement runs, as a pure function of what is known about it.
//!
//! [`decide`] takes the statement's classification, the explicit handle and the innermost scope
//! (already resolved to groups), the session state, and the router's layout; it returns a
//! [`Target`] and a [`RouteReason`]. It touches no database, no task-local and no clock, so the
//! whole precedence table is tested here, every combination, without a server.
//!
//! The precedence (the first rule that applies decides):
//!
//! | # | rule | reads go to | other statements go to |
//! |---|---|---|---|
//! | 1 | `enabled = false` | the primary | the primary |
//! | 2 | explicit handle | that group | that group if writable (refused in a session), else the primary |
//! | 3 | innermost scope | that group | that group if writable (refused in a session), else the primary |
//! | 4 | session stuck after a write | its transaction | its transaction |
//! | 5 | `strong` consistency | the primary | the primary |
//! | 6 | statement rules | the read group (`read_your_writes`: a replica at the scope's position) | the primary |
//!
//! In a session, "the primary" means the session's transaction when the statement writes or
//! the transaction is already open: a session never uses a second primary connection, and
//! its writes never escape its transaction.

use std::fmt;

use crate::classify::{Classification, Reason};
use crate::consistency::Consistency;

/// A group, by its index in the router.
pub(crate) type GroupId = usize;

/// Why a statement went where it went (see the precedence table on [`Router`](crate::Router)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RouteReason {
    /// `enabled = false`: everything goes to the primary.
    RoutingDisabled,
    /// An explicit handle chose the group.
    ExplicitGroup,
    /// A scope chose the group.
    ScopedGroup,
    /// A session stuck to its primary transaction after a write.
    StickyAfterWrite,
    /// The statement ran inside an explicit transaction ([`Router::begin`](crate::Router::begin)).
    Transaction,
    /// A read in [`Consistency::Strong`]: the primary.
    StrongConsistency,
    /// A read in [`Consistency::ReadYourWrites`] that no replica had replayed far enough for
    /// within `max_wait`: the primary. (The `dbroute::decision` event says how long it waited.)
    ReplicaNotCaughtUp,
    /// The statement rules decided; the classifier's reason says why.
    Statement(Reason),
}

impl RouteReason {
    /// How many reasons there are: the router's own, then the classifier's.
    pub(crate) const COUNT: usize = 7 + Reason::ALL.len();

    /// Every reason, in the order of [`RouteReason::index`].
    pub(crate) const ALL: [RouteReason; Self::COUNT] = {
        let mut all = [RouteReason::RoutingDisabled; Self::COUNT];
        let own = [
            RouteReason::RoutingDisabled,
            RouteReason::ExplicitGroup,
            RouteReason::ScopedGroup,
            RouteReason::StickyAfterWrite,
            RouteReason::Transaction,
            RouteReason::StrongConsistency,
            RouteReason::ReplicaNotCaughtUp,
        ];
        let mut i = 0;
        while i < own.len() {
            all[i] = own[i];
            i += 1;
        }
        let mut j = 0;
        while j < Reason::ALL.len() {
            all[i + j] = RouteReason::Statement(Reason::ALL[j]);
            j += 1;
        }
        all
    };

    /// A dense index, for per-reason counters (`ALL[r.index()] == r`).
    pub(crate) const fn index(self) -> usize {
        match self {
            RouteReason::RoutingDisabled => 0,
            RouteReason::ExplicitGroup => 1,
            RouteReason::ScopedGroup => 2,
            RouteReason::StickyAfterWrite => 3,
            RouteReason::Transaction => 4,
            RouteReason::StrongConsistency => 5,
            RouteReason::ReplicaNotCaughtUp => 6,
            RouteReason::Statement(reason) => 7 + reason.index(),
        }
    }

    /// A stable snake_case name, for logs and metrics (`statement` reasons give the
    /// classifier's: `write`, `read`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            RouteReason::RoutingDisabled => "routing_disabled",
            RouteReason::ExplicitGroup => "explicit_group",
            RouteReason::ScopedGroup => "scoped_group",
            RouteReason::StickyAfterWrite => "sticky_after_write",
            RouteReason::Transaction => "transaction",
            RouteReason::StrongConsistency => "strong_consistency",
            RouteReason::ReplicaNotCaughtUp => "replica_not_caught_up",
            RouteReason::Statement(reason) => reason.as_str(),
        }
    }
}

impl serde::Serialize for RouteReason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl fmt::Display for RouteReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a decision sends a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// An engine of this group, picked by the group's strategy.
    Group(GroupId),
    /// The session's primary transaction, begun now if not yet open.
    Unit,
    /// A session's write aimed at another writable group: refused.
    Refused(GroupId),
}

/// What the decision needs to know of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionState {
    /// Whether its primary transaction is open.
    pub(crate) tx_open: bool,
}

/// What is known about one statement.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Facts {
    pub(crate) classification: Classification,
    /// The group of the explicit handle it was run on.
    pub(crate) handle: Option<GroupId>,
    /// The group of the innermost scope.
    pub(crate) scope: Option<GroupId>,
    /// `Some` when it runs in a session (on the session, or in its scope).
    pub(crate) session: Option<SessionState>,
    /// The consistency mode in force.
    pub(crate) consistency: Consistency,
}

/// What is fixed for a router. Handles and scopes never name an empty group: those resolve to
/// the default group first.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout<'a> {
    pub(crate) default_group: GroupId,
    /// The read group, or the default group when the read group is absent or empty.
    pub(crate) read_group: GroupId,
    /// Whether each group takes writes when chosen explicitly.
    pub(crate) writable: &'a [bool],
    pub(crate) enabled: bool,
    pub(crate) sticky_after_write: bool,
}

/// The outcome: where, why, and what the classifier said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decision {
    pub(crate) target: Target,
    pub(crate) reason: RouteReason,
    pub(crate) classification: Classification,
    /// A read of the replicas that must see the scope's writes (`read_your_writes`): only a
    /// replica that has replayed their position may take it.
    pub(crate) causal: bool,
}

/// The precedence table of the module docs.
#[inline]
pub(crate) fn decide(facts: Facts, layout: &Layout<'_>) -> Decision {
    let classification = facts.classification;
    let decision = |target, reason| Decision {
        target,
        reason,
        classification,
        causal: false,
    };
    let read = classification.is_read();
    let tx_open = facts.session.is_some_and(|s| s.tx_open);
    // In a session, the primary is its transaction: begun for a write, joined once open.
    let primary = |write: bool| match facts.session {
        Some(_) if write || tx_open => Target::Unit,
        _ => Target::Group(layout.default_group),
    };
    if !layout.enabled {
        return decision(primary(!read), RouteReason::RoutingDisabled);
    }
    let statement = RouteReason::Statement(classification.reason());
    let (chosen, why) = match (facts.handle, facts.scope) {
        (Some(group), _) => (Some(group), RouteReason::ExplicitGroup),
        (None, Some(group)) => (Some(group), RouteReason::ScopedGroup),
        (None, None) => (None, statement),
    };
    match (chosen, read) {
        (Some(group), false) if group != layout.default_group && layout.writable[group] => {
            match facts.session {
                Some(_) => decision(Target::Refused(group), why),
                None => decision(Target::Group(group), why),
            }
        }
        (_, false) => decision(primary(true), statement),
        (Some(group), true) if group == layout.default_group => decision(primary(false), why),
        (Some(group), true) => decision(Target::Group(group), why),
        (None, true) if tx_open && layout.sticky_after_write => {
            decision(Target::Unit, RouteReason::StickyAfterWrite)
        }
        (None, true) => match facts.consistency {
            Consistency::Strong => decision(primary(false), RouteReason::StrongConsistency),
            Consistency::ReadYourWrites if layout.read_group != layout.default_group => Decision {
                causal: true,
                ..decision(Target::Group(layout.read_group), statement)
            },
            _ => decision(Target::Group(layout.read_group), statement),
        },
    }
}

#[cfg(test)]
mod tests;
