//! Posting a run's timeline: each post at its time (`post_all`, which
//! re-reads the run so moderators' commands take effect), and each one
//! exactly once (`send`). It reads nothing but the store and, after a
//! restart, the bot's own recent posts: replies are read beside it.
//!
//! This file owns the timeline loop; `send` sends one post with retries,
//! `lookup` finds the bot's own post already sent, `lateness` decides
//! when a post is too late to go out.

mod lateness;
mod lookup;
mod send;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use tokio::sync::watch;

use self::lateness::{give_up_time, to_std, TimeAway};
use self::lookup::look_for_sent;
use self::send::{send, Sent};
use super::daemon::Daemon;
use super::ingest::RunPosts;
use super::replies::ReplyReads;
use crate::chats::Chat;
use crate::network::Account;
use crate::network::{Social, Status};
use crate::schedule::{PostKind, RunPlan};
use crate::store::RunRow;
use crate::store::{PostRow, PostState};

/// How long after its planned time a post sent counts as late (logged,
/// and counted in the metrics).
const LATE: chrono::Duration = chrono::Duration::seconds(30);

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
                // A replica woken from a long freeze judges every post late:
                // only the holder of the chat may give one up.
                if !daemon.replicas.still_held(now).await? {
                    return Ok(Posted::Interrupted);
                }
                self.skip_late(&post, woke).await?;
                continue;
            }
            if post.state == PostState::Sending && self.found_after_restart(&post).await? {
                continue;
            }
            let late = now - post.planned_at > LATE;
            if late {
                tracing::warn!(seq = post.seq, planned = %post.planned_at, "posting late");
            }
            // Retries keep their whole allowance, however long the bot's own
            // work since it woke took.
            let retry_until = give_up_at + (now - woke).max(chrono::Duration::zero());
            if let Sent::Stopped = self.send_and_record(&post, retry_until, late).await? {
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
        self.daemon.metrics.post_failed(self.chat.id());
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
        late: bool,
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
                daemon.metrics.post_sent(self.chat.id(), late);
                self.mark_sent(post, status).await?;
                if post.kind == PostKind::Closing {
                    daemon
                        .store
                        .collect_at_least_until(self.run.id, status.created_at)
                        .await?;
                }
            }
            Sent::NotPosted(reason) => {
                tracing::error!(seq = post.seq, "{reason}");
                daemon.metrics.post_failed(self.chat.id());
            }
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
