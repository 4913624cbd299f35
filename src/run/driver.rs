//! One run of one chat, from intro to the end of collection, by the run's
//! plan (`schedule::RunPlan`, made once by the caller and never rebuilt).
//!
//! Posts go out at their planned times (`post`; ones missed while hashchat
//! was down go at once, in order, while within `late_limit`). Beside them,
//! never in front, a collector task records answers and a reader task
//! (`replies`) reads each question's replies. At the end a final
//! reconciliation runs and the recap files are written (`finish`). On
//! shutdown the run is left `running` in the store and resumes next start.

use std::sync::Arc;

use tokio::sync::watch;
use tracing::Instrument;

use super::collect::Collector;
use super::daemon::{Daemon, TaskGuard};
use super::finish;
use super::ingest::{Ignore, RunPosts, RunWindow};
use super::post::{self, Posted, Told};
use super::replies::ReplyReads;
use super::welcome::Welcomer;
use crate::chats::Chat;
use crate::network::{retry, Account, Backoff, Instance, Social};

use crate::schedule::{PostKind, RunPlan};
use crate::store::{PostRow, RunRow};

/// How one run ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    Done,
    /// A moderator called the run off before it started.
    Cancelled,
    /// Shutdown came first; the run resumes at the next start.
    Interrupted,
}

/// Drives `run` by its `plan` (made once, by the caller, from the chat).
pub async fn drive(
    daemon: &Daemon,
    social: &Arc<dyn Social>,
    me: &Account,
    instance: &Instance,
    chat: &Chat,
    plan: &RunPlan,
    run: RunRow,
) -> anyhow::Result<Ended> {
    let span = tracing::info_span!("run", chat = %chat.id(), run = run.id);
    drive_inner(daemon, social, me, instance, chat, plan, run)
        .instrument(span)
        .await
}

async fn drive_inner(
    daemon: &Daemon,
    social: &Arc<dyn Social>,
    me: &Account,
    instance: &Instance,
    chat: &Chat,
    plan: &RunPlan,
    run: RunRow,
) -> anyhow::Result<Ended> {
    let store = &daemon.store;
    store.plan_posts(run.id, &plan.posts).await?;
    let resumed = run.started_at.is_some();
    tracing::info!(
        start = %run.planned_start, collect_until = %run.collect_until, resumed,
        "run begins: {} questions", plan.question_count
    );

    let (posts_tx, posts_rx) = watch::channel(sent_posts(&store.posts(run.id).await?));
    let window = RunWindow {
        run_id: run.id,
        hashtag: chat.content().hashtag().clone(),
        question_count: plan.question_count,
        opens: run
            .planned_start
            .min(run.started_at.unwrap_or(run.planned_start)),
        closes: run.collect_until,
        bot_account_id: me.id.clone(),
        domain: instance.domain.clone(),
        ignore: Ignore {
            rules: chat.policy().ignore().to_vec(),
            account_ids: muted_and_blocked(daemon, social.as_ref()).await,
        },
    };
    let collector = Arc::new(
        Collector::new(
            store.clone(),
            Arc::clone(social),
            window,
            posts_rx,
            daemon.tuning.clone(),
            Arc::clone(&daemon.clock),
            resumed,
        )
        .with_welcomer(
            chat.policy()
                .welcome_newcomers()
                .then(|| Welcomer::new(chat.id().to_string(), run.planned_start)),
        ),
    );
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

    // Replies are read beside the timeline, never in front of a post.
    let (replies, reader) = if daemon.options.dry_run {
        (ReplyReads::default(), None)
    } else {
        let (replies, reader) = ReplyReads::spawn(Arc::clone(&collector), run_stop.clone());
        (replies, Some(reader))
    };

    let told = Told {
        posts_tx: &posts_tx,
        replies: &replies,
    };
    let posted = post::post_all(daemon, social, me, chat, plan, &run, told).await;
    let ended = match posted {
        Ok(Posted::All) => collect_until_end(daemon, run.id).await?,
        Ok(Posted::Interrupted) => Ended::Interrupted,
        Ok(Posted::Cancelled) => Ended::Cancelled,
        Err(e) => {
            run_stop.cancel();
            if let Some(listener) = listener {
                let _ = listener.join().await;
            }
            if let Some(reader) = reader {
                let _ = reader.join().await;
            }
            return Err(e);
        }
    };
    run_stop.cancel();
    if let Some(reader) = reader {
        if let Err(e) = reader.join().await {
            tracing::error!("the reply reader failed: {e}");
        }
    }
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
    if chat.policy().recap_post() {
        finish::post_summary(daemon, social, chat, plan, run.id, instance.max_characters).await;
    }
    let now = daemon.clock.now();
    store.finish_run(run.id, now).await?;
    finish::report_unposted(&store.posts(run.id).await?);
    finish::write_recaps(daemon, chat, run.id).await;
    tracing::info!("run finished");
    Ok(Ended::Done)
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

/// The bot's own mutes and blocks, retried like every read (read once per
/// run, so one reset connection would drop them for the whole run); a
/// failure after the retries is logged, not fatal (the chat's `ignore:`
/// rules still apply).
async fn muted_and_blocked(
    daemon: &Daemon,
    social: &dyn Social,
) -> std::collections::HashSet<String> {
    if daemon.options.dry_run {
        return Default::default();
    }
    let mut backoff = Backoff::new(daemon.tuning.backoff_base, daemon.tuning.backoff_cap);
    let read = retry(
        "mutes and blocks",
        &mut backoff,
        daemon.tuning.post_attempts,
        || social.muted_and_blocked(),
    );
    match read.await {
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
