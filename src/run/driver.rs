//! One run of one chat, from intro to the end of collection.
//!
//! Posts go out at their planned times (late ones at once, in order, while
//! within `late_limit`); a collector task records answers meanwhile; at the
//! end a final reconciliation runs and the recap files are written. On
//! shutdown the run is left `running` in the store and resumes next start.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tracing::Instrument;

use super::collect::Collector;
use super::ingest::{Ignore, RunPosts, RunWindow};
use super::post::{self, Sent};
use super::welcome::Welcomer;
use super::{Daemon, TaskGuard};
use crate::chats::Chat;
use crate::network::{Account, Instance, Social};
use crate::recap;
use crate::schedule::{self, PostKind};
use crate::store::{PostRow, PostState, RunRow};

/// How one run ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    Done,
    /// A moderator called the run off before it started.
    Cancelled,
    /// Shutdown came first; the run resumes at the next start.
    Interrupted,
}

/// The idempotency-key prefix of a run: stable across restarts.
pub fn key_prefix(chat: &Chat, run: &RunRow) -> String {
    format!("hashchat:{}:{}", chat.id, run.planned_start.timestamp())
}

pub async fn drive(
    daemon: &Daemon,
    social: &Arc<dyn Social>,
    me: &Account,
    instance: &Instance,
    chat: &Chat,
    run: RunRow,
) -> anyhow::Result<Ended> {
    let span = tracing::info_span!("run", chat = %chat.id, run = run.id);
    drive_inner(daemon, social, me, instance, chat, run)
        .instrument(span)
        .await
}

async fn drive_inner(
    daemon: &Daemon,
    social: &Arc<dyn Social>,
    me: &Account,
    instance: &Instance,
    chat: &Chat,
    run: RunRow,
) -> anyhow::Result<Ended> {
    let store = &daemon.store;
    let timeline = schedule::timeline(chat, run.planned_start);
    // The run's own questions: its session's on a session date.
    let content = schedule::content(chat, run.planned_start);
    let bodies = timeline.posts.iter().map(|p| {
        let body = match (p.kind, p.number) {
            (PostKind::Question, Some(n)) => content
                .questions
                .get(n as usize - 1)
                .cloned()
                .unwrap_or_else(|| p.text.clone()),
            _ => p.text.clone(),
        };
        (p.clone(), body)
    });
    store
        .plan_posts(run.id, &key_prefix(chat, &run), &bodies.collect::<Vec<_>>())
        .await?;
    let resumed = run.started_at.is_some();
    tracing::info!(
        start = %run.planned_start, collect_until = %run.collect_until, resumed,
        "run begins: {} questions", chat.questions.len()
    );

    let (posts_tx, posts_rx) = watch::channel(sent_posts(&store.posts(run.id).await?));
    let window = RunWindow {
        run_id: run.id,
        hashtag: chat.hashtag.clone(),
        question_count: content.questions.len() as u32,
        opens: run
            .planned_start
            .min(run.started_at.unwrap_or(run.planned_start)),
        closes: run.collect_until,
        bot_account_id: me.id.clone(),
        domain: instance.domain.clone(),
        ignore: Ignore {
            rules: chat.ignore.clone(),
            account_ids: muted_and_blocked(daemon, social.as_ref()).await,
        },
    };
    let collector = Arc::new(Collector::new(
        store.clone(),
        Arc::clone(social),
        window,
        posts_rx,
        daemon.tuning.clone(),
        resumed,
        chat.welcome_newcomers
            .then(|| Welcomer::new(chat.id.clone(), run.planned_start)),
    ));
    // The collector lives exactly as long as this run: `run_stop` ends it
    // at the end of collection or on shutdown, and it is always awaited.
    let run_stop = daemon.shutdown.child_token();
    let listener = (!daemon.options.dry_run).then(|| {
        let collector = Arc::clone(&collector);
        let stop = run_stop.clone();
        TaskGuard::spawn(
            async move { collector.listen(stop).await }.instrument(tracing::Span::current()),
        )
    });

    let posted = post_all(daemon, social, me, chat, &run, &posts_tx, &collector).await;
    let ended = match posted {
        Ok(Ended::Done) => collect_until_end(daemon, run.id).await?,
        Ok(Ended::Interrupted) => Ended::Interrupted,
        Ok(Ended::Cancelled) => Ended::Cancelled,
        Err(e) => {
            run_stop.cancel();
            if let Some(listener) = listener {
                let _ = listener.join().await;
            }
            return Err(e);
        }
    };
    run_stop.cancel();
    if let Some(listener) = listener {
        match listener.join().await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!("the stream refused the token: {e}"),
            Err(e) => tracing::error!("the stream listener failed: {e}"),
        }
    }
    match ended {
        Ended::Interrupted => {
            tracing::info!("run interrupted by shutdown; it resumes on the next start");
            return Ok(ended);
        }
        Ended::Cancelled => return Ok(ended),
        Ended::Done => {}
    }
    if !daemon.options.dry_run {
        if let Err(e) = collector.final_reconcile().await {
            tracing::error!("final reconciliation failed: {e:#}");
        }
    }
    if chat.recap_post {
        post_summary(daemon, social, chat, &run, instance.max_characters).await;
    }
    let now = daemon.clock.now();
    store.finish_run(run.id, now).await?;
    report_unposted(&store.posts(run.id).await?);
    write_recaps(daemon, chat, run.id).await;
    tracing::info!("run finished");
    Ok(Ended::Done)
}

