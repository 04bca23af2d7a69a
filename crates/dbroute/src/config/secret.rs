//! Connection strings that never show their password.
//!
//! Users write passwords into URLs unescaped (`postgres://app:pa?ss#1@db/shop`), so the parser
//! here does not follow the URL grammar: the user info runs to the *last* `@` after the scheme,
//! whatever `/`, `?` or `#` it holds. Where that guesses wrong, it hides too much (part of a
//! host or path), never too little.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Query parameters whose values are secrets.
const SECRET_PARAMS: [&str; 4] = ["password", "pass", "pwd", "sslpassword"];

/// A database URL whose password never appears in `Debug` or `Display` output.
///
/// Errors, logs and metrics only ever see [`ConnectionString::redacted`]:
///
/// ```
/// use dbroute::ConnectionString;
///
/// let url = ConnectionString::from("postgres://app:s3cret@db.internal:5432/shop?password=x");
/// assert_eq!(url.to_string(), "postgres://app:***@db.internal:5432/shop?password=***");
///
/// // After a password parameter, the rest is hidden too: the password may hold `&`.
/// let query = ConnectionString::from("postgres://db/shop?user=app&password=a&b&sslmode=require");
/// assert_eq!(query.redacted(), "postgres://db/shop?user=app&password=***");
/// assert!(!format!("{url:?}").contains("s3cret"));
/// assert_eq!(url.expose(), "postgres://app:s3cret@db.internal:5432/shop?password=x");
///
/// // Unescaped `?`, `#`, `/` or `@` in a password are hidden too.
/// let odd = ConnectionString::from("postgres://app:pa?ss#w/rd@db/shop");
/// assert_eq!(odd.redacted(), "postgres://app:***@db/shop");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConnectionString(String);

/// Where a URL's secrets sit, as byte offsets into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Secrets {
    /// The user info's secret, as a range, if any.
    user_info: Option<(usize, usize)>,
    /// Where the hidden tail starts: just after the first secret parameter's `=`. A password
    /// may hold `&` or `@`, so everything after it is hidden.
    tail: Option<usize>,
    /// Not a URL of any database: it could be anything, a password included.
    unknown: bool,
}

impl ConnectionString {
    /// Wraps a URL.
    pub fn new(url: impl Into<String>) -> Self {
        ConnectionString(url.into())
    }

    /// The URL as given, password included: only for handing to the driver.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with the user-info password and any `password=` query value (and what follows
    /// it) replaced by `***`.
    pub fn redacted(&self) -> String {
        let url = &self.0;
        let secrets = self.secrets_at();
        if secrets.unknown {
            return "***".to_owned();
        }
        let head_end = secrets.tail.unwrap_or(url.len());
        let mut out = String::with_capacity(url.len());
        match secrets.user_info {
            Some((start, end)) => {
                out.push_str(&url[..start]);
                out.push_str("***");
                out.push_str(&url[end..head_end]);
            }
            None => out.push_str(&url[..head_end]),
        }
        if secrets.tail.is_some() {
            out.push_str("***");
        }
        out
    }

    /// `text` with every form of this URL's secrets (as written, percent-decoded, and as Rust's
    /// `{:?}` escapes it) replaced by `***`: for driver messages that might quote the URL.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in self.secrets() {
            for form in forms_of(secret) {
                if !form.is_empty() && text.contains(&form) {
                    text = text.replace(&form, "***");
                }
            }
        }
        text
    }

    /// The secret texts: the user-info password and the hidden tail.
    fn secrets(&self) -> Vec<&str> {
        let url = &self.0;
        let secrets = self.secrets_at();
        if secrets.unknown {
            return vec![url.as_str()];
        }
        let user_info = secrets.user_info.map(|(start, end)| &url[start..end]);
        let tail = secrets.tail.map(|start| &url[start..]);
        user_info.into_iter().chain(tail).collect()
    }

    /// Finds the secrets. First the first secret query parameter (anywhere: an unescaped `?`
    /// may sit in a password), whose value and everything after it is the tail; then, in the
    /// head before it, the user info. With `scheme://`, that is what follows the user name's
    /// `:`, up to the last `@`; with a database's `scheme:` but no `//`, all between the
    /// scheme and the last `@`. Text that is neither is hidden whole.
    fn secrets_at(&self) -> Secrets {
        let url = &self.0;
        let tail = secret_param(url);
        let head = &url[..tail.unwrap_or(url.len())];
        // `scheme://` only at the start: `://` further on may sit in a password.
        let scheme = self.scheme();
        let authority = scheme
            .filter(|s| url[s.len()..].starts_with("://"))
            .map(|s| s.len() + 3);
        let user_info = match authority {
            Some(authority) => user_info_after(head, authority),
            None => match scheme.filter(|s| is_database_scheme(s)) {
                Some(scheme) => head.rfind('@').map(|at| (scheme.len() + 1, at)),
                None => {
                    return Secrets {
                        user_info: None,
                        tail,
                        unknown: true,
                    };
                }
            },
        };
        Secrets {
            user_info,
            tail,
            unknown: false,
        }
    }

    /// The scheme before `:` (`postgres`, `sqlite`, ...), lower-cased by the caller.
    pub(crate) fn scheme(&self) -> Option<&str> {
        let (scheme, _) = self.0.split_once(':')?;
        let valid = !scheme.is_empty()
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        valid.then_some(scheme)
    }
}

