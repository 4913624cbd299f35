//! Platform sessions in the database: the Bluesky client's [`SessionStore`]
//! backed by the store's `platform_sessions` table, so that a restarted
//! daemon (or a second one on the same database) uses the tokens of the
//! first login instead of logging in again; and its Jetstream cursors
//! ([`CursorStore`], in the mention cursors' table), so that a restart
//! resumes reading where the last process stopped. The network layer never
//! sees the store; the store never reads the tokens.

use std::sync::Arc;

use async_trait::async_trait;

use crate::chats::Chat;
use crate::clock::{Clock, SystemClock};
use crate::network::bluesky::{CursorStore, Session, SessionStore};
use crate::store::Store;

/// One account's session row.
pub struct StoreSessions {
    store: Store,
    account: String,
    clock: Arc<dyn Clock>,
}

impl StoreSessions {
    /// The row of `chat`'s account: its platform, server and handle.
    pub fn for_chat(store: Store, chat: &Chat) -> Self {
        let handle = chat.account().bluesky().map_or("", |b| b.handle());
        Self {
            store,
            account: format!("bluesky {} {handle}", chat.account().server()),
            clock: Arc::new(SystemClock),
        }
    }

    /// Stamps `updated_at` from `clock` instead of the system's.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}

#[async_trait]
impl SessionStore for StoreSessions {
    async fn load(&self) -> std::io::Result<Option<Session>> {
        let data = self
            .store
            .platform_session(&self.account)
            .await
            .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
        match data {
            Some(json) => serde_json::from_str(&json)
                .map(Some)
                // Never the data itself in the message: it holds tokens.
                .map_err(|e| {
                    std::io::Error::other(format!("a stored session does not decode: {e}"))
                }),
            None => Ok(None),
        }
    }

    async fn save(&self, session: &Session) -> std::io::Result<()> {
        let json = serde_json::to_string(session).map_err(std::io::Error::other)?;
        self.store
            .save_platform_session(&self.account, &json, self.clock.now())
            .await
            .map_err(|e| std::io::Error::other(format!("{e:#}")))
    }
}

#[async_trait]
impl CursorStore for StoreSessions {
    async fn load_cursor(&self, feed: &str) -> std::io::Result<Option<u64>> {
        let scope = format!("jetstream {} {feed}", self.account);
        let cursor = self
            .store
            .mention_cursor(&scope)
            .await
            .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
        Ok(cursor.and_then(|c| c.parse().ok()))
    }

    async fn save_cursor(&self, feed: &str, time_us: u64) -> std::io::Result<()> {
        let scope = format!("jetstream {} {feed}", self.account);
        self.store
            .set_mention_cursor(&scope, &time_us.to_string())
            .await
            .map_err(|e| std::io::Error::other(format!("{e:#}")))
    }
}
