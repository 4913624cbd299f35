//! Posting a run's timeline: each post at its time (`post_all`, which
//! re-reads the run so moderators' commands take effect), and each one
//! exactly once (`send`). It reads nothing but the store and, after a
//! restart, the bot's own recent posts: replies are read beside it.
//!
//! The post is marked `sending` in SQLite before the request leaves and
//! carries an `Idempotency-Key` that is stable per (chat, run, post). If
//! hashchat dies between sending and marking it sent, the next start looks
//! for the post among the bot's own statuses, and only then resends with
//! the same key (the server answers a repeated key with the first status).
//! Not every server keeps the key (snac2 ignores it), so within one process
//! too, a post whose outcome is unknown (a timeout, a cut connection) is
//! looked for among the bot's own statuses before it is sent again.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use tokio::sync::watch;

use super::daemon::{Daemon, Tuning};
use super::ingest::RunPosts;
use super::replies::ReplyReads;
use crate::chats::{Chat, QuestionImage};
use crate::network::backoff::Backoff;
use crate::network::html_to_text;
use crate::network::Account;
use crate::network::{NetError, NewPost, Page, Social, Status};
use crate::schedule::{PostKind, RunPlan};
use crate::store::RunRow;
use crate::store::{PostRow, PostState};

/// How the timeline ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Posted {
    /// Every post went out or was given up on.
    All,
    /// A moderator called the run off before it started.
    Cancelled,
    /// Shutdown came first; the run resumes at the next start.
    Interrupted,
}

/// Who hears of each post the timeline sends: the collector, which
/// matches answers to questions by status id, and the reply reader, asked
/// to read a question's replies once the next post is out.
#[derive(Clone, Copy)]
pub(super) struct Told<'a> {
    pub posts_tx: &'a watch::Sender<RunPosts>,
    pub replies: &'a ReplyReads,
}

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

/// [`find_already_sent`], retried like every read: a passing fault here
/// must neither fail the run nor make it resend a post that went out.
async fn look_for_sent(
    daemon: &Daemon,
    social: &dyn Social,
    bot_account_id: &str,
    post: &PostRow,
) -> Result<Option<Status>, NetError> {
    let mut backoff = Backoff::new(daemon.tuning.backoff_base, daemon.tuning.backoff_cap);
    crate::network::retry(
        "the bot's own statuses",
        &mut backoff,
        daemon.tuning.post_attempts,
        || find_already_sent(social, bot_account_id, post),
    )
    .await
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
    NewPost {
        text: post.text.clone(),
        visibility: chat.account().visibility(),
        idempotency_key: post.idempotency_key.clone(),
        in_reply_to_id: None,
        language: chat.content().language().map(str::to_string),
        spoiler_text: chat.content().content_warning().map(str::to_string),
        media_ids,
    }
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

pub(super) async fn post_all(
    daemon: &Daemon,
    social: &Arc<dyn Social>,
    me: &Account,
    chat: &Chat,
    plan: &RunPlan,
    run: &RunRow,
    told: Told<'_>,
) -> anyhow::Result<Posted> {
    Timeline {
        daemon,
        social,
        me,
        chat,
        plan,
        run,
        told,
    }
    .post_each()
    .await
}

/// What `post_all` works with, so that its steps need not pass it around.
struct Timeline<'a> {
    daemon: &'a Daemon,
    social: &'a Arc<dyn Social>,
    me: &'a Account,
    chat: &'a Chat,
    plan: &'a RunPlan,
    run: &'a RunRow,
    told: Told<'a>,
}

/// How waiting for a post's time ended.
enum Waited {
    /// Its time came; `already_due` if it had come before the wait began.
    Due {
        already_due: bool,
    },
    /// A moderator's command came first (or the run is paused): re-read.
    Changed,
    Shutdown,
}

