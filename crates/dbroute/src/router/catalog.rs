//! What the router learns from the primary's catalog, and keeping it current: PostgreSQL's
//! user-defined `VOLATILE` functions, and the relations a hot standby cannot read (unlogged
//! tables and sequences, and views whose definition calls a writing function or reads such a
//! relation, however deeply nested).
//!
//! The catalog is loaded when the router connects, and becomes stale whenever schema may have
//! changed: DDL that committed through the router, a session or a transaction, or a raw
//! connection handed out by `Acquire` (migrations: dbroute cannot see what ran on it). A stale
//! catalog is reloaded before the next statement is routed, or, after a commit, right away on
//! the committing connection. The check on the hot path is two atomic loads.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use sqlx::Executor;

use super::Router;
use crate::backend::{Backend, CatalogRows, FunctionBody};
use crate::classify::{
    Block, Classifier, DynamicFunction, FunctionSet, Learnt, Templates, function_set, input_count,
};

/// Generations of the catalog: wanted moves on at each change, loaded catches up.
#[derive(Debug)]
pub(crate) struct Catalog {
    enabled: bool,
    wanted: AtomicU64,
    loaded: AtomicU64,
    loading: tokio::sync::Mutex<()>,
}

impl Catalog {
    /// A catalog to load before first use (when `enabled`).
    pub(crate) fn new(enabled: bool) -> Self {
        Catalog {
            enabled,
            wanted: AtomicU64::new(1),
            loaded: AtomicU64::new(0),
            loading: tokio::sync::Mutex::new(()),
        }
    }

    /// Whether the router keeps the catalog current by itself.
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    /// `false` when a reload is due.
    #[inline]
    pub(crate) fn is_current(&self) -> bool {
        !self.enabled || self.loaded.load(Ordering::Acquire) >= self.wanted.load(Ordering::Acquire)
    }

    /// Schema may have changed: reload before the next statement is routed.
    pub(crate) fn mark_stale(&self) {
        if self.enabled {
            self.wanted.fetch_add(1, Ordering::AcqRel);
        }
    }
}

