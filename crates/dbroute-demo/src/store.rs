//! The data the API serves, and the SQL that reads and writes it: plain sqlx on a dbroute
//! [`Router`] (reads) or the request's [`Session`] (units of work). The same statements run on
//! SQLite and PostgreSQL; only the schema differs.

use std::future::Future;

use dbroute::{Backend, Router, Session};
use serde::{Deserialize, Serialize};

/// A user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Its email address.
    pub email: String,
}

/// The body of `POST /users`.
#[derive(Debug, Clone, Deserialize)]
pub struct NewUser {
    /// The name (1 to 100 characters).
    pub name: String,
    /// The email address (1 to 200 characters).
    pub email: String,
}

/// The body of `PUT /users/{id}`: the fields to change.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UserChange {
    /// A new name.
    pub name: Option<String>,
    /// A new email address.
    pub email: Option<String>,
}

/// An order of some quantity of an item, by a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Its id.
    pub id: i64,
    /// Who ordered.
    pub user_id: i64,
    /// What.
    pub item: String,
    /// How many.
    pub quantity: i64,
    /// `new`, `paid`, `shipped`, ...
    pub status: String,
}

/// The body of `POST /orders`.
#[derive(Debug, Clone, Deserialize)]
pub struct NewOrder {
    /// Who orders (an existing user).
    pub user_id: i64,
    /// What (1 to 100 characters).
    pub item: String,
    /// How many (1 or more).
    pub quantity: i64,
}

/// The body of `PUT /orders/{id}`: the fields to change.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct OrderChange {
    /// A new quantity (1 or more).
    pub quantity: Option<i64>,
    /// A new status (1 to 20 characters).
    pub status: Option<String>,
}

type Result<T> = std::result::Result<T, sqlx::Error>;

/// The demo's data access, for each database the demo runs on.
pub trait Store: Backend {
    /// `CREATE TABLE IF NOT EXISTS` for users and orders, and a few rows when they are empty.
    fn prepare(db: &Router<Self>) -> impl Future<Output = Result<()>> + Send;
    /// Every user, by id.
    fn users(db: &Router<Self>) -> impl Future<Output = Result<Vec<User>>> + Send;
    /// User `id`.
    fn user(db: &Router<Self>, id: i64) -> impl Future<Output = Result<Option<User>>> + Send;
    /// Adds a user.
    fn add_user(work: &Session<Self>, new: NewUser) -> impl Future<Output = Result<User>> + Send;
    /// Changes user `id`.
    fn update_user(
        work: &Session<Self>,
        id: i64,
        change: UserChange,
    ) -> impl Future<Output = Result<Option<User>>> + Send;
    /// Every order (of user `user`, when given), by id.
    fn orders(
        db: &Router<Self>,
        user: Option<i64>,
    ) -> impl Future<Output = Result<Vec<Order>>> + Send;
    /// Order `id`.
    fn order(db: &Router<Self>, id: i64) -> impl Future<Output = Result<Option<Order>>> + Send;
    /// Adds an order; `None` when its user does not exist.
    fn add_order(
        work: &Session<Self>,
        new: NewOrder,
    ) -> impl Future<Output = Result<Option<Order>>> + Send;
    /// Changes order `id`.
    fn update_order(
        work: &Session<Self>,
        id: i64,
        change: OrderChange,
    ) -> impl Future<Output = Result<Option<Order>>> + Send;
}

const USER: &str = "SELECT id, name, email FROM users";
const ORDER: &str = "SELECT id, user_id, item, quantity, status FROM orders";

type UserRow = (i64, String, String);
type OrderRow = (i64, i64, String, i64, String);

fn user((id, name, email): UserRow) -> User {
    User { id, name, email }
}

fn order((id, user_id, item, quantity, status): OrderRow) -> Order {
    Order {
        id,
        user_id,
        item,
        quantity,
        status,
    }
}

const SEED: &str = "INSERT INTO users (name, email) VALUES \
    ('Ada', 'ada@example.com'), ('Grace', 'grace@example.com'), ('Edsger', 'edsger@example.com')";

const SEED_ORDERS: &str = "INSERT INTO orders (user_id, item, quantity, status) \
    SELECT id, 'notebook', 2, 'paid' FROM users";

