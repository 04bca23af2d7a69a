//! The precedence table, tested without a database: hand-written rows for each rule, invariants
//! over every combination of inputs, and the whole table checked against `table.txt`.

use super::*;
use crate::classify::{Classification, Reason};
use crate::consistency::Consistency;

const DEFAULT: GroupId = 0;
const READ: GroupId = 1;
const ANALYTICS: GroupId = 2;
const SHARD: GroupId = 3;
const NAMES: [&str; 4] = ["default", "read", "analytics", "shard"];
const WRITABLE: [bool; 4] = [true, false, false, true];

fn layout(enabled: bool, sticky_after_write: bool) -> Layout<'static> {
    Layout {
        default_group: DEFAULT,
        read_group: READ,
        writable: &WRITABLE,
        enabled,
        sticky_after_write,
    }
}

fn facts(
    reason: Reason,
    handle: Option<GroupId>,
    scope: Option<GroupId>,
    session: Option<bool>,
) -> Facts {
    Facts {
        classification: Classification::new(reason),
        handle,
        scope,
        session: session.map(|tx_open| SessionState { tx_open }),
        consistency: Consistency::ReadYourWrites,
    }
}

fn with_mode(facts: Facts, consistency: Consistency) -> Facts {
    Facts {
        consistency,
        ..facts
    }
}

/// One row per rule of the module docs' table (and the session cases that make a unit of work).
#[test]
fn each_rule_decides_as_the_table_says() {
    use RouteReason::*;
    use Target::{Group, Refused, Unit};
    let write = Reason::Write;
    let read = Reason::Read;
    #[rustfmt::skip]
    let rows: &[(&str, Facts, bool, Target, RouteReason)] = &[
        // 5: statement rules.
        ("plain read", facts(read, None, None, None), true, Group(READ), Statement(read)),
        ("plain write", facts(write, None, None, None), true, Group(DEFAULT), Statement(write)),
        ("locking read", facts(Reason::LockingRead, None, None, None), true, Group(DEFAULT), Statement(Reason::LockingRead)),
        // 4: a session: reads on replicas until the first write, which begins its transaction.
        ("session read, no transaction", facts(read, None, None, Some(false)), true, Group(READ), Statement(read)),
        ("session write begins the transaction", facts(write, None, None, Some(false)), true, Unit, Statement(write)),
        ("session read after a write sticks", facts(read, None, None, Some(true)), true, Unit, StickyAfterWrite),
        // 3: scopes choose the group for reads; writes still go to the primary.
        ("scoped read", facts(read, None, Some(ANALYTICS), None), true, Group(ANALYTICS), ScopedGroup),
        ("scoped write to a read-only group", facts(write, None, Some(ANALYTICS), None), true, Group(DEFAULT), Statement(write)),
        ("scoped write to a writable group", facts(write, None, Some(SHARD), None), true, Group(SHARD), ScopedGroup),
        ("primary scope read", facts(read, None, Some(DEFAULT), None), true, Group(DEFAULT), ScopedGroup),
        ("replica scope beats stickiness", facts(read, None, Some(READ), Some(true)), true, Group(READ), ScopedGroup),
        ("primary scope in a stuck session joins it", facts(read, None, Some(DEFAULT), Some(true)), true, Unit, ScopedGroup),
        ("primary scope in a fresh session", facts(read, None, Some(DEFAULT), Some(false)), true, Group(DEFAULT), ScopedGroup),
        ("session write to a writable group is refused", facts(write, None, Some(SHARD), Some(false)), true, Refused(SHARD), ScopedGroup),
        // 2: an explicit handle beats the scope.
        ("handle beats scope", facts(read, Some(READ), Some(ANALYTICS), None), true, Group(READ), ExplicitGroup),
        ("handle write to a read-only group", facts(write, Some(ANALYTICS), None, None), true, Group(DEFAULT), Statement(write)),
        ("handle write to a writable group", facts(write, Some(SHARD), Some(ANALYTICS), None), true, Group(SHARD), ExplicitGroup),
        // 1: routing off: the primary, and a session is still a transaction.
        ("disabled read", facts(read, Some(ANALYTICS), None, None), false, Group(DEFAULT), RoutingDisabled),
        ("disabled write", facts(write, None, Some(SHARD), None), false, Group(DEFAULT), RoutingDisabled),
        ("disabled session write", facts(write, None, None, Some(false)), false, Unit, RoutingDisabled),
        ("disabled session read after a write", facts(read, None, None, Some(true)), false, Unit, RoutingDisabled),
        ("disabled session read before a write", facts(read, None, None, Some(false)), false, Group(DEFAULT), RoutingDisabled),
    ];
    for (name, facts, enabled, target, reason) in rows {
        let decision = decide(*facts, &layout(*enabled, true));
        assert_eq!(
            (decision.target, decision.reason),
            (*target, *reason),
            "{name}"
        );
    }
    // Without sticky-after-write, reads leave the open transaction for the replicas.
    let decision = decide(facts(read, None, None, Some(true)), &layout(true, false));
    assert_eq!(decision.target, Group(READ));
}

