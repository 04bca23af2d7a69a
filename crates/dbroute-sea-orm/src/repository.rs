//! [`Repository`]: the reference design's repository for any SeaORM entity, on a
//! [`SeaRouter`] or inside a [`SeaSession`]. Reads route to replicas (or to the repository's
//! bind group); writes go to the primary, by their SQL text, like every other statement.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;

use dbroute::Backend;
use sea_orm::sea_query::{Expr, IntoCondition, OnConflict};
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, Condition, ConnectionTrait, DbErr, EntityTrait,
    IdenStatic, IntoActiveModel, Iterable, Order, PaginatorTrait, PrimaryKeyToColumn,
    PrimaryKeyTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};

use crate::{SeaRouter, SeaSession};

type Result<T> = std::result::Result<T, RepositoryError>;

/// What a repository call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RepositoryError {
    /// `get` or `get_one` found nothing.
    #[error("no {entity} matches {what}")]
    NotFound {
        /// The entity's table.
        entity: &'static str,
        /// The primary key or the filter that matched nothing.
        what: String,
    },
    /// `get_one` or `get_one_or_none` found more than one row.
    #[error("more than one {entity} matches the filter; add a condition or use list")]
    NotUnique {
        /// The entity's table.
        entity: &'static str,
    },
    /// A read named a bind group the router does not have (never a silent primary).
    #[error("{0}")]
    UnknownGroup(String),
    /// The database (or the router) refused the statement.
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// A connection a repository can run on: the router, or a session of it.
pub trait Connection: ConnectionTrait + Send + Sync + sealed::Sealed {
    /// An error when the router has no group `name`.
    #[doc(hidden)]
    fn check_group(&self, name: &str) -> Result<()>;
}

mod sealed {
    pub trait Sealed {}
}

fn check<DB: Backend>(router: &dbroute::Router<DB>, name: &str) -> Result<()> {
    match router.group(name) {
        Ok(_) => Ok(()),
        Err(error) => Err(RepositoryError::UnknownGroup(error.to_string())),
    }
}

impl<DB: Backend> sealed::Sealed for SeaRouter<DB> {}
impl<DB: Backend> sealed::Sealed for SeaSession<DB> {}

impl<DB: Backend> Connection for SeaRouter<DB>
where
    SeaRouter<DB>: ConnectionTrait,
{
    fn check_group(&self, name: &str) -> Result<()> {
        check(&self.router, name)
    }
}

impl<DB: Backend> Connection for SeaSession<DB>
where
    SeaSession<DB>: ConnectionTrait,
{
    fn check_group(&self, name: &str) -> Result<()> {
        check(self.session.router(), name)
    }
}

/// Which rows a read takes, in which order: a SeaORM condition, orderings, a limit and an
/// offset. `Filter::all()` takes every row.
///
/// ```
/// # mod user {
/// #     use sea_orm::entity::prelude::*;
/// #     #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
/// #     #[sea_orm(table_name = "users")]
/// #     pub struct Model { #[sea_orm(primary_key)] pub id: i32, pub name: String }
/// #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
/// #     pub enum Relation {}
/// #     impl ActiveModelBehavior for ActiveModel {}
/// # }
/// use dbroute_sea_orm::Filter;
/// use sea_orm::{ColumnTrait, Order};
///
/// let adults = Filter::<user::Entity>::all()
///     .filter(user::Column::Name.starts_with("A"))
///     .order_by(user::Column::Name, Order::Asc)
///     .limit(20);
/// # let _ = adults;
/// ```
pub struct Filter<E: EntityTrait> {
    condition: Condition,
    order: Vec<(E::Column, Order)>,
    limit: Option<u64>,
    offset: Option<u64>,
}

impl<E: EntityTrait> Filter<E> {
    /// Every row.
    pub fn all() -> Self {
        Filter {
            condition: Condition::all(),
            order: Vec::new(),
            limit: None,
            offset: None,
        }
    }

    /// Only rows matching `condition` too.
    #[must_use]
    pub fn filter(mut self, condition: impl IntoCondition) -> Self {
        self.condition = self.condition.add(condition.into_condition());
        self
    }

    /// Then ordered by `column`.
    #[must_use]
    pub fn order_by(mut self, column: E::Column, order: Order) -> Self {
        self.order.push((column, order));
        self
    }

    /// At most `n` rows (a count ignores it).
    #[must_use]
    pub fn limit(mut self, n: u64) -> Self {
        self.limit = Some(n);
        self
    }

    /// Skipping the first `n` rows (a count ignores it).
    #[must_use]
    pub fn offset(mut self, n: u64) -> Self {
        self.offset = Some(n);
        self
    }

    /// The rows matching, unordered and unpaged: for counts.
    fn matching(&self) -> Select<E> {
        E::find().filter(self.condition.clone())
    }

    /// The select of this filter.
    fn select(&self) -> Select<E> {
        let ordered = self
            .order
            .iter()
            .fold(self.matching(), |q, (column, order)| {
                q.order_by(*column, order.clone())
            });
        ordered.limit(self.limit).offset(self.offset)
    }
}

