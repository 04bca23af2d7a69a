//! # dbroute-axum
//!
//! [`RoutingLayer`] gives each request of an axum application a fresh dbroute routing context:
//! nothing one request did (its scopes, its writes' positions) reaches another. It can seed the
//! context from the request (a read-your-writes token from a header or cookie, the primary for
//! chosen routes) and, after a request that committed a write, puts the new token on the
//! response, so the client's next request reads its own writes wherever it lands.
//!
//! ```no_run
//! use axum::extract::{Path, State};
//! use axum::routing::get;
//! use dbroute::PgRouter;
//! use dbroute_axum::RoutingLayer;
//!
//! async fn user(State(db): State<PgRouter>, Path(id): Path<i64>) -> Result<String, String> {
//!     sqlx::query_scalar("SELECT name FROM users WHERE id = $1")
//!         .bind(id)
//!         .fetch_one(&db)
//!         .await
//!         .map_err(|e| e.to_string())
//! }
//!
//! # async fn demo(db: PgRouter) {
//! let app = axum::Router::new()
//!     .route("/users/{id}", get(user))
//!     .layer(RoutingLayer::new(db.clone()).token_cookie("dbroute_token"))
//!     .with_state(db);
//! # let _: axum::Router = app;
//! # }
//! ```
//!
//! With an application state of your own, let handlers extract the router from it with
//! `FromRef` (or axum's `#[derive(FromRef)]`):
//!
//! ```no_run
//! use axum::extract::{FromRef, State};
//! use dbroute::PgRouter;
//!
//! #[derive(Clone)]
//! struct AppState {
//!     db: PgRouter,
//!     greeting: String,
//! }
//!
//! impl FromRef<AppState> for PgRouter {
//!     fn from_ref(state: &AppState) -> PgRouter {
//!         state.db.clone()
//!     }
//! }
//!
//! async fn count(State(db): State<PgRouter>) -> String {
//!     let n: Result<i64, _> = sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(&db).await;
//!     n.map(|n| n.to_string()).unwrap_or_default()
//! }
//!
//! # fn demo(state: AppState) {
//! let app: axum::Router = axum::Router::new()
//!     .route("/count", axum::routing::get(count))
//!     .layer(dbroute_axum::RoutingLayer::new(state.db.clone()))
//!     .with_state(state);
//! # }
//! ```
//!
//! `dbroute::Router` and `axum::Router` share a name: import dbroute's as `PgRouter` /
//! `SqliteRouter` (or `dbroute::Router` by path), and keep `axum::Router` qualified, as above.
//!
//! [`RequestSession`] is the request's unit of work: one [`dbroute::Session`] per request, which
//! the layer commits when the response is not 4xx/5xx and rolls back otherwise.
//!
//! The context lives in a task-local: a task the handler spawns starts without it unless
//! spawned with [`dbroute::spawn`] (or wrapped in [`dbroute::with_current_context`]); a
//! streamed response body, which the server polls after the handler returned, keeps it (the
//! layer wraps the body).

