//! The README's first command: dbroute on the embedded SQLite default.
//!
//! One SQLite file; a single-writer pool is the primary (`writer`), a read-only pool over the
//! same file is the read group (`reader`). Each statement is printed with the engine the router
//! sent it to and why (the router's own `dbroute::route` trace events).
//!
//! ```text
//! cargo run -p dbroute --example quickstart
//! ```

use dbroute::{RoutingConfig, SqliteRouter, primary_context};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Print the router's own record of each decision: `route engine=... group=... reason=...`.
    let routes = Targets::new().with_target("dbroute::decision", tracing::Level::DEBUG);
    let printer = tracing_subscriber::fmt::layer()
        .without_time()
        .with_target(false)
        .with_level(false);
    tracing_subscriber::registry()
        .with(printer.with_filter(routes))
        .init();

    let dir = tempfile::tempdir()?;
    let path = dir.path().join("shop.db");
    let router = SqliteRouter::connect(&RoutingConfig::sqlite(&path)).await?;
    println!("dbroute quickstart on {} ({router:?})\n", path.display());

    run(
        &router,
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
    )
    .await?;
    run(
        &router,
        "INSERT INTO users (name) VALUES ('alice'), ('bob')",
    )
    .await?;
    run(&router, "SELECT count(*) FROM users").await?;
    run(&router, "SELECT last_insert_rowid()").await?;
    run(
        &router,
        "SELECT id FROM users WHERE name = 'bob'; UPDATE users SET name = 'carol' WHERE id = 2",
    )
    .await?;
    run(&router, "SELECT name FROM users WHERE id = 1").await?;
    run(
        &router,
        "SELECT name FROM users /* ; DELETE FROM users */ WHERE id = 2",
    )
    .await?;

    println!(
        "\n-- a session: reads before its first write go to the reader, reads after it join its transaction"
    );
    let session = router.session();
    let n: i64 = step(
        "SELECT count(*) FROM users",
        sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(&session),
    )
    .await?;
    step(
        "INSERT INTO users (name) VALUES ('dave')",
        sqlx::query("INSERT INTO users (name) VALUES ('dave')").execute(&session),
    )
    .await?;
    let m: i64 = step(
        "SELECT count(*) FROM users",
        sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(&session),
    )
    .await?;
    println!(
        "   sees its own write: {n} -> {m} users (sticky: {})",
        session.is_sticky()
    );

    println!("\n-- a savepoint: work that may fail, undone alone");
    let savepoint = session.begin().await?;
    step(
        "INSERT INTO users (name) VALUES ('erin')",
        sqlx::query("INSERT INTO users (name) VALUES ('erin')").execute(&savepoint),
    )
    .await?;
    savepoint.rollback().await?;
    println!("   rolled back to the savepoint: dave stays, erin is gone");

    println!("\n-- the same task asking the single writer for a second connection is told at once");
    let refused = sqlx::query("UPDATE users SET name = 'eve' WHERE id = 1")
        .execute(&router)
        .await
        .map_err(|e| dbroute::Error::from_sqlx(&e).map(ToString::to_string));
    if let Err(Some(why)) = refused {
        println!("   {why}");
    }

    println!("\n-- inside session.scope, statements through the router join the session");
    session
        .scope(run(&router, "UPDATE users SET name = 'eve' WHERE id = 1"))
        .await?;
    session.commit().await?;
    println!("   committed (sticky: {})", session.is_sticky());

    println!("\n-- primary_context: a read that must see the latest data");
    primary_context(run(&router, "SELECT name FROM users WHERE id = 1")).await?;

    router.close().await;
    Ok(())
}

async fn run(router: &SqliteRouter, sql: &'static str) -> Result<(), sqlx::Error> {
    step(sql, sqlx::raw_sql(sql).execute(router))
        .await
        .map(|_| ())
}

async fn step<T>(
    sql: &str,
    fut: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    println!("{sql}");
    fut.await
}
