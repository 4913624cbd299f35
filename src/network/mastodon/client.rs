//! The account's client for a Mastodon-compatible server: every REST call,
//! posting and media upload goes through one `reqwest::Client`, and every
//! read is requested once and decoded once, leniently (`decode`); streams
//! are tokio-tungstenite's (`stream`). Both use the account's one TLS
//! [`Trust`]. megalodon has no part here (it only serves `oauth`).
//!
//! Every call first takes a request from the account's [`Budget`] and then
//! runs under `timeout`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::HeaderMap;

use super::stream::DEFAULT_IDLE_LIMIT;
use super::{decode, instance, rest};
use crate::network::budget::Budget;
use crate::network::error::retry_after;
use crate::network::{
    Account, HashtagStream, Instance, NetError, NewPost, Page, Social, Status, Token, Trust,
};

/// A Mastodon-compatible server reached over HTTP(S).
pub struct MastodonClient {
    /// The account's one HTTP client: reads, posts and uploads.
    http: reqwest::Client,
    /// The TLS trust of `http`, handed to every stream too.
    trust: Trust,
    /// Always ends with `/`, so relative paths join below it.
    server: url::Url,
    token: Token,
    timeout: Duration,
    stream_idle: Duration,
    budget: Arc<Budget>,
    /// Where streams live, as the instance info says (`urls.streaming_api`);
    /// set by the first successful [`Social::instance`] read, `None` inside
    /// when the server names no usable one (streams then go below `server`).
    streaming: std::sync::OnceLock<Option<url::Url>>,
}

impl std::fmt::Debug for MastodonClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MastodonClient")
            .field("server", &self.server.as_str())
            .field("token", &self.token)
            .field("trust", &self.trust)
            .field("timeout", &self.timeout)
            .field("stream_idle", &self.stream_idle)
            .finish_non_exhaustive()
    }
}

impl MastodonClient {
    /// A client for the account at `server` whose every call ends within
    /// `timeout`, trusting what `trust` trusts (the system's roots, plus
    /// the chat's `ca_file:`).
    pub fn new(
        server: &url::Url,
        token: Token,
        timeout: Duration,
        trust: &Trust,
    ) -> Result<Self, NetError> {
        let mut server = server.clone();
        if !server.path().ends_with('/') {
            server.set_path(&format!("{}/", server.path()));
        }
        let builder =
            reqwest::Client::builder().user_agent(concat!("hashchat/", env!("CARGO_PKG_VERSION")));
        let http = trust.http_client(builder)?;
        Ok(Self {
            http,
            trust: trust.clone(),
            server,
            token,
            timeout,
            stream_idle: DEFAULT_IDLE_LIMIT,
            budget: Arc::new(Budget::default()),
            streaming: std::sync::OnceLock::new(),
        })
    }

    /// Shares one request budget between the clients of one account.
    pub fn with_budget(mut self, budget: Arc<Budget>) -> Self {
        self.budget = budget;
        self
    }

    /// How long a stream may stay silent before it counts as dropped.
    pub fn with_stream_idle_limit(mut self, idle: Duration) -> Self {
        self.stream_idle = idle;
        self
    }

    pub fn budget(&self) -> Arc<Budget> {
        Arc::clone(&self.budget)
    }

    /// Takes a request from the budget, then runs `call` under the timeout.
    async fn call<T>(
        &self,
        call: impl Future<Output = Result<(T, HeaderMap), NetError>>,
    ) -> Result<T, NetError> {
        self.budget.acquire().await;
        let result = match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(NetError::Timeout(self.timeout)),
        };
        match result {
            Ok((value, headers)) => {
                self.observe(&headers);
                Ok(value)
            }
            Err(err) => {
                if let NetError::RateLimited { retry_after } = err {
                    self.budget.pause_for(retry_after);
                }
                Err(err)
            }
        }
    }

    /// One read of `path`: a GET, its body returned for `decode`.
    async fn get(&self, path: &str) -> Result<String, NetError> {
        self.call(async {
            let answer = rest::get(&self.http, &self.server, &self.token, path).await?;
            Ok((answer.body, answer.headers))
        })
        .await
    }

    /// Tells the budget what the server says about the account's limit.
    fn observe(&self, headers: &HeaderMap) {
        let remaining = headers
            .get("x-ratelimit-remaining")
            .and_then(|v| v.to_str().ok()?.trim().parse::<u32>().ok());
        if let Some(remaining) = remaining {
            let reset_in = retry_after(headers, chrono::Utc::now()).unwrap_or_default();
            self.budget.observe_server(remaining, reset_in);
        }
    }

    /// Where streams live: the instance's `urls.streaming_api` once an
    /// instance read has named it (the daemon reads the instance through
    /// the account's shared client before it streams), else the server
    /// itself. Not read here: every chat would pay a request.
    fn streaming_base(&self) -> url::Url {
        match self.streaming.get() {
            Some(Some(advertised)) => advertised.clone(),
            _ => self.server.clone(),
        }
    }

    /// Opens the stream at `url` with the account's trust, within the timeout.
    async fn open_stream(&self, url: url::Url) -> Result<HashtagStream, NetError> {
        let connect = HashtagStream::connect(&url, self.stream_idle, &self.trust);
        match tokio::time::timeout(self.timeout, connect).await {
            Ok(result) => result,
            Err(_) => Err(NetError::Timeout(self.timeout)),
        }
    }
}

