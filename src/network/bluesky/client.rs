//! The XRPC client of one Bluesky account: one HTTP client, the session
//! (logged in at most once, refreshed on `ExpiredToken`), errors mapped to
//! [`NetError`] and retried through the project's backoff.
//!
//! The session's tokens go to the account's own PDS only: every
//! authenticated call is built from `pds`, and reads from the appview or
//! any other host go through [`BlueskyClient::public_get`], which never
//! carries them.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, RequestBuilder};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use url::Url;

use super::session::{claim_login, release_login, AppPassword, Session, SessionStore};
use crate::network::error::{from_reqwest, from_status, parse_reset, DEFAULT_RETRY_AFTER};
use crate::network::{retry, Backoff, NetError, Trust};

/// The account's PDS when the configuration names none.
pub const DEFAULT_PDS: &str = "https://bsky.social";
/// Public reads (`getPostThread`) when the configuration names no appview.
pub const DEFAULT_APPVIEW: &str = "https://public.api.bsky.app";

/// How long one request may take, and how often a failing one is tried.
const TIMEOUT: Duration = Duration::from_secs(30);
const ATTEMPTS: u32 = 4;

/// Where the account lives and who it is.
#[derive(Debug, Clone)]
pub struct Account {
    /// The account's PDS (`server:`), `https://` or, for a local one, `http://`.
    pub pds: Url,
    /// Public reads (`appview:`).
    pub appview: Url,
    /// The bot's handle (or DID) for `createSession`.
    pub identifier: String,
    pub password: AppPassword,
}

/// One account's client; cheap to share behind an `Arc`.
pub struct BlueskyClient {
    http: reqwest::Client,
    /// What every connection of the account trusts: its HTTP client and
    /// its Jetstream sockets alike.
    trust: Trust,
    account: Account,
    store: Arc<dyn SessionStore>,
    /// The current session; the lock also makes concurrent first calls
    /// wait for one login instead of each logging in.
    session: tokio::sync::Mutex<Option<Session>>,
    backoff: Backoff,
}

impl std::fmt::Debug for BlueskyClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlueskyClient")
            .field("pds", &self.account.pds.as_str())
            .field("identifier", &self.account.identifier)
            .finish_non_exhaustive()
    }
}

/// An XRPC error answer: `{"error": "ExpiredToken", "message": "…"}`.
#[derive(Debug, serde::Deserialize, Default)]
struct XrpcError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    message: String,
}

impl BlueskyClient {
    /// A client trusting the system's roots.
    pub fn new(account: Account, store: Arc<dyn SessionStore>) -> Result<Self, NetError> {
        Self::with_trust(account, store, Trust::system()?)
    }

