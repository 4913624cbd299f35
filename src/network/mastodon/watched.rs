//! Another instance's public tag timeline, read anonymously (`also_watch`):
//! answers from servers that never federate to the bot's. No token and no
//! `Authorization` header ever go there: the client holds none. Each
//! instance has its own HTTP client (with the chat account's TLS trust,
//! `ca_file:` included) and its own request budget, a share of
//! the rate limit its `X-RateLimit-*` headers announce (Mastodon's 300
//! requests per 5 minutes per IP when it says nothing), so hashchat never
//! takes more than [`SHARE`] of what the instance allows.
//!
//! [`WatchedServer`] implements [`Social`] so that the collector's timeline
//! reading and final reconciliation serve it unchanged; what an anonymous
//! reader cannot do (post, streams, mentions) answers "not here".

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::HeaderMap;

use super::decode::statuses as decode_statuses;
use super::instance;
use super::rest::{endpoint, page_query};
use crate::network::error::{from_reqwest, from_status};
use crate::network::{Account, Budget, HashtagStream, Instance, NetError, NewPost, Page};
use crate::network::{Social, Status, Trust};

/// The part of an instance's rate limit hashchat may use.
pub const SHARE: f64 = 0.2;
/// Mastodon's limit when an instance sends no `X-RateLimit-Limit`.
pub const DEFAULT_LIMIT: u32 = 300;
/// The window of that limit (the headers do not name it: Mastodon's).
pub const LIMIT_WINDOW: Duration = Duration::from_secs(300);

/// One watched instance, reached without credentials.
pub struct WatchedServer {
    http: reqwest::Client,
    /// Always ends with `/`, so relative paths join below it.
    server: url::Url,
    /// `host` or `host:port`: its name in logs and in stored keys.
    name: String,
    budget: Budget,
    /// The limit last announced, to resize the budget only on a change.
    limit: std::sync::Mutex<u32>,
    requests: AtomicU64,
}

impl WatchedServer {
    /// A client for `server` whose every request ends within `timeout`,
    /// trusting what the chat's account trusts.
    pub fn new(server: &url::Url, timeout: Duration, trust: &Trust) -> Result<Self, NetError> {
        let mut server = server.clone();
        if !server.path().ends_with('/') {
            server.set_path(&format!("{}/", server.path()));
        }
        let builder = reqwest::Client::builder()
            .user_agent(concat!("hashchat/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(timeout)
            .timeout(timeout);
        let http = trust.http_client(builder)?;
        let name = instance::domain("", &server);
        Ok(Self {
            http,
            server,
            name,
            budget: budget_for(DEFAULT_LIMIT),
            limit: std::sync::Mutex::new(DEFAULT_LIMIT),
            requests: AtomicU64::new(0),
        })
    }

    /// `host` or `host:port`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Requests sent so far (the benchmark's figure).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// A status id as this instance knows it, from its stored key
    /// (`name/id`) or the bare id.
    fn own_id<'a>(&self, key: &'a str) -> &'a str {
        key.strip_prefix(&self.name)
            .and_then(|rest| rest.strip_prefix('/'))
            .unwrap_or(key)
    }

    /// `GET` below the server, within the budget, without credentials.
    async fn get(&self, path_and_query: &str) -> Result<String, NetError> {
        self.budget.acquire().await;
        self.requests.fetch_add(1, Ordering::Relaxed);
        let url = endpoint(&self.server, path_and_query)?;
        let response = self.http.get(url).send().await.map_err(from_reqwest)?;
        let status = response.status();
        let headers = response.headers().clone();
        self.observe(&headers);
        let body = response.text().await.map_err(from_reqwest)?;
        if status.is_success() {
            return Ok(body);
        }
        Err(self.paced(from_status(status.as_u16(), &headers, &body)))
    }

    /// A throttled answer pauses the budget for the wait it names and is
    /// reported as a plain failure: the next read waits, nothing retries in
    /// a loop (and logs) inside one read. A 401/403 refuses anonymous
    /// readers, not a token (none is sent).
    fn paced(&self, error: NetError) -> NetError {
        match error {
            NetError::Unauthorized { status, message } => NetError::Rejected {
                status,
                message: format!("closed to anonymous readers: {message}"),
            },
            NetError::RateLimited { retry_after } => {
                self.budget.pause_for(retry_after);
                NetError::Server {
                    status: 429,
                    message: format!("rate limited; next request in {retry_after:?}"),
                }
            }
            other => other,
        }
    }

    /// Follows the instance's `X-RateLimit-Limit/Remaining/Reset`.
    fn observe(&self, headers: &HeaderMap) {
        let number = |name: &str| -> Option<u32> {
            let text = headers.get(name)?.to_str().ok()?.trim();
            text.parse::<u32>()
                .ok()
                .or_else(|| text.parse::<f64>().ok().map(|f| f as u32))
        };
        if let Some(limit) = number("x-ratelimit-limit").filter(|l| *l > 0) {
            let mut known = self.limit.lock().unwrap_or_else(|p| p.into_inner());
            if *known != limit {
                *known = limit;
                let (requests, window) = share_of(limit);
                self.budget.resize(requests, window);
            }
        }
        if let Some(remaining) = number("x-ratelimit-remaining") {
            let reset_in =
                crate::network::retry_after(headers, chrono::Utc::now()).unwrap_or(LIMIT_WINDOW);
            self.budget.observe_server(remaining, reset_in);
        }
    }
}