impl<DB: Backend> Router<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    /// Reloads, from the primary's catalog, the user-defined functions the database declares
    /// `VOLATILE` (PostgreSQL; other databases declare none), so that a statement calling one
    /// goes to the primary. Returns how many there are. Cached decisions are forgotten.
    ///
    /// You rarely need it: [`connect`](Self::connect) loads the catalog, and DDL that runs
    /// through the router, a session, a transaction or a connection from `Acquire` (such as
    /// `sqlx::migrate!().run(&router)`) reloads it before the next statement. Call it after
    /// functions change behind the router's back (another application's migration).
    ///
    /// Why on by default (`load_volatile_functions`): a read that calls a writing function
    /// would otherwise reach a replica and fail there; a function that only reads but is left
    /// `VOLATILE` (PostgreSQL's default for new functions) costs a read on the primary, which
    /// declaring it `STABLE` fixes.
    ///
    /// ```no_run
    /// # async fn demo(router: &dbroute::PgRouter) -> Result<(), sqlx::Error> {
    /// let known = router.refresh_volatile_functions().await?;
    /// println!("{known} volatile functions route to the primary");
    /// # Ok(()) }
    /// ```
    pub async fn refresh_volatile_functions(&self) -> Result<usize, sqlx::Error> {
        Ok(self.refresh_catalog().await?.volatile_functions)
    }

    /// Reloads everything the router learns from the primary's catalog: the user-defined
    /// `VOLATILE` functions (see [`refresh_volatile_functions`](Self::refresh_volatile_functions))
    /// and the relations a hot standby cannot read, so that a read naming one goes to the
    /// primary ([`Reason::PrimaryOnlyRelation`](crate::Reason::PrimaryOnlyRelation)): unlogged
    /// tables and sequences (a standby refuses even to plan a statement naming one), and views
    /// whose definition calls a writing function (built in, configured or `VOLATILE`) or reads
    /// such a relation, however deeply nested. Cached decisions are forgotten.
    ///
    /// Like the functions, they are loaded at connect time and after schema changes that run
    /// through the router; names compare without their schema, so a table that shares a name
    /// with an unlogged one is read on the primary too.
    ///
    /// ```no_run
    /// # async fn demo(router: &dbroute::PgRouter) -> Result<(), sqlx::Error> {
    /// let known = router.refresh_catalog().await?;
    /// println!(
    ///     "{} volatile functions and {} primary-only relations",
    ///     known.volatile_functions, known.primary_only_relations
    /// );
    /// # Ok(()) }
    /// ```
    pub async fn refresh_catalog(&self) -> Result<CatalogCounts, sqlx::Error> {
        self.load_catalog(&self.primary_engine().pool).await
    }

    /// Reloads the catalog if it is stale; a failure is logged, and routing goes on with what
    /// it knows (retrying on every statement would make a primary outage slow everything).
    pub(crate) async fn ensure_catalog(&self) {
        let catalog = self.catalog();
        if catalog.is_current() {
            return;
        }
        let _loading = catalog.loading.lock().await;
        if catalog.is_current() {
            return;
        }
        if let Err(error) = self.load_catalog(&self.primary_engine().pool).await {
            self.give_up_loading(&error);
        }
    }

    /// Reloads the catalog on `connection` (right after it committed schema changes).
    pub(crate) async fn refresh_catalog_on(&self, connection: &mut DB::Connection) {
        let catalog = self.catalog();
        catalog.mark_stale();
        if !catalog.enabled() {
            return;
        }
        let _loading = catalog.loading.lock().await;
        if let Err(error) = self.load_catalog(connection).await {
            self.give_up_loading(&error);
        }
    }

    async fn load_catalog<'c, E>(&self, executor: E) -> Result<CatalogCounts, sqlx::Error>
    where
        E: 'c + Executor<'c, Database = DB>,
    {
        let catalog = self.catalog();
        let generation = catalog.wanted.load(Ordering::Acquire);
        let mut counts = CatalogCounts::default();
        if let Some(rows) = DB::catalog(executor).await? {
            let classifier = self.classifier();
            classifier.learn(learn(&rows, classifier));
            counts = CatalogCounts {
                volatile_functions: classifier.volatile_function_count(),
                primary_only_relations: classifier.primary_only_relation_count(),
            };
            tracing::info!(
                volatile_functions = counts.volatile_functions,
                primary_only_relations = counts.primary_only_relations,
                "loaded the primary's catalog"
            );
        }
        catalog.loaded.fetch_max(generation, Ordering::AcqRel);
        Ok(counts)
    }

    fn give_up_loading(&self, error: &sqlx::Error) {
        let catalog = self.catalog();
        tracing::warn!(
            %error,
            "cannot load the primary's catalog; routing with the functions and relations known \
             so far until the next schema change or refresh_catalog()"
        );
        catalog
            .loaded
            .fetch_max(catalog.wanted.load(Ordering::Acquire), Ordering::AcqRel);
    }
}

/// How much [`Router::refresh_catalog`] learnt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CatalogCounts {
    /// User-defined `VOLATILE` functions: a read calling one goes to the primary.
    pub volatile_functions: usize,
    /// Relation names a hot standby cannot read: a read naming one goes to the primary.
    pub primary_only_relations: usize,
}

