//! The engine state machine, without a database.

use super::*;
use crate::backend::parse_lsn;
use crate::config::LagBound;

fn config() -> HealthConfig {
    HealthConfig::default().max_replica_lag(LagBound::none().bytes(1000))
}

fn answered(health: &EngineHealth, lag_bytes: u64) -> EngineState {
    let probe = Probe {
        in_recovery: Some(true),
        position: Some(1),
        replay_age: None,
    };
    health
        .probed(probe, Some((lag_bytes, Duration::ZERO)), &config())
        .1
}

#[test]
fn a_failure_ejects_at_once_and_recovery_takes_good_probes_in_a_row() {
    let group = Arc::new(GroupHealth::default());
    let health = EngineHealth::new(Arc::clone(&group));
    assert!(health.is_up() && group.all_up());
    assert!(health.statement_failed("connection refused"));
    assert!(!health.is_up() && !group.all_up());
    assert_eq!(health.state(), EngineState::Down);
    assert_eq!(
        answered(&health, 0),
        EngineState::Down,
        "one good probe is not enough"
    );
    assert!(!health.probe_failed("connection refused"), "already down");
    assert_eq!(
        answered(&health, 0),
        EngineState::Down,
        "the count starts again"
    );
    assert_eq!(answered(&health, 0), EngineState::Up);
    assert!(group.all_up());
    assert_eq!(health.failed_probes(), 0);
    let report = health.snapshot();
    assert_eq!(report.last_error.as_deref(), Some("connection refused"));
}

#[test]
fn lag_ejects_at_the_bound_and_readmits_under_eighty_percent() {
    let group = Arc::new(GroupHealth::default());
    let health = EngineHealth::new(Arc::clone(&group));
    assert_eq!(answered(&health, 999), EngineState::Up);
    assert_eq!(answered(&health, 1001), EngineState::Lagging);
    assert!(!group.all_up());
    // Under the bound but above 80 % of it: no flapping back.
    for _ in 0..5 {
        assert_eq!(answered(&health, 900), EngineState::Lagging);
    }
    assert_eq!(answered(&health, 700), EngineState::Lagging);
    assert_eq!(answered(&health, 700), EngineState::Up);
    assert!(group.all_up());
    assert_eq!(health.snapshot().lag_bytes, Some(700));
}

#[test]
fn a_lagging_engine_that_fails_is_down_and_the_group_counts_it_once() {
    let group = Arc::new(GroupHealth::default());
    let a = EngineHealth::new(Arc::clone(&group));
    let b = EngineHealth::new(Arc::clone(&group));
    answered(&a, 5000);
    assert!(a.statement_failed("reset"), "lagging to down is a change");
    assert!(!a.statement_failed("reset again"), "down to down is not");
    assert!(b.statement_failed("reset"));
    assert_eq!(group.degraded.load(Ordering::Acquire), 2);
    for _ in 0..2 {
        answered(&a, 0);
        answered(&b, 0);
    }
    assert!(group.all_up());
}

#[test]
fn in_flight_statements_are_counted_while_their_guards_live() {
    let health = Arc::new(EngineHealth::new(Arc::new(GroupHealth::default())));
    let first = health.in_flight();
    let second = health.in_flight();
    assert_eq!(health.snapshot().in_flight, 2);
    drop((first, second));
    assert_eq!(health.snapshot().in_flight, 0);
}

#[test]
fn lsn_text_parses() {
    assert_eq!(parse_lsn("0/0"), Some(0));
    assert_eq!(parse_lsn("16/B374D848"), Some(0x16_B374_D848));
    assert_eq!(parse_lsn("nonsense"), None);
}
