//! The self-deadlock guard: which task holds which unit of work's primary connection.
//!
//! A task that holds a session's (or transaction's) open primary transaction and then asks the
//! primary's pool for another connection waits on itself: forever with SQLite's single writer,
//! and on PostgreSQL until the pool runs dry once enough requests do it at the same time. The
//! guard turns that hang into an immediate [`Error::SessionInProgress`] naming the holder.
//!
//! A unit records the task (or, outside a task, the thread) that used it last; the router
//! keeps the units with an open primary transaction. The check costs one atomic load while no
//! unit is open, and a short scan under a lock otherwise (only on statements bound for the
//! primary).

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::Error;

/// The open units of one router.
#[derive(Debug, Default)]
pub(crate) struct Guard {
    open: AtomicUsize,
    holders: Mutex<Vec<Holder>>,
}

#[derive(Debug)]
struct Holder {
    unit: u64,
    label: &'static str,
    owner: Arc<AtomicU64>,
}

impl Guard {
    /// Records that unit `unit` (a `"session"` or `"transaction"`, used last by `owner`) holds
    /// a primary connection.
    pub(crate) fn hold(&self, unit: u64, label: &'static str, owner: Arc<AtomicU64>) {
        let mut holders = self.holders.lock().unwrap_or_else(|e| e.into_inner());
        holders.push(Holder { unit, label, owner });
        self.open.store(holders.len(), Ordering::Release);
    }

    /// Records that unit `unit` no longer holds one.
    pub(crate) fn release(&self, unit: u64) {
        let mut holders = self.holders.lock().unwrap_or_else(|e| e.into_inner());
        holders.retain(|h| h.unit != unit);
        self.open.store(holders.len(), Ordering::Release);
    }

    /// An error if the current task holds a primary connection in a unit other than `except`.
    pub(crate) fn check(&self, except: Option<u64>) -> Result<(), Box<Error>> {
        if self.open.load(Ordering::Acquire) == 0 {
            return Ok(());
        }
        let me = owner_key();
        let holders = self.holders.lock().unwrap_or_else(|e| e.into_inner());
        match holders
            .iter()
            .find(|h| Some(h.unit) != except && h.owner.load(Ordering::Relaxed) == me)
        {
            Some(holder) => Err(Box::new(Error::SessionInProgress {
                holder: format!("{} #{}", holder.label, holder.unit),
            })),
            None => Ok(()),
        }
    }
}

/// The current task, or the current thread outside any task (`block_on` has no task id).
pub(crate) fn owner_key() -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    match tokio::task::try_id() {
        Some(task) => (0u8, task).hash(&mut hasher),
        None => (1u8, std::thread::current().id()).hash(&mut hasher),
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_task_sees_only_its_own_units() {
        let guard = Arc::new(Guard::default());
        assert!(guard.check(None).is_ok());
        guard.hold(7, "session", Arc::new(AtomicU64::new(owner_key())));
        let error = guard.check(None).unwrap_err();
        assert!(error.to_string().contains("session #7"), "{error}");
        assert!(guard.check(Some(7)).is_ok(), "a unit never blocks itself");
        let other = Arc::clone(&guard);
        let elsewhere = tokio::spawn(async move { other.check(None).is_ok() });
        assert!(
            elsewhere.await.unwrap(),
            "another task is free to use the pool"
        );
        guard.release(7);
        assert!(guard.check(None).is_ok());
    }
}
