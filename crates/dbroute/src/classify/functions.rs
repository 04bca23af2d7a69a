//! Functions that make an otherwise read-only statement unfit for a replica: they write,
//! take locks, or read per-connection state that a pooled replica connection does not have.
//!
//! Three sources, checked in this order for every call in a read:
//!
//! 1. the built-in list below, one list for every dialect (a user function that happens to
//!    share a name with another dialect's built-in only costs a read on the primary);
//! 2. names the user configures ([`Classifier::with_write_functions`]);
//! 3. on PostgreSQL, the user-defined `VOLATILE` functions of the primary's catalog
//!    ([`Classifier::set_volatile_functions`], loaded by the router at connect time).
//!
//! Names compare case-insensitively, and only the last part of a qualified name counts
//! (`pg_catalog.nextval` is `nextval`): both err toward the primary.
//!
//! [`Classifier::with_write_functions`]: super::Classifier::with_write_functions
//! [`Classifier::set_volatile_functions`]: super::Classifier::set_volatile_functions

use std::collections::HashSet;
use std::hash::BuildHasherDefault;

use super::hash::FastHasher;

/// Declares [`BUILTIN_WRITE_FUNCTIONS`] and the `match` that tests membership from one list
/// of names, so the two cannot drift apart.
macro_rules! builtin_write_functions {
    ($($name:literal,)*) => {
        /// Names matched exactly (case-insensitively), all lower-case and at most 32 bytes.
        pub const BUILTIN_WRITE_FUNCTIONS: &[&str] = &[$(utf8($name),)*];

        /// Whether a lower-cased name is in [`BUILTIN_WRITE_FUNCTIONS`]: a `match` compiles to
        /// a switch on length and bytes instead of a scan of the list.
        fn is_builtin(lower: &[u8]) -> bool {
            matches!(lower, $($name)|*)
        }
    };
}

