//! Which database a URL names, and whether its driver accepts it.
//!
//! Validation parses every URL with the same parser the router's pool will use, so
//! [`RoutingConfig::validate`](super::RoutingConfig::validate) fails exactly where building the
//! router would.

use super::ConnectionString;
use crate::classify::Dialect;

/// The database family of a config, from its URLs' schemes. (Public only because the sealed
/// `Backend` trait names it; not reachable from outside the crate.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(unreachable_pub)]
pub enum BackendKind {
    Postgres,
    MySql,
    Sqlite,
}

impl BackendKind {
    pub(crate) fn from_scheme(scheme: &str) -> Option<Self> {
        match scheme.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" => Some(BackendKind::Postgres),
            "mysql" | "mariadb" => Some(BackendKind::MySql),
            "sqlite" => Some(BackendKind::Sqlite),
            _ => None,
        }
    }

    pub(crate) fn dialect(self) -> Dialect {
        match self {
            BackendKind::Postgres => Dialect::Postgres,
            BackendKind::MySql => Dialect::MySql,
            BackendKind::Sqlite => Dialect::Sqlite,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            BackendKind::Postgres => "PostgreSQL",
            BackendKind::MySql => "MySQL",
            BackendKind::Sqlite => "SQLite",
        }
    }

    /// Parses `url` as this backend's driver will; the error is free of the URL's password.
    pub(crate) fn check_url(self, url: &ConnectionString) -> Result<(), String> {
        let parsed: Result<(), String> = match self {
            #[cfg(feature = "postgres")]
            BackendKind::Postgres => {
                <sqlx::postgres::PgConnectOptions as std::str::FromStr>::from_str(url.expose())
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
            #[cfg(feature = "sqlite")]
            BackendKind::Sqlite => {
                <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(url.expose())
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
            // No driver compiled in for it: at least the URL must be a URL.
            _ => url::Url::parse(url.expose())
                .map(drop)
                .map_err(|e| e.to_string()),
        };
        parsed.map_err(|reason| url.scrub(&reason))
    }

    /// Whether `url` names an in-memory SQLite database, which exists only inside one pool.
    pub(crate) fn is_in_memory(self, url: &ConnectionString) -> bool {
        let url = url.expose();
        self == BackendKind::Sqlite && (url.contains(":memory:") || url.contains("mode=memory"))
    }
}
