//! Sending one planned post exactly once.
//!
//! The post is marked `sending` in SQLite before the request leaves and
//! carries an `Idempotency-Key` that is stable per (chat, run, post). If
//! hashchat dies between sending and marking it sent, the next start looks
//! for the post among the bot's own statuses, and only then resends with
//! the same key (the server answers a repeated key with the first status).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::Daemon;
use crate::answers::html_to_text;
use crate::chats::{Chat, QuestionImage};
use crate::network::backoff::Backoff;
use crate::network::{NetError, NewPost, Page, Social, Status};
use crate::store::{PostRow, PostState};

#[derive(Debug)]
pub enum Sent {
    Posted(Box<Status>),
    /// Gave up: the reason is stored on the post and logged at error.
    NotPosted(String),
    /// Shutdown came first; the post stays `sending` and is resumed.
    Stopped,
}

/// Finds a post that a previous process sent but did not mark.
pub async fn find_already_sent(
    social: &dyn Social,
    bot_account_id: &str,
    post: &PostRow,
) -> Result<Option<Status>, NetError> {
    let page = Page {
        limit: 40,
        ..Page::default()
    };
    let own = social.account_statuses(bot_account_id, &page).await?;
    let wanted = post.text.trim();
    Ok(own.into_iter().find(|s| {
        s.reblog.is_none()
            && s.created_at >= post.planned_at - chrono::Duration::minutes(1)
            && html_to_text(&s.content).trim() == wanted
    }))
}

/// Uploads a question's image with its alt text. A question goes out on
/// time even when its image cannot: the failure is logged at error.
async fn upload(
    daemon: &Daemon,
    social: &Arc<dyn Social>,
    image: &QuestionImage,
) -> Option<String> {
    let mut backoff = Backoff::new(daemon.tuning.backoff_base, daemon.tuning.backoff_cap);
    let uploaded = crate::network::backoff::retry("upload image", &mut backoff, 3, || {
        social.upload_media(&image.path, &image.alt)
    })
    .await;
    match uploaded {
        Ok(id) => Some(id),
        Err(e) => {
            tracing::error!(path = %image.path.display(), "posting the question without its image: {e}");
            None
        }
    }
}

/// Sends `post`, retrying what can be retried until `give_up_at`.
pub async fn send(
    daemon: &Daemon,
    social: &Arc<dyn Social>,
    chat: &Chat,
    post: &PostRow,
    give_up_at: DateTime<Utc>,
    stop: &CancellationToken,
    image: Option<&QuestionImage>,
) -> anyhow::Result<Sent> {
    let store = &daemon.store;
    let tuning = &daemon.tuning;
    let media_ids = match image {
        Some(image) => upload(daemon, social, image).await.into_iter().collect(),
        None => Vec::new(),
    };
    let request = NewPost {
        text: post.text.clone(),
        visibility: chat.visibility,
        idempotency_key: post.idempotency_key.clone(),
        in_reply_to_id: None,
        language: chat.language.clone(),
        spoiler_text: chat.content_warning.clone(),
        media_ids,
    };
    let mut backoff = Backoff::new(tuning.backoff_base, tuning.backoff_cap);
    for attempt in 1..=tuning.post_attempts {
        store.mark_sending(post.run_id, post.seq).await?;
        let error = match social.post(&request).await {
            Ok(status) => return Ok(Sent::Posted(Box::new(status))),
            Err(e) => e,
        };
        let reason = format!("attempt {attempt}: {error}");
        if let NetError::Unauthorized { .. } = error {
            store
                .mark_post(post.run_id, post.seq, PostState::Failed, &reason)
                .await?;
            return Err(anyhow::Error::new(error).context(
                "the server refused the bot's token: check that it is valid and has the `write` scope",
            ));
        }
        if !error.is_retryable() {
            store
                .mark_post(post.run_id, post.seq, PostState::Failed, &reason)
                .await?;
            return Ok(Sent::NotPosted(reason));
        }
        store
            .mark_post(post.run_id, post.seq, PostState::Sending, &reason)
            .await?;
        let delay = match &error {
            NetError::RateLimited { retry_after } => *retry_after,
            _ => backoff.next_delay(),
        };
        let retry_at = daemon.clock.now() + chrono::Duration::from_std(delay).unwrap_or_default();
        if retry_at > give_up_at {
            break;
        }
        tracing::warn!(seq = post.seq, ?delay, "posting failed ({error}); retrying");
        tokio::select! {
            _ = stop.cancelled() => return Ok(Sent::Stopped),
            _ = tokio::time::sleep(delay) => {}
        }
    }
    let reason = format!(
        "not posted after {} attempts; see the log for each error",
        tuning.post_attempts
    );
    store
        .mark_post(post.run_id, post.seq, PostState::Failed, &reason)
        .await?;
    Ok(Sent::NotPosted(reason))
}
