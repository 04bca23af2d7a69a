//! What the router learns from the primary's catalog (PostgreSQL's user-defined `VOLATILE`
//! functions), and keeping it current.
//!
//! The catalog is loaded when the router connects, and becomes stale whenever schema may have
//! changed: DDL that committed through the router, a session or a transaction, or a raw
//! connection handed out by `Acquire` (migrations: dbroute cannot see what ran on it). A stale
//! catalog is reloaded before the next statement is routed, or, after a commit, right away on
//! the committing connection. The check on the hot path is two atomic loads.

use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::Executor;

use super::Router;
use crate::backend::Backend;

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

    async fn load_catalog<'c, E>(&self, executor: E) -> Result<usize, sqlx::Error>
    where
        E: 'c + Executor<'c, Database = DB>,
    {
        let catalog = self.catalog();
        let generation = catalog.wanted.load(Ordering::Acquire);
        let names = DB::volatile_functions(executor).await?;
        let count = names.as_ref().map_or(0, Vec::len);
        if let Some(names) = names {
            self.classifier().set_volatile_functions(&names);
            tracing::info!(
                count,
                "loaded volatile functions from the primary's catalog"
            );
        }
        catalog.loaded.fetch_max(generation, Ordering::AcqRel);
        Ok(count)
    }

    fn give_up_loading(&self, error: &sqlx::Error) {
        let catalog = self.catalog();
        tracing::warn!(
            %error,
            "cannot load the primary's catalog; routing with the functions known so far until \
             the next schema change or refresh_volatile_functions()"
        );
        catalog
            .loaded
            .fetch_max(catalog.wanted.load(Ordering::Acquire), Ordering::AcqRel);
    }
}
