//! # dbroute-actix
//!
//! [`DbRouting`] is actix-web middleware that gives each request a fresh dbroute routing
//! context: nothing one request did (its scopes, its writes' positions) reaches another. It can
//! seed the context from the request (a read-your-writes token from a header or cookie, the
//! primary for chosen routes) and, after a request that committed a write, puts the new token
//! on the response. [`RequestSession`] is the request's unit of work, committed unless the
//! response is 4xx/5xx.
//!
//! ```no_run
//! use actix_web::{web, App, HttpServer, Responder};
//! use dbroute::PgRouter;
//! use dbroute_actix::DbRouting;
//!
//! async fn user(db: web::Data<PgRouter>, id: web::Path<i64>) -> impl Responder {
//!     let name: Result<String, _> = sqlx::query_scalar("SELECT name FROM users WHERE id = $1")
//!         .bind(id.into_inner())
//!         .fetch_one(db.get_ref())
//!         .await;
//!     name.unwrap_or_default()
//! }
//!
//! # async fn demo(db: PgRouter) -> std::io::Result<()> {
//! HttpServer::new(move || {
//!     App::new()
//!         .wrap(DbRouting::new(db.clone()).token_cookie("dbroute_token"))
//!         .app_data(web::Data::new(db.clone()))
//!         .route("/users/{id}", web::get().to(user))
//! })
//! .bind(("127.0.0.1", 8080))?
//! .run()
//! .await
//! # }
//! ```
//!
//! The context lives in a task-local: a task the handler spawns starts without it unless
//! spawned with [`dbroute::spawn`] (or wrapped in [`dbroute::with_current_context`]); a
//! streamed response body, which the server polls after the handler returned, keeps it.

mod session;

use std::fmt;
use std::future::{Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{COOKIE, HeaderName, HeaderValue, SET_COOKIE};
use actix_web::http::{Method, StatusCode};
use actix_web::web::Bytes;
use actix_web::{Error, HttpMessage, HttpResponse};
use dbroute::{Backend, ConsistencyToken, Router, RoutingContext};
use futures_util::future::LocalBoxFuture;
use sqlx::Executor;

use dbroute::web::SessionSlot;
pub use session::RequestSession;

pub use dbroute::web::DEFAULT_TOKEN_HEADER;

type PrimaryRule = Arc<dyn Fn(&Method, &str) -> bool + Send + Sync>;
type CommitRule = Arc<dyn Fn(StatusCode) -> bool + Send + Sync>;

/// Middleware: a fresh routing context for each request, seeded from it, with the request's
/// read-your-writes token on the response. See the [crate docs](crate).
pub struct DbRouting<DB: Backend> {
    router: Router<DB>,
    settings: Arc<Settings>,
}

#[derive(Clone)]
struct Settings {
    header: Option<HeaderName>,
    cookie: Option<String>,
    primary: Option<PrimaryRule>,
    commit: Option<CommitRule>,
}

impl<DB: Backend> Clone for DbRouting<DB> {
    fn clone(&self) -> Self {
        DbRouting {
            router: self.router.clone(),
            settings: Arc::clone(&self.settings),
        }
    }
}

impl<DB: Backend> DbRouting<DB> {
    /// Middleware for `router`: fresh context per request; tokens read from and written to
    /// the `x-dbroute-token` header; no cookie; no route forced to the primary.
    pub fn new(router: Router<DB>) -> Self {
        DbRouting {
            router,
            settings: Arc::new(Settings {
                header: Some(HeaderName::from_static(DEFAULT_TOKEN_HEADER)),
                cookie: None,
                primary: None,
                commit: None,
            }),
        }
    }

    fn with(mut self, change: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = (*self.settings).clone();
        change(&mut settings);
        self.settings = Arc::new(settings);
        self
    }

    /// Reads and writes tokens in header `name` (`None`: not in a header). A name that is not
    /// a valid header name turns the header off, with a warning.
    #[must_use]
    pub fn token_header(self, name: Option<&str>) -> Self {
        let header = name.and_then(|n| {
            HeaderName::try_from(n)
                .inspect_err(|_| {
                    tracing::warn!(
                        "dbroute-actix: not a header name; tokens will not travel in a header"
                    )
                })
                .ok()
        });
        self.with(|s| s.header = header)
    }

    /// Also reads and writes tokens in cookie `name` (`HttpOnly`, `SameSite=Lax`, path `/`).
    #[must_use]
    pub fn token_cookie(self, name: &str) -> Self {
        let name = name.to_owned();
        self.with(|s| s.cookie = Some(name))
    }

    /// Runs requests for which `rule(method, path)` holds inside
    /// [`primary_context`](dbroute::primary_context): their reads go to the primary.
    #[must_use]
    pub fn primary_when(
        self,
        rule: impl Fn(&Method, &str) -> bool + Send + Sync + 'static,
    ) -> Self {
        let rule: PrimaryRule = Arc::new(rule);
        self.with(|s| s.primary = Some(rule))
    }

    /// Which responses commit the request's [`RequestSession`]: those whose status
    /// `rule(status)` accepts; the others roll it back. The default commits every status but
    /// 4xx and 5xx.
    ///
    /// ```no_run
    /// # fn demo(db: dbroute::PgRouter) {
    /// // Only a 2xx commits: a redirect after a half-done form rolls back too.
    /// let routing = dbroute_actix::DbRouting::new(db).commit_when(|status| status.is_success());
    /// # }
    /// ```
    #[must_use]
    pub fn commit_when(self, rule: impl Fn(StatusCode) -> bool + Send + Sync + 'static) -> Self {
        let rule: CommitRule = Arc::new(rule);
        self.with(|s| s.commit = Some(rule))
    }
}

impl<DB: Backend> fmt::Debug for DbRouting<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbRouting")
            .field("token_header", &self.settings.header)
            .field("token_cookie", &self.settings.cookie)
            .field("primary_when", &self.settings.primary.is_some())
            .field("commit_when", &self.settings.commit.is_some())
            .finish()
    }
}

