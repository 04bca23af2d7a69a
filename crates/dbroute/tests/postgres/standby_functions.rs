//! The built-in functions a hot standby refuses, derived from the running server: every
//! function of `pg_catalog` whose arguments can be given probe values is called on a standby of
//! the test cluster, each in a transaction rolled back at once, and those refused with SQLSTATE
//! 25006 or a "recovery" error are collected. The set must equal the committed list for the
//! server's major version (`standby_refused/pg<major>.txt`), and the classifier must send a
//! plain `SELECT` of each to the primary. A new PostgreSQL release is one run away: the failure
//! prints the set to commit.
//!
//! The probe runs in a database of its own holding one unlogged table, and the classifier
//! knows that table as the router would from the catalog: functions that read every relation
//! of the database (`database_to_xml`) are refused then, and must go to the primary.
//!
//! Not called: functions with side effects outside the transaction or the database (promoting,
//! pausing replay, signalling or terminating backends, sleeping, reloading configuration,
//! files, replication slots, statistics resets), and functions taking pseudo-types (`any`,
//! `internal`, ...). The server's source adds what a probe cannot reach (see
//! `classify/functions.rs`).

use std::collections::BTreeSet;

use dbroute::{Classifier, Dialect};
use sqlx::{Connection, PgConnection, Row};

use crate::{cluster, database, in_database};

/// The unlogged table of the probe's database.
const UNLOGGED: &str = "probe_unlogged";

/// A classifier that knows what a router would learn from the probe database's catalog.
fn classifier() -> Classifier {
    let classifier = Classifier::new(Dialect::Postgres);
    classifier.set_primary_only_relations([UNLOGGED]);
    classifier
}

/// Called on no server: what they do outlives the probe's transaction, or reaches outside the
/// database.
const NOT_CALLED: &[&str] = &[
    "pg_promote",
    "pg_wal_replay_pause",
    "pg_wal_replay_resume",
    "pg_terminate_backend",
    "pg_cancel_backend",
    "pg_sleep",
    "pg_sleep_for",
    "pg_sleep_until",
    "pg_reload_conf",
    "pg_rotate_logfile",
    "pg_rotate_logfile_old",
    "pg_log_backend_memory_contexts",
    "lo_import",
    "lo_export",
    "pg_read_file",
    "pg_read_binary_file",
    "pg_stat_file",
    "pg_ls_dir",
    "pg_file_write",
    "pg_backup_start",
    "pg_backup_stop",
    "pg_start_backup",
    "pg_stop_backup",
    "pg_replication_slot_advance",
    "pg_copy_physical_replication_slot",
    "pg_copy_logical_replication_slot",
    "pg_create_physical_replication_slot",
    "pg_create_logical_replication_slot",
    "pg_drop_replication_slot",
    "pg_logical_slot_get_changes",
    "pg_logical_slot_peek_changes",
    "pg_logical_slot_get_binary_changes",
    "pg_logical_slot_peek_binary_changes",
    "pg_stat_reset",
    "pg_stat_reset_shared",
    "pg_stat_reset_single_table_counters",
    "pg_stat_reset_single_function_counters",
    "pg_stat_reset_slru",
    "pg_stat_reset_replication_slot",
    "pg_stat_reset_subscription_stats",
];

/// A probe value for an argument of type `name` (as `format_type` spells it).
fn probe_value(name: &str) -> Option<&'static str> {
    Some(match name {
        "smallint" | "integer" | "bigint" | "oid" | "real" | "double precision" | "numeric"
        | "xid" | "cid" | "xid8" => "1",
        "text" | "name" | "character varying" | "character" | "\"char\"" | "cstring" => "'x'",
        "boolean" => "false",
        "pg_lsn" => "'0/0'",
        "regclass" => "'pg_class'",
        "regtype" => "'int4'",
        "regproc" | "regprocedure" => "'now'",
        "regnamespace" => "'pg_catalog'",
        "regrole" => "'postgres'",
        "bytea" => "'\\x00'",
        "json" | "jsonb" => "'{}'",
        "timestamp with time zone" | "timestamp without time zone" | "date" => "now()",
        "interval" => "'1 second'",
        "uuid" => "'00000000-0000-0000-0000-000000000000'",
        "tid" => "'(0,1)'",
        _ => return None,
    })
}

const FUNCTIONS: &str = "\
    SELECT p.proname::text, coalesce((SELECT array_agg(format_type(t, NULL) ORDER BY i) \
      FROM unnest(p.proargtypes) WITH ORDINALITY u(t, i)), '{}')::text[] \
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
    WHERE n.nspname = 'pg_catalog' AND p.prokind = 'f' ORDER BY 1, 2";

