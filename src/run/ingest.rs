//! Deciding what a status means for a run: whether it belongs to the run
//! and which questions it answers, then recording it. Every source (the
//! stream, the tag timeline, question contexts) goes through here, so a
//! status seen twice is judged and stored the same way.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::answers;
use crate::chats::Hashtag;
use crate::network::Status;
use crate::store::{Recorded, Store, StoredStatus};

/// What a run knows when judging a status.
#[derive(Debug, Clone)]
pub struct RunWindow {
    pub run_id: i64,
    pub hashtag: Hashtag,
    pub question_count: u32,
    pub opens: DateTime<Utc>,
    pub closes: DateTime<Utc>,
    /// The bot's own account id: its posts are never answers.
    pub bot_account_id: String,
    /// The instance domain, for handles of local accounts.
    pub domain: String,
}

/// The bot's posts in this run: status id → question number (None for the
/// intro and closing). A reply to a question post answers that question.
pub type RunPosts = HashMap<String, Option<u32>>;

/// The verdict on one status.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Not part of the run (the bot's own, a boost, out of the window,
    /// neither tagged nor a reply to the run's posts).
    Ignore,
    /// Part of the run; answers these questions (empty: an other post).
    Keep { text: String, answers: Vec<u32> },
}

pub fn judge(window: &RunWindow, posts: &RunPosts, status: &Status) -> Verdict {
    if status.account.id == window.bot_account_id || status.is_boost() {
        return Verdict::Ignore;
    }
    if status.created_at < window.opens || status.created_at > window.closes {
        return Verdict::Ignore;
    }
    let text = answers::html_to_text(&status.content);
    let replied_to = status
        .in_reply_to_id
        .as_ref()
        .and_then(|id| posts.get(id).copied());
    let tagged = answers::carries_hashtag(status, &text, &window.hashtag);
    if !tagged && replied_to.is_none() {
        return Verdict::Ignore;
    }
    let mut found = answers::answered_questions(&text, window.question_count);
    if found.is_empty() {
        // A reply to question N's post without a label answers N.
        if let Some(Some(number)) = replied_to {
            found.push(number);
        }
    }
    Verdict::Keep {
        text,
        answers: found,
    }
}

/// Judges and stores one status; returns what changed, if anything.
pub async fn ingest(
    store: &Store,
    window: &RunWindow,
    posts: &RunPosts,
    status: &Status,
) -> anyhow::Result<Option<Recorded>> {
    let Verdict::Keep { text, answers } = judge(window, posts, status) else {
        return Ok(None);
    };
    let stored = StoredStatus {
        status_id: status.id.clone(),
        account_id: status.account.id.clone(),
        account: status.account.handle(&window.domain),
        display_name: status.account.display_name.clone(),
        url: status.link().to_string(),
        html: status.content.clone(),
        text,
        created_at: status.created_at,
        edited_at: status.edited_at,
        in_reply_to_id: status.in_reply_to_id.clone(),
        visibility: status.visibility.clone(),
    };
    let recorded = store
        .record_status(window.run_id, &stored, &answers)
        .await?;
    match recorded {
        Recorded::New => tracing::info!(
            status_id = %status.id, account = %stored.account, ?answers, "recorded a post"
        ),
        Recorded::Edited => tracing::info!(
            status_id = %status.id, account = %stored.account, ?answers, "recorded an edit"
        ),
        Recorded::Unchanged => {}
    }
    Ok(Some(recorded))
}
