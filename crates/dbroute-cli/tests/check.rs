//! `dbroute check` run as a deploy script would, against real PostgreSQL streaming
//! replication started for this test binary, and on the SQLite default.

use std::process::Command;

use dbroute_test_cluster::shared;

/// Runs `dbroute check --config <file with text>`: stdout, stderr, exit code.
fn check(toml: &str) -> (String, String, i32) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dbroute.toml");
    std::fs::write(&file, toml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dbroute"))
        .args(["check", "--config"])
        .arg(&file)
        .args(["--wait", "10"])
        .output()
        .unwrap();
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
        out.status.code().unwrap_or(-1),
    )
}

/// The cluster's URL for `port`, with a password the server (trust auth) ignores and the
/// output must never show.
fn url(port: u16) -> String {
    format!("postgres://postgres:s3cret-pw@127.0.0.1:{port}/postgres")
}

#[test]
fn a_healthy_cluster_passes_and_shows_what_each_server_is() {
    let cluster = shared();
    let replicas: Vec<String> = cluster
        .replicas()
        .iter()
        .map(|r| {
            format!(
                "{{ connection_string = {:?}, name = {:?} }}",
                url(r.port()),
                r.name()
            )
        })
        .collect();
    let toml = format!(
        "primary_connection_string = {:?}\nread_replicas = [{}]\n",
        url(cluster.primary().port()),
        replicas.join(", ")
    );
    let (out, err, code) = check(&toml);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(out.matches("standby (read-only)").count(), 2, "{out}");
    assert_eq!(out.matches("primary (writable)").count(), 1, "{out}");
    for replica in cluster.replicas() {
        assert!(out.contains(replica.name()), "{out}");
    }
    assert!(out.contains("max 10"), "pool settings: {out}");
    assert!(out.contains("catalog: "), "{out}");
    assert!(
        !format!("{out}{err}").contains("s3cret-pw"),
        "a password leaked: {out}{err}"
    );
}

#[test]
fn a_replica_that_is_the_primary_or_is_down_fails_the_check() {
    let cluster = shared();
    // "replica" pointing at the primary: it accepts writes.
    let toml = format!(
        "primary_connection_string = {:?}\nread_replicas = [{{ connection_string = {:?}, name = \"not-a-standby\" }}]\n",
        url(cluster.primary().port()),
        url(cluster.primary().port()),
    );
    let (out, err, code) = check(&toml);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains("replica not-a-standby") && err.contains("accepts writes"),
        "{err}"
    );
    assert!(!format!("{out}{err}").contains("s3cret-pw"));

    // A replica nobody listens for.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let toml = format!(
        "primary_connection_string = {:?}\nread_replicas = [{{ connection_string = {:?}, name = \"gone\" }}]\n",
        url(cluster.primary().port()),
        url(port),
    );
    let (out, err, code) = check(&toml);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains("engine gone") && err.contains("is down"),
        "{err}"
    );
    assert!(!format!("{out}{err}").contains("s3cret-pw"));
}

#[test]
fn the_sqlite_default_passes_and_a_missing_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let toml = format!(
        "[engines]\ndefault = [{{ connection_string = \"sqlite://{}?mode=rwc\", name = \"writer\" }}]\n\
         read = [{{ connection_string = \"sqlite://{}?mode=ro\", name = \"reader\" }}]\n",
        db.display(),
        db.display()
    );
    let (out, err, code) = check(&toml);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("writer") && out.contains("reader"), "{out}");

    let out = Command::new(env!("CARGO_BIN_EXE_dbroute"))
        .args(["check", "--config", "/nonexistent/dbroute.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/dbroute.toml"));
    let bad = Command::new(env!("CARGO_BIN_EXE_dbroute"))
        .args(["check", "--wait", "forever"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

/// `dbroute classify --catalog URL` answers as the router would: a read calling a function the
/// database declares VOLATILE, or naming an unlogged table, goes to the primary, which the
/// classifier alone cannot know.
#[test]
fn classify_with_a_live_catalog_matches_the_router() {
    let cluster = shared();
    cluster
        .psql(
            cluster.primary(),
            "CREATE OR REPLACE FUNCTION bump_counter() RETURNS int LANGUAGE plpgsql VOLATILE \
             AS $$ BEGIN UPDATE cli_counter SET n = n + 1; RETURN 1; END $$; \
             CREATE UNLOGGED TABLE IF NOT EXISTS cli_scratch (id int)",
        )
        .unwrap();
    let classify_sql = |extra: &[&str], sql: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_dbroute"))
            .arg("classify")
            .args(extra)
            .arg(sql)
            .output()
            .unwrap();
        (
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let classify = |extra: &[&str]| classify_sql(extra, "SELECT bump_counter()");
    let (alone, _) = classify(&[]);
    assert_eq!(alone.trim(), "replica (read)");
    let live = url(cluster.primary().port());
    let (with_catalog, err) = classify(&["--catalog", &live]);
    assert_eq!(with_catalog.trim(), "primary (write_function)", "{err}");
    let unlogged = "SELECT * FROM cli_scratch";
    assert_eq!(classify_sql(&[], unlogged).0.trim(), "replica (read)");
    let (with_catalog, err) = classify_sql(&["--catalog", &live], unlogged);
    assert_eq!(
        with_catalog.trim(),
        "primary (primary_only_relation)",
        "{err}"
    );
    // A database that does not answer: a clear error, the password hidden.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let (out, err) = classify(&["--catalog", &url(port)]);
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("dbroute classify:"), "{err}");
    assert!(!err.contains("s3cret-pw"), "{err}");
}
