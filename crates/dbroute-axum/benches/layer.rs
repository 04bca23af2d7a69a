//! What `RoutingLayer` adds to a request: an axum app called in-process (no network, no
//! database: the handler returns a constant), bare and behind the layer, on the same
//! current-thread runtime.
//!
//! `cargo bench -p dbroute-axum --bench layer`

// criterion's macros generate undocumented public functions.
#![allow(missing_docs)]

use std::hint::black_box;

use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use dbroute::{RoutingConfig, SqliteRouter};
use dbroute_axum::RoutingLayer;
use http::Request;
use tower_service::Service;

async fn hello() -> &'static str {
    "hello"
}

async fn once(app: &mut axum::Router, request: Request<Body>) -> http::StatusCode {
    let response = app.call(request).await.expect("infallible");
    black_box(response.status())
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let db = runtime.block_on(async {
        SqliteRouter::connect_lazy(&RoutingConfig::sqlite(dir.path().join("bench.db")))
            .expect("router")
    });
    let bare = axum::Router::new().route("/", get(hello));
    let layered = axum::Router::new()
        .route("/", get(hello))
        .layer(RoutingLayer::new(db.clone()));
    let request = || Request::get("/").body(Body::empty()).expect("request");
    let with_token = || {
        Request::get("/")
            .header("x-dbroute-token", "dbr1.5f0e9d1c2b3a4958.16b374d848")
            .body(Body::empty())
            .expect("request")
    };
    let mut group = c.benchmark_group("axum_request");
    group.bench_function("bare", |b| {
        b.to_async(&runtime).iter(|| {
            let mut app = bare.clone();
            async move { once(&mut app, request()).await }
        })
    });
    group.bench_function("routing_layer", |b| {
        b.to_async(&runtime).iter(|| {
            let mut app = layered.clone();
            async move { once(&mut app, request()).await }
        })
    });
    group.bench_function("routing_layer_with_token_header", |b| {
        b.to_async(&runtime).iter(|| {
            let mut app = layered.clone();
            async move { once(&mut app, with_token()).await }
        })
    });
    group.finish();
}

criterion_group!(layer, benches);
criterion_main!(layer);