mod session;

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use dbroute::{Backend, ConsistencyToken, Router, RoutingContext};
use futures_util::future::BoxFuture;
use http::header::{COOKIE, HeaderName, HeaderValue, SET_COOKIE};
use http::{Method, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use sqlx::Executor;
use tower_layer::Layer;
use tower_service::Service;

use dbroute::web::SessionSlot;
pub use session::RequestSession;

pub use dbroute::web::DEFAULT_TOKEN_HEADER;

type PrimaryRule = Arc<dyn Fn(&Method, &str) -> bool + Send + Sync>;
type CommitRule = Arc<dyn Fn(StatusCode) -> bool + Send + Sync>;

/// A `tower` layer: a fresh routing context for each request, seeded from it, with the
/// request's read-your-writes token on the response. See the [crate docs](crate).
pub struct RoutingLayer<DB: Backend> {
    router: Router<DB>,
    settings: Arc<Settings>,
}

struct Settings {
    header: Option<HeaderName>,
    cookie: Option<String>,
    primary: Option<PrimaryRule>,
    commit: Option<CommitRule>,
}

impl<DB: Backend> Clone for RoutingLayer<DB> {
    fn clone(&self) -> Self {
        RoutingLayer {
            router: self.router.clone(),
            settings: Arc::clone(&self.settings),
        }
    }
}

impl<DB: Backend> RoutingLayer<DB> {
    /// A layer for `router`: fresh context per request; tokens read from and written to the
    /// `x-dbroute-token` header; no cookie; no route forced to the primary.
    pub fn new(router: Router<DB>) -> Self {
        RoutingLayer {
            router,
            settings: Arc::new(Settings {
                header: Some(HeaderName::from_static(DEFAULT_TOKEN_HEADER)),
                cookie: None,
                primary: None,
                commit: None,
            }),
        }
    }

    fn settings(mut self, change: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = Settings {
            header: self.settings.header.clone(),
            cookie: self.settings.cookie.clone(),
            primary: self.settings.primary.clone(),
            commit: self.settings.commit.clone(),
        };
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
                        "dbroute-axum: not a header name; tokens will not travel in a header"
                    )
                })
                .ok()
        });
        self.settings(|s| s.header = header)
    }

    /// Also reads and writes tokens in cookie `name` (`HttpOnly`, `SameSite=Lax`, path `/`),
    /// for browsers, which do not send custom headers on navigation.
    #[must_use]
    pub fn token_cookie(self, name: &str) -> Self {
        let name = name.to_owned();
        self.settings(|s| s.cookie = Some(name))
    }

    /// Runs requests for which `rule(method, path)` holds inside
    /// [`primary_context`](dbroute::primary_context): their reads go to the primary.
    ///
    /// ```no_run
    /// # fn demo(db: dbroute::PgRouter) {
    /// let layer = dbroute_axum::RoutingLayer::new(db)
    ///     .primary_when(|_, path| path.starts_with("/checkout"));
    /// # }
    /// ```
    #[must_use]
    pub fn primary_when(
        self,
        rule: impl Fn(&Method, &str) -> bool + Send + Sync + 'static,
    ) -> Self {
        let rule: PrimaryRule = Arc::new(rule);
        self.settings(|s| s.primary = Some(rule))
    }

    /// Which responses commit the request's [`RequestSession`]: those whose status
    /// `rule(status)` accepts; the others roll it back. The default commits every status but
    /// 4xx and 5xx, as `axum-sqlx-tx` does.
    ///
    /// ```no_run
    /// # fn demo(db: dbroute::PgRouter) {
    /// // Only a 2xx commits: a redirect after a half-done form rolls back too.
    /// let layer = dbroute_axum::RoutingLayer::new(db).commit_when(|status| status.is_success());
    /// # }
    /// ```
    #[must_use]
    pub fn commit_when(self, rule: impl Fn(StatusCode) -> bool + Send + Sync + 'static) -> Self {
        let rule: CommitRule = Arc::new(rule);
        self.settings(|s| s.commit = Some(rule))
    }
}

impl<DB: Backend> fmt::Debug for RoutingLayer<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoutingLayer")
            .field("token_header", &self.settings.header)
            .field("token_cookie", &self.settings.cookie)
            .field("primary_when", &self.settings.primary.is_some())
            .field("commit_when", &self.settings.commit.is_some())
            .finish()
    }
}

impl<DB: Backend, S> Layer<S> for RoutingLayer<DB> {
    type Service = RoutingService<DB, S>;

