//! What `DbRouting` adds to a request: an actix-web app called in-process (no network, no
//! database: the handler returns a constant), bare and behind the middleware.
//!
//! `cargo bench -p dbroute-actix --bench middleware`

// criterion's macros generate undocumented public functions.
#![allow(missing_docs)]

use std::hint::black_box;

use actix_web::{App, HttpResponse, test, web};
use criterion::{Criterion, criterion_group, criterion_main};
use dbroute::{RoutingConfig, SqliteRouter};
use dbroute_actix::DbRouting;

async fn hello() -> HttpResponse {
    HttpResponse::Ok().body("hello")
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let (bare, routed) = runtime.block_on(async {
        let db = SqliteRouter::connect_lazy(&RoutingConfig::sqlite(dir.path().join("bench.db")))
            .expect("router");
        let bare = test::init_service(App::new().route("/", web::get().to(hello))).await;
        let routed = test::init_service(
            App::new()
                .wrap(DbRouting::new(db))
                .route("/", web::get().to(hello)),
        )
        .await;
        (bare, routed)
    });
    let mut group = c.benchmark_group("actix_request");
    group.bench_function("bare", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let response =
                    test::call_service(&bare, test::TestRequest::get().uri("/").to_request()).await;
                black_box(response.status())
            })
        })
    });
    group.bench_function("db_routing", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let response =
                    test::call_service(&routed, test::TestRequest::get().uri("/").to_request())
                        .await;
                black_box(response.status())
            })
        })
    });
    group.finish();
}

criterion_group!(middleware, benches);
criterion_main!(middleware);
