//! [`RequestSession`]: one [`Session`] per request, shared by the handler's extractors,
//! committed or rolled back by [`RoutingLayer`](crate::RoutingLayer) once the response is known.

use std::fmt;
use std::ops::Deref;

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use dbroute::web::SessionSlot;
use dbroute::{Backend, Session};
use http::StatusCode;
use http::request::Parts;

/// The request's unit of work: a [`dbroute::Session`] (reads on replicas until its first write,
/// which begins a primary transaction that later statements join). Extract it in a handler;
/// every extraction in one request gets the same session. When the handler has returned, the
/// layer commits it unless the response is 4xx or 5xx (then it rolls back); a commit that
/// fails turns the response into a 500, and the cause is logged.
///
/// ```no_run
/// use axum::extract::Path;
/// use dbroute_axum::RequestSession;
///
/// async fn transfer(
///     RequestSession(session): RequestSession<sqlx::Postgres>,
///     Path((from, to)): Path<(i64, i64)>,
/// ) -> Result<&'static str, (http::StatusCode, String)> {
///     let fail = |e: sqlx::Error| (http::StatusCode::CONFLICT, e.to_string());
///     sqlx::query("UPDATE accounts SET balance = balance - 10 WHERE id = $1")
///         .bind(from)
///         .execute(&session)
///         .await
///         .map_err(fail)?;
///     sqlx::query("UPDATE accounts SET balance = balance + 10 WHERE id = $1")
///         .bind(to)
///         .execute(&session)
///         .await
///         .map_err(fail)?; // a 409: the layer rolls both updates back
///     Ok("done") // a 200: the layer commits both
/// }
/// ```
pub struct RequestSession<DB: Backend>(pub Session<DB>);

impl<DB: Backend> Deref for RequestSession<DB> {
    type Target = Session<DB>;

    fn deref(&self) -> &Session<DB> {
        &self.0
    }
}

impl<DB: Backend> fmt::Debug for RequestSession<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RequestSession").field(&self.0).finish()
    }
}

impl<DB: Backend, S: Sync> FromRequestParts<S> for RequestSession<DB> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Response> {
        match parts.extensions.get::<SessionSlot<DB>>() {
            Some(slot) => Ok(RequestSession(slot.session())),
            None => {
                tracing::error!("RequestSession needs dbroute_axum::RoutingLayer around the route");
                Err((
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "RequestSession used without dbroute_axum::RoutingLayer",
                )
                    .into_response())
            }
        }
    }
}
