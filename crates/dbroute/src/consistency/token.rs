//! [`ConsistencyToken`]: how far the writes of a scope reached, carried across tasks,
//! requests and services.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const PREFIX: &str = "dbr1.";
/// `dbr1.` + 16 hex digits + `.` + at most 16 hex digits.
const MAX_LEN: usize = PREFIX.len() + 16 + 1 + 16;

/// How far the writes of a scope reached on one cluster: export it with
/// [`Router::token`](crate::Router::token) or [`Session::token`](crate::Session::token), carry
/// it (an HTTP header, a cookie, a job's payload), and import it with
/// [`Router::with_token`](crate::Router::with_token): reads inside then see those writes.
///
/// Opaque and compact: `dbr1.<cluster>.<position>`, at most 38 characters of `[0-9a-z.]`, safe
/// in a header or a cookie. It holds no secret: the cluster is a 64-bit fingerprint (of
/// `consistency.cluster`, or of the primary's host and port), the position a WAL position.
/// Parsing never panics; anything but a token as [`Display`](fmt::Display) printed it is a
/// [`TokenError::Malformed`].
///
/// ```
/// use dbroute::ConsistencyToken;
///
/// let token: ConsistencyToken = "dbr1.5f0e9d1c2b3a4958.16b374d848".parse()?;
/// assert_eq!(token.to_string(), "dbr1.5f0e9d1c2b3a4958.16b374d848");
///
/// // Tokens of one cluster merge: the later position wins.
/// let later: ConsistencyToken = "dbr1.5f0e9d1c2b3a4958.16b3750000".parse()?;
/// assert_eq!(token.merge(later)?, later);
///
/// assert!("dbr1.5f0e9d1c".parse::<ConsistencyToken>().is_err());
/// # Ok::<(), dbroute::TokenError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConsistencyToken {
    cluster: u64,
    position: u64,
}

impl ConsistencyToken {
    pub(crate) fn new(cluster: u64, position: u64) -> Self {
        ConsistencyToken { cluster, position }
    }

    pub(crate) fn cluster(&self) -> u64 {
        self.cluster
    }

    pub(crate) fn position(&self) -> u64 {
        self.position
    }

    /// Both tokens' writes: the later position. Tokens of two clusters do not merge.
    pub fn merge(self, other: ConsistencyToken) -> Result<ConsistencyToken, TokenError> {
        if self.cluster != other.cluster {
            return Err(TokenError::OtherCluster {
                token: hex(other.cluster),
                expected: hex(self.cluster),
            });
        }
        Ok(ConsistencyToken {
            cluster: self.cluster,
            position: self.position.max(other.position),
        })
    }
}

fn hex(value: u64) -> String {
    format!("{value:016x}")
}

impl fmt::Display for ConsistencyToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{:016x}.{:x}", self.cluster, self.position)
    }
}

impl FromStr for ConsistencyToken {
    type Err = TokenError;

    fn from_str(s: &str) -> Result<Self, TokenError> {
        let malformed = |reason| Err(TokenError::Malformed { reason });
        if s.len() > MAX_LEN {
            return malformed("too long");
        }
        let Some(rest) = s.strip_prefix(PREFIX) else {
            return malformed("it does not start with dbr1.");
        };
        let Some((cluster, position)) = rest.split_once('.') else {
            return malformed("the position is missing");
        };
        if cluster.len() != 16 || !is_hex(cluster) {
            return malformed("the cluster is not 16 hexadecimal digits");
        }
        if position.is_empty() || position.len() > 16 || !is_hex(position) {
            return malformed("the position is not 1 to 16 hexadecimal digits");
        }
        if position.len() > 1 && position.starts_with('0') {
            return malformed("the position has leading zeros");
        }
        // Both parts are checked digits that fit in 64 bits.
        match (
            u64::from_str_radix(cluster, 16),
            u64::from_str_radix(position, 16),
        ) {
            (Ok(cluster), Ok(position)) => Ok(ConsistencyToken { cluster, position }),
            _ => malformed("not hexadecimal"),
        }
    }
}

/// Lowercase hexadecimal only: one spelling per token.
fn is_hex(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Serialize for ConsistencyToken {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ConsistencyToken {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A [`ConsistencyToken`] that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The text is not a token (truncated, altered, or something else entirely).
    #[error(
        "malformed consistency token ({reason}); pass on exactly the text a token's Display \
         printed (dbr1.<16 hex digits>.<hex position>), or no token at all"
    )]
    Malformed {
        /// What is wrong with it (the text itself is never repeated).
        reason: &'static str,
    },

    /// The token was made by a router of another cluster.
    #[error(
        "consistency token from another cluster (it names cluster {token}, this router's is \
         {expected}); tokens only carry between routers of the same primary: give services that \
         name it differently the same consistency.cluster"
    )]
    OtherCluster {
        /// The token's cluster fingerprint.
        token: String,
        /// The router's (or the other token's) cluster fingerprint.
        expected: String,
    },
}
