//! What the demo's test binaries share: serving the demo.

use std::net::SocketAddr;

use dbroute::Router;
use dbroute_demo::Store;

/// The demo on `db` (tables prepared), served on a free loopback port for the test's life.
pub(crate) async fn serve<DB: Store>(db: Router<DB>) -> SocketAddr
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    DB::prepare(&db).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = dbroute_demo::app::<DB>(db);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address
}
