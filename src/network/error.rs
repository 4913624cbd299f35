//! Network errors, classified by what the caller should do about them.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// 401/403: the token is wrong or lacks a scope. Retrying cannot help.
    #[error("the server refused the access token ({status}): {message}")]
    Unauthorized { status: u16, message: String },
    /// 429: wait `retry_after` (from `Retry-After` or `X-RateLimit-Reset`).
    #[error("rate limited by the server; retry in {retry_after:?}")]
    RateLimited { retry_after: Duration },
    /// 5xx or another unexpected status.
    #[error("the server answered {status}: {message}")]
    Server { status: u16, message: String },
    /// 4xx other than the above: the request itself is wrong; not retried.
    #[error("the server rejected the request ({status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("no answer from the server within {0:?}")]
    Timeout(Duration),
    #[error("could not reach the server: {0}")]
    Transport(String),
    #[error("could not understand the server's answer: {0}")]
    Decode(String),
}

impl NetError {
    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            NetError::RateLimited { .. }
                | NetError::Server { .. }
                | NetError::Timeout(_)
                | NetError::Transport(_)
                | NetError::Decode(_)
        )
    }
}