impl<E: EntityTrait> Default for Filter<E> {
    fn default() -> Self {
        Filter::all()
    }
}

impl<E: EntityTrait> Clone for Filter<E> {
    fn clone(&self) -> Self {
        Filter {
            condition: self.condition.clone(),
            order: self.order.clone(),
            limit: self.limit,
            offset: self.offset,
        }
    }
}

impl<E: EntityTrait> fmt::Debug for Filter<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Filter")
            .field("condition", &self.condition)
            .field("limit", &self.limit)
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}

/// The reference design's repository for entity `E` on connection `C` (a [`SeaRouter`], or a
/// [`SeaSession`] whose reads after a write see it).
///
/// Reads run where reads go: a replica, or the repository's bind group
/// ([`bind_group`](Self::bind_group)), which beats any enclosing scope; an unknown group is an
/// error. Writes run on the primary (by their SQL text), inside the session when there is one.
///
/// ```no_run
/// # mod user {
/// #     use sea_orm::entity::prelude::*;
/// #     #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
/// #     #[sea_orm(table_name = "users")]
/// #     pub struct Model { #[sea_orm(primary_key)] pub id: i32, pub name: String }
/// #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
/// #     pub enum Relation {}
/// #     impl ActiveModelBehavior for ActiveModel {}
/// # }
/// use dbroute_sea_orm::{Filter, PgSeaRouter, Repository};
/// use sea_orm::{ColumnTrait, Set};
///
/// # async fn demo(db: PgSeaRouter) -> Result<(), dbroute_sea_orm::RepositoryError> {
/// let users = Repository::<user::Entity, _>::new(db.clone());
/// let everyone = users.list(Filter::all()).await?; // a replica
/// let analytics = users.bind_group("analytics").count(Filter::all()).await?; // that group
///
/// // A unit of work: the read after the write is sticky to the primary and sees it.
/// let session = db.session();
/// let repo = Repository::<user::Entity, _>::new(session.clone());
/// let ada = repo.add(user::ActiveModel { name: Set("Ada".into()), ..Default::default() }).await?;
/// let again = repo.get(ada.id).await?;
/// session.commit().await?; // reads go back to replicas
/// # Ok(()) }
/// ```
pub struct Repository<E: EntityTrait, C: Connection> {
    db: C,
    group: Option<String>,
    entity: PhantomData<fn() -> E>,
}

impl<E: EntityTrait, C: Connection + Clone> Clone for Repository<E, C> {
    fn clone(&self) -> Self {
        Repository {
            db: self.db.clone(),
            group: self.group.clone(),
            entity: PhantomData,
        }
    }
}

impl<E: EntityTrait, C: Connection + fmt::Debug> fmt::Debug for Repository<E, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Repository")
            .field("entity", &E::default().table_name())
            .field("db", &self.db)
            .field("bind_group", &self.group)
            .finish()
    }
}

