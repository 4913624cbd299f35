//! The real server client: megalodon for REST reads, our own request for
//! posting (to send `Idempotency-Key`), tokio-tungstenite for streaming.
//!
//! Every call first takes a request from the account's [`Budget`] and then
//! runs under `timeout` (megalodon sets none). When megalodon cannot decode an
//! answer (its entities require fields some servers omit, and one odd status
//! fails a whole page), the same path is read once more with a plain GET and
//! decoded leniently, status by status: a strict client must not make the bot
//! lose answers.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use megalodon::megalodon::{GetAccountStatusesInputOptions, GetTagTimelineInputOptions};
use megalodon::Megalodon;
use reqwest::header::HeaderMap;

use super::budget::Budget;
use super::error::{from_megalodon, retry_after};
use super::status::from_megalodon as convert;
use super::stream::DEFAULT_IDLE_LIMIT;
use super::{
    rest, Account, HashtagStream, Instance, NetError, NewPost, Page, Social, Status, Token,
};

/// A Mastodon-compatible server reached over HTTP(S).
pub struct MastodonClient {
    api: Box<dyn Megalodon + Send + Sync>,
    http: reqwest::Client,
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
            .field("timeout", &self.timeout)
            .field("stream_idle", &self.stream_idle)
            .finish_non_exhaustive()
    }
}

