//! Functions that make an otherwise read-only statement unfit for a replica: they write,
//! take locks, or read per-connection state that a pooled replica connection does not have.
//!
//! One list serves every dialect: a user function that happens to share a name with another
//! dialect's built-in only costs a read on the primary.

/// Names matched exactly (case-insensitively).
const WRITE_FUNCTIONS: &[&str] = &[
    // PostgreSQL sequences and transaction ids.
    "nextval",
    "setval",
    "currval",
    "lastval",
    "txid_current",
    "txid_current_if_assigned",
    "pg_current_xact_id",
    "pg_current_xact_id_if_assigned",
    // PostgreSQL session state, signalling and administration.
    "set_config",
    "setseed",
    "pg_notify",
    "pg_terminate_backend",
    "pg_cancel_backend",
    "pg_reload_conf",
    "pg_rotate_logfile",
    "pg_switch_wal",
    "pg_promote",
    "pg_create_restore_point",
    "pg_logical_emit_message",
    "pg_drop_replication_slot",
    "pg_import_system_collations",
    // dblink runs arbitrary SQL on another server.
    "dblink",
    "dblink_exec",
    "dblink_send_query",
    // MySQL / MariaDB locks and per-connection results.
    "get_lock",
    "release_lock",
    "release_all_locks",
    "last_insert_id",
    "found_rows",
    "row_count",
    // SQLite per-connection results and extensions.
    "last_insert_rowid",
    "changes",
    "total_changes",
    "load_extension",
];

/// Name prefixes that mark a whole family of such functions.
const WRITE_FUNCTION_PREFIXES: &[&str] = &[
    // pg_advisory_lock, pg_try_advisory_xact_lock_shared, pg_advisory_unlock_all, ...
    "pg_advisory_",
    "pg_try_advisory_",
    // Large objects: lo_create, lo_import, lo_unlink, lo_put, ...
    "lo_",
    // pg_create_physical_replication_slot, pg_create_logical_replication_slot, ...
    "pg_create_",
    "pg_stat_reset",
    "pg_replication_origin_",
];

/// Whether calling `name` (as written, unquoted or quoted) rules out a replica.
pub(crate) fn is_write_function(name: &[u8]) -> bool {
    WRITE_FUNCTIONS
        .iter()
        .any(|f| name.eq_ignore_ascii_case(f.as_bytes()))
        || WRITE_FUNCTION_PREFIXES
            .iter()
            .any(|p| name.len() > p.len() && name[..p.len()].eq_ignore_ascii_case(p.as_bytes()))
}