fn with_query(path: String, query: &str) -> String {
    if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    }
}

#[async_trait]
impl Social for MastodonClient {
    #[tracing::instrument(skip(self))]
    async fn instance(&self) -> Result<Instance, NetError> {
        let body = self.get("api/v1/instance").await?;
        let (uri, max_characters) = instance::lenient(&body)?;
        let advertised = instance::streaming_api(&body);
        let streaming = instance::streaming_base(advertised.as_deref(), &self.server);
        // Racing first reads learn the same answer; the first one is kept.
        let _ = self.streaming.set(streaming);
        Ok(Instance {
            domain: instance::domain(&uri, &self.server),
            max_characters: max_characters.unwrap_or(instance::DEFAULT_MAX_CHARACTERS),
        })
    }

    #[tracing::instrument(skip(self))]
    async fn me(&self) -> Result<Account, NetError> {
        decode::account(&self.get("api/v1/accounts/verify_credentials").await?)
    }

    #[tracing::instrument(skip(self, post), fields(key = %post.idempotency_key))]
    async fn post(&self, post: &NewPost) -> Result<Status, NetError> {
        self.call(rest::post_status(
            &self.http,
            &self.server,
            &self.token,
            post,
        ))
        .await
    }

    #[tracing::instrument(skip(self))]
    async fn status(&self, id: &str) -> Result<Option<Status>, NetError> {
        match self.get(&format!("api/v1/statuses/{id}")).await {
            Ok(body) => decode::status(&body, &format!("status {id}")).map(Some),
            Err(NetError::Rejected { status: 404, .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    #[tracing::instrument(skip(self))]
    async fn tag_timeline(&self, tag: &str, page: &Page) -> Result<Vec<Status>, NetError> {
        let tag: String =
            url::form_urlencoded::byte_serialize(tag.trim_start_matches('#').as_bytes()).collect();
        let path = with_query(
            format!("api/v1/timelines/tag/{tag}"),
            &rest::page_query(page),
        );
        decode::statuses(&self.get(&path).await?)
    }

    #[tracing::instrument(skip(self))]
    async fn replies(&self, id: &str) -> Result<Vec<Status>, NetError> {
        let body = self.get(&format!("api/v1/statuses/{id}/context")).await?;
        decode::descendants(&body, id)
    }

    #[tracing::instrument(skip(self))]
    async fn account_statuses(
        &self,
        account_id: &str,
        page: &Page,
    ) -> Result<Vec<Status>, NetError> {
        let path = with_query(
            format!("api/v1/accounts/{account_id}/statuses"),
            &rest::page_query(page),
        );
        decode::statuses(&self.get(&path).await?)
    }

    #[tracing::instrument(skip(self, description))]
    async fn upload_media(
        &self,
        path: &std::path::Path,
        description: &str,
    ) -> Result<String, NetError> {
        self.budget.acquire().await;
        let upload = rest::upload_media(&self.http, &self.server, &self.token, path, description);
        // Uploads are larger than other calls: allow them four timeouts.
        match tokio::time::timeout(self.timeout * 4, upload).await {
            Ok(result) => result,
            Err(_) => Err(NetError::Timeout(self.timeout * 4)),
        }
    }

    #[tracing::instrument(skip(self))]
    async fn muted_and_blocked(&self) -> Result<std::collections::HashSet<String>, NetError> {
        let mut ids = std::collections::HashSet::new();
        for path in ["api/v1/mutes?limit=80", "api/v1/blocks?limit=80"] {
            ids.extend(decode::account_ids(&self.get(path).await?)?);
        }
        Ok(ids)
    }

    async fn user_stream(&self) -> Result<HashtagStream, NetError> {
        let url = super::stream::user_stream_url(&self.streaming_base(), self.token.expose())?;
        self.open_stream(url).await
    }

    #[tracing::instrument(skip(self))]
    async fn software(&self) -> Result<Option<crate::network::Software>, NetError> {
        // Two requests: the discovery document, then the one it links.
        self.budget.acquire().await;
        self.call(async {
            let software = super::nodeinfo::fetch(&self.http, &self.server).await?;
            Ok((Some(software), HeaderMap::new()))
        })
        .await
    }

    #[tracing::instrument(skip(self))]
    async fn mentions(&self, since_id: Option<&str>) -> Result<Vec<(String, Status)>, NetError> {
        let query = {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            query
                .append_pair("types[]", "mention")
                .append_pair("limit", "40");
            if let Some(since) = since_id {
                query.append_pair("since_id", since);
            }
            query.finish()
        };
        let body = self.get(&format!("api/v1/notifications?{query}")).await?;
        let mut mentions = decode::mentions(&body)?;
        // snac2 ignores `since_id` here and lists every notification.
        if let Some(since) = since_id {
            mentions.retain(|(id, _)| crate::store::id_order(id, since).is_gt());
        }
        Ok(mentions)
    }

    async fn hashtag_stream(&self, tag: &str) -> Result<HashtagStream, NetError> {
        let url = super::stream::stream_url(&self.streaming_base(), tag, self.token.expose())?;
        self.open_stream(url).await
    }
}