/// A byte-string name as `&str`, at compile time.
const fn utf8(name: &'static [u8]) -> &'static str {
    match std::str::from_utf8(name) {
        Ok(name) => name,
        Err(_) => panic!("built-in function names are ASCII"),
    }
}

builtin_write_functions! {
    // PostgreSQL sequences and transaction ids.
    b"nextval",
    b"setval",
    b"currval",
    b"lastval",
    b"txid_current",
    b"txid_current_if_assigned",
    b"pg_current_xact_id",
    b"pg_current_xact_id_if_assigned",
    // PostgreSQL session state, signalling and administration.
    b"set_config",
    b"setseed",
    b"pg_notify",
    b"pg_terminate_backend",
    b"pg_cancel_backend",
    b"pg_reload_conf",
    b"pg_rotate_logfile",
    b"pg_switch_wal",
    b"pg_promote",
    b"pg_create_restore_point",
    b"pg_logical_emit_message",
    b"pg_drop_replication_slot",
    b"pg_import_system_collations",
    // PostgreSQL functions a hot standby refuses ("recovery is in progress"), found by calling
    // every pg_catalog function on a standby (tests/postgres/standby_functions.rs keeps the
    // list current) and from the server's source (gin_clean_pending_list checks the index
    // before recovery, so a probe cannot reach its refusal).
    b"brin_summarize_range",
    b"brin_summarize_new_values",
    b"brin_desummarize_range",
    b"gin_clean_pending_list",
    b"pg_current_wal_lsn",
    b"pg_current_wal_insert_lsn",
    b"pg_current_wal_flush_lsn",
    b"pg_walfile_name",
    b"pg_walfile_name_offset",
    // From the server's source, beyond the probe: WAL-logging a snapshot (PostgreSQL 16+)
    // and assigning OIDs both fail during recovery.
    b"pg_log_standby_snapshot",
    b"pg_nextoid",
    // Backups are bound to the server and the session that start them (on PostgreSQL 13 a
    // standby refuses pg_stop_backup() outright).
    b"pg_start_backup",
    b"pg_stop_backup",
    b"pg_backup_start",
    b"pg_backup_stop",
    // Large-object descriptors: writing through one (a standby refuses it, PostgreSQL 17's
    // probe shows), and reading through one opened on this connection (lo_open, below).
    b"lowrite",
    b"loread",
    // dblink runs arbitrary SQL on another server.
    b"dblink",
    b"dblink_exec",
    b"dblink_send_query",
    // MySQL / MariaDB locks and per-connection results.
    b"get_lock",
    b"release_lock",
    b"release_all_locks",
    b"last_insert_id",
    b"found_rows",
    b"row_count",
    // SQLite per-connection results and extensions.
    b"last_insert_rowid",
    b"changes",
    b"total_changes",
    b"load_extension",
}

/// Name prefixes that mark a whole family of such functions.
pub const BUILTIN_WRITE_FUNCTION_PREFIXES: &[&str] = &[
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

/// Longest built-in name, in bytes; longer names can only match a prefix family.
const MAX_NAME: usize = 32;

/// A set of lower-cased function names with a fast hasher.
pub(crate) type FunctionSet = HashSet<Box<str>, BuildHasherDefault<FastHasher>>;

/// Builds a [`FunctionSet`] from names in any case.
pub(crate) fn function_set<I, S>(names: I) -> FunctionSet
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    names
        .into_iter()
        .map(|n| n.as_ref().trim().to_ascii_lowercase().into_boxed_str())
        .filter(|n| !n.is_empty())
        .collect()
}

/// Whether calling `name` (as written, unquoted or quoted) rules out a replica.
pub(crate) fn is_write_function(name: &[u8], extra: &[&FunctionSet]) -> bool {
    let mut buffer = [0u8; MAX_NAME];
    let lower = lowercase(name, &mut buffer);
    if name.len() <= MAX_NAME && is_builtin(lower) {
        return true;
    }
    if BUILTIN_WRITE_FUNCTION_PREFIXES
        .iter()
        .any(|p| lower.len() > p.len() && lower.starts_with(p.as_bytes()))
    {
        return true;
    }
    extra.iter().any(|set| is_listed(name, set))
}

/// Whether `name` (any case) is in `set` of lower-cased names.
pub(crate) fn is_listed(name: &[u8], set: &FunctionSet) -> bool {
    if set.is_empty() {
        return false;
    }
    // PostgreSQL identifiers are at most 63 bytes: look those up without allocating.
    let mut wide = [0u8; 64];
    let owned;
    let lower: &[u8] = if name.len() <= wide.len() {
        for (out, byte) in wide.iter_mut().zip(name) {
            *out = byte.to_ascii_lowercase();
        }
        &wide[..name.len()]
    } else {
        owned = name.to_ascii_lowercase();
        &owned
    };
    // A name that is not UTF-8 cannot be in a set of `str`s.
    std::str::from_utf8(lower).is_ok_and(|lower| set.contains(lower))
}

/// The first [`MAX_NAME`] bytes of `name`, lower-cased into `buffer`.
fn lowercase<'b>(name: &[u8], buffer: &'b mut [u8; MAX_NAME]) -> &'b [u8] {
    let len = name.len().min(MAX_NAME);
    for (out, byte) in buffer.iter_mut().zip(&name[..len]) {
        *out = byte.to_ascii_lowercase();
    }
    &buffer[..len]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_prefixes_and_configured_names() {
        let none: &[&FunctionSet] = &[];
        assert!(is_write_function(b"NextVal", none));
        assert!(is_write_function(b"pg_try_advisory_xact_lock_shared", none));
        assert!(
            !is_write_function(b"lo_", none),
            "a bare prefix is no function"
        );
        assert!(!is_write_function(b"count", none));
        let configured = function_set(["Audit_Log", " bump "]);
        assert!(is_write_function(b"AUDIT_LOG", &[&configured]));
        assert!(is_write_function(b"bump", &[&configured]));
        assert!(!is_write_function(b"audit", &[&configured]));
        assert!(BUILTIN_WRITE_FUNCTIONS.iter().all(|f| f.len() <= MAX_NAME));
        // Every listed name is matched (both come from one macro invocation).
        assert!(
            BUILTIN_WRITE_FUNCTIONS
                .iter()
                .all(|f| is_builtin(f.as_bytes()))
        );
        assert!(!is_builtin(b"nextvalue"));
    }
}
