//! Connection strings that never show their password.

use std::fmt;

use serde::{Deserialize, Serialize};

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
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConnectionString(String);

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
        let authority_start = url.find("://").map_or(0, |i| i + 3);
        // A password may hold unescaped `/` or `@`: the user info ends at the last `@` before
        // the query string.
        let head_end = url[authority_start..]
            .find(['?', '#'])
            .map_or(url.len(), |i| authority_start + i);
        out.push_str(&url[..authority_start]);
        let host_start = match url[authority_start..head_end].rfind('@') {
            Some(at) => {
                let userinfo = &url[authority_start..authority_start + at];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..colon]);
                        out.push_str(":***");
                    }
                    None => out.push_str(userinfo),
                }
                authority_start + at
            }
            None => authority_start,
        };
        out.push_str(&url[host_start..head_end]);
        let authority_end = head_end;
        out.push_str(&redact_query(&url[authority_end..]));
        out
    }

    /// `text` with every occurrence of this URL's password replaced by `***`: for driver
    /// messages that might quote the URL.
    pub(crate) fn scrub(&self, text: &str) -> String {
        match self.password() {
            Some(password) if !password.is_empty() => text.replace(password, "***"),
            _ => text.to_owned(),
        }
    }

    fn password(&self) -> Option<&str> {
        let url = &self.0;
        let start = url.find("://")? + 3;
        let head_end = url[start..]
            .find(['?', '#'])
            .map_or(url.len(), |i| start + i);
        let at = url[start..head_end].rfind('@')?;
        let (_, password) = url[start..start + at].split_once(':')?;
        Some(password)
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

fn redact_query(rest: &str) -> String {
    let mut out = String::with_capacity(rest.len());
    let mut pieces = rest.split_inclusive(['?', '&']);
    for piece in &mut pieces {
        let lower = piece.to_ascii_lowercase();
        if lower.starts_with("password=") || lower.starts_with("pass=") || lower.starts_with("pwd=")
        {
            let key_end = piece.find('=').unwrap_or(0) + 1;
            out.push_str(&piece[..key_end]);
            out.push_str("***");
            if piece.ends_with(['&', '?']) {
                out.push_str(&piece[piece.len() - 1..]);
            }
        } else {
            out.push_str(piece);
        }
    }
    out
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
            ("sqlite://app.db?mode=ro", "sqlite://app.db?mode=ro"),
            (
                "postgres://u:p@h/db?PASSWORD=q",
                "postgres://u:***@h/db?PASSWORD=***",
            ),
        ];
        for (url, shown) in cases {
            assert_eq!(ConnectionString::from(url).redacted(), shown);
        }
    }
}
