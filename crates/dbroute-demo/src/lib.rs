//! # dbroute-demo
//!
//! dbroute in an application: a small JSON API of users and orders on a [`dbroute::Router`],
//! behind [`dbroute_axum::RoutingLayer`], with a live `/routing` page that shows which engine
//! served each statement and why, and each engine's health.
//!
//! | route | what runs where |
//! |---|---|
//! | `GET /users`, `GET /users/{id}`, `GET /users/{id}/orders`, `GET /orders`, `GET /orders/{id}` | reads on the router: a replica |
//! | `POST /users`, `PUT /users/{id}`, `POST /orders`, `PUT /orders/{id}` | the request's session: the primary, committed after a 2xx |
//! | `GET /routing`, `GET /routing.json` | no statement: the router's own counters |
//!
//! Run it with `cargo run -p dbroute-demo` (the embedded SQLite default), or on PostgreSQL:
//! `-- --local-cluster` (a primary and two streaming replicas started on loopback) or
//! `-- --config dbroute.toml`. The handlers are plain sqlx code generic over the database
//! ([`Store`]); the file [`app`] shows the whole wiring.

pub mod api;
pub mod routing;
pub mod store;

use axum::routing::get;
use dbroute::{ReplicaConfig, Router, RoutingConfig};
use dbroute_axum::RoutingLayer;
use dbroute_test_cluster::Cluster;

pub use api::ApiError;
pub use store::{NewOrder, NewUser, Order, OrderChange, Store, User, UserChange};

/// The cookie the demo carries read-your-writes tokens in (besides the `x-dbroute-token`
/// header), so a browser reads its own writes too.
pub const TOKEN_COOKIE: &str = "dbroute_token";

/// The demo's axum application on `db`: the API, the `/routing` page, and the routing layer
/// (a fresh routing context per request, tokens in and out).
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use dbroute::{RoutingConfig, SqliteRouter};
///
/// let db = SqliteRouter::connect(&RoutingConfig::sqlite("demo.db")).await?;
/// dbroute_demo::Store::prepare(&db).await?;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// axum::serve(listener, dbroute_demo::app::<sqlx::Sqlite>(db)).await?;
/// # Ok(()) }
/// ```
pub fn app<DB: Store>(db: Router<DB>) -> axum::Router
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    axum::Router::new()
        .route(
            "/",
            get(|| async { axum::response::Redirect::to("/routing") }),
        )
        .route(
            "/users",
            get(api::list_users::<DB>).post(api::create_user::<DB>),
        )
        .route(
            "/users/{id}",
            get(api::get_user::<DB>).put(api::update_user::<DB>),
        )
        .route("/users/{id}/orders", get(api::user_orders::<DB>))
        .route(
            "/orders",
            get(api::list_orders::<DB>).post(api::create_order::<DB>),
        )
        .route(
            "/orders/{id}",
            get(api::get_order::<DB>).put(api::update_order::<DB>),
        )
        .route("/routing", get(routing::page))
        .route("/routing.json", get(routing::figures::<DB>))
        .layer(RoutingLayer::new(db.clone()).token_cookie(TOKEN_COOKIE))
        .with_state(db)
}

/// The engines of a local PostgreSQL cluster (`--local-cluster`): its primary, and its
/// replicas as the read group, named as the cluster names them.
pub fn cluster_config(cluster: &Cluster) -> dbroute::Result<RoutingConfig> {
    let builder = RoutingConfig::builder().primary(cluster.primary().url());
    cluster
        .replicas()
        .iter()
        .fold(builder, |b, r| {
            b.replica(ReplicaConfig::new(r.url()).name(r.name()))
        })
        .build()
}
