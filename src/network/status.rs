//! Posts as hashchat sees them, whatever the network: the few fields it
//! needs. Their serde shape is Mastodon's JSON (REST or streaming
//! payloads), decoded leniently so that an odd or hostile status never
//! stops the listener; another network builds them from its own records.

use chrono::{DateTime, Utc};
use serde::Deserialize;

mod html;
pub use html::html_to_text;

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Account {
    pub id: String,
    /// `user` for the server's own accounts, `user@domain` for remote ones.
    pub acct: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub bot: bool,
}

impl Account {
    /// The full handle `user@domain`, using `local_domain` for local users.
    pub fn handle(&self, local_domain: &str) -> String {
        if self.acct.contains('@') {
            self.acct.clone()
        } else {
            format!("{}@{}", self.acct, local_domain)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Tag {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Status {
    pub id: String,
    #[serde(default)]
    pub uri: String,
    #[serde(default)]
    pub url: Option<String>,
    pub account: Account,
    #[serde(default)]
    pub content: String,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub edited_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub in_reply_to_id: Option<String>,
    #[serde(default)]
    pub visibility: String,
    #[serde(default)]
    pub reblog: Option<Box<serde_json::Value>>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Favourites and boosts when it was read: a recap marks the answers
    /// with the most, as read at the end of collection.
    #[serde(default)]
    pub favourites_count: u64,
    #[serde(default)]
    pub reblogs_count: u64,
}

impl Status {
    /// Decodes one status, REST or streaming; the error names what is wrong.
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    pub fn is_boost(&self) -> bool {
        self.reblog.is_some()
    }

    /// The plain text of `content`, as a reader sees it.
    pub fn text(&self) -> String {
        html_to_text(&self.content)
    }

    /// The link people open: `url`, else `uri`.
    pub fn link(&self) -> &str {
        self.url.as_deref().unwrap_or(&self.uri)
    }
}

/// One event from a streaming connection.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    Update(Status),
    /// An edit (`status.update`, or `status_update` on some servers).
    Edit(Status),
    Delete(String),
    /// A post that mentions the bot (user stream `notification` of type
    /// mention); direct messages arrive this way too.
    Mention(Status),
    /// A frame that could not be decoded; logged and skipped by the caller.
    Undecodable {
        event: String,
        reason: String,
    },
}
