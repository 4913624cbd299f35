//! Sending one post exactly once, with retries (`send`).
//!
//! The post is marked `sending` in SQLite before the request leaves and
//! carries an `Idempotency-Key` that is stable per (chat, run, post). If
//! hashchat dies between sending and marking it sent, the next start looks
//! for the post among the bot's own statuses, and only then resends with
//! the same key (the server answers a repeated key with the first status).
//! Not every server keeps the key (snac2 ignores it), so within one process
//! too, a post whose outcome is unknown (a timeout, a cut connection) is
//! looked for among the bot's own statuses before it is sent again. It
//! writes only the post's own state; the timeline records what was sent.
//!
//! With replicas (`run::lease`), each attempt first claims the post under
//! the chat's lease, fenced: a replica that lost the chat (frozen past its
//! TTL, say) is refused and sends nothing. A post an earlier holder
//! claimed may have left with it: it is looked for before it is sent.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::lookup::look_for_sent;
use crate::chats::{Chat, Platform, QuestionImage};
use crate::network::backoff::Backoff;
use crate::network::Account;
use crate::network::{NetError, NewPost, Social, Status};
use crate::run::daemon::{Daemon, Tuning};
use crate::run::lease::Claimed;
use crate::schedule::PostKind;
use crate::store::{PostRow, PostState};

#[derive(Debug)]
pub enum Sent {
    Posted(Box<Status>),
    /// Gave up: the reason is stored on the post and logged at error.
    NotPosted(String),
    /// Shutdown came first, or this replica lost the chat's lease; the
    /// post stays as it was and is resumed by the next holder.
    Stopped,
}

