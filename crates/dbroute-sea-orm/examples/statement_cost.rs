//! The client's own work per SeaORM statement, on a `DatabaseConnection` to the replica vs
//! through a `SeaRouter`, counted in instructions (callgrind): repeatable where loopback
//! timings drift. `scripts/statement-cost.sh sea-orm` runs it and prints the figures.
//!
//! It starts its own PostgreSQL primary and replica, then runs
//! `Entity::find_by_id(..).one(&db)` `N` times on a `DatabaseConnection` to the replica
//! without sqlx's ping (`MODE=unpinged`, as the router's replica pools are) or through a
//! `SeaRouter` whose read group is that replica (`MODE=router`). Only `statements` is
//! counted.

use std::hint::black_box;

use dbroute::{PgRouter, RoutingConfig};
use dbroute_sea_orm::SeaRouter;
use dbroute_test_cluster::Cluster;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, EntityTrait};

#[allow(unreachable_pub)]
mod item {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "cost_items")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub v: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

#[inline(never)]
async fn statements<C: ConnectionTrait>(db: &C, n: usize) {
    for i in 0..n {
        let id = (i % 100) as i32 + 1;
        let found = item::Entity::find_by_id(id)
            .one(db)
            .await
            .expect("statement");
        black_box(found);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::var("N")
        .unwrap_or_else(|_| "2000".into())
        .parse()?;
    let mode = std::env::var("MODE").unwrap_or_else(|_| "router".into());
    let cluster = Cluster::start(1)?;
    let replica = cluster.replicas()[0].url();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let config = RoutingConfig::builder()
            .primary(cluster.primary().url())
            .replica(replica.clone())
            .build()?;
        // The table is made through the primary's pool, outside the router: reads in the
        // default read-your-writes mode have no write of theirs to wait for.
        let router = PgRouter::connect(&config).await?;
        sqlx::raw_sql(
            "CREATE TABLE cost_items (id int PRIMARY KEY, v text NOT NULL); \
             INSERT INTO cost_items SELECT i, md5(i::text) FROM generate_series(1, 100) i",
        )
        .execute(router.primary_pool())
        .await?;
        cluster.wait_for_replay()?;
        let db = SeaRouter::new(router);
        let mut options = ConnectOptions::new(replica.clone());
        options.test_before_acquire(false).sqlx_logging(false);
        let unpinged = Database::connect(options).await?;
        // Warm them up: connections, prepared statements, the classification cache.
        statements(&unpinged, 10).await;
        statements(&db, 10).await;
        match mode.as_str() {
            "unpinged" => statements(&unpinged, n).await,
            _ => statements(&db, n).await,
        }
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}
