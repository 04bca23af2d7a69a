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

/// Where a URL's secret sits, as byte offsets into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Secret {
    /// `user:secret@host` (or, without `//`, `secret@host`): the secret is `start..at`.
    UserInfo { start: usize, at: usize },
    /// `//user:secret` cut off before its `@`: the secret is `start..end`, which no port
    /// number looks like.
    CutOff { start: usize, end: usize },
    /// None in the user info.
    None,
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

    /// The URL with the user-info password and any `password=` query value replaced by `***`.
    pub fn redacted(&self) -> String {
        let url = &self.0;
        let mut out = String::with_capacity(url.len());
        let rest = match self.secret() {
            Secret::UserInfo { start, at } => {
                out.push_str(&url[..start]);
                out.push_str("***");
                at
            }
            Secret::CutOff { start, end } => {
                out.push_str(&url[..start]);
                out.push_str("***");
                end
            }
            Secret::None => 0,
        };
        redact_params(&url[rest..], &mut out);
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

    /// The user-info password and the values of secret query parameters.
    fn secrets(&self) -> Vec<&str> {
        let url = &self.0;
        let (secret, rest) = match self.secret() {
            Secret::UserInfo { start, at } => (Some(&url[start..at]), at),
            Secret::CutOff { start, end } => (Some(&url[start..end]), end),
            Secret::None => (None, 0),
        };
        secret
            .into_iter()
            .chain(params(&url[rest..]).filter_map(|(key, value)| is_secret(key).then_some(value)))
            .collect()
    }

    /// Where the user info's secret is. With `scheme://`, it is what follows the user name's
    /// `:`, up to the last `@`; without `//`, all before the last `@` after the first `:` (or
    /// all of it), since there is no telling a user name from a password there.
    fn secret(&self) -> Secret {
        let url = &self.0;
        let Some(slashes) = url.find("://") else {
            return match url.rfind('@') {
                Some(at) => Secret::UserInfo {
                    start: url[..at].find(':').map_or(0, |colon| colon + 1),
                    at,
                },
                None => Secret::None,
            };
        };
        let authority = slashes + 3;
        if let Some(at) = url[authority..].rfind('@').map(|i| authority + i) {
            return match url[authority..at].find(':') {
                Some(colon) => Secret::UserInfo {
                    start: authority + colon + 1,
                    at,
                },
                None => Secret::None,
            };
        }
        let end = url[authority..]
            .find(['/', '?', '#'])
            .map_or(url.len(), |i| authority + i);
        match url[authority..end].rfind(':') {
            Some(colon) if !url[authority..].starts_with('[') => {
                let port = &url[authority + colon + 1..end];
                match port.bytes().all(|b| b.is_ascii_digit()) {
                    true => Secret::None,
                    false => Secret::CutOff {
                        start: authority + colon + 1,
                        end,
                    },
                }
            }
            _ => Secret::None,
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

/// `text` with the secrets of every URL-like string in `strings` scrubbed out.
#[cfg(feature = "toml")]
pub(crate) fn scrub_all<'a>(text: &str, strings: impl IntoIterator<Item = &'a str>) -> String {
    strings.into_iter().fold(text.to_owned(), |text, s| {
        ConnectionString::new(s).scrub(&text)
    })
}

fn is_secret(key: &str) -> bool {
    SECRET_PARAMS.iter().any(|s| key.eq_ignore_ascii_case(s))
}

/// `key=value` pairs after the first `?` (or `&`) of `rest`.
fn params(rest: &str) -> impl Iterator<Item = (&str, &str)> {
    let query = rest.split_once('?').map_or("", |(_, q)| q);
    query
        .split(['&', '#'])
        .filter_map(|pair| pair.split_once('='))
}

/// Copies `rest` into `out` with secret query values replaced by `***`.
fn redact_params(rest: &str, out: &mut String) {
    let Some(query_start) = rest.find('?') else {
        out.push_str(rest);
        return;
    };
    out.push_str(&rest[..=query_start]);
    let query = &rest[query_start + 1..];
    let mut first = true;
    for pair in query.split('&') {
        if !first {
            out.push('&');
        }
        first = false;
        match pair.split_once('=') {
            Some((key, _)) if is_secret(key) => {
                out.push_str(key);
                out.push_str("=***");
            }
            _ => out.push_str(pair),
        }
    }
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
                "postgres://h:5432/db?user=u&password=***&x=1",
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
            ("app:pw@h/db", "app:***@h/db"),
            ("pw@h/db", "***@h/db"),
            ("postgres://app:cut-off", "postgres://app:***"),
            ("postgres://h:5432/db", "postgres://h:5432/db"),
            ("postgres://[::1]:5432/db", "postgres://[::1]:5432/db"),
            ("sqlite://app.db?mode=ro", "sqlite://app.db?mode=ro"),
            (
                "postgres://u:p@h/db?PASSWORD=q",
                "postgres://u:***@h/db?PASSWORD=***",
            ),
            (
                "postgres://h/db?sslpassword=k&application_name=a",
                "postgres://h/db?sslpassword=***&application_name=a",
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