/// What routing learns from the catalog's rows. Which functions may write depends on which
/// relations a standby cannot read (a body reading one), and which views it cannot read on
/// which functions write (a view calling one): starting from every volatile function
/// writing, each round frees the functions proven to only read given the relations of the
/// round before, until nothing changes (each round can only free more, so it ends). Then the
/// functions still writing whose only writes are templated dynamic SQL are noted.
fn learn(rows: &CatalogRows, classifier: &Classifier) -> Learnt {
    let overloads = Overloads::of(rows);
    let mut may_write = function_set(rows.volatile_functions.iter().map(|(name, _)| name));
    let mut refused =
        primary_only_relations(rows, |f| classifier.is_write_function_among(f, &may_write));
    // The names whose removal may change a body's verdict (`None`: judge every body).
    let mut changed: Option<Vec<Box<str>>> = None;
    loop {
        let mut learnt = Learnt {
            relations: function_set(&refused.names),
            schemas: function_set(&refused.schemas),
            ..Learnt::default()
        };
        // What one round freed stays freed (the next has fewer relations to fear).
        let judge = |body: &FunctionBody, functions: &FunctionSet| match body {
            FunctionBody::Sql(sql) => classifier.reads_only_with(sql, functions, &learnt),
            FunctionBody::PlPgSql { block, .. } => {
                classifier.analyze_block_with(block, functions, &learnt, None) == Block::Reads
            }
        };
        may_write = functions_that_may_write(&overloads, may_write, changed, judge);
        learnt.functions = may_write.clone();
        let next = primary_only_relations(rows, |f| {
            classifier.is_write_function_among(f, &learnt.functions)
        });
        if next == refused {
            learnt.templates = templates(&overloads, classifier, &learnt);
            return learnt;
        }
        // Fewer relations to fear: only bodies naming one no longer feared (or its schema)
        // can change, unless none is left at all (by-name readers then all change).
        changed = (!next.names.is_empty() && !next.schemas.is_empty()).then(|| {
            let gone = |before: &[String], after: &[String]| {
                let before = before.iter().filter(|name| !after.contains(name));
                before
                    .map(|name| name.to_ascii_lowercase().into_boxed_str())
                    .collect::<Vec<_>>()
            };
            let mut gone_names = gone(&refused.names, &next.names);
            gone_names.extend(gone(&refused.schemas, &next.schemas));
            gone_names
        });
        refused = next;
    }
}

/// The functions that may write whose only possibly-writing statements are `EXECUTE`s of
/// text made from constants and their parameters: a call passing literals is judged by the
/// statements it makes. Only a function with one volatile overload (a call of another
/// overload, not volatile, only reads).
fn templates(overloads: &Overloads<'_>, classifier: &Classifier, learnt: &Learnt) -> Templates {
    let mut templates = Templates::default();
    for name in &learnt.functions {
        let Some([Some((body, _))]) = overloads.0.get(name).map(Vec::as_slice) else {
            continue;
        };
        let FunctionBody::PlPgSql {
            block,
            inputs: Some(inputs),
        } = body
        else {
            continue;
        };
        let functions = &learnt.functions;
        if let Block::Dynamic(statements) =
            classifier.analyze_block_with(block, functions, learnt, Some(inputs))
        {
            let function = DynamicFunction {
                inputs: input_count(inputs),
                statements,
            };
            templates.insert(name.clone(), function);
        }
    }
    templates
}

/// The volatile functions' overloads by lower-cased name, each body with its lower-cased
/// text (to tell cheaply whether it mentions a name).
struct Overloads<'r>(HashMap<Box<str>, Vec<Option<Body<'r>>>>);

/// A body, and its text lower-cased.
type Body<'r> = (&'r FunctionBody, String);

impl<'r> Overloads<'r> {
    fn of(rows: &'r CatalogRows) -> Self {
        let mut by_name: HashMap<Box<str>, Vec<_>> = HashMap::new();
        for (name, body) in &rows.volatile_functions {
            let text = |body: &'r FunctionBody| {
                let (FunctionBody::Sql(text) | FunctionBody::PlPgSql { block: text, .. }) = body;
                (body, text.to_ascii_lowercase())
            };
            let name = name.trim().to_ascii_lowercase().into_boxed_str();
            by_name
                .entry(name)
                .or_default()
                .push(body.as_ref().map(text));
        }
        Overloads(by_name)
    }
}