    fn layer(&self, inner: S) -> Self::Service {
        RoutingService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`RoutingLayer`] wraps around the application.
pub struct RoutingService<DB: Backend, S> {
    inner: S,
    layer: RoutingLayer<DB>,
}

impl<DB: Backend, S: Clone> Clone for RoutingService<DB, S> {
    fn clone(&self) -> Self {
        RoutingService {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<DB: Backend, S> fmt::Debug for RoutingService<DB, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoutingService")
            .field("layer", &self.layer)
            .finish_non_exhaustive()
    }
}

impl<DB, S, ReqBody, ResBody> Service<Request<ReqBody>> for RoutingService<DB, S>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Send,
    S::Future: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = Response<ScopedBody<ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let settings = Arc::clone(&self.layer.settings);
        let router = self.layer.router.clone();
        let slot = SessionSlot::new(router.clone());
        request.extensions_mut().insert(slot.clone());
        let imported = incoming_token(&settings, &request);
        let primary = settings
            .primary
            .as_ref()
            .is_some_and(|rule| rule(request.method(), request.uri().path()));
        let handled = self.inner.call(request);
        Box::pin(dbroute::reset_routing_context(async move {
            if let Some(token) = &imported
                && let Err(error) = router.import_token(token)
            {
                tracing::debug!(%error, "dbroute-axum: ignored a consistency token");
            }
            let before = router.token().await.ok();
            let work = async {
                // The innermost context: what the body keeps.
                let context = dbroute::current_context();
                (handled.await, context)
            };
            let (outcome, context) = match primary {
                true => dbroute::primary_context(work).await,
                false => work.await,
            };
            let mut response = outcome?;
            if let Some(session) = slot.taken() {
                finish::<DB, ResBody>(&settings, session, &mut response).await;
            }
            let after = router.token().await.ok();
            if let Some(token) = after.filter(|t| Some(*t) != before) {
                attach_token(&settings, &mut response, token);
            }
            Ok(response.map(|body| ScopedBody { body, context }))
        }))
    }
}

/// Ends the request's session: commit when the settings' rule (by default: not 4xx or 5xx)
/// accepts the response's status, else roll back; a failed commit becomes a 500.
async fn finish<DB, B>(
    settings: &Settings,
    session: &dbroute::Session<DB>,
    response: &mut Response<B>,
) where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    B: Default,
{
    let status = response.status();
    let commit = match &settings.commit {
        Some(rule) => rule(status),
        None => dbroute::web::commits_by_default(status.as_u16()),
    };
    if !dbroute::web::end_session::<DB>(session, commit).await {
        *response = Response::new(B::default());
        *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    }
}

/// The request's token: from the header, else the cookie ([`dbroute::web::incoming_token`]).
fn incoming_token<B>(settings: &Settings, request: &Request<B>) -> Option<ConsistencyToken> {
    let headers = request.headers();
    let header = settings
        .header
        .as_ref()
        .and_then(|name| headers.get(name))
        .and_then(|value| value.to_str().ok());
    let cookies = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok());
    dbroute::web::incoming_token(header, settings.cookie.as_deref(), cookies)
}

/// Puts `token` on the response: the header and/or the cookie.
fn attach_token<B>(settings: &Settings, response: &mut Response<B>, token: ConsistencyToken) {
    let text = token.to_string();
    // A token is `[0-9a-f.]` only: always a valid header value.
    let Ok(value) = HeaderValue::try_from(text.as_str()) else {
        return;
    };
    if let Some(name) = &settings.header {
        response.headers_mut().insert(name.clone(), value);
    }
    if let Some(cookie) = &settings.cookie
        && let Ok(value) = HeaderValue::try_from(dbroute::web::token_cookie(cookie, token))
    {
        response.headers_mut().append(SET_COOKIE, value);
    }
}

/// A response body that the server polls inside the request's routing context, so a body
/// streamed from the database after the handler returned is routed as the handler was.
#[derive(Debug)]
pub struct ScopedBody<B> {
    body: B,
    context: RoutingContext,
}

impl<B: Body + Unpin> Body for ScopedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let body = Pin::new(&mut this.body);
        this.context.clone().in_scope(|| body.poll_frame(cx))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
