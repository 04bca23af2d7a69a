//! The JSON API: users and orders, listed, read, created and updated. Reads run on the
//! router (a replica); creates and updates run in the request's [`RequestSession`], which the
//! layer commits after a 2xx and rolls back after an error.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use dbroute::Router;
use dbroute_axum::RequestSession;
use serde_json::json;

use crate::store::{NewOrder, NewUser, Order, OrderChange, Store, User, UserChange};

/// An answer that is not a 2xx: a status and a message, as JSON `{"error": ...}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    fn not_found(what: &str, id: i64) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, format!("no {what} with id {id}"))
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        // dbroute's errors name engines, never passwords.
        tracing::warn!(%error, "a statement failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

type Answer<T> = Result<Json<T>, ApiError>;

/// `text` is 1 to `max` characters, else a 400 naming `field`.
fn check_text(field: &str, text: &str, max: usize) -> Result<(), ApiError> {
    let length = text.chars().count();
    if (1..=max).contains(&length) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::BAD_REQUEST,
        format!("{field} must be 1 to {max} characters (got {length})"),
    ))
}

fn check_quantity(quantity: i64) -> Result<(), ApiError> {
    match quantity >= 1 {
        true => Ok(()),
        false => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("quantity must be 1 or more (got {quantity})"),
        )),
    }
}

/// `GET /users`
pub async fn list_users<DB: Store>(State(db): State<Router<DB>>) -> Answer<Vec<User>> {
    Ok(Json(DB::users(&db).await?))
}

/// `GET /users/{id}`
pub async fn get_user<DB: Store>(
    State(db): State<Router<DB>>,
    Path(id): Path<i64>,
) -> Answer<User> {
    let user = DB::user(&db, id).await?;
    user.map(Json)
        .ok_or_else(|| ApiError::not_found("user", id))
}

/// `POST /users`
pub async fn create_user<DB: Store>(
    RequestSession(work): RequestSession<DB>,
    Json(new): Json<NewUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    check_text("name", &new.name, 100)?;
    check_text("email", &new.email, 200)?;
    Ok((StatusCode::CREATED, Json(DB::add_user(&work, new).await?)))
}

/// `PUT /users/{id}`
pub async fn update_user<DB: Store>(
    RequestSession(work): RequestSession<DB>,
    Path(id): Path<i64>,
    Json(change): Json<UserChange>,
) -> Answer<User> {
    if let Some(name) = &change.name {
        check_text("name", name, 100)?;
    }
    if let Some(email) = &change.email {
        check_text("email", email, 200)?;
    }
    let user = DB::update_user(&work, id, change).await?;
    user.map(Json)
        .ok_or_else(|| ApiError::not_found("user", id))
}

/// `GET /users/{id}/orders`
pub async fn user_orders<DB: Store>(
    State(db): State<Router<DB>>,
    Path(id): Path<i64>,
) -> Answer<Vec<Order>> {
    Ok(Json(DB::orders(&db, Some(id)).await?))
}

/// `GET /orders`
pub async fn list_orders<DB: Store>(State(db): State<Router<DB>>) -> Answer<Vec<Order>> {
    Ok(Json(DB::orders(&db, None).await?))
}

/// `GET /orders/{id}`
pub async fn get_order<DB: Store>(
    State(db): State<Router<DB>>,
    Path(id): Path<i64>,
) -> Answer<Order> {
    let order = DB::order(&db, id).await?;
    order
        .map(Json)
        .ok_or_else(|| ApiError::not_found("order", id))
}

/// `POST /orders`
pub async fn create_order<DB: Store>(
    RequestSession(work): RequestSession<DB>,
    Json(new): Json<NewOrder>,
) -> Result<(StatusCode, Json<Order>), ApiError> {
    check_text("item", &new.item, 100)?;
    check_quantity(new.quantity)?;
    let user = new.user_id;
    let order = DB::add_order(&work, new).await?;
    let order = order.ok_or_else(|| ApiError::not_found("user", user))?;
    Ok((StatusCode::CREATED, Json(order)))
}

/// `PUT /orders/{id}`
pub async fn update_order<DB: Store>(
    RequestSession(work): RequestSession<DB>,
    Path(id): Path<i64>,
    Json(change): Json<OrderChange>,
) -> Answer<Order> {
    if let Some(quantity) = change.quantity {
        check_quantity(quantity)?;
    }
    if let Some(status) = &change.status {
        check_text("status", status, 20)?;
    }
    let order = DB::update_order(&work, id, change).await?;
    order
        .map(Json)
        .ok_or_else(|| ApiError::not_found("order", id))
}