/// The functions of `may_write` a call of which must still go to the primary: all of them,
/// but those written in SQL or PL/pgSQL whose every overload's body `reads_only` (given the
/// functions still in the set: to a fixed point, so a function calling a reading one is freed
/// too, and one calling itself or a function in another language is not). PostgreSQL makes
/// new functions `VOLATILE` unless told otherwise; one that only selects cannot write,
/// whatever it is declared. A verdict changes only when a name its body mentions does: the
/// first round judges the bodies mentioning one of `changed` (every body when `None`), each
/// later round those mentioning a function the round before freed.
fn functions_that_may_write(
    overloads: &Overloads<'_>,
    mut may_write: FunctionSet,
    changed: Option<Vec<Box<str>>>,
    reads_only: impl Fn(&FunctionBody, &FunctionSet) -> bool,
) -> FunctionSet {
    let mut freed_before = changed;
    loop {
        let affected = |text: &str| {
            freed_before
                .as_ref()
                .is_none_or(|freed| freed.iter().any(|name| text.contains(&**name)))
        };
        let freed: Vec<Box<str>> = may_write
            .iter()
            .filter(|name| {
                let bodies = overloads.0.get(*name).map_or(&[][..], Vec::as_slice);
                !bodies.is_empty()
                    && bodies
                        .iter()
                        .any(|b| b.as_ref().is_some_and(|(_, t)| affected(t)))
                    && bodies.iter().all(|body| {
                        body.as_ref()
                            .is_some_and(|(body, _)| reads_only(body, &may_write))
                    })
            })
            .cloned()
            .collect();
        if freed.is_empty() {
            return may_write;
        }
        for name in &freed {
            may_write.remove(name);
        }
        freed_before = Some(freed);
    }
}

/// The relations a standby cannot read, by name, and the schemas holding them.
#[derive(Debug, PartialEq, Eq)]
struct Refused {
    names: Vec<String>,
    schemas: Vec<String>,
}