/// `recap_post`: the summary, threaded when long. Posted before the run
/// is marked done, so a crash here posts it on resume; its idempotency
/// keys keep the server from taking it twice.
async fn post_summary(
    daemon: &Daemon,
    social: &Arc<dyn Social>,
    chat: &Chat,
    run: &RunRow,
    limit: usize,
) {
    let recap = match recap::build(&daemon.store, chat, run.id).await {
        Ok(recap) => recap,
        Err(e) => {
            tracing::error!("no summary post: the recap could not be built: {e:#}");
            return;
        }
    };
    let date = run
        .planned_start
        .with_timezone(&chat.timezone)
        .format("%Y-%m-%d")
        .to_string();
    let url = chat.recap_url.as_ref().map(|u| u.replace("{date}", &date));
    let mut reply_to: Option<String> = None;
    for (i, text) in recap::summary_posts(&recap, url.as_deref(), limit)
        .into_iter()
        .enumerate()
    {
        let post = crate::network::NewPost {
            text,
            visibility: chat.visibility,
            idempotency_key: format!("{}-summary-{i}", key_prefix(chat, run)),
            in_reply_to_id: reply_to.clone(),
            language: chat.language.clone(),
            spoiler_text: chat.content_warning.clone(),
            media_ids: Vec::new(),
        };
        match social.post(&post).await {
            Ok(status) => reply_to = Some(status.id),
            Err(e) => {
                tracing::error!("the summary post was not posted: {e}");
                return;
            }
        }
    }
    tracing::info!("summary posted");
}

/// Waits for the end of collection, which `extend` may move.
async fn collect_until_end(daemon: &Daemon, run_id: i64) -> anyhow::Result<Ended> {
    let mut controls = daemon.controls.subscribe();
    loop {
        let until = daemon
            .store
            .run(run_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("run {run_id} vanished from the database"))?
            .collect_until;
        tracing::info!(until = %until, "collecting answers until the end of the run");
        tokio::select! {
            _ = daemon.shutdown.cancelled() => return Ok(Ended::Interrupted),
            _ = daemon.clock.sleep_until(until) => return Ok(Ended::Done),
            _ = controls.changed() => {}
        }
    }
}

/// The bot's own mutes and blocks; a failure is logged, not fatal (the
/// chat's `ignore:` rules still apply).
async fn muted_and_blocked(
    daemon: &Daemon,
    social: &dyn Social,
) -> std::collections::HashSet<String> {
    if daemon.options.dry_run {
        return Default::default();
    }
    match social.muted_and_blocked().await {
        Ok(ids) => ids,
        Err(e) => {
            tracing::warn!("could not read the bot's mutes and blocks: {e}");
            Default::default()
        }
    }
}

/// Status id → question number of every post already sent.
fn sent_posts(posts: &[PostRow]) -> RunPosts {
    posts
        .iter()
        .filter_map(|p| {
            let id = p.status_id.clone()?;
            Some((
                id,
                if p.kind == PostKind::Question {
                    p.number
                } else {
                    None
                },
            ))
        })
        .collect()
}