impl Timeline<'_> {
    /// Posts each post at its time, re-reading the run before each one.
    async fn post_each(&self) -> anyhow::Result<Posted> {
        let (daemon, run) = (self.daemon, self.run);
        let mut controls = daemon.controls.subscribe();
        let mut away = TimeAway::since(daemon.clock.now());
        loop {
            // Re-read every time: a moderator may have paused the run, moved
            // the remaining posts, skipped one or asked for the closing now.
            let current = self.current_run().await?;
            if let Some(by) = &current.cancelled_by {
                tracing::info!(moderator = %by, "run called off before it started");
                return Ok(Posted::Cancelled);
            }
            let Some(post) = self.next_unsent().await? else {
                break;
            };
            let already_due = match self.wait_until_due(&mut controls, &current, &post).await {
                Waited::Due { already_due } => already_due,
                Waited::Changed => continue,
                Waited::Shutdown => return Ok(Posted::Interrupted),
            };
            // A command may have landed just as the deadline came (a pause at
            // the question's time): the database decides, not the wake-up.
            if !still_due(&daemon.store, run.id, &post).await? {
                continue;
            }
            let now = daemon.clock.now();
            let woke = away.judged_at(post.planned_at, (!already_due).then_some(now));
            let give_up_at = give_up_time(self.chat, &post, self.plan.start, current.collect_until);
            if woke > give_up_at {
                self.skip_late(&post, woke).await?;
                continue;
            }
            if post.state == PostState::Sending && self.found_after_restart(&post).await? {
                continue;
            }
            if now - post.planned_at > chrono::Duration::seconds(30) {
                tracing::warn!(seq = post.seq, planned = %post.planned_at, "posting late");
            }
            // Retries keep their whole allowance, however long the bot's own
            // work since it woke took.
            let retry_until = give_up_at + (now - woke).max(chrono::Duration::zero());
            if let Sent::Stopped = self.send_and_record(&post, retry_until).await? {
                return Ok(Posted::Interrupted);
            }
            self.read_previous_replies(&post).await?;
        }
        Ok(Posted::All)
    }

    async fn current_run(&self) -> anyhow::Result<RunRow> {
        let id = self.run.id;
        self.daemon
            .store
            .run(id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("run {id} vanished from the database"))
    }

    /// The earliest post not yet sent, if any is left.
    async fn next_unsent(&self) -> anyhow::Result<Option<PostRow>> {
        Ok(self
            .daemon
            .store
            .posts(self.run.id)
            .await?
            .into_iter()
            .filter(|p| matches!(p.state, PostState::Planned | PostState::Sending))
            .min_by_key(|p| (p.planned_at, p.seq)))
    }

    /// Sleeps until `post` is due, unless the run is paused (then until a
    /// command), a command comes first, or shutdown.
    async fn wait_until_due(
        &self,
        controls: &mut watch::Receiver<u64>,
        current: &RunRow,
        post: &PostRow,
    ) -> Waited {
        let daemon = self.daemon;
        if let Some(since) = current.paused_at {
            tracing::info!(since = %since, "paused by a moderator; waiting for resume");
            tokio::select! {
                _ = daemon.shutdown.cancelled() => return Waited::Shutdown,
                _ = controls.changed() => return Waited::Changed,
            }
        }
        let already_due = daemon.clock.now() >= post.planned_at;
        tokio::select! {
            _ = daemon.shutdown.cancelled() => Waited::Shutdown,
            _ = daemon.clock.sleep_until(post.planned_at) => Waited::Due { already_due },
            _ = controls.changed() => Waited::Changed,
        }
    }

    /// Gives up on `post`, judged at `woke`: past its late limit.
    async fn skip_late(&self, post: &PostRow, woke: DateTime<Utc>) -> anyhow::Result<()> {
        let reason = format!(
            "not posted: {} late, past the late limit",
            humantime::format_duration(to_std(woke - post.planned_at))
        );
        tracing::error!(seq = post.seq, "{reason}");
        self.daemon
            .store
            .mark_post(self.run.id, post.seq, PostState::Skipped, &reason)
            .await
    }

    /// Whether `post`, left `sending` by an earlier process, went out
    /// then: found, it is marked sent here.
    async fn found_after_restart(&self, post: &PostRow) -> anyhow::Result<bool> {
        let social = self.social.as_ref();
        let Some(found) = look_for_sent(self.daemon, social, &self.me.id, post).await? else {
            return Ok(false);
        };
        tracing::info!(seq = post.seq, status_id = %found.id, "found the post sent before a restart; not posting it again");
        self.mark_sent(post, &found).await?;
        Ok(true)
    }

    /// Sends `post`, retrying until `retry_until`, and records the result.
    async fn send_and_record(
        &self,
        post: &PostRow,
        retry_until: DateTime<Utc>,
    ) -> anyhow::Result<Sent> {
        let (daemon, plan) = (self.daemon, self.plan);
        let image = plan.image(post.seq);
        let sent = send(
            daemon,
            self.social,
            self.me,
            self.chat,
            post,
            retry_until,
            image,
        )
        .await?;
        match &sent {
            Sent::Posted(status) => {
                tracing::info!(seq = post.seq, kind = ?post.kind, status_id = %status.id, "posted");
                self.mark_sent(post, status).await?;
                if post.kind == PostKind::Closing {
                    daemon
                        .store
                        .collect_at_least_until(self.run.id, status.created_at)
                        .await?;
                }
            }
            Sent::NotPosted(reason) => tracing::error!(seq = post.seq, "{reason}"),
            Sent::Stopped => {}
        }
        Ok(sent)
    }

    /// The previous question just closed: read its replies now, while
    /// they are few, rather than only at the end (beside the timeline).
    async fn read_previous_replies(&self, post: &PostRow) -> anyhow::Result<()> {
        if post.seq <= 1 {
            return Ok(());
        }
        let previous: Vec<String> = self
            .daemon
            .store
            .posts(self.run.id)
            .await?
            .into_iter()
            .filter(|p| p.seq == post.seq - 1)
            .filter_map(|p| p.status_id)
            .collect();
        self.told.replies.read(previous);
        Ok(())
    }

    async fn mark_sent(&self, post: &PostRow, status: &Status) -> anyhow::Result<()> {
        let (id, url, at) = (&status.id, status.link(), status.created_at);
        mark_sent(self.daemon, self.run, post, id, url, at, self.told.posts_tx).await
    }
}

