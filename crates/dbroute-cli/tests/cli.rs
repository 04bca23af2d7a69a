//! The `dbroute` binary, run as an operator would.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

fn dbroute(args: &[&str], stdin: &str) -> (String, String, i32) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dbroute"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run dbroute");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
        out.status.code().unwrap_or(-1),
    )
}

/// `dbroute classify --jsonl` with piped standard input and output.
fn spawn_jsonl() -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_dbroute"))
        .args(["classify", "--jsonl"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run dbroute")
}

#[test]
fn one_statement_prints_route_and_reason() {
    let (out, _, code) = dbroute(&["classify", "SELECT * FROM users FOR UPDATE"], "");
    assert_eq!((out.as_str(), code), ("primary (locking_read)\n", 0));
    let (out, _, _) = dbroute(&["classify", "--dialect", "mysql", "SELECT 1 # DELETE"], "");
    assert_eq!(out, "replica (read)\n");
    let (out, _, _) = dbroute(
        &["classify", "--write-functions", "audit", "SELECT audit(1)"],
        "",
    );
    assert_eq!(out, "primary (write_function)\n");
}

#[test]
fn jsonl_answers_every_line_in_order_and_survives_bad_lines() {
    let input = concat!(
        "{\"sql\": \"SELECT 1\"}\n",
        "not json\n",
        "{\"sql\": \"INSERT INTO t VALUES (1)\"}\n",
        "{\"query\": \"SELECT 1\"}\n",
        "{\"sql\": \"WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d\"}\n",
    );
    let (out, _, code) = dbroute(&["classify", "--jsonl"], input);
    assert_eq!(code, 0);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(
        lines[0],
        serde_json::json!({"route": "replica", "reason": "read"})
    );
    assert!(
        lines[1]["error"]
            .as_str()
            .unwrap()
            .contains("expected {\"sql\"")
    );
    assert_eq!(
        lines[2],
        serde_json::json!({"route": "primary", "reason": "write"})
    );
    assert!(lines[3]["error"].is_string());
    assert_eq!(lines[4]["reason"], "data_modifying_cte");
}

#[test]
fn jsonl_flushes_each_answer_before_the_next_line_arrives() {
    let mut child = spawn_jsonl();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    for (sql, route) in [("SELECT 1", "replica"), ("DELETE FROM t", "primary")] {
        writeln!(stdin, "{}", serde_json::json!({ "sql": sql })).unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert!(line.contains(route), "{line}");
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

#[test]
fn summary_reports_the_offload() {
    let mut input = String::new();
    for i in 0..6 {
        input.push_str(&format!(
            "{{\"sql\": \"SELECT * FROM t WHERE id = {i}\"}}\n"
        ));
    }
    input.push_str(
        "{\"sql\": \"UPDATE t SET x = 1\"}\n{\"sql\": \"SELECT nextval('s')\"}\nbroken\n",
    );
    let (out, _, code) = dbroute(&["classify", "--jsonl", "--summary"], &input);
    assert_eq!(code, 0);
    assert!(out.contains("statements: 8"), "{out}");
    assert!(out.contains("replica:    6 (75.0%)"), "{out}");
    assert!(out.contains("write_function"), "{out}");
    assert!(out.contains("unreadable lines: 1"), "{out}");
    assert!(out.ends_with("replica offload: 75.0%\n"), "{out}");
}

#[test]
fn usage_errors_exit_2_with_help() {
    let (_, err, code) = dbroute(&["classify", "--dialect", "oracle", "SELECT 1"], "");
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown dialect") && err.contains("usage:"),
        "{err}"
    );
}

#[test]
fn invalid_utf8_lines_get_an_error_and_the_rest_still_runs() {
    let mut child = spawn_jsonl();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"{\"sql\": \"SELECT \xff\"}\n{\"sql\": \"SELECT 1\"}\n")
        .unwrap();
    drop(stdin);
    let out = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].contains("not UTF-8"), "{out}");
    assert!(lines[1].contains("replica"), "{out}");
}
