//! [`RequestSession`]: one [`Session`] per request, shared by the handler's extractors,
//! committed or rolled back by [`DbRouting`](crate::DbRouting) once the response is known.

use std::fmt;
use std::future::{Ready, ready};
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::{Error, FromRequest, HttpMessage, HttpRequest};
use dbroute::web::SessionSlot;
use dbroute::{Backend, Session};

/// The request's unit of work: a [`dbroute::Session`]. Every extraction in one request gets
/// the same session. When the handler has returned, the middleware commits it unless the
/// response is 4xx or 5xx (then it rolls back); a commit that fails turns the response into a
/// 500, and the cause is logged.
///
/// ```no_run
/// use actix_web::{web, HttpResponse};
/// use dbroute_actix::RequestSession;
///
/// async fn create(session: RequestSession<sqlx::Postgres>, id: web::Path<i64>) -> HttpResponse {
///     match sqlx::query("INSERT INTO notes (id) VALUES ($1)").bind(*id).execute(&*session).await {
///         Ok(_) => HttpResponse::Created().finish(),  // committed by the middleware
///         Err(_) => HttpResponse::Conflict().finish(), // rolled back
///     }
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

impl<DB: Backend> FromRequest for RequestSession<DB> {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let extensions = request.extensions();
        ready(match extensions.get::<SessionSlot<DB>>() {
            Some(slot) => Ok(RequestSession(slot.session())),
            None => {
                tracing::error!("RequestSession needs dbroute_actix::DbRouting around the route");
                Err(actix_web::error::ErrorInternalServerError(
                    "RequestSession used without dbroute_actix::DbRouting",
                ))
            }
        })
    }
}
