//! Explicit handles: [`Router::group`], [`Router::primary`], [`Router::replica`].

use std::fmt;

use super::Router;
use crate::backend::Backend;
use crate::policy::GroupId;

/// An executor bound to one group: see [`Router::group`]. Cheap to copy.
///
/// Reads run on the group; other statements run there only when the group is writable, and
/// on the primary otherwise. Inside [`Session::scope`](crate::Session::scope), what runs on the
/// primary joins the session's transaction.
pub struct GroupHandle<'r, DB: Backend> {
    pub(crate) router: &'r Router<DB>,
    pub(crate) group: GroupId,
}

impl<DB: Backend> Clone for GroupHandle<'_, DB> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<DB: Backend> Copy for GroupHandle<'_, DB> {}

impl<DB: Backend> GroupHandle<'_, DB> {
    /// The group's name (the default group's, for a handle to an empty read group).
    pub fn name(&self) -> &str {
        self.router.group_name(self.group)
    }
}

impl<DB: Backend> fmt::Debug for GroupHandle<'_, DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupHandle")
            .field("group", &self.name())
            .finish()
    }
}

impl<DB: Backend> Router<DB> {
    /// An executor bound to group `name`: reads run there; other statements run there only
    /// when the group is writable, and on the primary otherwise. An unknown name is an error
    /// (a `sqlx::Error`, so `?` works in handlers; see [`Error::from_sqlx`](crate::Error::from_sqlx)).
    ///
    /// ```no_run
    /// # async fn demo(router: &dbroute::PgRouter) -> Result<(), sqlx::Error> {
    /// let analytics = router.group("analytics")?;
    /// let n: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(analytics).await?;
    /// let missing = router.group("no-such-group").unwrap_err();
    /// assert!(dbroute::Error::from_sqlx(&missing).is_some_and(|e| e.is_unknown_group()));
    /// # Ok(()) }
    /// ```
    pub fn group(&self, name: &str) -> Result<GroupHandle<'_, DB>, sqlx::Error> {
        let group = self.resolve_group(name)?;
        Ok(GroupHandle {
            router: self,
            group,
        })
    }

    /// The primary's own pool, for an API that needs a concrete sqlx pool rather than an
    /// executor: migrations (`sqlx::migrate!().run(router.primary_pool())`), or a SeaORM
    /// `DatabaseConnection` for `sea-orm-migration`. Statements on it bypass the router (no
    /// routing, no read-your-writes capture): use it for schema work, not for the application's
    /// queries.
    ///
    /// ```no_run
    /// # async fn demo(router: &dbroute::PgRouter) -> Result<(), sqlx::Error> {
    /// let pool: &sqlx::PgPool = router.primary_pool();
    /// sqlx::query("CREATE TABLE IF NOT EXISTS t (id int)").execute(pool).await?;
    /// # Ok(()) }
    /// ```
    pub fn primary_pool(&self) -> &sqlx::Pool<DB> {
        &self.primary_engine().pool
    }

    /// An executor bound to the primary, for reads that must be fresh.
    ///
    /// ```no_run
    /// # async fn demo(router: &dbroute::PgRouter) -> Result<(), sqlx::Error> {
    /// let balance: i64 = sqlx::query_scalar("SELECT balance FROM accounts WHERE id = 1")
    ///     .fetch_one(router.primary())
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn primary(&self) -> GroupHandle<'_, DB> {
        GroupHandle {
            router: self,
            group: self.default_group(),
        }
    }

    /// An executor bound to the read group (the primary when the read group is empty).
    /// Writes through it still go to the primary.
    ///
    /// ```no_run
    /// # async fn demo(router: &dbroute::PgRouter) -> Result<(), sqlx::Error> {
    /// let rows = sqlx::query("SELECT * FROM report").fetch_all(router.replica()).await?;
    /// # Ok(()) }
    /// ```
    pub fn replica(&self) -> GroupHandle<'_, DB> {
        GroupHandle {
            router: self,
            group: self.read_group(),
        }
    }
}
