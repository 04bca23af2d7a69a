//! `DbRouting` in a real actix-web server, over real HTTP on loopback, against real PostgreSQL
//! streaming replication started for this test binary: the scenarios of dbroute-axum's tests,
//! so both integrations behave alike. Where a statement ran is asked of the server.

use std::net::SocketAddr;

use actix_web::{App, HttpResponse, HttpServer, web};
use dbroute::{PgRouter, ReplicaConfig, RoutingConfig};
use dbroute_actix::{DbRouting, RequestSession};
use dbroute_test_cluster::http::{Reply, request as send};
use dbroute_test_cluster::{Cluster, shared};

/// One HTTP/1.1 request, without a body.
async fn request(address: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    send(address, method, path, headers, "").await
}

fn cluster() -> &'static Cluster {
    shared()
}

/// One test at a time: one pauses replay, and both create the tables.
async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SERIAL.lock().await
}

fn primary_port() -> String {
    cluster().primary().port().to_string()
}

async fn router() -> PgRouter {
    let cluster = cluster();
    let config = cluster
        .replicas()
        .iter()
        .fold(
            RoutingConfig::builder().primary(cluster.primary().url()),
            |b, r| b.replica(ReplicaConfig::new(r.url()).name(r.name())),
        )
        .build()
        .unwrap();
    let router = PgRouter::connect(&config).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS notes (id int PRIMARY KEY); \
         CREATE TABLE IF NOT EXISTS parents (id int PRIMARY KEY); \
         CREATE TABLE IF NOT EXISTS orphans (parent int REFERENCES parents (id) \
           DEFERRABLE INITIALLY DEFERRED)",
    )
    .execute(&router)
    .await
    .unwrap();
    cluster.wait_for_replay().unwrap();
    router
}

async fn port_of(db: &PgRouter, id: i32) -> String {
    let (found, port): (bool, i32) =
        sqlx::query_as("SELECT EXISTS (SELECT 1 FROM notes WHERE id = $1), inet_server_port()")
            .bind(id)
            .fetch_one(db)
            .await
            .unwrap();
    format!("{found} {port}")
}

async fn create(db: web::Data<PgRouter>, id: web::Path<i32>) -> HttpResponse {
    sqlx::query("INSERT INTO notes (id) VALUES ($1)")
        .bind(*id)
        .execute(db.get_ref())
        .await
        .unwrap();
    HttpResponse::Ok().body("created")
}

async fn read(db: web::Data<PgRouter>, id: web::Path<i32>) -> HttpResponse {
    HttpResponse::Ok().body(port_of(db.get_ref(), *id).await)
}

async fn streamed(db: web::Data<PgRouter>, id: web::Path<i32>) -> HttpResponse {
    let (db, id) = (db.get_ref().clone(), *id);
    let chunk = async move { Ok::<_, actix_web::Error>(web::Bytes::from(port_of(&db, id).await)) };
    HttpResponse::Ok().streaming(futures_util::stream::once(chunk))
}

async fn spawned(db: web::Data<PgRouter>, carry: web::Path<bool>) -> HttpResponse {
    let db = db.get_ref().clone();
    let task = async move { port_of(&db, 0).await };
    let answer = match *carry {
        true => dbroute::spawn(task).await.unwrap(),
        false => tokio::spawn(task).await.unwrap(),
    };
    HttpResponse::Ok().body(answer)
}

async fn unit_of_work(
    session: RequestSession<sqlx::Postgres>,
    same: RequestSession<sqlx::Postgres>,
    path: web::Path<(i32, String)>,
) -> HttpResponse {
    let (id, outcome) = path.into_inner();
    for row in [id, id + 100_000] {
        sqlx::query("INSERT INTO notes (id) VALUES ($1)")
            .bind(row)
            .execute(&*session)
            .await
            .unwrap();
    }
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM notes WHERE id IN ($1, $2)")
        .bind(id)
        .bind(id + 100_000)
        .fetch_one(&*same)
        .await
        .unwrap();
    if outcome == "deferred" {
        sqlx::query("INSERT INTO orphans (parent) VALUES (-1)")
            .execute(&*session)
            .await
            .unwrap();
    }
    match outcome.as_str() {
        "fail" => HttpResponse::Conflict().body(seen.to_string()),
        "redirect" => HttpResponse::SeeOther().body(seen.to_string()),
        _ => HttpResponse::Ok().body(seen.to_string()),
    }
}

