//! `welcome_newcomers: true`: one short public reply to a first-time
//! participant's first answer, at most once per person per chat, ever.
//! Off by default: unasked replies annoy people on the Fediverse.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::Mutex;

use super::ingest::{judge, RunPosts, RunWindow, Verdict};
use crate::chats::Visibility;
use crate::clock::SharedClock;
use crate::network::{NewPost, Social, Status};
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

    /// Welcomes the author of `status` if it is their first answer in
    /// this chat; failures are logged, never fatal.
    pub async fn consider(
        &self,
        store: &Store,
        social: &Arc<dyn Social>,
        clock: &SharedClock,
        window: &RunWindow,
        posts: &RunPosts,
        status: &Status,
    ) {
        let Verdict::Keep { answers, .. } = judge(window, posts, status) else {
            return;
        };
        if answers.is_empty() {
            return;
        }
        let account = status.account.handle(&window.domain).to_lowercase();
        if let Err(e) = self
            .welcome(store, social, clock.now(), window, status, &account)
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
        status: &Status,
        account: &str,
    ) -> anyhow::Result<()> {
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
            .record_welcome(&self.chat_id, account, &status.id, now)
            .await?
        {
            return Ok(());
        }
        let text = format!(
            "@{} Welcome to {}, and thanks for joining in!",
            status.account.acct, window.hashtag
        );
        let post = NewPost {
            text,
            visibility: Visibility::Public,
            idempotency_key: format!("hashchat:welcome:{}:{account}", self.chat_id),
            in_reply_to_id: Some(status.id.clone()),
            language: None,
            spoiler_text: None,
            media_ids: Vec::new(),
        };
        social.post(&post).await?;
        tracing::info!(%account, "welcomed a first-time participant");
        Ok(())
    }
}