impl<DB, S, B> Transform<S, ServiceRequest> for DbRouting<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<ScopedBody>;
    type Error = Error;
    type Transform = DbRoutingMiddleware<DB, S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(DbRoutingMiddleware {
            service: Rc::new(service),
            routing: self.clone(),
        }))
    }
}

/// The service [`DbRouting`] wraps around the application.
pub struct DbRoutingMiddleware<DB: Backend, S> {
    service: Rc<S>,
    routing: DbRouting<DB>,
}

impl<DB: Backend, S> fmt::Debug for DbRoutingMiddleware<DB, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbRoutingMiddleware")
            .field("routing", &self.routing)
            .finish_non_exhaustive()
    }
}

impl<DB, S, B> Service<ServiceRequest> for DbRoutingMiddleware<DB, S>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<ScopedBody>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Error>>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let settings = Arc::clone(&self.routing.settings);
        let router = self.routing.router.clone();
        let imported = incoming_token(&settings, &request);
        let primary = settings
            .primary
            .as_ref()
            .is_some_and(|rule| rule(request.method(), request.path()));
        let slot = SessionSlot::new(router.clone());
        request.extensions_mut().insert(slot.clone());
        Box::pin(dbroute::reset_routing_context(async move {
            if let Some(token) = &imported
                && let Err(error) = router.import_token(token)
            {
                tracing::debug!(%error, "dbroute-actix: ignored a consistency token");
            }
            let before = router.token().await.ok();
            let work = async {
                // The innermost context: what the body keeps.
                let context = dbroute::current_context();
                (service.call(request).await, context)
            };
            let (outcome, context) = match primary {
                true => dbroute::primary_context(work).await,
                false => work.await,
            };
            let mut response = outcome?.map_into_boxed_body();
            if let Some(session) = slot.taken() {
                response = finish::<DB>(&settings, session, response).await;
            }
            let after = router.token().await.ok();
            if let Some(token) = after.filter(|t| Some(*t) != before) {
                attach_token(&settings, &mut response, token);
            }
            Ok(response.map_body(|_, body| ScopedBody { body, context }))
        }))
    }
}

/// Ends the request's session: commit when the settings' rule (by default: not 4xx or 5xx)
/// accepts the response's status, else roll back; a failed commit becomes a 500.
async fn finish<DB>(
    settings: &Settings,
    session: &dbroute::Session<DB>,
    response: ServiceResponse<BoxBody>,
) -> ServiceResponse<BoxBody>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let status = response.status();
    let commit = match &settings.commit {
        Some(rule) => rule(status),
        None => dbroute::web::commits_by_default(status.as_u16()),
    };
    if dbroute::web::end_session::<DB>(session, commit).await {
        return response;
    }
    let request = response.request().clone();
    ServiceResponse::new(request, HttpResponse::InternalServerError().finish())
}

/// The request's token: from the header, else the cookie ([`dbroute::web::incoming_token`]).
fn incoming_token(settings: &Settings, request: &ServiceRequest) -> Option<ConsistencyToken> {
    let headers = request.headers();
    let header = settings
        .header
        .as_ref()
        .and_then(|name| headers.get(name))
        .and_then(|value| value.to_str().ok());
    let cookies = headers.get_all(COOKIE).filter_map(|v| v.to_str().ok());
    dbroute::web::incoming_token(header, settings.cookie.as_deref(), cookies)
}

/// Puts `token` on the response: the header and/or the cookie.
fn attach_token(
    settings: &Settings,
    response: &mut ServiceResponse<BoxBody>,
    token: ConsistencyToken,
) {
    let text = token.to_string();
    let headers = response.headers_mut();
    if let (Some(name), Ok(value)) = (&settings.header, HeaderValue::from_str(&text)) {
        headers.insert(name.clone(), value);
    }
    if let Some(cookie) = &settings.cookie
        && let Ok(value) = HeaderValue::from_str(&dbroute::web::token_cookie(cookie, token))
    {
        headers.append(SET_COOKIE, value);
    }
}

/// A response body that the server polls inside the request's routing context, so a body
/// streamed from the database after the handler returned is routed as the handler was.
pub struct ScopedBody {
    body: BoxBody,
    context: RoutingContext,
}

impl fmt::Debug for ScopedBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedBody")
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

impl MessageBody for ScopedBody {
    type Error = <BoxBody as MessageBody>::Error;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        let body = Pin::new(&mut this.body);
        this.context.clone().in_scope(|| body.poll_next(cx))
    }
}