fn serve(db: PgRouter, routing: DbRouting<sqlx::Postgres>) -> SocketAddr {
    let server = HttpServer::new(move || {
        App::new()
            .wrap(routing.clone())
            .app_data(web::Data::new(db.clone()))
            .route("/notes/{id}", web::post().to(create))
            .route("/notes/{id}", web::get().to(read))
            .route("/primary/notes/{id}", web::get().to(read))
            .route("/streamed/{id}", web::get().to(streamed))
            .route("/primary/streamed/{id}", web::get().to(streamed))
            .route("/primary/spawned/{carry}", web::get().to(spawned))
            .route("/work/{id}/{outcome}", web::post().to(unit_of_work))
    })
    .workers(2)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let address = server.addrs()[0];
    actix_web::rt::spawn(server.run());
    address
}

/// The scenarios, in one test: the cluster's replay is paused part of the time.
#[actix_web::test]
async fn the_same_scenarios_as_axum() {
    let _serial = serial().await;
    let db = router().await;
    let app = serve(
        db.clone(),
        DbRouting::new(db.clone())
            .token_cookie("dbroute_token")
            .primary_when(|_, path| path.starts_with("/primary/")),
    );
    let primary = primary_port();
    // POST then GET carrying the token: the GET sees the row.
    let mut on_replicas = 0;
    for id in 1000..1500 {
        let created = request(app, "POST", &format!("/notes/{id}"), &[]).await;
        let token = created
            .header("x-dbroute-token")
            .expect("a write returns a token");
        assert!(
            created
                .header("set-cookie")
                .is_some_and(|c| c.starts_with("dbroute_token=dbr1."))
        );
        let seen = request(
            app,
            "GET",
            &format!("/notes/{id}"),
            &[("x-dbroute-token", token)],
        )
        .await;
        assert!(seen.body.starts_with("true"), "request {id}: {seen:?}");
        on_replicas += u32::from(!seen.body.ends_with(&primary));
    }
    println!("token-carrying GETs on replicas: {on_replicas} / 500");
    assert!(on_replicas >= 450, "{on_replicas} / 500");
    // Primary routes reach the handler, a streamed body and a dbroute::spawn'ed task.
    for _ in 0..5 {
        assert!(
            !request(app, "GET", "/notes/1", &[])
                .await
                .body
                .ends_with(&primary)
        );
        assert!(
            request(app, "GET", "/primary/notes/1", &[])
                .await
                .body
                .ends_with(&primary)
        );
        let streamed = request(app, "GET", "/primary/streamed/1", &[]).await;
        assert!(streamed.body.ends_with(&primary), "{streamed:?}");
        assert!(
            !request(app, "GET", "/streamed/1", &[])
                .await
                .body
                .ends_with(&primary)
        );
        assert_eq!(
            request(app, "GET", "/primary/spawned/true", &[]).await.body,
            format!("false {primary}")
        );
        assert!(
            !request(app, "GET", "/primary/spawned/false", &[])
                .await
                .body
                .ends_with(&primary)
        );
    }
    // The request's session: committed after a 2xx, rolled back after a 4xx, a refused commit
    // is a 500.
    let on_primary = sqlx::PgPool::connect(&cluster().primary().url())
        .await
        .unwrap();
    let rows = |id: i32| {
        let on_primary = on_primary.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM notes WHERE id IN ($1, $2)")
                .bind(id)
                .bind(id + 100_000)
                .fetch_one(&on_primary)
                .await
                .unwrap()
        }
    };
    for id in 4000..4005 {
        let ok = request(app, "POST", &format!("/work/{id}/ok"), &[]).await;
        assert_eq!(
            (ok.status_line.as_str(), ok.body.as_str()),
            ("HTTP/1.1 200 OK", "2")
        );
        assert!(ok.header("x-dbroute-token").is_some());
        assert_eq!(rows(id).await, 2);
        let failed = request(app, "POST", &format!("/work/{}/fail", id + 10), &[]).await;
        assert!(failed.status_line.contains("409"), "{failed:?}");
        assert_eq!(rows(id + 10).await, 0);
        let refused = request(app, "POST", &format!("/work/{}/deferred", id + 20), &[]).await;
        assert!(refused.status_line.contains("500"), "{refused:?}");
        assert_eq!(rows(id + 20).await, 0);
    }
    // `commit_when` replaces the default rule: with "2xx or 409 commits", a 409 keeps its rows
    // and a 303 (which the default would commit) rolls back.
    let strict = serve(
        db.clone(),
        DbRouting::new(db.clone()).commit_when(|status| {
            status.is_success() || status == actix_web::http::StatusCode::CONFLICT
        }),
    );
    for (id, outcome, status, kept) in [(4100, "fail", "409", 2), (4101, "redirect", "303", 0)] {
        let reply = request(strict, "POST", &format!("/work/{id}/{outcome}"), &[]).await;
        assert!(reply.status_line.contains(status), "{reply:?}");
        assert_eq!(rows(id).await, kept, "{outcome}");
    }
    // With replay paused: the token (header or cookie) reads the primary; no token, no wait
    // (nothing leaks from other requests).
    let paused = cluster().pause_all_replay().unwrap();
    for id in 2000..2010 {
        let created = request(app, "POST", &format!("/notes/{id}"), &[]).await;
        let token = created.header("x-dbroute-token").unwrap();
        let cookie = created.header("set-cookie").unwrap();
        let pair = cookie.split(';').next().unwrap().to_owned();
        let seen = request(
            app,
            "GET",
            &format!("/notes/{id}"),
            &[("x-dbroute-token", token)],
        )
        .await;
        assert_eq!(seen.body, format!("true {primary}"));
        let by_cookie = request(app, "GET", &format!("/notes/{id}"), &[("cookie", &pair)]).await;
        assert_eq!(by_cookie.body, format!("true {primary}"));
        let fresh = request(app, "GET", &format!("/notes/{id}"), &[]).await;
        assert!(fresh.body.starts_with("false"), "{fresh:?}");
    }
    drop(paused);
}

