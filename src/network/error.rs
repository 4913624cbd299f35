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

/// Classifies an HTTP error answer. `headers` are consulted for 429 and
/// 503 only; `body` becomes the message (Mastodon puts `{"error": "..."}`
/// there).
pub(crate) fn from_status(
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: &str,
) -> NetError {
    let message = error_message(body);
    let now = chrono::Utc::now();
    match status {
        401 | 403 => NetError::Unauthorized { status, message },
        429 => NetError::RateLimited {
            retry_after: retry_after(headers, now).unwrap_or(DEFAULT_RETRY_AFTER),
        },
        // GoToSocial's throttling under load: a 503 that says when to come
        // back is a rate limit, not a failing server. Only `Retry-After`
        // counts: Mastodon puts `X-RateLimit-Reset` on every answer, real
        // server errors included.
        503 if requested_wait(headers, now).is_some() => NetError::RateLimited {
            retry_after: requested_wait(headers, now).unwrap_or(DEFAULT_RETRY_AFTER),
        },
        400..=499 => NetError::Rejected { status, message },
        _ => NetError::Server { status, message },
    }
}

/// How long to wait after a 429 that names no time.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);

/// A reqwest failure without an HTTP answer to classify. The URL is dropped
/// from the message: it never carries the token here, but keeping messages
/// URL-free means no future query parameter can leak through them.
pub(crate) fn from_reqwest(e: reqwest::Error) -> NetError {
    let e = e.without_url();
    if e.is_decode() {
        NetError::Decode(e.to_string())
    } else if let Some(status) = e.status() {
        from_status(status.as_u16(), &Default::default(), "")
    } else {
        NetError::Transport(source_chain(&e))
    }
}