/// Whether the post may have been created although no answer said so: the
/// request may have reached the server (no answer in time, a connection
/// cut after sending), the answer came but could not be read, or a proxy
/// in front of the server lost its answer (502, and 504: the proxy gave up
/// waiting). Any other HTTP error answer (4xx, 5xx, 429) comes from the
/// server itself and says the post was not created.
fn outcome_unknown(error: &NetError) -> bool {
    matches!(
        error,
        NetError::Timeout(_)
            | NetError::Transport(_)
            | NetError::Decode(_)
            | NetError::Server {
                status: 502 | 504,
                ..
            }
    )
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

/// Sends `post` as `me`, retrying what can be retried until `give_up_at`
/// or shutdown. After an attempt whose outcome is unknown, the post is
/// looked for among the bot's own statuses before it is sent again (or
/// given up on): found, it counts as posted.
pub async fn send(
    daemon: &Daemon,
    social: &Arc<dyn Social>,
    me: &Account,
    chat: &Chat,
    post: &PostRow,
    give_up_at: DateTime<Utc>,
    image: Option<&QuestionImage>,
) -> anyhow::Result<Sent> {
    let store = &daemon.store;
    let request = new_post(daemon, social, chat, post, image).await;
    let mut retries = Retries::new(&daemon.tuning);
    for attempt in 1.. {
        // Right before the request, every attempt: the lease may have been
        // lost while the last one waited.
        match daemon
            .replicas
            .claim(post.run_id, post.seq, daemon.clock.now())
            .await?
        {
            Claimed::Mine => {}
            Claimed::Refused => return Ok(Sent::Stopped),
            Claimed::Earlier if attempt == 1 => {
                if let Some(found) = look_for_sent(daemon, social.as_ref(), &me.id, post).await? {
                    tracing::info!(seq = post.seq, status_id = %found.id, "a replica that held the chat before sent this post; not posting it again");
                    return Ok(Sent::Posted(Box::new(found)));
                }
            }
            Claimed::Earlier => {}
        }
        store.mark_sending(post.run_id, post.seq).await?;
        let error = match social.post(&request).await {
            Ok(status) => return Ok(Sent::Posted(Box::new(status))),
            Err(e) => e,
        };
        let reason = format!("attempt {attempt}: {error}");
        if let NetError::Unauthorized { .. } = error {
            give_up(store, post, reason).await?;
            return Err(token_refused(error));
        }
        if !error.is_retryable() {
            return give_up(store, post, reason).await;
        }
        store
            .mark_post(post.run_id, post.seq, PostState::Sending, &reason)
            .await?;
        let (delay, giving_up) = retries.after(&error, daemon.clock.now(), give_up_at);
        if !giving_up {
            tracing::warn!(seq = post.seq, ?delay, "posting failed ({error}); retrying");
            tokio::select! {
                _ = daemon.shutdown.cancelled() => return Ok(Sent::Stopped),
                _ = tokio::time::sleep(delay) => {}
            }
        }
        // The key alone cannot be trusted to prevent a second post: snac2
        // ignores it, Mastodon forgets it after an hour. Looking after the
        // wait gives a server still handling the request time to finish.
        if outcome_unknown(&error) {
            if let Some(sent) =
                look_before_resending(daemon, social, me, post, &error, reason).await?
            {
                return Ok(sent);
            }
        }
        if giving_up {
            break;
        }
    }
    let reason = format!(
        "not posted after {} attempts; see the log for each error",
        daemon.tuning.post_attempts
    );
    give_up(store, post, reason).await
}

/// The request for `post`, with the question's image uploaded first.
async fn new_post(
    daemon: &Daemon,
    social: &Arc<dyn Social>,
    chat: &Chat,
    post: &PostRow,
    image: Option<&QuestionImage>,
) -> NewPost {
    let media_ids = match image {
        Some(image) => upload(daemon, social, image).await.into_iter().collect(),
        None => Vec::new(),
    };
    let in_reply_to_id = match chat.account().platform() {
        Platform::Bluesky => thread_parent(daemon, post).await,
        _ => None,
    };
    NewPost {
        text: post.text.clone(),
        visibility: chat.account().visibility(),
        idempotency_key: post.idempotency_key.clone(),
        in_reply_to_id,
        language: chat.content().language().map(str::to_string),
        spoiler_text: chat.content().content_warning().map(str::to_string),
        media_ids,
    }
}

/// On Bluesky a run is one thread: each question and the closing answer
/// the run's post before it (the intro's thread root follows from it), so
/// that readers find the chat in one place. `None` for the intro, for
/// reminders, and when nothing before it was posted.
async fn thread_parent(daemon: &Daemon, post: &PostRow) -> Option<String> {
    if matches!(post.kind, PostKind::Intro | PostKind::Reminder) {
        return None;
    }
    let posts = match daemon.store.posts(post.run_id).await {
        Ok(posts) => posts,
        Err(e) => {
            tracing::warn!(seq = post.seq, "posting outside the thread: {e:#}");
            return None;
        }
    };
    posts
        .into_iter()
        .filter(|p| p.seq < post.seq && p.kind != PostKind::Reminder)
        .filter_map(|p| p.status_id.map(|id| (p.seq, id)))
        .max_by_key(|(seq, _)| *seq)
        .map(|(_, id)| id)
}

/// How far the tries of one post have gone, and how long to wait before
/// the next. A throttled answer (429, or 503 with `Retry-After`) is the
/// server pacing us: it does not use up the attempts, though as many in a
/// row end the tries too (as in `network::retry`).
struct Retries {
    backoff: Backoff,
    attempts: u32,
    failed: u32,
    throttled: u32,
}

impl Retries {
    fn new(tuning: &Tuning) -> Self {
        Self {
            backoff: Backoff::new(tuning.backoff_base, tuning.backoff_cap),
            attempts: tuning.post_attempts,
            failed: 0,
            throttled: 0,
        }
    }

    /// The wait before trying again after `error` at `now`, and whether
    /// to give up instead: out of tries, or the retry would be too late.
    fn after(
        &mut self,
        error: &NetError,
        now: DateTime<Utc>,
        give_up_at: DateTime<Utc>,
    ) -> (std::time::Duration, bool) {
        let delay = self.delay_after(error);
        let retry_at = now + chrono::Duration::from_std(delay).unwrap_or_default();
        (delay, self.exhausted() || retry_at > give_up_at)
    }

    fn delay_after(&mut self, error: &NetError) -> std::time::Duration {
        match error {
            NetError::RateLimited { retry_after } => {
                self.throttled += 1;
                *retry_after
            }
            _ => {
                (self.failed, self.throttled) = (self.failed + 1, 0);
                self.backoff.next_delay()
            }
        }
    }

    fn exhausted(&self) -> bool {
        self.failed >= self.attempts || self.throttled > self.attempts
    }
}

/// After an attempt whose outcome is unknown: the post if it went out
/// after all, a give-up if that cannot be checked, `None` to send again.
async fn look_before_resending(
    daemon: &Daemon,
    social: &Arc<dyn Social>,
    me: &Account,
    post: &PostRow,
    error: &NetError,
    reason: String,
) -> anyhow::Result<Option<Sent>> {
    match look_for_sent(daemon, social.as_ref(), &me.id, post).await {
        Ok(Some(found)) => {
            tracing::info!(seq = post.seq, status_id = %found.id, "found the post among the bot's own statuses after {error}; not posting it again");
            Ok(Some(Sent::Posted(Box::new(found))))
        }
        Ok(None) => Ok(None),
        // Sending again could post it twice; failing the run over
        // one post would stop the chat. The post is given up on,
        // loudly, with both errors.
        Err(lookup) => {
            let reason = format!(
                "{reason}; whether it reached the server is unknown, and the bot's own statuses could not be read to check ({lookup}): not sent again"
            );
            give_up(&daemon.store, post, reason).await.map(Some)
        }
    }
}

fn token_refused(error: NetError) -> anyhow::Error {
    anyhow::Error::new(error).context(
        "the server refused the bot's token: check that it is valid and has the `write` scope",
    )
}

/// Marks `post` failed with `reason`.
async fn give_up(
    store: &crate::store::Store,
    post: &PostRow,
    reason: String,
) -> anyhow::Result<Sent> {
    store
        .mark_post(post.run_id, post.seq, PostState::Failed, &reason)
        .await?;
    Ok(Sent::NotPosted(reason))
}
