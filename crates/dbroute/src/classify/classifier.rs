//! [`Classifier`]: [`classify`](super::classify()) plus configured and catalog-loaded write
//! functions, and a cache. The router classifies every statement through one of these.

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::cache::Cache;
use super::functions::{FunctionSet, function_set};
use super::{Classification, Dialect, rules};

/// Classifies statements of one dialect, knowing more functions than the built-in list, and
/// remembering decisions by SQL text.
///
/// ```
/// use dbroute::{Classifier, Dialect, Reason};
///
/// let classifier = Classifier::new(Dialect::Postgres)
///     .with_write_functions(["audit_event", "bump_counter"])
///     .with_cache(1024);
/// assert_eq!(classifier.classify("SELECT audit_event('login')").reason(), Reason::WriteFunction);
/// assert!(classifier.classify("SELECT count(*) FROM users").is_read());
///
/// // Functions found later (the router loads the primary's VOLATILE ones) take effect at
/// // once: cached decisions are invalidated.
/// assert!(classifier.classify("SELECT touch_user(1)").is_read());
/// classifier.set_volatile_functions(["touch_user"]);
/// assert!(!classifier.classify("SELECT touch_user(1)").is_read());
/// ```
pub struct Classifier {
    dialect: Dialect,
    configured: FunctionSet,
    volatile: ArcSwap<FunctionSet>,
    cache: Option<Cache>,
}

impl Classifier {
    /// A classifier with the built-in function list and no cache: the same answers as
    /// [`classify`](super::classify()).
    pub fn new(dialect: Dialect) -> Self {
        Classifier {
            dialect,
            configured: FunctionSet::default(),
            volatile: ArcSwap::from_pointee(FunctionSet::default()),
            cache: None,
        }
    }

    /// Adds functions whose calls send a statement to the primary (case-insensitive names).
    #[must_use]
    pub fn with_write_functions<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.configured.extend(function_set(names));
        self
    }

    /// Remembers decisions in a cache of `slots` entries (rounded up to a power of two);
    /// `0` turns caching off. Memory is bounded by `slots` x
    /// [`MAX_CACHED_LEN`](super::MAX_CACHED_LEN) bytes of text.
    #[must_use]
    pub fn with_cache(mut self, slots: usize) -> Self {
        self.cache = (slots > 0).then(|| Cache::new(slots));
        self
    }

    /// Replaces the functions learnt from the database (on PostgreSQL, the primary's
    /// user-defined `VOLATILE` functions) and forgets cached decisions.
    pub fn set_volatile_functions<I, S>(&self, names: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.volatile.store(Arc::new(function_set(names)));
        if let Some(cache) = &self.cache {
            cache.invalidate();
        }
    }

    /// How many functions were learnt from the database.
    pub fn volatile_function_count(&self) -> usize {
        self.volatile.load().len()
    }

    /// The dialect.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Classifies `sql`. Never panics; allocation-free when the decision is cached.
    #[inline]
    pub fn classify(&self, sql: &str) -> Classification {
        match &self.cache {
            Some(cache) => cache.get_or_insert(sql, |sql| self.classify_uncached(sql)),
            None => self.classify_uncached(sql),
        }
    }

    fn classify_uncached(&self, sql: &str) -> Classification {
        let volatile = self.volatile.load();
        rules::classify(sql, self.dialect, &[&self.configured, &volatile])
    }
}

impl fmt::Debug for Classifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Classifier")
            .field("dialect", &self.dialect)
            .field("configured_functions", &self.configured.len())
            .field("volatile_functions", &self.volatile_function_count())
            .field("cached", &self.cache.is_some())
            .finish()
    }
}