/// The user-info secret of `head` whose authority starts at `authority`: after the first `:`
/// up to the last `@`; or, with no `@`, a "port" that is no number (a password cut off).
fn user_info_after(head: &str, authority: usize) -> Option<(usize, usize)> {
    if let Some(at) = head[authority..].rfind('@').map(|i| authority + i) {
        return head[authority..at]
            .find(':')
            .map(|colon| (authority + colon + 1, at));
    }
    if head[authority..].starts_with('[') {
        return None;
    }
    let end = head[authority..]
        .find(['/', '?', '#'])
        .map_or(head.len(), |i| authority + i);
    let colon = authority + head[authority..end].find(':')?;
    let port = &head[colon + 1..end];
    let is_port = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
    (!is_port).then_some((colon + 1, end))
}

/// Where the value of the first secret query parameter (`?password=`, `&pwd=`, ...) starts.
fn secret_param(url: &str) -> Option<usize> {
    let lower = url.to_ascii_lowercase();
    let mut first = None;
    for key in SECRET_PARAMS {
        for sep in ['?', '&'] {
            let needle = format!("{sep}{key}=");
            if let Some(i) = lower.find(&needle) {
                first = first.min(Some(i + needle.len())).or(Some(i + needle.len()));
            }
        }
    }
    first
}

/// `text` with the secrets of every URL-like string in `strings` scrubbed out.
#[cfg(feature = "toml")]
pub(crate) fn scrub_all<'a>(text: &str, strings: impl IntoIterator<Item = &'a str>) -> String {
    strings.into_iter().fold(text.to_owned(), |text, s| {
        ConnectionString::new(s).scrub(&text)
    })
}

fn is_database_scheme(scheme: &str) -> bool {
    super::BackendKind::from_scheme(scheme).is_some()
}

/// A secret as written, percent-decoded, and escaped as `{:?}` prints it.
fn forms_of(secret: &str) -> [String; 3] {
    let debug = format!("{secret:?}");
    let debug = debug[1..debug.len() - 1].to_owned();
    [secret.to_owned(), percent_decode(secret), debug]
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied(),
            bytes.get(i + 2).copied(),
        ) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl fmt::Debug for ConnectionString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ConnectionString")
            .field(&self.redacted())
            .finish()
    }
}

impl fmt::Display for ConnectionString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl From<&str> for ConnectionString {
    fn from(url: &str) -> Self {
        ConnectionString::new(url)
    }
}

impl From<String> for ConnectionString {
    fn from(url: String) -> Self {
        ConnectionString(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_everywhere() {
        let cases = [
            ("postgres://u:p@h/db", "postgres://u:***@h/db"),
            ("postgres://u@h/db", "postgres://u@h/db"),
            (
                "postgres://h:5432/db?user=u&password=p&x=1",
                "postgres://h:5432/db?user=u&password=***",
            ),
            ("mysql://u:p%40ss@h", "mysql://u:***@h"),
            ("postgres://u:pa/ss@w@h/db", "postgres://u:***@h/db"),
            ("postgres://app:pa?ss@h/db", "postgres://app:***@h/db"),
            ("postgres://app:pa#ss@h/db", "postgres://app:***@h/db"),
            (
                "postgres://app:a?b#c/d@e@h/db?x=1",
                "postgres://app:***@h/db?x=1",
            ),
            ("postgres:app:pw@h/db", "postgres:***@h/db"),
            ("sqlite::memory:", "sqlite::memory:"),
            ("app:pw@h/db", "***"),
            ("pw@h/db", "***"),
            ("not a url", "***"),
            ("app:pw://x@db/shop", "***"),
            ("postgres://app:pw:", "postgres://app:***"),
            (
                "postgres://h/db?password=a&b&sslmode=require",
                "postgres://h/db?password=***",
            ),
            ("postgres://app:cut-off", "postgres://app:***"),
            ("postgres://h:5432/db", "postgres://h:5432/db"),
            ("postgres://[::1]:5432/db", "postgres://[::1]:5432/db"),
            ("sqlite://app.db?mode=ro", "sqlite://app.db?mode=ro"),
            (
                "postgres://u:p@h/db?PASSWORD=q",
                "postgres://u:***@h/db?PASSWORD=***",
            ),
            (
                "postgres://h/db?application_name=a&sslpassword=k",
                "postgres://h/db?application_name=a&sslpassword=***",
            ),
        ];
        for (url, shown) in cases {
            assert_eq!(ConnectionString::from(url).redacted(), shown, "{url}");
        }
    }

    #[test]
    fn scrubbing_removes_every_form_of_the_password() {
        let url = ConnectionString::from("postgres://u:p%40ss\"w@h/db?password=q%20r");
        let text = "raw p%40ss\"w, decoded p@ss\"w, debug p%40ss\\\"w, param q%20r and q r";
        let scrubbed = url.scrub(text);
        for leak in ["p%40ss", "p@ss", "q%20r", "q r"] {
            assert!(!scrubbed.contains(leak), "{scrubbed}");
        }
    }
}
