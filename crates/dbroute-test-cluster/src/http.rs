//! A minimal HTTP/1.1 client for the integrations' tests: one request per connection
//! (`Connection: close`), the answer read to its end, a chunked body decoded. Real bytes over
//! real loopback TCP, so nothing of the server under test is bypassed.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A response as the client saw it.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code (`200`).
    pub status: u16,
    /// The status line (`HTTP/1.1 200 OK`).
    pub status_line: String,
    /// The header lines, as sent.
    pub headers: String,
    /// The body (decoded when it came chunked).
    pub body: String,
}

impl Reply {
    /// The value of header `name` (any case), trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// Sends `method path` with `headers` and `body` (as JSON when there is one) to `address`.
///
/// # Panics
///
/// When the server cannot be reached or answers something that is not HTTP: a test failure.
pub async fn request(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect to the server under test");
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    let content_type = match body.is_empty() {
        true => "",
        false => "Content-Type: application/json\r\n",
    };
    let text = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\n{content_type}Content-Length: {}\r\n\
         Connection: close\r\n{extra}\r\n{body}",
        body.len()
    );
    stream.write_all(text.as_bytes()).await.expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let (status_line, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status code: {status_line:?}"));
    let chunked = headers
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    Reply {
        status,
        status_line: status_line.to_owned(),
        headers: headers.to_owned(),
        body: if chunked {
            unchunk(body)
        } else {
            body.to_owned()
        },
    }
}

/// The data of a chunked body: each chunk is its size in hex, CRLF, the data, CRLF.
fn unchunk(mut rest: &str) -> String {
    let mut data = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || after.len() < size {
            break;
        }
        data.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    data
}

#[cfg(test)]
mod tests {
    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(
            super::unchunk("4\r\ntrue\r\n6\r\n 54321\r\n0\r\n\r\n"),
            "true 54321"
        );
        assert_eq!(super::unchunk("0\r\n\r\n"), "");
    }
}
