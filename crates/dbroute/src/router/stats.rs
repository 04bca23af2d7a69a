//! [`Router::stats`]: what each engine served, and why.

use super::Router;
use crate::backend::Backend;
use crate::stats::RouterStats;

impl<DB: Backend> Router<DB> {
    /// What every engine served since the router was built: statements by the reason they were
    /// routed there, and errors. Cheap to call (a few atomic loads per engine); the counting
    /// itself is one relaxed atomic add per statement.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use dbroute::{RouteReason, RoutingConfig, SqliteRouter};
    /// use dbroute::classify::Reason;
    ///
    /// let router = SqliteRouter::connect(&RoutingConfig::sqlite(":memory:")).await?;
    /// sqlx::query("CREATE TABLE t (x)").execute(&router).await?;
    /// sqlx::query("SELECT x FROM t").fetch_all(&router).await?;
    /// let writer = router.stats().engine("writer").cloned().unwrap();
    /// assert_eq!(writer.statements, 2);
    /// assert_eq!(writer.for_reason(RouteReason::Statement(Reason::Ddl)), 1);
    /// # Ok(()) }
    /// ```
    pub fn stats(&self) -> RouterStats {
        let engines = self
            .every_engine()
            .map(|(index, group, engine)| {
                let role = self.role(index, engine);
                engine.stats.snapshot(&group.name, &engine.name, role)
            })
            .collect();
        RouterStats { engines }
    }
}