/// Rules 5 and 6: the consistency mode decides only reads the statement rules send to the
/// replicas.
#[test]
fn consistency_modes_decide_plain_reads_only() {
    use Consistency::*;
    use RouteReason::*;
    use Target::{Group, Unit};
    let read = Reason::Read;
    #[rustfmt::skip]
    let rows: &[(&str, Facts, Target, RouteReason, bool)] = &[
        ("read_your_writes: a replica at the position", facts(read, None, None, None), Group(READ), Statement(read), true),
        ("eventual: any replica", with_mode(facts(read, None, None, None), Eventual), Group(READ), Statement(read), false),
        ("strong: the primary", with_mode(facts(read, None, None, None), Strong), Group(DEFAULT), StrongConsistency, false),
        ("strong in a fresh session: the primary, no transaction", with_mode(facts(read, None, None, Some(false)), Strong), Group(DEFAULT), StrongConsistency, false),
        ("strong in a stuck session: its transaction", with_mode(facts(read, None, None, Some(true)), Strong), Unit, StickyAfterWrite, false),
        ("strong does not override replica_context", with_mode(facts(read, None, Some(READ), None), Strong), Group(READ), ScopedGroup, false),
        ("read_your_writes does not bind replica_context", facts(read, None, Some(READ), None), Group(READ), ScopedGroup, false),
        ("read_your_writes does not bind a handle", facts(read, Some(READ), None, None), Group(READ), ExplicitGroup, false),
        ("writes are not reads", facts(Reason::Write, None, None, None), Group(DEFAULT), Statement(Reason::Write), false),
    ];
    for (name, facts, target, reason, causal) in rows {
        let decision = decide(*facts, &layout(true, true));
        assert_eq!(
            (decision.target, decision.reason, decision.causal),
            (*target, *reason, *causal),
            "{name}"
        );
    }
    // With no replicas (the read group is the default group), there is nothing to wait for.
    let single = Layout {
        read_group: DEFAULT,
        ..layout(true, true)
    };
    let decision = decide(facts(read, None, None, None), &single);
    assert_eq!((decision.target, decision.causal), (Group(DEFAULT), false));
}

/// Every combination of inputs.
fn every_case() -> impl Iterator<Item = (Facts, bool, bool)> {
    let groups = [
        None,
        Some(DEFAULT),
        Some(READ),
        Some(ANALYTICS),
        Some(SHARD),
    ];
    let mut cases = Vec::new();
    for reason in [Reason::Read, Reason::Write] {
        for handle in groups {
            for scope in groups {
                for session in [None, Some(false), Some(true)] {
                    for enabled in [true, false] {
                        for sticky in [true, false] {
                            for mode in [
                                Consistency::Eventual,
                                Consistency::ReadYourWrites,
                                Consistency::Strong,
                            ] {
                                let facts = with_mode(facts(reason, handle, scope, session), mode);
                                cases.push((facts, enabled, sticky));
                            }
                        }
                    }
                }
            }
        }
    }
    cases.into_iter()
}

