//! Just enough of the Chrome DevTools Protocol to drive Debian's `chromium` headless: start it,
//! open a page, evaluate JavaScript in it. A minimal WebSocket client over tokio's TCP (text
//! frames, masked as clients must), so the test needs no WebSocket crate.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// A headless chromium, killed on drop.
pub(crate) struct Browser {
    _child: Child,
    _profile: tempfile::TempDir,
    /// `host:port` of its DevTools endpoint.
    devtools: String,
}

/// The chromium binary: `DBROUTE_CHROMIUM`, else `chromium` where Debian puts it.
fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("DBROUTE_CHROMIUM") {
        return path.into();
    }
    let path = PathBuf::from("/usr/bin/chromium");
    assert!(
        path.exists(),
        "no chromium at /usr/bin/chromium: run the README's test command (scripts/test.sh \
         installs it), or `apt-get install chromium`, or set DBROUTE_CHROMIUM"
    );
    path
}

impl Browser {
    /// Starts chromium headless with a fresh profile and a DevTools port of its choosing.
    pub(crate) async fn start() -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox", // the test may run as root, where the sandbox refuses to start
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("chromium starts");
        let stderr = child.stderr.take().unwrap();
        // It prints `DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID`.
        let listening = async {
            let mut lines = BufReader::new(stderr).lines();
            let mut seen = String::new();
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(rest) = line.split("ws://").nth(1) {
                    let address = rest.split('/').next().unwrap().to_owned();
                    // Keep draining its stderr, or chromium may block writing to it.
                    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
                    return address;
                }
                seen.push_str(&line);
                seen.push('\n');
            }
            panic!("chromium exited before listening:\n{seen}");
        };
        let devtools = tokio::time::timeout(Duration::from_secs(60), listening)
            .await
            .expect("chromium listens within 60 s");
        Browser {
            _child: child,
            _profile: profile,
            devtools,
        }
    }

    /// Opens `url` in a new tab.
    pub(crate) async fn open(&self, url: &str) -> Page {
        let path = format!("/json/new?{url}");
        let new_tab = self.http("PUT", &path);
        let target = tokio::time::timeout(Duration::from_secs(30), new_tab)
            .await
            .expect("chromium opens a tab within 30 s");
        let ws = target["webSocketDebuggerUrl"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebSocket for the new tab: {target}"));
        let path = ws.split_once(&self.devtools).unwrap().1;
        Page::connect(&self.devtools, path).await
    }

    /// A request to the DevTools HTTP endpoint, for its JSON answer.
    async fn http(&self, method: &str, path: &str) -> Value {
        let mut stream = TcpStream::connect(&self.devtools).await.unwrap();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.devtools
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        // Its server may keep the connection open: read the head, then Content-Length bytes.
        let head = read_head(&mut stream).await;
        let length: usize = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .unwrap_or_else(|| panic!("no Content-Length: {head}"));
        let mut body = vec![0; length];
        stream.read_exact(&mut body).await.unwrap();
        serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{e}: {head}"))
    }
}

/// A tab, driven over its DevTools WebSocket.
pub(crate) struct Page {
    stream: TcpStream,
    next_id: u64,
}

impl Page {
    async fn connect(devtools: &str, path: &str) -> Page {
        let mut stream = TcpStream::connect(devtools).await.unwrap();
        let handshake = format!(
            "GET {path} HTTP/1.1\r\nHost: {devtools}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: ZGJyb3V0ZS1kZW1vLXRlc3Q=\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(handshake.as_bytes()).await.unwrap();
        let head = read_head(&mut stream).await;
        assert!(
            head.starts_with("HTTP/1.1 101"),
            "no WebSocket upgrade: {head}"
        );
        Page { stream, next_id: 1 }
    }

    /// Evaluates `expression` in the page; its value (JSON-compatible values only).
    pub(crate) async fn eval(&mut self, expression: &str) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let call = json!({
            "id": id,
            "method": "Runtime.evaluate",
            "params": { "expression": expression, "returnByValue": true },
        });
        let answer = async {
            self.send(&call.to_string()).await;
            self.answer(id).await
        };
        tokio::time::timeout(Duration::from_secs(30), answer)
            .await
            .unwrap_or_else(|_| panic!("chromium did not evaluate {expression:?} within 30 s"))
    }

    /// The answer to call `id`, skipping anything else chromium sends.
    async fn answer(&mut self, id: u64) -> Value {
        loop {
            let message: Value = serde_json::from_str(&self.receive().await).unwrap();
            if message["id"] == id {
                if let Some(error) = message["result"].get("exceptionDetails") {
                    panic!("the page threw: {error}");
                }
                return message["result"]["result"]["value"].clone();
            }
        }
    }

    async fn send(&mut self, text: &str) {
        let payload = text.as_bytes();
        let mut frame = vec![0x81]; // FIN, text
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= usize::from(u16::MAX) => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mask = [0x5a, 0x1e, 0x77, 0x03];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame).await.unwrap();
    }

    /// The next text message (frames joined until FIN).
    async fn receive(&mut self) -> String {
        let mut message = Vec::new();
        loop {
            let first = self.stream.read_u8().await.unwrap();
            let second = self.stream.read_u8().await.unwrap();
            let length = match second & 0x7f {
                126 => u64::from(self.stream.read_u16().await.unwrap()),
                127 => self.stream.read_u64().await.unwrap(),
                n => u64::from(n),
            };
            assert_eq!(second & 0x80, 0, "a server never masks its frames");
            let mut payload = vec![0; length as usize];
            self.stream.read_exact(&mut payload).await.unwrap();
            match first & 0x0f {
                0x8 => panic!("chromium closed the DevTools connection"),
                0x9 | 0xa => continue, // ping, pong: nothing to answer for this test's short life
                _ => message.extend_from_slice(&payload),
            }
            if first & 0x80 != 0 {
                return String::from_utf8(message).unwrap();
            }
        }
    }
}

/// An HTTP response's head, up to and without the blank line.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(stream.read_u8().await.unwrap());
    }
    String::from_utf8_lossy(&head).into_owned()
}