/// 200 concurrent requests of four kinds (plain reads, primary-route reads, committed units of
/// work, handlers failing after writes): each read ran where its own request's scope says,
/// failed ones left no row, committed ones both.
#[actix_web::test]
async fn two_hundred_concurrent_requests_keep_their_own_scopes() {
    let _serial = serial().await;
    let db = router().await;
    let app = serve(
        db.clone(),
        DbRouting::new(db.clone()).primary_when(|_, path| path.starts_with("/primary/")),
    );
    let primary = primary_port();
    let requests = (0..200).map(|n| {
        let primary = primary.clone();
        async move {
            let id = 5000 + n;
            let reply = match n % 4 {
                0 => request(app, "GET", "/notes/1", &[]).await,
                1 => request(app, "GET", "/primary/notes/1", &[]).await,
                2 => request(app, "POST", &format!("/work/{id}/ok"), &[]).await,
                _ => request(app, "POST", &format!("/work/{id}/fail"), &[]).await,
            };
            match n % 4 {
                0 => assert!(!reply.body.ends_with(&primary), "plain read: {reply:?}"),
                1 => assert!(reply.body.ends_with(&primary), "primary route: {reply:?}"),
                2 => assert!(reply.status_line.contains("200"), "{reply:?}"),
                _ => assert!(reply.status_line.contains("409"), "{reply:?}"),
            }
        }
    });
    futures_util::future::join_all(requests).await;
    let on_primary = sqlx::PgPool::connect(&cluster().primary().url())
        .await
        .unwrap();
    for n in 0..200 {
        let id = 5000 + n;
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM notes WHERE id IN ($1, $2)")
            .bind(id)
            .bind(id + 100_000)
            .fetch_one(&on_primary)
            .await
            .unwrap();
        assert_eq!(rows, if n % 4 == 2 { 2 } else { 0 }, "request {n}");
    }
}