async fn post_all(
    daemon: &Daemon,
    social: &Arc<dyn Social>,
    me: &Account,
    chat: &Chat,
    run: &RunRow,
    posts_tx: &watch::Sender<RunPosts>,
    collector: &Collector,
) -> anyhow::Result<Ended> {
    let store = &daemon.store;
    let mut controls = daemon.controls.subscribe();
    loop {
        // Re-read every time: a moderator may have paused the run, moved
        // the remaining posts, skipped one or asked for the closing now.
        let current = store
            .run(run.id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("run {} vanished from the database", run.id))?;
        let run_end = current.collect_until;
        if let Some(by) = &current.cancelled_by {
            tracing::info!(moderator = %by, "run called off before it started");
            return Ok(Ended::Cancelled);
        }
        let Some(post) = store
            .posts(run.id)
            .await?
            .into_iter()
            .filter(|p| matches!(p.state, PostState::Planned | PostState::Sending))
            .min_by_key(|p| (p.planned_at, p.seq))
        else {
            break;
        };
        if let Some(since) = current.paused_at {
            tracing::info!(since = %since, "paused by a moderator; waiting for resume");
            tokio::select! {
                _ = daemon.shutdown.cancelled() => return Ok(Ended::Interrupted),
                _ = controls.changed() => continue,
            }
        }
        tokio::select! {
            _ = daemon.shutdown.cancelled() => return Ok(Ended::Interrupted),
            _ = daemon.clock.sleep_until(post.planned_at) => {}
            _ = controls.changed() => continue,
        }
        let now = daemon.clock.now();
        let give_up_at = give_up_time(chat, &post, current.planned_start, run_end);
        if now > give_up_at {
            let reason = format!(
                "not posted: {} late, past the late limit",
                humantime::format_duration(to_std(now - post.planned_at))
            );
            tracing::error!(seq = post.seq, "{reason}");
            store
                .mark_post(run.id, post.seq, PostState::Skipped, &reason)
                .await?;
            continue;
        }
        if post.state == PostState::Sending {
            if let Some(found) = post::find_already_sent(social.as_ref(), &me.id, &post).await? {
                tracing::info!(seq = post.seq, status_id = %found.id, "found the post sent before a restart; not posting it again");
                mark_sent(
                    daemon,
                    run,
                    &post,
                    &found.id,
                    found.link(),
                    found.created_at,
                    posts_tx,
                )
                .await?;
                continue;
            }
        }
        if now - post.planned_at > chrono::Duration::seconds(30) {
            tracing::warn!(seq = post.seq, planned = %post.planned_at, "posting late");
        }
        let image = match (post.kind, post.number) {
            (PostKind::Question, Some(n)) => schedule::content(chat, current.planned_start)
                .question_images
                .get(n as usize - 1)
                .cloned()
                .flatten(),
            _ => None,
        };
        match post::send(
            daemon,
            social,
            chat,
            &post,
            give_up_at,
            &daemon.shutdown,
            image.as_ref(),
        )
        .await?
        {
            Sent::Posted(status) => {
                tracing::info!(seq = post.seq, kind = ?post.kind, status_id = %status.id, "posted");
                mark_sent(
                    daemon,
                    run,
                    &post,
                    &status.id,
                    status.link(),
                    status.created_at,
                    posts_tx,
                )
                .await?;
                if post.kind == PostKind::Closing {
                    store
                        .set_collect_until(run.id, run_end.max(status.created_at))
                        .await?;
                }
            }
            Sent::NotPosted(reason) => tracing::error!(seq = post.seq, "{reason}"),
            Sent::Stopped => return Ok(Ended::Interrupted),
        }
        // The previous question just closed: read its replies now, while
        // they are few, rather than only at the end.
        if !daemon.options.dry_run && post.seq > 1 {
            let previous: Vec<String> = store
                .posts(run.id)
                .await?
                .into_iter()
                .filter(|p| p.seq == post.seq - 1)
                .filter_map(|p| p.status_id)
                .collect();
            if let Err(e) = collector.reconcile_replies(&previous).await {
                tracing::warn!("could not read replies: {e:#}");
            }
        }
    }
    Ok(Ended::Done)
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
    match chat.late_limit {
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

fn report_unposted(posts: &[PostRow]) {
    for post in posts.iter().filter(|p| p.state != PostState::Sent) {
        tracing::error!(
            seq = post.seq,
            state = post.state.as_str(),
            reason = post.last_error.as_deref().unwrap_or(""),
            "a post of this run was not posted"
        );
    }
}

async fn write_recaps(daemon: &Daemon, chat: &Chat, run_id: i64) {
    let suffix = if daemon.options.dry_run {
        "-dry-run"
    } else {
        ""
    };
    match recap::write_files(&daemon.store, chat, run_id, suffix).await {
        Ok(paths) => {
            for path in paths {
                tracing::info!(path = %path.display(), "recap written");
            }
        }
        Err(e) => tracing::error!("could not write the recap: {e:#}"),
    }
}
