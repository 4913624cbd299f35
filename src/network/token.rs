//! The access token: read from the environment or a file, never printed.
use std::fmt;

use crate::chats::TokenSource;

#[derive(Clone)]
pub struct Token(String);

impl Token {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// Reads the token named by `source`; the error says where it looked,
    /// never what it found.
    pub fn load(source: &TokenSource) -> anyhow::Result<Self> {
        use anyhow::Context;
        let secret = match source {
            TokenSource::Env(var) => std::env::var(var).with_context(|| {
                format!("the access token is read from the environment variable {var}, which is not set")
            })?,
            TokenSource::File(path) => std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the access token file {}", path.display()))?,
        };
        let secret = secret.trim().to_string();
        anyhow::ensure!(
            !secret.is_empty(),
            "the access token ({}) is empty",
            source_name(source)
        );
        Ok(Self(secret))
    }

    /// The secret itself, for an Authorization header or a stream URL.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

fn source_name(source: &TokenSource) -> String {
    match source {
        TokenSource::Env(var) => format!("environment variable {var}"),
        TokenSource::File(path) => format!("file {}", path.display()),
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}