/// `Store` for one database, given its schema: the statements are the same text on every
/// database (sqlx needs each backend's concrete types to run them).
macro_rules! store {
    ($db:ty, $schema:expr) => {
        impl Store for $db {
            async fn prepare(db: &Router<Self>) -> Result<()> {
                sqlx::raw_sql($schema).execute(db).await?;
                // Asked of the primary: a replica may not have replayed the tables yet.
                let work = db.session();
                let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
                    .fetch_one(db.primary())
                    .await?;
                if users == 0 {
                    sqlx::query(SEED).execute(&work).await?;
                    sqlx::query(SEED_ORDERS).execute(&work).await?;
                }
                work.commit().await
            }

            async fn users(db: &Router<Self>) -> Result<Vec<User>> {
                let rows: Vec<UserRow> =
                    sqlx::query_as(sqlx::AssertSqlSafe(format!("{USER} ORDER BY id")))
                        .fetch_all(db)
                        .await?;
                Ok(rows.into_iter().map(user).collect())
            }

            async fn user(db: &Router<Self>, id: i64) -> Result<Option<User>> {
                let row: Option<UserRow> =
                    sqlx::query_as(sqlx::AssertSqlSafe(format!("{USER} WHERE id = $1")))
                        .bind(id)
                        .fetch_optional(db)
                        .await?;
                Ok(row.map(user))
            }

            async fn add_user(work: &Session<Self>, new: NewUser) -> Result<User> {
                let row: UserRow = sqlx::query_as(
                    "INSERT INTO users (name, email) VALUES ($1, $2) RETURNING id, name, email",
                )
                .bind(new.name)
                .bind(new.email)
                .fetch_one(work)
                .await?;
                Ok(user(row))
            }

            async fn update_user(
                work: &Session<Self>,
                id: i64,
                change: UserChange,
            ) -> Result<Option<User>> {
                let row: Option<UserRow> = sqlx::query_as(
                    "UPDATE users SET name = COALESCE($1, name), email = COALESCE($2, email) \
                     WHERE id = $3 RETURNING id, name, email",
                )
                .bind(change.name)
                .bind(change.email)
                .bind(id)
                .fetch_optional(work)
                .await?;
                Ok(row.map(user))
            }

            async fn orders(db: &Router<Self>, user: Option<i64>) -> Result<Vec<Order>> {
                let rows: Vec<OrderRow> = match user {
                    Some(user) => {
                        let sql = format!("{ORDER} WHERE user_id = $1 ORDER BY id");
                        sqlx::query_as(sqlx::AssertSqlSafe(sql))
                            .bind(user)
                            .fetch_all(db)
                            .await?
                    }
                    None => {
                        sqlx::query_as(sqlx::AssertSqlSafe(format!("{ORDER} ORDER BY id")))
                            .fetch_all(db)
                            .await?
                    }
                };
                Ok(rows.into_iter().map(order).collect())
            }

            async fn order(db: &Router<Self>, id: i64) -> Result<Option<Order>> {
                let row: Option<OrderRow> =
                    sqlx::query_as(sqlx::AssertSqlSafe(format!("{ORDER} WHERE id = $1")))
                        .bind(id)
                        .fetch_optional(db)
                        .await?;
                Ok(row.map(order))
            }

            async fn add_order(work: &Session<Self>, new: NewOrder) -> Result<Option<Order>> {
                // Inside the unit of work: the user must exist when the order is written.
                let row: Option<OrderRow> = sqlx::query_as(
                    "INSERT INTO orders (user_id, item, quantity, status) \
                     SELECT id, $1, $2, 'new' FROM users WHERE id = $3 \
                     RETURNING id, user_id, item, quantity, status",
                )
                .bind(new.item)
                .bind(new.quantity)
                .bind(new.user_id)
                .fetch_optional(work)
                .await?;
                Ok(row.map(order))
            }

            async fn update_order(
                work: &Session<Self>,
                id: i64,
                change: OrderChange,
            ) -> Result<Option<Order>> {
                let row: Option<OrderRow> = sqlx::query_as(
                    "UPDATE orders SET quantity = COALESCE($1, quantity), \
                     status = COALESCE($2, status) WHERE id = $3 \
                     RETURNING id, user_id, item, quantity, status",
                )
                .bind(change.quantity)
                .bind(change.status)
                .bind(id)
                .fetch_optional(work)
                .await?;
                Ok(row.map(order))
            }
        }
    };
}

store!(
    sqlx::Sqlite,
    "CREATE TABLE IF NOT EXISTS users (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        email TEXT NOT NULL);
     CREATE TABLE IF NOT EXISTS orders (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id INTEGER NOT NULL REFERENCES users (id),
        item TEXT NOT NULL,
        quantity INTEGER NOT NULL,
        status TEXT NOT NULL)"
);

store!(
    sqlx::Postgres,
    "CREATE TABLE IF NOT EXISTS users (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        name TEXT NOT NULL,
        email TEXT NOT NULL);
     CREATE TABLE IF NOT EXISTS orders (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        user_id BIGINT NOT NULL REFERENCES users (id),
        item TEXT NOT NULL,
        quantity BIGINT NOT NULL,
        status TEXT NOT NULL)"
);