#[tokio::test]
async fn the_functions_a_standby_refuses_go_to_the_primary() {
    let name = database(
        "standby_probe",
        &format!("CREATE UNLOGGED TABLE {UNLOGGED} (id int)"),
    )
    .await;
    let mut standby = PgConnection::connect(&in_database(&cluster().replicas()[0].url(), &name))
        .await
        .unwrap();
    let classifier = classifier();
    let version: i32 = sqlx::query_scalar("SELECT current_setting('server_version_num')::int")
        .fetch_one(&mut standby)
        .await
        .unwrap();
    let functions = sqlx::query(FUNCTIONS)
        .fetch_all(&mut standby)
        .await
        .unwrap();
    let (mut called, mut refused, mut misrouted) = (0usize, BTreeSet::new(), Vec::new());
    for function in functions {
        let name: String = function.get(0);
        let types: Vec<String> = function.get(1);
        if NOT_CALLED.contains(&name.as_str()) {
            continue;
        }
        let arguments: Option<Vec<String>> = types
            .iter()
            .map(|t| probe_value(t).map(|value| format!("{value}::{t}")))
            .collect();
        let Some(arguments) = arguments else {
            continue;
        };
        called += 1;
        let call = format!("SELECT {name}({})", arguments.join(", "));
        let mut probe = standby.begin().await.unwrap();
        sqlx::raw_sql("SET LOCAL statement_timeout = '500ms'")
            .execute(&mut *probe)
            .await
            .unwrap();
        let outcome = sqlx::raw_sql(sqlx::AssertSqlSafe(call.clone()))
            .execute(&mut *probe)
            .await;
        // The probe's transaction may have failed: roll back whatever state it is in.
        let _ = probe.rollback().await;
        let Err(sqlx::Error::Database(error)) = outcome else {
            continue;
        };
        let code = error.code().unwrap_or_default();
        if code == "25006" || error.message().to_lowercase().contains("recovery") {
            refused.insert(name.clone());
            if classifier.classify(&call).is_read() {
                misrouted.push(format!("{call}: {}", error.message()));
            }
        }
    }
    assert!(called > 1000, "only {called} functions could be called");
    let major = version / 10_000;
    let derived: Vec<&str> = refused.iter().map(String::as_str).collect();
    let path = refused_list_path(major);
    if std::env::var_os("DBROUTE_BLESS").is_some() {
        std::fs::write(&path, refused_list_file(major, called, &derived)).unwrap();
    }
    assert!(
        misrouted.is_empty(),
        "a standby refuses these, and the classifier sends them to a replica:\n{}",
        misrouted.join("\n")
    );
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        listed_functions(&committed),
        derived,
        "PostgreSQL {major}: the standby refuses a different set than {} lists; review and \
         commit it with `DBROUTE_BLESS=1 scripts/pg-majors.sh {major}` (and add a functions.rs \
         entry for any the classifier misses):\n{}",
        path.display(),
        derived.join("\n")
    );
}

/// The committed lists, one per major the project supports, hold no function the classifier
/// would send to a replica: checked without a server, for every major at once.
#[test]
fn every_committed_list_goes_to_the_primary() {
    let (classifier, mut majors) = (classifier(), 0);
    for entry in std::fs::read_dir(refused_list_path(0).parent().unwrap()).unwrap() {
        let committed = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let functions = listed_functions(&committed);
        assert!(
            functions.len() > 5,
            "a list with {} functions",
            functions.len()
        );
        for name in functions {
            let call = format!("SELECT {name}(1)");
            assert!(
                !classifier.classify(&call).is_read(),
                "{call} goes to a replica"
            );
        }
        majors += 1;
    }
    assert!(
        majors >= 5,
        "lists for {majors} majors, expected 13 to 17 at least"
    );
}

fn refused_list_path(major: i32) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/postgres/standby_refused")
        .join(format!("pg{major}.txt"))
}

fn listed_functions(file: &str) -> Vec<&str> {
    file.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect()
}

fn refused_list_file(major: i32, called: usize, functions: &[&str]) -> String {
    format!(
        "# The pg_catalog functions a PostgreSQL {major} hot standby refuses when called with \
         probe values\n# (SQLSTATE 25006 or a \"recovery\" error), derived by \
         tests/postgres/standby_functions.rs on the\n# test cluster's standby ({called} functions \
         called; see that file for what is not called and\n# why). Regenerate: \
         `DBROUTE_BLESS=1 scripts/pg-majors.sh {major}`, review the diff, commit.\n{}\n",
        functions.join("\n")
    )
}
