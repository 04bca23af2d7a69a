//! [`Classifier`]: [`classify`](super::classify()) plus configured and catalog-loaded write
//! functions, and a cache. The router classifies every statement through one of these.

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::cache::Cache;
use super::dynamic::Parameter;
use super::functions::{self, FunctionSet, function_set};
use super::rules::Block;
use super::{Classification, Dialect, Templates, rules};

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
    /// Functions the user vouches only read: never learnt as write functions.
    vouched: FunctionSet,
    learnt: ArcSwap<Learnt>,
    cache: Option<Cache>,
}

/// What was learnt from the database's catalog, replaced as one.
#[derive(Default, Clone)]
pub(crate) struct Learnt {
    /// Functions a call of which may write.
    pub(crate) functions: FunctionSet,
    /// Relations a standby cannot read.
    pub(crate) relations: FunctionSet,
    /// Schemas holding such relations.
    pub(crate) schemas: FunctionSet,
    /// Those of `functions` whose calls are judged by their literal arguments.
    pub(crate) templates: Templates,
}

impl Learnt {
    fn known<'x>(&'x self, functions: &'x [&'x FunctionSet]) -> rules::Known<'x> {
        rules::Known {
            functions,
            relations: Some(&self.relations),
            // Unknown (relations set by hand): any schema may hold one.
            schemas: Some(&self.schemas).filter(|schemas| !schemas.is_empty()),
            templates: Some(&self.templates),
        }
    }
}

impl Classifier {
    /// A classifier with the built-in function list and no cache: the same answers as
    /// [`classify`](super::classify()).
    pub fn new(dialect: Dialect) -> Self {
        Classifier {
            dialect,
            configured: FunctionSet::default(),
            vouched: FunctionSet::default(),
            learnt: ArcSwap::from_pointee(Learnt::default()),
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

    /// Functions you vouch only read: the database's catalog may declare them `VOLATILE`
    /// (PostgreSQL's default), but they are not learnt as write functions, so reads calling
    /// them go to replicas. The built-in list and [`with_write_functions`](Self::with_write_functions)
    /// still win. A vouched function that writes fails on the replica's read-only connection.
    ///
    /// ```
    /// use dbroute::{Classifier, Dialect};
    ///
    /// let classifier = Classifier::new(Dialect::Postgres).with_read_only_functions(["report"]);
    /// classifier.set_volatile_functions(["report", "touch"]);
    /// assert!(classifier.classify("SELECT report(1)").is_read());
    /// assert!(!classifier.classify("SELECT touch(1)").is_read());
    /// ```
    #[must_use]
    pub fn with_read_only_functions<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.vouched.extend(function_set(names));
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
        let learnt = Learnt {
            functions: function_set(names),
            templates: Templates::default(),
            ..Learnt::clone(&self.learnt.load())
        };
        self.learn(learnt);
    }

    /// Replaces the relations learnt from the database that a hot standby cannot read
    /// (PostgreSQL's unlogged tables, and views that call writing functions or read such
    /// relations; the router loads them from the primary's catalog), and forgets cached
    /// decisions. A read naming one goes to the primary
    /// ([`Reason::PrimaryOnlyRelation`](super::Reason::PrimaryOnlyRelation)).
    ///
    /// ```
    /// use dbroute::{Classifier, Dialect, Reason};
    ///
    /// let classifier = Classifier::new(Dialect::Postgres);
    /// classifier.set_primary_only_relations(["job_queue"]);
    /// let read = classifier.classify("SELECT * FROM public.job_queue");
    /// assert_eq!(read.reason(), Reason::PrimaryOnlyRelation);
    /// assert!(classifier.classify("SELECT * FROM jobs").is_read());
    /// ```
    pub fn set_primary_only_relations<I, S>(&self, names: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let learnt = Learnt {
            relations: function_set(names),
            schemas: FunctionSet::default(),
            ..Learnt::clone(&self.learnt.load())
        };
        self.learn(learnt);
    }

    /// Replaces everything learnt from the database at once (what the router does on each
    /// catalog load). Functions the user vouches for are dropped; templates are kept only for
    /// learnt functions that are neither built in nor configured (those always write).
    pub(crate) fn learn(&self, mut learnt: Learnt) {
        learnt.functions.retain(|name| !self.vouched.contains(name));
        let Learnt {
            functions,
            templates,
            ..
        } = &mut learnt;
        templates.retain(|name, _| {
            functions.contains(name)
                && !functions::is_write_function(name.as_bytes(), &[&self.configured])
        });
        self.learnt.store(Arc::new(learnt));
        if let Some(cache) = &self.cache {
            cache.invalidate();
        }
    }

    /// How many functions were learnt from the database.
    pub fn volatile_function_count(&self) -> usize {
        self.learnt.load().functions.len()
    }

    /// How many relations a standby cannot read were learnt from the database.
    pub fn primary_only_relation_count(&self) -> usize {
        self.learnt.load().relations.len()
    }

    /// Whether `sql` only reads, with `functions` and the rest of `learnt` in place of what
    /// was learnt (how the router judges a SQL function's body before it learns).
    pub(crate) fn reads_only_with(
        &self,
        sql: &str,
        functions: &FunctionSet,
        learnt: &Learnt,
    ) -> bool {
        let functions = [&self.configured, functions];
        rules::classify(sql, self.dialect, &learnt.known(&functions)).is_read()
    }

    /// What a PL/pgSQL block may do (see [`rules::analyze_block`]), with `functions` and the
    /// rest of `learnt` in place of what was learnt; `inputs`, the function's parameters, when its dynamic SQL
    /// may be judged by its calls' arguments.
    pub(crate) fn analyze_block_with(
        &self,
        block: &str,
        functions: &FunctionSet,
        learnt: &Learnt,
        inputs: Option<&[Parameter]>,
    ) -> Block {
        let functions = [&self.configured, functions];
        rules::analyze_block(block, &learnt.known(&functions), inputs)
    }

    /// Whether a call of `name` sends a read to the primary, with `functions` in place of the
    /// learnt ones (how the router judges what a view calls). Vouched functions do not.
    pub(crate) fn is_write_function_among(&self, name: &str, functions: &FunctionSet) -> bool {
        let name = name.as_bytes();
        functions::is_write_function(name, &[&self.configured])
            || functions::is_listed(name, functions) && !functions::is_listed(name, &self.vouched)
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
        let learnt = self.learnt.load();
        let functions = [&self.configured, &learnt.functions];
        rules::classify(sql, self.dialect, &learnt.known(&functions))
    }
}

impl fmt::Debug for Classifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Classifier")
            .field("dialect", &self.dialect)
            .field("configured_functions", &self.configured.len())
            .field("volatile_functions", &self.volatile_function_count())
            .field(
                "primary_only_relations",
                &self.primary_only_relation_count(),
            )
            .field("cached", &self.cache.is_some())
            .finish()
    }
}
