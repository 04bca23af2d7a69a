//! The `dbroute-demo` binary as the README runs it: it starts on the embedded SQLite default,
//! says where it serves, and answers; bad options get a clear message and exit code 2.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

const DEMO: &str = env!("CARGO_BIN_EXE_dbroute-demo");

#[test]
fn it_serves_the_api_and_the_routing_page_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo.db");
    let mut demo = Command::new(DEMO)
        .args(["--listen", "127.0.0.1:0", "--sqlite"])
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = demo.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let address = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the demo says where it serves within 60 s");
        if let Some(rest) = line.strip_prefix("serving on http://") {
            break rest.split(':').take(2).collect::<Vec<_>>().join(":");
        }
    };
    let get = |path: &str| {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    };
    let users = get("/users");
    let page = get("/routing");
    let figures = get("/routing.json");
    demo.kill().unwrap();
    demo.wait().unwrap();
    assert!(
        users.starts_with("HTTP/1.1 200") && users.contains("\"Ada\""),
        "{users}"
    );
    assert!(page.contains("<title>dbroute: routing</title>"), "{page}");
    assert!(figures.contains("\"engine\":\"reader\""), "{figures}");
    assert!(file.exists(), "the demo's data is in the file it was given");
}

#[test]
fn bad_options_say_what_is_wrong() {
    for (args, says) in [
        (&["--bogus"][..], "unknown option \"--bogus\""),
        (&["--listen", "nowhere"][..], "not an address"),
        (&["--config"][..], "--config needs a value"),
    ] {
        let output = Command::new(DEMO).args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    let missing = Command::new(DEMO)
        .args(["--config", "/nonexistent/dbroute.toml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/dbroute.toml"));
    let help = Command::new(DEMO).arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--local-cluster"));
}