/// The bucket that keeps a reader within [`SHARE`] of `limit` per
/// [`LIMIT_WINDOW`] in any window: a bucket lets its capacity through at
/// once plus its refill over the window, so each gets half the share.
pub fn share_of(limit: u32) -> (u32, Duration) {
    let share = (f64::from(limit) * SHARE / 2.0).floor().max(1.0) as u32;
    (share, LIMIT_WINDOW)
}

fn budget_for(limit: u32) -> Budget {
    let (requests, window) = share_of(limit);
    Budget::new(requests, window)
}

fn not_here(what: &str) -> NetError {
    NetError::Rejected {
        status: 404,
        message: format!("{what} is not read on a watched instance"),
    }
}

#[async_trait]
impl Social for WatchedServer {
    async fn instance(&self) -> Result<Instance, NetError> {
        let body = self.get("api/v1/instance").await?;
        let (uri, max) = instance::lenient(&body)?;
        Ok(Instance {
            domain: instance::domain(&uri, &self.server),
            max_characters: max.unwrap_or(instance::DEFAULT_MAX_CHARACTERS),
        })
    }
    async fn me(&self) -> Result<Account, NetError> {
        Err(not_here("an account"))
    }
    async fn post(&self, _post: &NewPost) -> Result<Status, NetError> {
        Err(not_here("posting"))
    }
    async fn status(&self, id: &str) -> Result<Option<Status>, NetError> {
        let path = format!("api/v1/statuses/{}", self.own_id(id));
        match self.get(&path).await {
            Ok(body) => super::decode::status(&body, "a status").map(Some),
            Err(NetError::Rejected { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
    async fn tag_timeline(&self, tag: &str, page: &Page) -> Result<Vec<Status>, NetError> {
        let tag: String = url::form_urlencoded::byte_serialize(tag.as_bytes()).collect();
        let body = self
            .get(&format!("api/v1/timelines/tag/{tag}?{}", page_query(page)))
            .await?;
        decode_statuses(&body)
    }
    /// The run's posts are the bot's server's: none has replies here.
    async fn replies(&self, _id: &str) -> Result<Vec<Status>, NetError> {
        Ok(Vec::new())
    }
    async fn account_statuses(&self, _id: &str, _page: &Page) -> Result<Vec<Status>, NetError> {
        Ok(Vec::new())
    }
    async fn hashtag_stream(&self, _tag: &str) -> Result<HashtagStream, NetError> {
        Err(not_here("a stream"))
    }
    async fn user_stream(&self) -> Result<HashtagStream, NetError> {
        Err(not_here("a stream"))
    }
    async fn mentions(&self, _since: Option<&str>) -> Result<Vec<(String, Status)>, NetError> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_share_keeps_any_window_under_a_fifth_of_the_limit() {
        for (limit, want) in [(300, 30), (7500, 750), (3, 1)] {
            let (requests, window) = share_of(limit);
            assert_eq!((requests, window), (want, LIMIT_WINDOW), "limit {limit}");
            // A full bucket plus a window's refill.
            assert!(f64::from(2 * requests) <= (f64::from(limit) * SHARE).max(2.0));
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    fn server() -> WatchedServer {
        let url = url::Url::parse("http://b.example").unwrap();
        WatchedServer::new(&url, Duration::from_secs(5), &Trust::system().unwrap()).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn without_headers_it_takes_a_tenth_of_mastodons_300_at_once_and_as_much_per_window() {
        let server = server();
        assert_eq!(server.budget.available(), 30);
        let start = tokio::time::Instant::now();
        for _ in 0..60 {
            server.budget.acquire().await;
        }
        // 30 at once, 30 more refilled over the window: 60 = 20% of 300.
        assert!(start.elapsed() <= LIMIT_WINDOW, "{:?}", start.elapsed());
        assert!(start.elapsed() >= LIMIT_WINDOW - Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn an_announced_limit_sets_the_share_and_a_spent_one_waits_for_its_reset() {
        let server = server();
        server.observe(&headers(&[("x-ratelimit-limit", "100")]));
        assert_eq!(server.budget.available(), 10, "a tenth of 100");
        let reset = (chrono::Utc::now() + chrono::Duration::seconds(120)).to_rfc3339();
        server.observe(&headers(&[
            ("x-ratelimit-limit", "100"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &reset),
        ]));
        let start = tokio::time::Instant::now();
        server.budget.acquire().await;
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(118) && waited <= Duration::from_secs(120),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_pauses_the_budget_and_is_not_retried_inside_the_read() {
        let server = server();
        let error = server.paced(NetError::RateLimited {
            retry_after: Duration::from_secs(90),
        });
        assert!(
            matches!(error, NetError::Server { status: 429, .. }),
            "{error:?}"
        );
        let start = tokio::time::Instant::now();
        server.budget.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(90));
    }

    #[test]
    fn a_stored_key_is_read_back_as_the_instances_own_id() {
        let url = url::Url::parse("http://localhost:8001").unwrap();
        let server =
            WatchedServer::new(&url, Duration::from_secs(5), &Trust::system().unwrap()).unwrap();
        assert_eq!(server.name(), "localhost:8001");
        assert_eq!(server.own_id("localhost:8001/42"), "42");
        assert_eq!(server.own_id("42"), "42");
    }
}