    /// A client whose every connection trusts `trust` (the system's roots
    /// plus the account's `ca_file:`).
    pub fn with_trust(
        account: Account,
        store: Arc<dyn SessionStore>,
        trust: Trust,
    ) -> Result<Self, NetError> {
        let http = trust.http_client(
            reqwest::Client::builder()
                .user_agent(concat!("hashchat/", env!("CARGO_PKG_VERSION")))
                .timeout(TIMEOUT),
        )?;
        Ok(Self {
            http,
            trust,
            account,
            store,
            session: tokio::sync::Mutex::new(None),
            backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(60)),
        })
    }

    pub fn account(&self) -> &Account {
        &self.account
    }

    /// What the account's connections trust (its Jetstream sockets too).
    pub fn trust(&self) -> &Trust {
        &self.trust
    }

    /// The bot's DID (logs in or loads the stored session on first use).
    pub async fn did(&self) -> Result<String, NetError> {
        Ok(self.session().await?.did)
    }

    /// The current session: the one in memory, else the stored one, else
    /// a login (at most once per process and account).
    pub async fn session(&self) -> Result<Session, NetError> {
        let mut slot = self.session.lock().await;
        if let Some(session) = slot.as_ref() {
            return Ok(session.clone());
        }
        let stored = self.store.load().await.map_err(store_error)?;
        let session = match stored {
            Some(session) => session,
            None => self.login().await?,
        };
        *slot = Some(session.clone());
        Ok(session)
    }

    #[tracing::instrument(skip(self), fields(pds = %self.account.pds, handle = %self.account.identifier))]
    async fn login(&self) -> Result<Session, NetError> {
        if !claim_login(self.account.pds.as_str(), &self.account.identifier) {
            return Err(NetError::Unauthorized {
                status: 401,
                message: "this process already logged this account in once and will not again \
                          (Bluesky allows 30 logins per 5 minutes and 300 a day)"
                    .into(),
            });
        }
        tracing::info!("logging in to Bluesky (createSession)");
        let body = json!({
            "identifier": self.account.identifier,
            "password": self.account.password.expose(),
        });
        let request = self
            .http
            .post(self.pds_url("com.atproto.server.createSession")?)
            .json(&body);
        // Not retried here: the caller's next call tries again, and only a
        // login the server never saw gives its claim back.
        let session: Session = match send(request).await {
            Ok(body) => decode(body)?,
            Err(err) => {
                if matches!(err, NetError::Transport(_) | NetError::Timeout(_)) {
                    release_login(self.account.pds.as_str(), &self.account.identifier);
                }
                return Err(err);
            }
        };
        self.store.save(&session).await.map_err(store_error)?;
        Ok(session)
    }

    /// Renews the tokens now (e.g. to check stored ones at start-up)
    /// instead of on the first `ExpiredToken`.
    pub async fn renew_now(&self) -> Result<(), NetError> {
        let session = self.session().await?;
        self.renew(&session).await.map(drop)
    }

    /// Trades the refresh token for new tokens: a POST with no body at all
    /// (the PDS rejects `{}`); logs in again only when the refresh token
    /// itself is no longer accepted.
    async fn renew(&self, stale: &Session) -> Result<Session, NetError> {
        let mut slot = self.session.lock().await;
        if let Some(current) = slot.as_ref().filter(|s| s.access() != stale.access()) {
            // Another call renewed it while this one waited.
            return Ok(current.clone());
        }
        let request = self
            .http
            .post(self.pds_url("com.atproto.server.refreshSession")?)
            .bearer_auth(stale.refresh());
        let session = match send(request).await {
            Ok(answer) => decode::<Session>(answer)?,
            Err(err) if token_refused(&err) => self.login().await?,
            Err(err) => return Err(err),
        };
        self.store.save(&session).await.map_err(store_error)?;
        *slot = Some(session.clone());
        Ok(session)
    }

    /// An authenticated call to the account's PDS, retried on throttling
    /// and transient failures, renewed once on an expired token.
    pub(super) async fn pds_call<T: DeserializeOwned>(
        &self,
        method: Method,
        nsid: &str,
        query: &[(&str, &str)],
        body: Option<Body>,
    ) -> Result<T, NetError> {
        let url = self.pds_url(nsid)?;
        let mut backoff = self.backoff.clone();
        retry(nsid, &mut backoff, ATTEMPTS, || async {
            let session = self.session().await?;
            let build = |session: &Session| {
                let request = self
                    .http
                    .request(method.clone(), url.clone())
                    .query(query)
                    .bearer_auth(session.access());
                match &body {
                    Some(Body::Json(json)) => request.json(json),
                    Some(Body::Bytes { mime, bytes }) => request
                        .header(reqwest::header::CONTENT_TYPE, mime.as_str())
                        .body(bytes.clone()),
                    None => request,
                }
            };
            match send(build(&session)).await {
                Err(err) if token_expired(&err) => {
                    let renewed = self.renew(&session).await?;
                    decode(send(build(&renewed)).await?)
                }
                answer => decode(answer?),
            }
        })
        .await
    }

    /// An unauthenticated GET to `base` (the appview, or the PDS for public
    /// reads): no token is ever attached here.
    pub(super) async fn public_get<T: DeserializeOwned>(
        &self,
        base: &Url,
        nsid: &str,
        query: &[(&str, &str)],
    ) -> Result<T, NetError> {
        let url = xrpc_url(base, nsid)?;
        let mut backoff = self.backoff.clone();
        retry(nsid, &mut backoff, ATTEMPTS, || async {
            decode(send(self.http.get(url.clone()).query(query)).await?)
        })
        .await
    }

    fn pds_url(&self, nsid: &str) -> Result<Url, NetError> {
        xrpc_url(&self.account.pds, nsid)
    }
}

/// A request body: JSON, or raw bytes for `uploadBlob`.
pub(super) enum Body {
    Json(Value),
    Bytes { mime: String, bytes: Vec<u8> },
}

/// `<base>/xrpc/<nsid>`, keeping a path prefix the base may have.
pub(super) fn xrpc_url(base: &Url, nsid: &str) -> Result<Url, NetError> {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    base.join(&format!("xrpc/{nsid}"))
        .map_err(|e| NetError::Transport(format!("bad server URL {base}: {e}")))
}