impl<E, C> Repository<E, C>
where
    E: EntityTrait,
    E::Model: IntoActiveModel<E::ActiveModel> + Sync,
    E::ActiveModel: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
    C: Connection,
{
    /// A repository of `E` on `db`, whose reads go where reads go.
    pub fn new(db: C) -> Self {
        Repository {
            db,
            group: None,
            entity: PhantomData,
        }
    }

    /// The same repository with its reads on bind group `name`: as a default
    /// (`Repository::new(db).bind_group("reporting")`) or for one call
    /// (`repo.bind_group("analytics").count(..)`). It beats any enclosing scope
    /// (`use_bind_group`, `primary_context`, ...); an unknown name fails each read.
    #[must_use]
    pub fn bind_group(&self, name: &str) -> Self
    where
        C: Clone,
    {
        Repository {
            db: self.db.clone(),
            group: Some(name.to_owned()),
            entity: PhantomData,
        }
    }

    /// The connection it runs on.
    pub fn connection(&self) -> &C {
        &self.db
    }

    fn entity() -> &'static str {
        E::default().table_name()
    }

    /// Runs `read` in the repository's bind group, if it has one.
    async fn read<T>(
        &self,
        read: impl Future<Output = std::result::Result<T, DbErr>>,
    ) -> Result<T> {
        match &self.group {
            None => Ok(read.await?),
            Some(group) => {
                self.db.check_group(group)?;
                Ok(dbroute::use_bind_group(group, read).await?)
            }
        }
    }

    /// The rows `filter` takes, in its order.
    pub async fn list(&self, filter: Filter<E>) -> Result<Vec<E::Model>> {
        self.read(filter.select().all(&self.db)).await
    }

    /// The rows `filter` takes, and how many rows match it in all (ignoring its limit and
    /// offset: a page and the total).
    pub async fn list_and_count(&self, filter: Filter<E>) -> Result<(Vec<E::Model>, u64)> {
        let rows = self.list(filter.clone()).await?;
        let total = self.count(filter).await?;
        Ok((rows, total))
    }

    /// The row with primary key `key`, or [`RepositoryError::NotFound`].
    pub async fn get<K>(&self, key: K) -> Result<E::Model>
    where
        K: Into<<E::PrimaryKey as PrimaryKeyTrait>::ValueType> + fmt::Debug + Clone,
    {
        let found = self.read(E::find_by_id(key.clone()).one(&self.db)).await?;
        found.ok_or_else(|| RepositoryError::NotFound {
            entity: Self::entity(),
            what: format!("primary key {key:?}"),
        })
    }

    /// The one row `filter` matches: [`RepositoryError::NotFound`] when none,
    /// [`RepositoryError::NotUnique`] when several.
    pub async fn get_one(&self, filter: Filter<E>) -> Result<E::Model> {
        let what = format!("{:?}", filter.condition);
        self.get_one_or_none(filter)
            .await?
            .ok_or(RepositoryError::NotFound {
                entity: Self::entity(),
                what,
            })
    }

    /// The row `filter` matches, if any: [`RepositoryError::NotUnique`] when several.
    pub async fn get_one_or_none(&self, filter: Filter<E>) -> Result<Option<E::Model>> {
        let mut rows = self.list(filter.limit(2)).await?;
        if rows.len() > 1 {
            return Err(RepositoryError::NotUnique {
                entity: Self::entity(),
            });
        }
        Ok(rows.pop())
    }

    /// How many rows `filter` matches (its limit and offset aside).
    pub async fn count(&self, filter: Filter<E>) -> Result<u64> {
        self.read(filter.matching().count(&self.db)).await
    }

    /// Whether any row matches `filter`.
    pub async fn exists(&self, filter: Filter<E>) -> Result<bool> {
        // `SELECT 1`: an empty select list is PostgreSQL's alone.
        let first = filter
            .matching()
            .select_only()
            .column_as(Expr::val(1), "one")
            .limit(1);
        let found = self.read(first.into_model::<Probe>().one(&self.db)).await?;
        Ok(found.is_some())
    }

    /// Inserts `model`: the stored row (`INSERT ... RETURNING`, on the primary).
    pub async fn add(&self, model: E::ActiveModel) -> Result<E::Model> {
        Ok(model.insert(&self.db).await?)
    }

    /// Inserts `models` in one statement: the stored rows.
    pub async fn add_many(
        &self,
        models: impl IntoIterator<Item = E::ActiveModel>,
    ) -> Result<Vec<E::Model>> {
        Ok(E::insert_many(models).exec_with_returning(&self.db).await?)
    }

    /// Updates the row of `model`'s primary key with the columns it sets: the stored row.
    pub async fn update(&self, model: E::ActiveModel) -> Result<E::Model> {
        Ok(model.update(&self.db).await?)
    }

    /// Sets the columns `changes` sets on every row `filter` matches: how many.
    pub async fn update_many(&self, changes: E::ActiveModel, filter: Filter<E>) -> Result<u64> {
        let update = E::update_many().set(changes).filter(filter.condition);
        Ok(update.exec(&self.db).await?.rows_affected)
    }

    /// Deletes the row with primary key `key`: the deleted row, or
    /// [`RepositoryError::NotFound`].
    pub async fn delete<K>(&self, key: K) -> Result<E::Model>
    where
        K: Into<<E::PrimaryKey as PrimaryKeyTrait>::ValueType> + fmt::Debug + Clone,
    {
        let deleted = E::delete_by_id(key.clone())
            .exec_with_returning(&self.db)
            .await?;
        deleted.ok_or_else(|| RepositoryError::NotFound {
            entity: Self::entity(),
            what: format!("primary key {key:?}"),
        })
    }

    /// Deletes every row `filter` matches: how many.
    pub async fn delete_many(&self, filter: Filter<E>) -> Result<u64> {
        let delete = E::delete_many().filter(filter.condition);
        Ok(delete.exec(&self.db).await?.rows_affected)
    }

    /// Inserts `model`, or, when a row with its primary key exists, updates that row with
    /// the other columns `model` sets: the stored row.
    pub async fn upsert(&self, model: E::ActiveModel) -> Result<E::Model> {
        let keys: Vec<E::Column> = E::PrimaryKey::iter().map(|k| k.into_column()).collect();
        let is_key = |c: &E::Column| keys.iter().any(|k| k.as_str() == c.as_str());
        let set: Vec<E::Column> = E::Column::iter()
            .filter(|c| !is_key(c) && !model.is_not_set(*c))
            .collect();
        let mut conflict = OnConflict::columns(keys);
        match set.is_empty() {
            true => conflict.do_nothing(),
            false => conflict.update_columns(set),
        };
        let insert = E::insert(model).on_conflict(conflict);
        Ok(insert.exec_with_returning(&self.db).await?)
    }
}

/// `exists`' probe: a row of nothing.
#[derive(Debug)]
struct Probe;

impl sea_orm::FromQueryResult for Probe {
    fn from_query_result(_: &sea_orm::QueryResult, _: &str) -> std::result::Result<Self, DbErr> {
        Ok(Probe)
    }
}
