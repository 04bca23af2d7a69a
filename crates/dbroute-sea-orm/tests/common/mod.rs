//! What the SeaORM test binaries share: the cluster, where its servers listen, waiting for
//! replay, one test at a time.

use dbroute_test_cluster::{Cluster, shared};

pub(crate) fn cluster() -> &'static Cluster {
    shared()
}

pub(crate) fn primary_port() -> i32 {
    i32::from(cluster().primary().port())
}

#[allow(dead_code)] // not every binary asks
pub(crate) fn replica_port(index: usize) -> i32 {
    i32::from(cluster().replicas()[index].port())
}

pub(crate) fn is_replica(port: i32) -> bool {
    cluster()
        .replicas()
        .iter()
        .any(|r| i32::from(r.port()) == port)
}

/// Waits until every replica has replayed everything committed on the primary so far.
pub(crate) async fn replay() {
    tokio::task::spawn_blocking(|| cluster().wait_for_replay().unwrap())
        .await
        .unwrap();
}

/// One test at a time: a binary's tests share their tables.
pub(crate) async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SERIAL.lock().await
}
