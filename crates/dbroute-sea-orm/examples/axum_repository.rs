//! An axum service whose handlers use `Repository` with the request's unit of work, on the
//! embedded SQLite default (no server to install):
//!
//! ```text
//! cargo run -p dbroute-sea-orm --example axum_repository
//! ```
//!
//! It serves `GET /users` (a read: the reader) and `POST /users/{name}` (a write in the
//! request's session: the writer, committed by the layer after the 2xx), makes a few requests
//! to itself, prints the answers and exits.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use dbroute::{RoutingConfig, SqliteRouter};
use dbroute_axum::{RequestSession, RoutingLayer};
use dbroute_sea_orm::{Filter, Repository, RepositoryError, SeaSession, SqliteSeaRouter};
use sea_orm::{ConnectionTrait, Order, Set};

// SeaORM's derives make public items.
#[allow(unreachable_pub)]
mod user {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub name: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A repository error as an HTTP answer.
fn status(error: RepositoryError) -> (StatusCode, String) {
    let code = match error {
        RepositoryError::NotFound { .. } => StatusCode::NOT_FOUND,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (code, error.to_string())
}

/// `GET /users`: on the router, so on the reader.
async fn list(
    State(db): State<SqliteSeaRouter>,
) -> Result<Json<Vec<user::Model>>, (StatusCode, String)> {
    let users = Repository::<user::Entity, _>::new(db);
    let by_name = Filter::all().order_by(user::Column::Name, Order::Asc);
    users.list(by_name).await.map(Json).map_err(status)
}

/// `POST /users/{name}`: in the request's unit of work, which the layer commits after a 2xx.
async fn add(
    RequestSession(session): RequestSession<sqlx::Sqlite>,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<user::Model>), (StatusCode, String)> {
    let users = Repository::<user::Entity, _>::new(SeaSession::from(session));
    let model = user::ActiveModel {
        name: Set(name),
        ..Default::default()
    };
    let added = users.add(model).await.map_err(status)?;
    // In the same unit of work, a read after the write sees it.
    let again = users.get(added.id).await.map_err(status)?;
    Ok((StatusCode::CREATED, Json(again)))
}

async fn request(address: std::net::SocketAddr, method: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let text = format!(
        "{method} {path} HTTP/1.1\r\nHost: demo\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(text.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response.lines().next().unwrap_or_default().to_owned();
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    format!("{status}  {body}")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let router = SqliteRouter::connect(&RoutingConfig::sqlite(dir.path().join("app.db"))).await?;
    let db = SqliteSeaRouter::new(router.clone());
    db.execute_unprepared("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        .await?;

    // dbroute's router and axum's share a name: keep axum's qualified.
    let app = axum::Router::new()
        .route("/users", get(list))
        .route("/users/{name}", axum::routing::post(add))
        .layer(RoutingLayer::new(router))
        .with_state(db);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    for (method, path) in [
        ("POST", "/users/grace"),
        ("POST", "/users/ada"),
        ("GET", "/users"),
    ] {
        println!(
            "{method} {path}\n  -> {}",
            request(address, method, path).await
        );
    }
    Ok(())
}
