//! `GET /routing`: a page that shows, live, what each engine served and why, and its health;
//! `GET /routing.json`: the figures it polls ([`Router::stats`], [`Router::health`],
//! [`Router::consistency_stats`]). Neither runs a statement: the figures are the router's
//! own counters, so watching the page does not move them.

use axum::Json;
use axum::extract::State;
use axum::response::Html;
use dbroute::{Backend, Dialect, Router};
use serde_json::{Value, json};

/// `GET /routing`
pub async fn page() -> Html<&'static str> {
    Html(include_str!("routing.html"))
}

/// `GET /routing.json`
pub async fn figures<DB: Backend>(State(db): State<Router<DB>>) -> Json<Value> {
    Json(snapshot(&db))
}

/// Each engine's statements by reason and errors, with its health, and read-your-writes'
/// figures.
pub fn snapshot<DB: Backend>(db: &Router<DB>) -> Value {
    let stats = db.stats();
    let health = db.health();
    let engines: Vec<Value> = stats
        .engines
        .iter()
        .map(|served| {
            let report = health.engine(&served.engine);
            json!({
                "group": served.group,
                "engine": served.engine,
                "role": served.role,
                "statements": served.statements,
                "errors": served.errors,
                "reasons": served.reasons,
                "state": report.map(|r| r.state),
                "lag_ms": report.and_then(|r| r.lag).map(|lag| lag.as_millis() as u64),
                "lag_bytes": report.and_then(|r| r.lag_bytes),
                "in_flight": report.map(|r| r.in_flight),
            })
        })
        .collect();
    json!({
        "dialect": match db.dialect() {
            Dialect::Postgres => "PostgreSQL".to_owned(),
            Dialect::Sqlite => "SQLite".to_owned(),
            other => format!("{other:?}"),
        },
        "consistency": db.consistency().to_string(),
        "statements": stats.statements(),
        "engines": engines,
        "read_your_writes": db.consistency_stats(),
    })
}
