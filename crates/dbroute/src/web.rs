//! What every web framework integration (`dbroute-axum`, `dbroute-actix`) does the same way,
//! whatever its request and header types: the token a request carries, the cookie a response
//! sets, the request's session made on first use, and how it ends with the response.
//!
//! Applications use the integrations; these pieces are for integrations of other frameworks.

use std::fmt;
use std::sync::{Arc, OnceLock};

use sqlx::Executor;

use crate::backend::Backend;
use crate::consistency::ConsistencyToken;
use crate::router::Router;
use crate::session::Session;

/// The header a token travels in unless an integration is told otherwise.
pub const DEFAULT_TOKEN_HEADER: &str = "x-dbroute-token";

/// The token a request carries: the header's value, else the value of cookie `cookie` in the
/// `Cookie` headers. A malformed token is ignored (a stale cookie must not break a page), with a
/// debug event.
///
/// ```
/// let cookies = ["theme=dark; dbroute_token=dbr1.5f0e9d1c2b3a4958.10"];
/// let token = dbroute::web::incoming_token(None, Some("dbroute_token"), cookies);
/// assert_eq!(token.unwrap().to_string(), "dbr1.5f0e9d1c2b3a4958.10");
/// assert!(dbroute::web::incoming_token(Some("junk"), None, []).is_none());
/// ```
pub fn incoming_token<'a>(
    header: Option<&'a str>,
    cookie: Option<&str>,
    cookie_headers: impl IntoIterator<Item = &'a str>,
) -> Option<ConsistencyToken> {
    let from_cookie = || {
        let name = cookie?;
        cookie_headers
            .into_iter()
            .flat_map(|cookies| cookies.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
    };
    let text = header.or_else(from_cookie)?;
    text.parse()
        .inspect_err(|error| tracing::debug!(%error, "ignored a malformed consistency token"))
        .ok()
}

/// The `Set-Cookie` value that carries `token` in cookie `name`: `HttpOnly`, `SameSite=Lax`,
/// path `/`.
pub fn token_cookie(name: &str, token: ConsistencyToken) -> String {
    format!("{name}={token}; Path=/; HttpOnly; SameSite=Lax")
}

/// The request's [`Session`], made on first use, shared by every handle of the slot (an
/// integration keeps one in the request's extensions).
pub struct SessionSlot<DB: Backend> {
    router: Router<DB>,
    session: Arc<OnceLock<Session<DB>>>,
}

impl<DB: Backend> SessionSlot<DB> {
    /// An empty slot for a request routed by `router`.
    pub fn new(router: Router<DB>) -> Self {
        SessionSlot {
            router,
            session: Arc::default(),
        }
    }

    /// The request's session, made now if this is the first use.
    pub fn session(&self) -> Session<DB> {
        self.session.get_or_init(|| self.router.session()).clone()
    }

    /// The session, if the request used one.
    pub fn taken(&self) -> Option<&Session<DB>> {
        self.session.get()
    }
}

impl<DB: Backend> Clone for SessionSlot<DB> {
    fn clone(&self) -> Self {
        SessionSlot {
            router: self.router.clone(),
            session: Arc::clone(&self.session),
        }
    }
}

impl<DB: Backend> fmt::Debug for SessionSlot<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionSlot")
            .field("session", &self.session.get())
            .finish()
    }
}

/// Whether a response with HTTP status `status` commits the request's session by default:
/// every status but 4xx and 5xx, as `axum-sqlx-tx` does.
///
/// ```
/// assert!(dbroute::web::commits_by_default(204));
/// assert!(dbroute::web::commits_by_default(303));
/// assert!(!dbroute::web::commits_by_default(409));
/// assert!(!dbroute::web::commits_by_default(500));
/// ```
pub fn commits_by_default(status: u16) -> bool {
    !(400..600).contains(&status)
}

/// Ends the request's session with its response: committed when `commit` (the integration's
/// commit rule accepted the response's status), rolled back otherwise. Returns `false` when
/// the commit failed (the cause is logged): the integration then answers 500.
pub async fn end_session<DB: Backend>(session: &Session<DB>, commit: bool) -> bool
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    if !commit {
        if let Err(error) = session.rollback().await {
            tracing::warn!(%error, "rolling back the request's session failed");
        }
        return true;
    }
    match session.commit().await {
        Ok(()) => true,
        Err(error) => {
            tracing::error!(%error, "the request's session did not commit: answering 500");
            false
        }
    }
}
