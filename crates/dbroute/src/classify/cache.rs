//! The classification cache: decisions remembered by SQL text.
//!
//! Applications send the same few hundred statement texts over and over (prepared statements,
//! ORM-generated SQL), so the router remembers each text's [`Classification`].
//!
//! * **Bounded memory**: a fixed number of slots (a power of two), each holding at most one
//!   text of at most [`MAX_CACHED_LEN`] bytes. Each text may live in one of two slots; a new
//!   text takes an empty (or outdated) one, else replaces its second slot's text.
//! * **No locks**: each slot is an [`ArcSwapOption`]; readers never block writers or each
//!   other.
//! * **No allocation on a hit**: hash the text, load the slot, compare the stored text in full
//!   (a hash collision is a miss, never a wrong answer), check the generation.
//! * **Invalidation**: changing the function lists bumps the generation; older entries become
//!   misses.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwapOption;

use super::Classification;
use super::hash::hash_bytes;

/// Texts longer than this are classified every time (they are rare and would crowd memory).
pub const MAX_CACHED_LEN: usize = 1024;

#[derive(Debug)]
struct Entry {
    text: Box<str>,
    generation: u64,
    classification: Classification,
}

/// A fixed-size, lock-free, two-way cache from SQL text to classification.
#[derive(Debug)]
pub(crate) struct Cache {
    slots: Box<[ArcSwapOption<Entry>]>,
    mask: usize,
    generation: AtomicU64,
}

impl Cache {
    /// A cache of at least `slots` slots (rounded up to a power of two, at least 1).
    pub(crate) fn new(slots: usize) -> Self {
        let len = slots.max(1).next_power_of_two();
        Cache {
            slots: (0..len).map(|_| ArcSwapOption::empty()).collect(),
            mask: len - 1,
            generation: AtomicU64::new(0),
        }
    }

    /// The cached classification of `sql`, or `compute(sql)` (then cached).
    #[inline]
    pub(crate) fn get_or_insert(
        &self,
        sql: &str,
        compute: impl FnOnce(&str) -> Classification,
    ) -> Classification {
        if sql.len() > MAX_CACHED_LEN {
            return compute(sql);
        }
        let hash = hash_bytes(sql.as_bytes());
        // Two candidate slots (2-way): texts that collide on one rarely collide on both, so a
        // hot pair of texts does not evict each other on every use.
        let first = (hash as usize) & self.mask;
        let second = ((hash >> 32) as usize ^ 1) & self.mask;
        let generation = self.generation.load(Ordering::Acquire);
        let mut vacant = None;
        for index in [first, second] {
            let slot = &self.slots[index];
            match &*slot.load() {
                Some(entry) if entry.generation == generation => {
                    if *entry.text == *sql {
                        return entry.classification;
                    }
                }
                _ => vacant = vacant.or(Some(index)),
            }
        }
        let classification = compute(sql);
        let victim = vacant.unwrap_or(second);
        self.slots[victim].store(Some(Arc::new(Entry {
            text: sql.into(),
            generation,
            classification,
        })));
        classification
    }

    /// Forgets every entry (they become misses).
    pub(crate) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Dialect, classify};
    use super::*;

    #[test]
    fn hits_misses_collisions_and_invalidation() {
        let cache = Cache::new(2);
        let computed = std::cell::Cell::new(0);
        let get = |sql: &str| {
            cache.get_or_insert(sql, |s| {
                computed.set(computed.get() + 1);
                classify(s, Dialect::Postgres)
            })
        };
        assert!(get("SELECT 1").is_read());
        assert!(get("SELECT 1").is_read());
        assert_eq!(computed.get(), 1);
        // Many texts through two slots: every answer is still the text's own.
        for i in 0..50 {
            assert!(get(&format!("SELECT {i}")).is_read());
            assert!(!get(&format!("DELETE FROM t{i}")).is_read());
        }
        let before = computed.get();
        cache.invalidate();
        assert!(get("SELECT 49").is_read());
        assert_eq!(computed.get(), before + 1, "invalidated entries are misses");
        let long = format!("SELECT '{}'", "x".repeat(MAX_CACHED_LEN));
        assert!(get(&long).is_read());
    }
}