/// "error sending request: connection refused" instead of only the outer layer.
fn source_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Mastodon's `{"error": "..."}`, or the body itself, shortened.
fn error_message(body: &str) -> String {
    let from_json = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error")?.as_str().map(str::to_owned));
    let text = from_json.unwrap_or_else(|| body.trim().to_owned());
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// The wait a throttled server asks for: `Retry-After` (seconds or an HTTP
/// date), else `X-RateLimit-Reset` (RFC 3339 on Mastodon, epoch seconds on
/// mastodon-mock). `None` when neither is present and readable.
pub fn retry_after(
    headers: &reqwest::header::HeaderMap,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<Duration> {
    requested_wait(headers, now).or_else(|| {
        headers
            .get("x-ratelimit-reset")?
            .to_str()
            .ok()
            .map(str::trim)
            .and_then(parse_reset)
            .map(|at| until(at, now))
    })
}

/// `Retry-After` alone: seconds or an HTTP date.
fn requested_wait(
    headers: &reqwest::header::HeaderMap,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<Duration> {
    let value = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    chrono::DateTime::parse_from_rfc2822(value)
        .ok()
        .map(|at| until(at.with_timezone(&chrono::Utc), now))
}

/// `X-RateLimit-Reset` as an instant: RFC 3339 or (fractional) epoch seconds.
pub fn parse_reset(value: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(value) {
        return Some(at.with_timezone(&chrono::Utc));
    }
    let secs = value
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)?;
    chrono::DateTime::from_timestamp_millis((secs * 1000.0) as i64)
}

fn until(at: chrono::DateTime<chrono::Utc>, now: chrono::DateTime<chrono::Utc>) -> Duration {
    (at - now).to_std().unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn now() -> chrono::DateTime<chrono::Utc> {
        "2026-12-03T20:00:00Z".parse().unwrap()
    }

    /// Headers, the expected wait in seconds, and what the case shows.
    type Case<'a> = (&'a [(&'a str, &'a str)], Option<u64>, &'a str);

    #[test]
    fn retry_after_is_read_from_every_header_form_servers_use() {
        let cases: &[Case] = &[
            (
                &[("retry-after", "120")],
                Some(120),
                "Retry-After in seconds",
            ),
            (
                &[("retry-after", " 7 ")],
                Some(7),
                "Retry-After with spaces",
            ),
            (
                &[("retry-after", "Thu, 03 Dec 2026 20:00:30 GMT")],
                Some(30),
                "Retry-After as HTTP date",
            ),
            (
                &[("x-ratelimit-reset", "2026-12-03T20:05:00.000Z")],
                Some(300),
                "Mastodon's RFC 3339 reset",
            ),
            (
                &[("x-ratelimit-reset", "2026-12-03T21:01:00+01:00")],
                Some(60),
                "RFC 3339 with offset",
            ),
            (
                &[("x-ratelimit-reset", "1796328045")],
                Some(45),
                "mastodon-mock's epoch seconds",
            ),
            (
                &[("x-ratelimit-reset", "1796328045.9")],
                Some(45),
                "fractional epoch seconds",
            ),
            (
                &[("x-ratelimit-reset", "2026-12-03T19:00:00Z")],
                Some(0),
                "reset in the past",
            ),
            (
                &[("retry-after", "5"), ("x-ratelimit-reset", "1796328045")],
                Some(5),
                "Retry-After wins",
            ),
            (&[("retry-after", "soon")], None, "unreadable Retry-After"),
            (&[("x-ratelimit-reset", "later")], None, "unreadable reset"),
            (&[], None, "no header"),
        ];
        for (pairs, want, case) in cases {
            let got = retry_after(&headers(pairs), now()).map(|d| d.as_secs());
            assert_eq!(got, *want, "{case}");
        }
    }

    #[test]
    fn a_429_without_a_readable_time_waits_the_default() {
        let err = from_status(429, &headers(&[("retry-after", "soon")]), "");
        assert!(
            matches!(err, NetError::RateLimited { retry_after } if retry_after == DEFAULT_RETRY_AFTER)
        );
    }

    #[test]
    fn statuses_map_to_what_the_caller_should_do() {
        let none = HeaderMap::new();
        let cases: &[(u16, &str, &str)] = &[
            (401, "Unauthorized", "bad token"),
            (403, "Unauthorized", "missing scope"),
            (404, "Rejected", "not found"),
            (422, "Rejected", "validation failed"),
            (429, "RateLimited", "throttled"),
            (500, "Server", "internal error"),
            (503, "Server", "unavailable"),
        ];
        for (status, want, case) in cases {
            let got = format!("{:?}", from_status(*status, &none, r#"{"error":"x"}"#));
            assert!(got.starts_with(want), "{case}: {status} gave {got}");
        }
    }

    #[test]
    fn a_503_that_says_when_to_come_back_is_throttling_and_any_other_a_server_error() {
        let cases: &[Case] = &[
            (&[("retry-after", "30")], Some(30), "GoToSocial under load"),
            (
                &[("retry-after", "Thu, 01 Jan 2026 00:00:00 GMT")],
                Some(0),
                "an HTTP date already past",
            ),
            (&[], None, "a plain 503"),
            (
                &[("retry-after", "soon")],
                None,
                "an unreadable Retry-After",
            ),
            (
                &[("x-ratelimit-reset", "2026-12-03T20:05:00.000Z")],
                None,
                "Mastodon's rate-limit headers on a real server error",
            ),
        ];
        for (pairs, want, case) in cases {
            let got = from_status(503, &headers(pairs), "");
            match (want, &got) {
                (Some(secs), NetError::RateLimited { retry_after }) => {
                    assert_eq!(retry_after.as_secs(), *secs, "{case}")
                }
                (None, NetError::Server { status: 503, .. }) => {}
                _ => panic!("{case}: {got:?}"),
            }
        }
    }

    #[test]
    fn the_message_is_mastodons_error_text_or_the_shortened_body() {
        assert_eq!(
            error_message(r#"{"error":"Record not found"}"#),
            "Record not found"
        );
        assert_eq!(error_message(" oops \n"), "oops");
        assert_eq!(error_message(&"x".repeat(500)).chars().count(), 201);
    }
}
