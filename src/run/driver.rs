//! One run of one chat, from intro to the end of collection, by the run's
//! plan (`schedule::RunPlan`, made once by the caller and never rebuilt).
//!
//! Posts go out at their planned times (`post`; ones missed while hashchat
//! was down go at once, in order, while within `late_limit`). Beside them,
//! never in front, a collector task records answers and a reader task
//! (`replies`) reads each question's replies; a watcher per `also_watch`
//! instance polls its tag timeline (`watched`). At the end a final
//! reconciliation runs and the recap files are written (`finish`). On
//! shutdown the run is left `running` in the store and resumes next start.

use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::collect::Collector;
use super::daemon::{Daemon, TaskGuard};
use super::finish;
use super::ingest::{Ignore, RunPosts, RunWindow};
use super::post::{self, Posted, Told};
use super::replies::ReplyReads;
use super::watched::{self, Watchers};
use super::welcome::Welcomer;
use crate::chats::Chat;
use crate::network::{retry, Account, Backoff, Instance, NetError, Social};

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
    let window = run_window(daemon, social, me, instance, chat, plan, &run).await;
    let watch_stop = daemon.shutdown.child_token();
    let mut watchers = spawn_watchers(daemon, me, instance, chat, &window, &watch_stop);
    let collector = new_collector(daemon, social, chat, &run, window, posts_rx);
    let (beside, replies) = Beside::spawn(daemon, &collector);
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
            beside.abandon().await;
            watch_stop.cancel();
            watchers.stop().await;
            return Err(e);
        }
    };
    beside.stop().await;
    watch_stop.cancel();
    watchers.stop().await;
    match ended {
        Ended::Interrupted => {
            tracing::info!("run interrupted by shutdown; it resumes on the next start");
            return Ok(ended);
        }
        Ended::Cancelled => return Ok(ended),
        Ended::Done => {}
    }
    // Only the chat's holder ends the run (a replica woken from a freeze
    // past the end of collection finds it has lost the chat).
    if !daemon.replicas.still_held(daemon.clock.now()).await? {
        tracing::info!("the chat's lease is gone; the next holder ends the run");
        return Ok(Ended::Interrupted);
    }
    let collectors = (collector.as_ref(), &watchers);
    wrap_up(daemon, social, instance, chat, plan, run.id, collectors).await?;
    Ok(Ended::Done)
}

/// A watcher per `also_watch` instance (none in a dry run), polling until
/// `stop`: the end of collection or shutdown.
fn spawn_watchers(
    daemon: &Daemon,
    me: &Account,
    instance: &Instance,
    chat: &Chat,
    window: &RunWindow,
    stop: &CancellationToken,
) -> Watchers {
    if daemon.options.dry_run {
        return Watchers::default();
    }
    let shared = watched::Shared {
        store: daemon.store.clone(),
        clock: Arc::clone(&daemon.clock),
        tuning: daemon.tuning.clone(),
        home: window.clone(),
        bot_handle: crate::run::ingest::full_handle(me, &instance.domain),
    };
    Watchers::spawn(chat.account(), &shared, stop)
}

/// The collector of this run's answers, welcoming newcomers if the chat
/// asks for it.
fn new_collector(
    daemon: &Daemon,
    social: &Arc<dyn Social>,
    chat: &Chat,
    run: &RunRow,
    window: RunWindow,
    posts_rx: watch::Receiver<RunPosts>,
) -> Arc<Collector> {
    let resumed = run.started_at.is_some();
    Arc::new(
        Collector::new(
            daemon.store.clone(),
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
        )
        .with_metrics(Arc::clone(&daemon.metrics), chat.id()),
    )
}

/// What the collector watches for: this run's hashtag, between its start
/// (or its actual start, if earlier) and the end of collection.
async fn run_window(
    daemon: &Daemon,
    social: &Arc<dyn Social>,
    me: &Account,
    instance: &Instance,
    chat: &Chat,
    plan: &RunPlan,
    run: &RunRow,
) -> RunWindow {
    RunWindow {
        run_id: run.id,
        hashtag: chat.content().hashtag().clone(),
        question_count: plan.question_count,
        opens: run
            .planned_start
            .min(run.started_at.unwrap_or(run.planned_start)),
        closes: run.collect_until,
        bot_account_id: me.id.clone(),
        domain: instance.domain.clone(),
        instance: None,
        ignore: Ignore {
            rules: chat.policy().ignore().to_vec(),
            account_ids: muted_and_blocked(daemon, social.as_ref()).await,
        },
    }
}

/// The tasks beside the timeline: the stream listener and the reply
/// reader (neither in a dry run).
///
/// The collector lives exactly as long as this run: `run_stop` ends it
/// at the end of collection or on shutdown, and it is always awaited.
struct Beside {
    run_stop: CancellationToken,
    listener: Option<TaskGuard<Result<(), NetError>>>,
    reader: Option<TaskGuard<()>>,
}

impl Beside {
    fn spawn(daemon: &Daemon, collector: &Arc<Collector>) -> (Self, ReplyReads) {
        let run_stop = daemon.shutdown.child_token();
        // A dry run listens too: its stand-in server plays simulated
        // participants through the same reads.
        let listener = Some({
            let collector = Arc::clone(collector);
            let stop = run_stop.clone();
            TaskGuard::spawn(
                async move { collector.listen(stop).await }.instrument(tracing::Span::current()),
            )
        });

        // Replies are read beside the timeline, never in front of a post.
        let (replies, reader) = {
            let (replies, reader) = ReplyReads::spawn(Arc::clone(collector), run_stop.clone());
            (replies, Some(reader))
        };
        let beside = Self {
            run_stop,
            listener,
            reader,
        };
        (beside, replies)
    }

    /// Stops both tasks when the timeline failed; its error is the one
    /// that counts, so theirs are dropped.
    async fn abandon(self) {
        self.run_stop.cancel();
        if let Some(listener) = self.listener {
            let _ = listener.join().await;
        }
        if let Some(reader) = self.reader {
            let _ = reader.join().await;
        }
    }

    /// Stops both tasks and logs how each ended.
    async fn stop(self) {
        self.run_stop.cancel();
        if let Some(reader) = self.reader {
            if let Err(e) = reader.join().await {
                tracing::error!("the reply reader failed: {e}");
            }
        }
        if let Some(listener) = self.listener {
            match listener.join().await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!("the stream refused the token: {e}"),
                Err(e) => tracing::error!("the stream listener failed: {e}"),
            }
        }
    }
}

/// The end of a run that was not cut short: a last reconciliation, the
/// summary post, the run marked finished and its recaps written.
async fn wrap_up(
    daemon: &Daemon,
    social: &Arc<dyn Social>,
    instance: &Instance,
    chat: &Chat,
    plan: &RunPlan,
    run_id: i64,
    (collector, watchers): (&Collector, &Watchers),
) -> anyhow::Result<()> {
    if let Err(e) = collector.final_reconcile().await {
        tracing::error!("final reconciliation failed: {e:#}");
    }
    // No watcher runs in a dry run (nothing is read from elsewhere).
    watchers.final_reconcile().await;
    if chat.policy().recap_post() {
        finish::post_summary(daemon, social, chat, plan, run_id, instance.max_characters).await;
    }
    let now = daemon.clock.now();
    daemon.store.finish_run(run_id, now).await?;
    finish::report_unposted(&daemon.store.posts(run_id).await?);
    finish::write_recaps(daemon, chat, run_id).await;
    tracing::info!("run finished");
    Ok(())
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