#[test]
fn invariants_hold_for_every_combination() {
    for (facts, enabled, sticky) in every_case() {
        let decision = decide(facts, &layout(enabled, sticky));
        let case = format!("{facts:?} enabled={enabled} sticky={sticky} -> {decision:?}");
        let read = facts.classification.is_read();
        match decision.target {
            // A write never reaches a group that does not take writes.
            Target::Group(group) => assert!(read || WRITABLE[group], "{case}"),
            // Only a session has a transaction to join.
            Target::Unit => assert!(facts.session.is_some(), "{case}"),
            // Only a session's write to another writable group is refused.
            Target::Refused(group) => assert!(
                facts.session.is_some() && !read && group != DEFAULT && WRITABLE[group],
                "{case}"
            ),
        }
        if let Some(session) = facts.session {
            // A session's write never escapes its transaction, and a session never takes a
            // second primary connection while its transaction is open.
            if !read {
                assert!(
                    matches!(decision.target, Target::Unit | Target::Refused(_)),
                    "{case}"
                );
            }
            if session.tx_open {
                assert_ne!(decision.target, Target::Group(DEFAULT), "{case}");
            }
        }
        // Only a plain read sent to the replicas waits for a position, and only in
        // read_your_writes; strong consistency never sends a plain read to a replica.
        if decision.causal {
            assert!(read && decision.target == Target::Group(READ), "{case}");
            assert_eq!(facts.consistency, Consistency::ReadYourWrites, "{case}");
        }
        if facts.consistency == Consistency::Strong && decision.target == Target::Group(READ) {
            assert!(
                matches!(
                    decision.reason,
                    RouteReason::ScopedGroup | RouteReason::ExplicitGroup
                ),
                "{case}"
            );
        }
        if !enabled {
            assert_eq!(decision.reason, RouteReason::RoutingDisabled, "{case}");
            assert!(
                matches!(decision.target, Target::Group(DEFAULT) | Target::Unit),
                "{case}"
            );
        }
    }
}

fn render(decision: &Decision) -> String {
    match decision.target {
        Target::Group(group) if decision.causal => {
            format!(
                "{} at the scope's position ({})",
                NAMES[group], decision.reason
            )
        }
        Target::Group(group) => format!("{} ({})", NAMES[group], decision.reason),
        Target::Unit => format!("session transaction ({})", decision.reason),
        Target::Refused(group) => format!("refused: write to {} in a session", NAMES[group]),
    }
}

/// The whole table, one line per combination, compared with `table.txt`. After an intended
/// change of behaviour, regenerate it with `DBROUTE_BLESS=1 cargo test -p dbroute policy` and
/// review the diff.
#[test]
fn the_whole_table_matches_table_txt() {
    let name = |g: Option<GroupId>| g.map_or("-", |g| NAMES[g]);
    let mut table = String::from(
        "# statement | handle | scope | session | enabled | sticky_after_write | consistency => target (reason)\n",
    );
    for (facts, enabled, sticky) in every_case() {
        let decision = decide(facts, &layout(enabled, sticky));
        let session = match facts.session {
            None => "-",
            Some(SessionState { tx_open: false }) => "fresh",
            Some(SessionState { tx_open: true }) => "in transaction",
        };
        table.push_str(&format!(
            "{} | {} | {} | {} | {} | {} | {} => {}\n",
            facts.classification.reason(),
            name(facts.handle),
            name(facts.scope),
            session,
            enabled,
            sticky,
            facts.consistency,
            render(&decision)
        ));
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/policy/table.txt");
    if std::env::var_os("DBROUTE_BLESS").is_some() {
        std::fs::write(path, &table).unwrap();
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        expected == table,
        "the decision table changed; review it with DBROUTE_BLESS=1 and `git diff {path}`"
    );
}
