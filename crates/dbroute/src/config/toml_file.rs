//! Loading a [`RoutingConfig`] from TOML, with errors that never quote a password.
//!
//! The `toml` crate's errors print the offending line and serde's print offending values, and
//! either may hold a URL with its password. So the error dbroute reports keeps the position and
//! takes its message from a second parse of a copy of the document in which every string has
//! been redacted: same structure, same problem, no secret.

use std::path::Path;

use super::{ConfigError, ConnectionString, RoutingConfig, TomlError, scrub_all};
use crate::error::Result;

impl RoutingConfig {
    /// Parses a TOML document (see the README's configuration reference for the format).
    ///
    /// ```
    /// let config = dbroute::RoutingConfig::from_toml_str(r#"
    ///     primary_connection_string = "postgres://primary/shop"
    ///     read_replicas = [
    ///         "postgres://replica1/shop",
    ///         { connection_string = "postgres://replica2/shop", weight = 2, name = "big" },
    ///     ]
    ///     routing_strategy = "random"
    ///     [pool]
    ///     max_connections = 20
    ///     acquire_timeout = "2s"
    /// "#)?;
    /// assert_eq!(config.read_replicas.len(), 2);
    ///
    /// // Errors give the position, never the line (which may hold a password).
    /// let typo = dbroute::RoutingConfig::from_toml_str(
    ///     "primary_conection_string = \"postgres://app:hunter2@primary/shop\"",
    /// ).unwrap_err();
    /// assert!(typo.to_string().contains("line 1, column 1: unknown field `primary_conection_string`"));
    /// assert!(!typo.to_string().contains("hunter2"));
    /// # Ok::<(), dbroute::Error>(())
    /// ```
    pub fn from_toml_str(text: &str) -> Result<Self> {
        Self::parse_toml(text, "TOML")
    }

    /// Reads and parses a TOML file.
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse_toml(&text, &path.display().to_string())
    }

    fn parse_toml(text: &str, origin: &str) -> Result<Self> {
        let config: RoutingConfig = toml::from_str(text).map_err(|error| ConfigError::Toml {
            origin: origin.to_owned(),
            source: safe_error(text, &error),
        })?;
        config.validate()?;
        Ok(config)
    }
}

fn safe_error(text: &str, error: &toml::de::Error) -> TomlError {
    let (line, column) = error
        .span()
        .map_or((0, 0), |span| position(text, span.start));
    let message = match text.parse::<toml::Table>() {
        // A problem of meaning (unknown key, wrong type): say it again over redacted values.
        Ok(table) => {
            let mut value = toml::Value::Table(table);
            redact(&mut value);
            match value.try_into::<RoutingConfig>() {
                Err(redacted) => redacted.message().to_owned(),
                Ok(_) => "the configuration does not parse".to_owned(),
            }
        }
        // A syntax error: its message names the grammar, not the values; scrub it anyway.
        Err(_) => scrub_all(error.message(), strings_in(text)),
    };
    TomlError::new(line, column, message)
}

/// Replaces every string in `value` by its redacted form.
fn redact(value: &mut toml::Value) {
    match value {
        toml::Value::String(s) => *s = ConnectionString::new(std::mem::take(s)).redacted(),
        toml::Value::Array(items) => items.iter_mut().for_each(redact),
        toml::Value::Table(table) => table.iter_mut().for_each(|(_, v)| redact(v)),
        _ => {}
    }
}

/// Every run of the text between quotes or whitespace: candidates for URLs with passwords.
fn strings_in(text: &str) -> impl Iterator<Item = &str> {
    text.split(['"', '\'', ' ', '\t', '\n', '\r', ',', '[', ']', '{', '}'])
        .filter(|s| s.contains(['@', '=']))
}

/// The 1-based line and column of byte `offset`.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, column)
}
