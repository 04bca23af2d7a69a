//! `dbroute classify --catalog URL`: classify as a router connected to that database would,
//! with what it learns from the catalog (user-defined `VOLATILE` functions, unlogged tables and
//! views a standby cannot read), so that a replayed query log predicts the router's own answers.

use dbroute::{Classification, PgRouter, RoutingConfig};

/// A router on the database, kept only for its decisions; no statement of the log runs.
pub(crate) struct Catalog {
    router: PgRouter,
    /// Keeps the router's background work alive while it answers.
    _runtime: tokio::runtime::Runtime,
}

impl Catalog {
    /// Connects to `url` (the URL is never printed; errors show it redacted) and loads its
    /// catalog, with `write_functions` configured as the router would have them.
    pub(crate) fn load(url: &str, write_functions: &[String]) -> Result<Catalog, String> {
        let config = RoutingConfig::builder()
            .primary(url)
            .write_functions(write_functions)
            .build()
            .map_err(|e| e.to_string())?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let router = runtime.block_on(async {
            let router = PgRouter::connect(&config).await?;
            router.refresh_catalog().await?;
            Ok::<_, sqlx::Error>(router)
        });
        let router = router.map_err(|e| e.to_string())?;
        Ok(Catalog {
            router,
            _runtime: runtime,
        })
    }

    /// What the router decides for `sql`, outside any scope.
    pub(crate) fn classify(&self, sql: &str) -> Result<Classification, String> {
        let explanation = self.router.explain(sql).map_err(|e| e.to_string())?;
        Ok(explanation.classification)
    }
}