/// Whether `post` is still the one to send now: the run is not paused or
/// called off, and the post is still unsent and not moved later.
async fn still_due(
    store: &crate::store::Store,
    run_id: i64,
    post: &PostRow,
) -> anyhow::Result<bool> {
    let Some(run) = store.run(run_id).await? else {
        return Ok(false);
    };
    if run.paused_at.is_some() || run.cancelled_by.is_some() {
        return Ok(false);
    }
    let fresh = store
        .posts(run_id)
        .await?
        .into_iter()
        .find(|p| p.seq == post.seq);
    Ok(fresh.is_some_and(|p| {
        matches!(p.state, PostState::Planned | PostState::Sending)
            && p.planned_at <= post.planned_at
    }))
}

async fn mark_sent(
    daemon: &Daemon,
    run: &RunRow,
    post: &PostRow,
    status_id: &str,
    url: &str,
    at: DateTime<Utc>,
    posts_tx: &watch::Sender<RunPosts>,
) -> anyhow::Result<()> {
    daemon
        .store
        .mark_sent(run.id, post.seq, status_id, url, at)
        .await?;
    if post.kind == PostKind::Intro {
        daemon.store.mark_run_started(run.id, at).await?;
    }
    let number = if post.kind == PostKind::Question {
        post.number
    } else {
        None
    };
    posts_tx.send_modify(|posts| {
        posts.insert(status_id.to_string(), number);
    });
    Ok(())
}

/// What counts as lateness: time away, not the bot's own work.
/// `late_limit` is about posts missed while hashchat was down, so a post
/// is judged at its due time, or at the end of the last time away if that
/// came after: when this process began driving the run, or a wake-up that
/// came late (the machine slept). Time spent on the bot's own work (an
/// earlier post's retries, an upload) does not count.
struct TimeAway {
    back_at: DateTime<Utc>,
}

impl TimeAway {
    fn since(started: DateTime<Utc>) -> Self {
        Self { back_at: started }
    }

    /// The time post due at `planned_at` is judged at; `woke_at` is when
    /// the driver woke from sleeping until it, if it had to sleep.
    fn judged_at(
        &mut self,
        planned_at: DateTime<Utc>,
        woke_at: Option<DateTime<Utc>>,
    ) -> DateTime<Utc> {
        if let Some(woke) = woke_at {
            self.back_at = self.back_at.max(woke);
        }
        planned_at.max(self.back_at)
    }
}

/// The latest time a post may still go out: its planned time plus the
/// chat's `late_limit`, and never after the run ends. A reminder ("starts
/// in 15 minutes") is only true near its time: at most a tenth of its lead
/// late, and never after the start.
fn give_up_time(
    chat: &Chat,
    post: &PostRow,
    start: DateTime<Utc>,
    run_end: DateTime<Utc>,
) -> DateTime<Utc> {
    if post.kind == PostKind::Reminder {
        let grace = (start - post.planned_at) / 10;
        return (post.planned_at + grace).min(start);
    }
    match chat.timing().late_limit() {
        Some(limit) => {
            (post.planned_at + chrono::Duration::from_std(limit).unwrap_or_default()).min(run_end)
        }
        None => run_end,
    }
}

fn to_std(d: chrono::Duration) -> std::time::Duration {
    let secs = d.num_seconds().max(0) as u64;
    std::time::Duration::from_secs(secs)
}

#[cfg(test)]
mod tests {
    use super::TimeAway;
    use chrono::{DateTime, Duration, TimeZone, Utc};

    fn at(minutes: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, 20, 0, 0).unwrap() + Duration::minutes(minutes)
    }

    #[test]
    fn the_bots_own_work_is_not_lateness() {
        let mut away = TimeAway::since(at(0));
        assert_eq!(away.judged_at(at(5), Some(at(5))), at(5), "woke on time");
        // Q1's send took until 20:40: the closing, due at 20:35, is on time.
        assert_eq!(away.judged_at(at(35), None), at(35));
    }

    #[test]
    fn a_start_after_the_due_time_is_time_away() {
        let mut away = TimeAway::since(at(8));
        assert_eq!(away.judged_at(at(0), None), at(8));
        assert_eq!(away.judged_at(at(5), None), at(8));
        assert_eq!(away.judged_at(at(15), Some(at(15))), at(15));
    }

    #[test]
    fn posts_slept_through_are_judged_from_the_late_wake_up() {
        let mut away = TimeAway::since(at(0));
        // The machine slept from before Q1 (20:05) until 20:17.
        assert_eq!(away.judged_at(at(5), Some(at(17))), at(17));
        assert_eq!(away.judged_at(at(15), None), at(17), "Q2 too");
        assert_eq!(away.judged_at(at(25), Some(at(25))), at(25));
    }
}
