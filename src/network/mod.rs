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

/// A post the bot wants to publish. `text`, `idempotency_key` and
/// `in_reply_to_id` mean the same on every network; the rest are hints a
/// platform may ignore or emulate (marked so below).
#[derive(Debug, Clone)]
pub struct NewPost {
    pub text: String,
    /// Who may see the post. A Mastodon notion (public, unlisted, private,
    /// direct): a platform without it posts publicly and ignores it.
    pub visibility: crate::chats::Visibility,
    /// Stable per (chat, run, post): a resend after a crash returns the
    /// post created the first time instead of a duplicate. A platform
    /// without such a header must emulate it (a record key derived from
    /// it, or a look at its own recent posts before sending).
    pub idempotency_key: String,
    /// The post this one answers (a question below the intro, a reply to a
    /// moderator), by the id [`Social::post`] returned for it.
    pub in_reply_to_id: Option<String>,
    /// ISO 639 language of the post (`language:` in chats.yaml); a hint.
    pub language: Option<String>,
    /// Content warning / spoiler text (`content_warning:`). Mastodon's:
    /// a platform without it may ignore it or fold it into the text.
    pub spoiler_text: Option<String>,
    /// Uploaded media to attach (see [`Social::upload_media`]).
    pub media_ids: Vec<String>,
}

/// What the server or network tells about itself.
#[derive(Debug, Clone)]
pub struct Instance {
    /// The domain the server's own accounts live on (`acct` has none for
    /// them): the suffix that makes a bare name a full handle.
    pub domain: String,
    /// The longest post, in the platform's own unit (Mastodon: characters,
    /// 500 unless the instance says otherwise; Bluesky: 300 graphemes).
    pub max_characters: usize,
}

/// Which posts a timeline read returns. Mastodon pages by post id
/// (`min_id`, `max_id`, `since_id`, compared with
/// [`crate::store::id_order`]); a platform that pages otherwise (by cursor
/// or time) may emulate them or ignore them and return its newest page.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub min_id: Option<String>,
    pub max_id: Option<String>,
    pub since_id: Option<String>,
    /// At most this many posts; 0: the platform's default.
    pub limit: u32,
}

/// The platform seam: the operations the run, the listener and the
/// moderator commands use, whatever network the account is on. Mastodon
/// ([`MastodonClient`]) and Bluesky (`bluesky`) implement it; a third (X)
/// is planned, so nothing here may assume Mastodon's shapes.
///
/// An implementation must provide:
/// - posting ([`post`](Social::post)) exactly once per idempotency key,
///   returning the post with an id it can be replied to and read back by;
/// - reading a post back ([`status`](Social::status), `None` once deleted),
///   the replies below one ([`replies`](Social::replies)), the posts that
///   carry a hashtag ([`tag_timeline`](Social::tag_timeline)) and the bot's
///   own recent posts ([`account_statuses`](Social::account_statuses)):
///   together they let a run recover whatever a live stream missed;
/// - who the bot is ([`me`](Social::me)) and the network's post length and
///   handle domain ([`instance`](Social::instance));
/// - mentions of the bot ([`mentions`](Social::mentions)): moderator
///   commands and consent arrive this way;
/// - live events ([`hashtag_stream`](Social::hashtag_stream),
///   [`user_stream`](Social::user_stream)) as a [`HashtagStream`] that ends
///   when the connection drops. A network without a push stream may fail
///   these; the run then polls the reads above. One whose stream carries
///   more than the chat's posts is fine: every post is judged by its own
///   tags and text.
///
/// The rest have defaults a platform may keep: media ([`upload_media`](Social::upload_media)),
/// mutes and blocks, and the server's software. Mastodon-only notions are
/// hints a platform may ignore or emulate: visibility and direct messages
/// (a DM is a mention the public cannot see), spoiler text, paging by id
/// ([`Page`]), edits (a platform where posts cannot be edited sends no
/// [`StreamEvent::Edit`]) and the 500-character default.
///
/// Each call has its own timeout inside the implementation and draws from
/// the account's request [`Budget`]; none blocks the runtime. Errors are
/// [`NetError`]s, classified by what the caller should do.
#[async_trait]
pub trait Social: Send + Sync {
    async fn instance(&self) -> Result<Instance, NetError>;
    /// The bot's own account (verifies the credentials).
    async fn me(&self) -> Result<Account, NetError>;
    /// Publishes `post` once: a resend with the same idempotency key
    /// returns the post made the first time.
    async fn post(&self, post: &NewPost) -> Result<Status, NetError>;
    /// `Ok(None)` when the post is gone (404).
    async fn status(&self, id: &str) -> Result<Option<Status>, NetError>;
    /// One page of the posts that carry the hashtag (tag without `#`),
    /// newest first.
    async fn tag_timeline(&self, tag: &str, page: &Page) -> Result<Vec<Status>, NetError>;
    /// Replies below a post, at any depth (Mastodon: the `descendants` of
    /// its context; Bluesky: its thread).
    async fn replies(&self, id: &str) -> Result<Vec<Status>, NetError>;
    /// The account's own recent posts, newest first.
    async fn account_statuses(
        &self,
        account_id: &str,
        page: &Page,
    ) -> Result<Vec<Status>, NetError>;
    /// Opens the live stream of the hashtag's posts; events arrive until the
    /// connection drops, then the stream ends (the caller reconnects and
    /// reconciles from the reads).
    async fn hashtag_stream(&self, tag: &str) -> Result<HashtagStream, NetError>;
    /// Opens the live stream of what concerns the bot: mentions (and, on
    /// Mastodon, direct messages) arrive as [`StreamEvent::Mention`].
    async fn user_stream(&self) -> Result<HashtagStream, NetError>;
    /// Uploads an image with its description (alt text); returns the
    /// media id to attach to a post ([`NewPost::media_ids`]).
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
    /// Ids of the accounts the bot has muted or blocked (first pages):
    /// their posts never count. None by default.
    async fn muted_and_blocked(&self) -> Result<std::collections::HashSet<String>, NetError> {
        Ok(Default::default())
    }
    /// The software the server runs (Fediverse nodeinfo); `Ok(None)` when
    /// this client cannot tell or the question does not apply.
    async fn software(&self) -> Result<Option<Software>, NetError> {
        Ok(None)
    }
    /// Mentions of the bot newer than `since_id` (a cursor this method
    /// returned before), oldest first: (cursor, post).
    async fn mentions(&self, since_id: Option<&str>) -> Result<Vec<(String, Status)>, NetError>;
}
