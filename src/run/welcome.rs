//! `welcome_newcomers: true`: one short public reply to a first-time
//! participant's first answer, at most once per person per chat, ever.
//! Off by default: unasked replies annoy people on the Fediverse.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::Mutex;

use super::ingest::RunWindow;
use crate::chats::Visibility;
use crate::network::{NewPost, Social};
use crate::store::Store;

pub struct Welcomer {
    pub chat_id: String,
    pub planned_start: DateTime<Utc>,
    /// Accounts known not to need a welcome (seen before, or welcomed).
    known: Mutex<Option<HashSet<String>>>,
}

impl Welcomer {
    pub fn new(chat_id: String, planned_start: DateTime<Utc>) -> Self {
        Self {
            chat_id,
            planned_start,
            known: Mutex::new(None),
        }
    }

    /// Welcomes `account` (a full handle), whose status `status_id` the
    /// run has just recorded as new and answering a question, if it is
    /// their first answer in this chat; failures are logged, never fatal.
    pub async fn greet(
        &self,
        store: &Store,
        social: &Arc<dyn Social>,
        now: DateTime<Utc>,
        window: &RunWindow,
        status_id: &str,
        account: &str,
    ) {
        if let Err(e) = self
            .welcome(store, social, now, window, status_id, account)
            .await
        {
            tracing::warn!(%account, "could not welcome a newcomer: {e:#}");
        }
    }

    async fn welcome(
        &self,
        store: &Store,
        social: &Arc<dyn Social>,
        now: DateTime<Utc>,
        window: &RunWindow,
        status_id: &str,
        handle: &str,
    ) -> anyhow::Result<()> {
        let account = handle.to_lowercase();
        let account = account.as_str();
        let mut known = self.known.lock().await;
        let known = match known.as_mut() {
            Some(known) => known,
            None => known.insert(
                store
                    .accounts_seen_before(&self.chat_id, self.planned_start)
                    .await?
                    .into_iter()
                    .map(|a| a.to_lowercase())
                    .collect(),
            ),
        };
        if !known.insert(account.to_string()) {
            return Ok(());
        }
        if !store
            .record_welcome(&self.chat_id, account, status_id, now)
            .await?
        {
            return Ok(());
        }
        // Local accounts are mentioned as the server shows them, `@user`.
        let local = format!("@{}", window.domain);
        let mention = handle.strip_suffix(&local).unwrap_or(handle);
        let text = format!(
            "@{mention} Welcome to {}, and thanks for joining in!",
            window.hashtag
        );
        let post = NewPost {
            text,
            visibility: Visibility::Public,
            idempotency_key: format!("hashchat:welcome:{}:{account}", self.chat_id),
            in_reply_to_id: Some(status_id.to_string()),
            language: None,
            spoiler_text: None,
            media_ids: Vec::new(),
        };
        social.post(&post).await?;
        tracing::info!(%account, "welcomed a first-time participant");
        Ok(())
    }
}