/// The relations a standby cannot read: the unlogged ones, every view that calls a function
/// `writes` accepts or reads such a relation, and every table with such a partition or
/// inheritance child (to a fixed point, so views of views and nested partitions count).
fn primary_only_relations(rows: &CatalogRows, writes: impl Fn(&str) -> bool) -> Refused {
    let mut refused: HashSet<i64> = rows.unlogged.iter().map(|(id, _)| *id).collect();
    refused.extend(
        rows.view_calls
            .iter()
            .filter(|(_, function)| writes(function))
            .map(|(view, _)| *view),
    );
    loop {
        let before = refused.len();
        for (view, read) in &rows.view_reads {
            if refused.contains(read) {
                refused.insert(*view);
            }
        }
        if refused.len() == before {
            break;
        }
    }
    let named = |pairs: &[(i64, String)]| {
        let mut names: Vec<String> = pairs
            .iter()
            .filter(|(id, _)| refused.contains(id))
            .map(|(_, name)| name.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    };
    let mut relations = rows.unlogged.clone();
    relations.extend(rows.views.iter().cloned());
    relations.extend(rows.parents.iter().cloned());
    Refused {
        names: named(&relations),
        schemas: named(&rows.schemas),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_functions_that_only_read_are_freed() {
        let function = |name: &str, body: Option<&str>| {
            (
                name.to_owned(),
                body.map(|b| FunctionBody::Sql(b.to_owned())),
            )
        };
        let rows = CatalogRows {
            volatile_functions: vec![
                function("total", Some("SELECT sum(x) FROM t")),
                function("via_total", Some("SELECT total() + 1")),
                function("bump", Some("UPDATE t SET x = x + 1 RETURNING x")),
                function("via_bump", Some("SELECT bump()")),
                function("looped", Some("SELECT looped()")),
                function("plpgsql", None),
                function("via_plpgsql", Some("SELECT plpgsql()")),
                // One overload that writes keeps the name on the primary.
                function("mixed", Some("SELECT 1")),
                function("mixed", Some("DELETE FROM t")),
            ],
            ..CatalogRows::default()
        };
        // A stand-in for the classifier: a body reads unless it writes or calls a function
        // still in the set.
        let reads_only = |body: &FunctionBody, functions: &FunctionSet| {
            let (FunctionBody::Sql(body) | FunctionBody::PlPgSql { block: body, .. }) = body;
            let lower = body.to_ascii_lowercase();
            !lower.starts_with("update")
                && !lower.starts_with("delete")
                && !functions.iter().any(|f| lower.contains(&format!("{f}(")))
        };
        let all = function_set(rows.volatile_functions.iter().map(|(name, _)| name));
        let mut may_write: Vec<String> =
            functions_that_may_write(&Overloads::of(&rows), all, None, reads_only)
                .into_iter()
                .map(String::from)
                .collect();
        may_write.sort();
        assert_eq!(
            may_write,
            [
                "bump",
                "looped",
                "mixed",
                "plpgsql",
                "via_bump",
                "via_plpgsql"
            ]
        );
    }

    fn named(rows: &[(i64, &str)]) -> Vec<(i64, String)> {
        rows.iter()
            .map(|(id, name)| (*id, (*name).to_owned()))
            .collect()
    }

    #[test]
    fn unlogged_relations_and_the_views_over_them_or_over_writing_functions() {
        let rows = CatalogRows {
            volatile_functions: vec![],
            unlogged: named(&[(1, "queue")]),
            views: named(&[(10, "pending"), (11, "recent"), (12, "ids"), (13, "nested")]),
            view_calls: named(&[(11, "now"), (12, "nextval")]),
            // nested -> pending -> queue; recent reads a logged table; events has the
            // unlogged partition queue (a scan of events reads it).
            view_reads: vec![(13, 10), (10, 1), (11, 2), (20, 1), (21, 2)],
            parents: named(&[(20, "events"), (21, "logged_parent")]),
            schemas: named(&[(1, "jobs"), (10, "public"), (11, "reports"), (12, "public")]),
        };
        let refused = primary_only_relations(&rows, |f| f == "nextval");
        assert_eq!(
            refused.names,
            ["events", "ids", "nested", "pending", "queue"]
        );
        assert_eq!(refused.schemas, ["jobs", "public"]);
    }

    fn plpgsql(name: &str, block: &str, inputs: &[&str]) -> (String, Option<FunctionBody>) {
        let body = FunctionBody::PlPgSql {
            block: block.to_owned(),
            inputs: Some(crate::classify::dynamic_tests::inputs(inputs)),
        };
        (name.to_owned(), Some(body))
    }

    #[test]
    fn dynamic_sql_made_from_parameters_is_judged_at_each_call() {
        let rows = CatalogRows {
            volatile_functions: vec![
                plpgsql(
                    "run",
                    "BEGIN RETURN QUERY EXECUTE format('EXPLAIN ANALYZE %s', $1); END",
                    &[""],
                ),
                plpgsql(
                    "run_named",
                    "DECLARE l text; BEGIN FOR l IN EXECUTE 'EXPLAIN ' || query LOOP \
                     RETURN NEXT l; END LOOP; END",
                    &["query", "unused"],
                ),
                // The parameter is assigned: what runs is not what the call passed.
                plpgsql(
                    "reassigned",
                    "BEGIN q := 'DELETE FROM t'; EXECUTE q; END",
                    &["q"],
                ),
                plpgsql(
                    "shadowed",
                    "BEGIN DECLARE q text := 'DELETE FROM t'; BEGIN EXECUTE q; END; END",
                    &["q"],
                ),
                plpgsql(
                    "writes_too",
                    "BEGIN INSERT INTO t VALUES (1); EXECUTE $1; END",
                    &[""],
                ),
                plpgsql("computed", "BEGIN EXECUTE upper($1); END", &[""]),
                plpgsql("overloaded", "BEGIN EXECUTE $1; END", &[""]),
                plpgsql("overloaded", "BEGIN EXECUTE $1; END", &["", ""]),
                plpgsql("configured", "BEGIN EXECUTE $1; END", &[""]),
            ],
            ..CatalogRows::default()
        };
        let classifier =
            Classifier::new(crate::Dialect::Postgres).with_write_functions(["configured"]);
        let learnt = learn(&rows, &classifier);
        let mut templated: Vec<&str> = learnt.templates.keys().map(|k| &**k).collect();
        templated.sort_unstable();
        assert_eq!(templated, ["configured", "run", "run_named"]);
        classifier.learn(learnt);
        let nested = (0..3).fold("SELECT 1".to_owned(), |sql, _| {
            format!("SELECT * FROM run('{}')", sql.replace('\'', "''"))
        });
        let too_deep = (0..6).fold("SELECT 1".to_owned(), |sql, _| {
            format!("SELECT * FROM run('{}')", sql.replace('\'', "''"))
        });
        let reads = [
            "SELECT * FROM run('SELECT * FROM t')",
            "SELECT * FROM run($q$SELECT 'x' FROM t$q$::text)",
            "SELECT run_named('SELECT 1')",
            nested.as_str(),
        ];
        for sql in reads {
            assert!(classifier.classify(sql).is_read(), "{sql}");
        }
        let writes = [
            "SELECT * FROM run('DELETE FROM t')",
            "SELECT * FROM run('SELECT nextval(''s'')')",
            "SELECT * FROM run(q) FROM saved",
            "SELECT * FROM run('SELECT 1', 'one too many')",
            "SELECT run_named(query => 'SELECT 1')",
            "SELECT reassigned('SELECT 1')",
            "SELECT shadowed('SELECT 1')",
            "SELECT writes_too('SELECT 1')",
            "SELECT computed('select 1')",
            "SELECT overloaded('SELECT 1')",
            "SELECT configured('SELECT 1')",
            too_deep.as_str(),
        ];
        for sql in writes {
            let reason = classifier.classify(sql).reason();
            assert_eq!(reason, crate::Reason::WriteFunction, "{sql}");
        }
    }

    #[test]
    fn views_over_functions_that_only_read_are_read_on_replicas() {
        let sql =
            |name: &str, body: &str| (name.to_owned(), Some(FunctionBody::Sql(body.to_owned())));
        let rows = CatalogRows {
            volatile_functions: vec![
                sql("getter", "SELECT 1"),
                sql("bump", "SELECT nextval('s')"),
                // Reads a view refused in the first round (over getter, then still volatile):
                // freed in the second.
                sql("reader", "SELECT * FROM Over_Got"),
                sql("bump_reader", "SELECT * FROM bumped"),
            ],
            views: named(&[(10, "got"), (11, "bumped"), (12, "over_got")]),
            view_calls: named(&[(10, "getter"), (11, "bump")]),
            view_reads: vec![(12, 10)],
            schemas: named(&[(10, "a"), (11, "b"), (12, "c")]),
            ..CatalogRows::default()
        };
        let classifier = Classifier::new(crate::Dialect::Postgres);
        let learnt = learn(&rows, &classifier);
        assert_eq!(learnt.relations, function_set(["bumped"]));
        assert_eq!(learnt.schemas, function_set(["b"]));
        assert_eq!(learnt.functions, function_set(["bump", "bump_reader"]));
    }

    #[test]
    fn nothing_refused_nothing_listed() {
        let rows = CatalogRows {
            views: named(&[(10, "v")]),
            view_calls: named(&[(10, "lower")]),
            view_reads: vec![(10, 2)],
            ..CatalogRows::default()
        };
        let refused = primary_only_relations(&rows, |_| false);
        assert!(refused.names.is_empty() && refused.schemas.is_empty());
    }
}
