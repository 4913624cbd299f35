//! The platform seam: what the daemon needs from a social network, behind
//! the [`Social`] trait, so that the run, the listener and the moderator
//! commands never know which network they talk to (and tests can give a
//! fake). One folder per network: [`mastodon`] (and the servers that speak
//! its API) and [`bluesky`]. What every network shares lives here: the
//! trait and its types, the request [`Budget`], [`Backoff`], [`NetError`],
//! the wrapped [`Token`] and the one TLS trust (`tls`).
//! Nothing here knows about chats or runs.

pub mod backoff;
pub mod bluesky;
pub mod budget;
mod error;
pub mod mastodon;
mod status;
mod tls;
mod token;

pub use backoff::{retry, Backoff};
pub use budget::Budget;
pub use error::{retry_after, NetError};
pub use mastodon::nodeinfo::{self, Software};
pub use mastodon::Notification;
pub use mastodon::{oauth, watched};
pub use mastodon::{
    redact, stream_url, user_stream_url, HashtagStream, MastodonClient, StreamEnd, WatchedServer,
    DEFAULT_IDLE_LIMIT, DEFAULT_MAX_CHARACTERS,
};
pub use status::{html_to_text, Account, Status, StreamEvent};
pub use tls::Trust;
pub use token::Token;

use async_trait::async_trait;

/// A post the bot wants to publish.
#[derive(Debug, Clone)]
pub struct NewPost {
    pub text: String,
    pub visibility: crate::chats::Visibility,
    /// Stable per (chat, run, post): a resend after a crash returns the
    /// status created the first time instead of a duplicate.
    pub idempotency_key: String,
    pub in_reply_to_id: Option<String>,
    /// ISO 639 language of the post (`language:` in chats.yaml).
    pub language: Option<String>,
    /// Content warning / spoiler text (`content_warning:`).
    pub spoiler_text: Option<String>,
    /// Uploaded media to attach (see [`Social::upload_media`]).
    pub media_ids: Vec<String>,
}

/// What the instance tells about itself.
#[derive(Debug, Clone)]
pub struct Instance {
    /// The domain the server's own accounts live on (`acct` has none for them).
    pub domain: String,
    pub max_characters: usize,
}

/// Which statuses a timeline read returns: Mastodon's paging parameters.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub min_id: Option<String>,
    pub max_id: Option<String>,
    pub since_id: Option<String>,
    pub limit: u32,
}

/// The server operations the daemon uses. Each call has its own timeout
/// inside the implementation; none blocks the runtime.
#[async_trait]
pub trait Social: Send + Sync {
    async fn instance(&self) -> Result<Instance, NetError>;
    /// The bot's own account (verifies the token).
    async fn me(&self) -> Result<Account, NetError>;
    async fn post(&self, post: &NewPost) -> Result<Status, NetError>;
    /// `Ok(None)` when the status is gone (404).
    async fn status(&self, id: &str) -> Result<Option<Status>, NetError>;
    /// One page of the tag timeline (tag without `#`), newest first.
    async fn tag_timeline(&self, tag: &str, page: &Page) -> Result<Vec<Status>, NetError>;
    /// Replies below a status (the `descendants` of its context).
    async fn replies(&self, id: &str) -> Result<Vec<Status>, NetError>;
    /// The account's own recent statuses, newest first.
    async fn account_statuses(
        &self,
        account_id: &str,
        page: &Page,
    ) -> Result<Vec<Status>, NetError>;
    /// Opens the hashtag stream; events arrive until the connection drops,
    /// then the stream ends (the caller reconnects and reconciles).
    async fn hashtag_stream(&self, tag: &str) -> Result<HashtagStream, NetError>;
    /// Opens the bot's user stream: mentions and direct messages arrive as
    /// [`StreamEvent::Mention`].
    async fn user_stream(&self) -> Result<HashtagStream, NetError>;
    /// Uploads an image with its description (alt text); returns the
    /// media id to attach to a post.
    async fn upload_media(
        &self,
        path: &std::path::Path,
        description: &str,
    ) -> Result<String, NetError> {
        let _ = (path, description);
        Err(NetError::Rejected {
            status: 501,
            message: "this server client cannot upload media".into(),
        })
    }
    /// Ids of the accounts the bot has muted or blocked on its server
    /// (first pages): their posts never count.
    async fn muted_and_blocked(&self) -> Result<std::collections::HashSet<String>, NetError> {
        Ok(Default::default())
    }
    /// The software the server runs, from its nodeinfo; `Ok(None)` when
    /// this client cannot tell.
    async fn software(&self) -> Result<Option<Software>, NetError> {
        Ok(None)
    }
    /// Mentions of the bot newer than `since_id` (a notification id), oldest
    /// first: (notification id, status).
    async fn mentions(&self, since_id: Option<&str>) -> Result<Vec<(String, Status)>, NetError>;
}