/// Sends and classifies: the body of a success, else a [`NetError`].
async fn send(request: RequestBuilder) -> Result<String, NetError> {
    let answer = request.send().await.map_err(from_reqwest)?;
    let status = answer.status().as_u16();
    let headers = answer.headers().clone();
    let body = answer.text().await.map_err(from_reqwest)?;
    if (200..300).contains(&status) {
        return Ok(body);
    }
    Err(classify(status, &headers, &body))
}

/// Like Mastodon's errors, with Bluesky's own: the rate-limit reset is
/// `ratelimit-reset` (epoch seconds), and the reason is `error: message`.
fn classify(status: u16, headers: &reqwest::header::HeaderMap, body: &str) -> NetError {
    let xrpc: XrpcError = serde_json::from_str(body).unwrap_or_default();
    if status == 429 {
        let now = chrono::Utc::now();
        let reset = headers
            .get("ratelimit-reset")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_reset(v.trim()))
            .map(|at| (at - now).to_std().unwrap_or(Duration::ZERO));
        if let Some(retry_after) = reset {
            return NetError::RateLimited { retry_after };
        }
    }
    let message = match (xrpc.error.as_str(), xrpc.message.as_str()) {
        ("", "") => body.chars().take(200).collect(),
        (error, "") => error.to_string(),
        (error, message) => format!("{error}: {message}"),
    };
    let fallback = from_status(status, headers, "");
    match fallback {
        NetError::Unauthorized { status, .. } => NetError::Unauthorized { status, message },
        NetError::Rejected { status, .. } => NetError::Rejected { status, message },
        NetError::Server { status, .. } => NetError::Server { status, message },
        NetError::RateLimited { retry_after } if retry_after.is_zero() => NetError::RateLimited {
            retry_after: DEFAULT_RETRY_AFTER,
        },
        other => other,
    }
}

fn decode<T: DeserializeOwned>(body: String) -> Result<T, NetError> {
    // An empty success (deleteRecord on some servers) reads as `{}`.
    let body = if body.trim().is_empty() { "{}" } else { &body };
    serde_json::from_str(body).map_err(|e| NetError::Decode(e.to_string()))
}

/// The access token has expired: renew it and send again.
fn token_expired(err: &NetError) -> bool {
    matches!(err, NetError::Rejected { message, .. } | NetError::Unauthorized { message, .. }
        if message.starts_with("ExpiredToken"))
}

/// The refresh token is no longer accepted: only a new login helps.
fn token_refused(err: &NetError) -> bool {
    matches!(err, NetError::Rejected { message, .. } | NetError::Unauthorized { message, .. }
        if message.starts_with("ExpiredToken") || message.starts_with("InvalidToken"))
}

fn store_error(e: std::io::Error) -> NetError {
    NetError::Transport(format!("the session store failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn a_429_waits_until_blueskys_ratelimit_reset() {
        let in_90s = (chrono::Utc::now().timestamp() + 90).to_string();
        let mut headers = HeaderMap::new();
        headers.insert("ratelimit-reset", HeaderValue::from_str(&in_90s).unwrap());
        let body = r#"{"error":"RateLimitExceeded","message":"Rate Limit Exceeded"}"#;
        match classify(429, &headers, body) {
            NetError::RateLimited { retry_after } => {
                assert!(
                    (85..=90).contains(&retry_after.as_secs()),
                    "{retry_after:?}"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn xrpc_errors_keep_their_name_so_an_expired_token_is_recognised() {
        let body = r#"{"error":"ExpiredToken","message":"Token has expired"}"#;
        let err = classify(400, &HeaderMap::new(), body);
        assert!(token_expired(&err), "{err:?}");
        let other = classify(400, &HeaderMap::new(), r#"{"error":"InvalidRequest"}"#);
        assert!(!token_expired(&other));
    }

    #[test]
    fn xrpc_urls_keep_a_path_prefix_and_accept_plain_http() {
        let base = Url::parse("http://127.0.0.1:2583").unwrap();
        assert_eq!(
            xrpc_url(&base, "com.atproto.repo.getRecord")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:2583/xrpc/com.atproto.repo.getRecord"
        );
        let prefixed = Url::parse("https://example.test/pds").unwrap();
        assert_eq!(
            xrpc_url(&prefixed, "a.b.c").unwrap().as_str(),
            "https://example.test/pds/xrpc/a.b.c"
        );
    }
}