impl MastodonClient {
    /// `platform` chooses megalodon's SNS flavour; `timeout` bounds every call.
    pub fn new(
        server: &url::Url,
        platform: crate::chats::Platform,
        token: Token,
        timeout: std::time::Duration,
    ) -> Result<Self, NetError> {
        let mut server = server.clone();
        if !server.path().ends_with('/') {
            server.set_path(&format!("{}/", server.path()));
        }
        // megalodon appends "/api/…" to the base URL itself.
        let base = server.as_str().trim_end_matches('/').to_owned();
        let api = megalodon::generator(sns(platform), base, Some(token.expose().to_owned()), None)
            .map_err(from_megalodon)?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("hashchat/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NetError::Transport(format!("building the HTTP client: {e}")))?;
        Ok(Self {
            api,
            http,
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

    /// One megalodon read, with its headers kept for the budget.
    async fn read<T>(
        &self,
        call: impl Future<Output = Result<megalodon::response::Response<T>, megalodon::error::Error>>,
    ) -> Result<T, NetError> {
        self.call(async {
            let response = call.await.map_err(from_megalodon)?;
            Ok((response.json, response.header))
        })
        .await
    }

    /// The lenient read of `path`: a plain GET, body returned undecoded.
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
    /// itself, as before. Not read here: every chat would pay a request.
    fn streaming_base(&self) -> url::Url {
        match self.streaming.get() {
            Some(Some(advertised)) => advertised.clone(),
            _ => self.server.clone(),
        }
    }

    /// A list of statuses from megalodon, or leniently from `path` when
    /// megalodon cannot decode it.
    async fn statuses(
        &self,
        megalodon_read: Result<Vec<megalodon::entities::Status>, NetError>,
        path: &str,
    ) -> Result<Vec<Status>, NetError> {
        match megalodon_read {
            Ok(list) => list.iter().map(convert).collect(),
            Err(NetError::Decode(why)) => {
                tracing::debug!(path, %why, "megalodon could not decode; reading leniently");
                rest::decode_statuses(&self.get(path).await?)
            }
            Err(err) => Err(err),
        }
    }
}

pub(super) fn sns(platform: crate::chats::Platform) -> megalodon::SNS {
    use crate::chats::Platform as P;
    match platform {
        P::Mastodon => megalodon::SNS::Mastodon,
        P::Pleroma => megalodon::SNS::Pleroma,
        P::Friendica => megalodon::SNS::Friendica,
        P::Firefish => megalodon::SNS::Firefish,
        P::Gotosocial => megalodon::SNS::Gotosocial,
        // Never built for Bluesky (see `run::daemon::RealConnector`).
        P::Bluesky => megalodon::SNS::Mastodon,
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
        let read = self.read(self.api.get_instance()).await;
        let (uri, max_characters, streaming) = match read {
            Ok(instance) => (
                instance.uri,
                Some(instance.configuration.statuses.max_characters as usize),
                instance.urls.map(|urls| urls.streaming_api),
            ),
            Err(NetError::Decode(_)) => {
                let body = self.get("api/v1/instance").await?;
                let (uri, max) = super::instance::lenient(&body)?;
                (uri, max, super::instance::streaming_api(&body))
            }
            Err(err) => return Err(err),
        };
        let streaming = super::instance::streaming_base(streaming.as_deref(), &self.server);
        // Racing first reads learn the same answer; the first one is kept.
        let _ = self.streaming.set(streaming);
        Ok(Instance {
            domain: super::instance::domain(&uri, &self.server),
            max_characters: max_characters.unwrap_or(super::instance::DEFAULT_MAX_CHARACTERS),
        })
    }

    #[tracing::instrument(skip(self))]
    async fn me(&self) -> Result<Account, NetError> {
        match self.read(self.api.verify_account_credentials()).await {
            Ok(account) => convert(&account),
            Err(NetError::Decode(_)) => {
                let body = self.get("api/v1/accounts/verify_credentials").await?;
                serde_json::from_str(&body)
                    .map_err(|e| NetError::Decode(format!("the bot's account: {e}")))
            }
            Err(err) => Err(err),
        }
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
        let read = match self.read(self.api.get_status(id.to_owned())).await {
            Ok(status) => convert(&status),
            Err(NetError::Decode(_)) => {
                self.get(&format!("api/v1/statuses/{id}"))
                    .await
                    .and_then(|body| {
                        Status::from_json(&body)
                            .map_err(|e| NetError::Decode(format!("status {id}: {e}")))
                    })
            }
            Err(err) => Err(err),
        };
        match read {
            Ok(status) => Ok(Some(status)),
            Err(NetError::Rejected { status: 404, .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    #[tracing::instrument(skip(self))]
    async fn tag_timeline(&self, tag: &str, page: &Page) -> Result<Vec<Status>, NetError> {
        let tag = tag.trim_start_matches('#');
        let options = GetTagTimelineInputOptions {
            limit: (page.limit > 0).then_some(page.limit),
            max_id: page.max_id.clone(),
            since_id: page.since_id.clone(),
            min_id: page.min_id.clone(),
            ..Default::default()
        };
        let read = self
            .read(self.api.get_tag_timeline(tag.to_owned(), Some(&options)))
            .await;
        let path = with_query(
            format!("api/v1/timelines/tag/{tag}"),
            &rest::page_query(page),
        );
        self.statuses(read, &path).await
    }

    #[tracing::instrument(skip(self))]
    async fn replies(&self, id: &str) -> Result<Vec<Status>, NetError> {
        match self
            .read(self.api.get_status_context(id.to_owned(), None))
            .await
        {
            Ok(context) => context.descendants.iter().map(convert).collect(),
            Err(NetError::Decode(_)) => {
                let body = self.get(&format!("api/v1/statuses/{id}/context")).await?;
                let context: serde_json::Value = serde_json::from_str(&body)
                    .map_err(|e| NetError::Decode(format!("context of {id}: {e}")))?;
                let descendants = context.get("descendants").cloned().unwrap_or_default();
                rest::decode_statuses(&descendants.to_string())
            }
            Err(err) => Err(err),
        }
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
        // megalodon's options have no `min_id`: read that page ourselves.
        if page.min_id.is_some() {
            return rest::decode_statuses(&self.get(&path).await?);
        }
        let options = GetAccountStatusesInputOptions {
            limit: (page.limit > 0).then_some(page.limit),
            max_id: page.max_id.clone(),
            since_id: page.since_id.clone(),
            ..Default::default()
        };
        let read = self
            .read(
                self.api
                    .get_account_statuses(account_id.to_owned(), Some(&options)),
            )
            .await;
        self.statuses(read, &path).await
    }

    #[tracing::instrument(skip(self))]
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
            let body = self.get(path).await?;
            let accounts: Vec<serde_json::Value> = serde_json::from_str(&body)
                .map_err(|e| NetError::Decode(format!("an account list: {e}")))?;
            ids.extend(
                accounts
                    .iter()
                    .filter_map(|a| a.get("id")?.as_str().map(String::from)),
            );
        }
        Ok(ids)
    }

    async fn user_stream(&self) -> Result<HashtagStream, NetError> {
        let url = super::user_stream_url(&self.streaming_base(), self.token.expose())?;
        let connect = HashtagStream::connect(&url, self.stream_idle);
        match tokio::time::timeout(self.timeout, connect).await {
            Ok(result) => result,
            Err(_) => Err(NetError::Timeout(self.timeout)),
        }
    }

    #[tracing::instrument(skip(self))]
    async fn software(&self) -> Result<Option<super::Software>, NetError> {
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
        let mut mentions = rest::decode_mentions(&body)?;
        // snac2 ignores `since_id` here and lists every notification.
        if let Some(since) = since_id {
            mentions.retain(|(id, _)| crate::store::id_order(id, since).is_gt());
        }
        Ok(mentions)
    }

    async fn hashtag_stream(&self, tag: &str) -> Result<HashtagStream, NetError> {
        let url = super::stream_url(&self.streaming_base(), tag, self.token.expose())?;
        let connect = HashtagStream::connect(&url, self.stream_idle);
        match tokio::time::timeout(self.timeout, connect).await {
            Ok(result) => result,
            Err(_) => Err(NetError::Timeout(self.timeout)),
        }
    }
}
