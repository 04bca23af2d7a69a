//! Asking the router where a statement would run: [`Router::explain`] and [`Router::route`].

use super::Router;
use crate::backend::Backend;
use crate::classify::Classification;
use crate::error::{Error, Result};
use crate::policy::{Decision, RouteReason, Target};

/// Where a statement will run, as [`Router::explain`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Explanation<'r> {
    /// The group's name (the default group's for the primary and a session's transaction).
    pub group: &'r str,
    /// Why.
    pub reason: RouteReason,
    /// The classifier's view of the statement.
    pub classification: Classification,
    /// Whether it joins the transaction of the session entered with
    /// [`Session::scope`](crate::Session::scope).
    pub in_session: bool,
}

/// The engine a statement was sent to, as [`Router::route`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Destination<'r> {
    /// The group's name.
    pub group: &'r str,
    /// The engine's name.
    pub engine: &'r str,
    /// Why.
    pub reason: RouteReason,
}

impl<DB: Backend> Router<DB> {
    /// Where `sql` would run now on the router itself, under the current scope (and inside
    /// [`Session::scope`](crate::Session::scope), the entered session).
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")]
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), dbroute::Error> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let router = dbroute::SqliteRouter::connect(&dbroute::RoutingConfig::sqlite(dir.path().join("app.db"))).await?;
    /// assert_eq!(router.explain("SELECT 1")?.group, "read");
    /// assert_eq!(router.explain("DELETE FROM t")?.group, "default");
    /// # Ok(()) }
    /// # #[cfg(not(feature = "sqlite"))] fn main() {}
    /// ```
    pub fn explain(&self, sql: &str) -> Result<Explanation<'_>> {
        let (group, decision) = self.decided_group(sql)?;
        Ok(Explanation {
            group: self.group_name(group),
            reason: decision.reason,
            classification: decision.classification,
            in_session: decision.target == Target::Unit,
        })
    }

    /// Decides where `sql` runs and picks the engine, exactly as running it on the router
    /// would (so round-robin moves on): the routing hot path without the database. A read that
    /// must see the scope's earlier writes (`read_your_writes`) is then still checked against
    /// the replicas' positions when it runs, and may move to another replica or the primary.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")]
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), dbroute::Error> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let router = dbroute::SqliteRouter::connect_lazy(&dbroute::RoutingConfig::sqlite(dir.path().join("app.db")))?;
    /// let destination = router.route("SELECT * FROM users")?;
    /// assert_eq!((destination.group, destination.engine), ("read", "reader"));
    /// # Ok(()) }
    /// # #[cfg(not(feature = "sqlite"))] fn main() {}
    /// ```
    pub fn route(&self, sql: &str) -> Result<Destination<'_>> {
        let (group, decision) = self.decided_group(sql)?;
        let engine = self.usable_engine(group, &decision).map_err(|e| *e)?;
        Ok(Destination {
            group: self.group_name(group),
            engine: &engine.name,
            reason: decision.reason,
        })
    }

    /// The decision for `sql` on the router now, and the group it names (a session's
    /// transaction is on the primary).
    fn decided_group(&self, sql: &str) -> Result<(usize, Decision)> {
        let (decision, _) = self
            .decide_in_context(sql, None)
            .map_err(|e| e.into_error(self))?;
        let group = match decision.target {
            Target::Group(group) => group,
            Target::Unit => self.default_group(),
            Target::Refused(group) => {
                return Err(Error::WriteOutsideSession {
                    group: self.group_name(group).to_owned(),
                });
            }
        };
        Ok((group, decision))
    }
}
