//! One chat's life in the daemon: take the chat's lease (`lease`; with
//! other replicas, stand by until it is granted), finish what a previous
//! holder left unfinished, record runs missed while nobody was running,
//! then sleep until each next run and drive it. A shared lease lost on
//! the way stops the chat task where it stands, and it stands by again.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::daemon::{account_key, Daemon};
use super::driver::{drive, Ended};
use super::dry::DryRun;
use super::lease::ChatLease;
use crate::chats::Chat;
use crate::network::{Account, Instance, NetError, Social};
use crate::schedule::{self, RunPlan};
use crate::store::Lease;

/// How far back missed runs are looked for after a long downtime.
const MISSED_LOOKBACK_RUNS: usize = 100;

pub async fn chat_loop(daemon: &Daemon, chat: Arc<Chat>) -> anyhow::Result<()> {
    loop {
        // Held until this task ends, however it ends (a panic, the process
        // killed): the kernel lets go of a lock file then, and a shared
        // lease's keeper stops, so the lease runs out.
        let mut lease = if daemon.replicas.is_shared() {
            match ChatLease::stand_by(daemon, &chat).await? {
                Some(lease) => lease,
                None => return Ok(()), // shutdown while standing by
            }
        } else {
            ChatLease::File(take_lease(daemon, &chat).await?)
        };
        let acting = lease.acting(daemon);
        let result = chat_runs(&acting, &chat, &mut lease).await;
        if lease.is_lost() && !daemon.shutdown.is_cancelled() {
            // Whatever it was doing was cut short by the loss; the next
            // holder resumes the run from the store.
            if let Err(e) = result {
                tracing::warn!(chat = %chat.id(), "stopped after losing the chat's lease: {e:#}");
            }
            continue;
        }
        lease.release().await;
        return result;
    }
}

/// This process's identity in leases: host, pid and a random part (pids
/// are reused across containers). Only ever shown to people.
pub fn process_holder() -> String {
    format!(
        "{}:{}:{:08x}",
        host_name(),
        std::process::id(),
        rand::random::<u32>()
    )
}

fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

async fn take_lease(daemon: &Daemon, chat: &Chat) -> anyhow::Result<Lease> {
    match daemon
        .store
        .take_lease(chat.id(), &daemon.holder, daemon.clock.now())
        .await?
    {
        Ok(lease) => Ok(lease),
        Err(other) => anyhow::bail!(
            "chat `{}` is already being run by another hashchat process ({}{}); \
             stop that process first, or run this chat only there",
            chat.id(),
            other.holder,
            other
                .acquired_at
                .map(|at| format!(", since {at}"))
                .unwrap_or_default(),
        ),
    }
}

/// Takes the lease again if its file was removed while the chat slept;
/// fails if another process has locked a new one since. A shared lease
/// has its keeper instead.
async fn keep_lease(daemon: &Daemon, chat: &Chat, lease: &mut ChatLease) -> anyhow::Result<()> {
    if lease.file().is_none_or(Lease::is_intact) {
        return Ok(());
    }
    tracing::warn!(chat = %chat.id(), "the chat's lease file was removed while it slept; taking the lease again");
    *lease = ChatLease::File(take_lease(daemon, chat).await?);
    Ok(())
}

async fn chat_runs(daemon: &Daemon, chat: &Chat, lease: &mut ChatLease) -> anyhow::Result<()> {
    let social: Arc<dyn Social> = if daemon.options.dry_run {
        Arc::new(DryRun::with_participants(chat, Arc::clone(&daemon.clock)))
    } else {
        daemon.connector.connect(chat)?
    };
    let (me, instance) = identify(daemon, social.as_ref(), chat).await?;
    tracing::info!(chat = %chat.id(), bot = %me.acct, domain = %instance.domain, "chat ready");
    warn_overlong_posts(chat, instance.max_characters);
    runs(daemon, chat, &social, &me, &instance, lease).await
}

/// Finishes unfinished runs, records missed ones, then does each next run.
async fn runs(
    daemon: &Daemon,
    chat: &Chat,
    social: &Arc<dyn Social>,
    me: &Account,
    instance: &Instance,
    lease: &mut ChatLease,
) -> anyhow::Result<()> {
    for run in daemon.store.unfinished_runs(chat.id()).await? {
        tracing::info!(chat = %chat.id(), run = run.id, "resuming an unfinished run");
        let plan = RunPlan::new(chat, run.planned_start);
        if Box::pin(drive(daemon, social, me, instance, chat, &plan, run)).await?
            == Ended::Interrupted
            || daemon.options.once
        {
            return Ok(());
        }
    }
    record_missed(daemon, chat).await?;

    let mut start_now = daemon.options.now;
    loop {
        let now = daemon.clock.now();
        let start = if start_now {
            start_now = false;
            now.with_timezone(&Utc).to_owned().with_nanosecond_zeroed()
        } else {
            match next_start(daemon, chat, now).await? {
                Some(start) => start,
                None => {
                    tracing::info!(chat = %chat.id(), "no more runs scheduled");
                    return Ok(());
                }
            }
        };
        tracing::info!(chat = %chat.id(), start = %start, local = %start.with_timezone(&chat.timing().timezone()), "next run");
        let plan = RunPlan::new(chat, start);
        tokio::select! {
            _ = daemon.shutdown.cancelled() => return Ok(()),
            _ = daemon.clock.sleep_until(plan.wake_at()) => {}
        }
        keep_lease(daemon, chat, lease).await?;
        let run = daemon
            .store
            .open_run(chat.id(), start, plan.collect_until)
            .await?;
        if let Some(by) = &run.cancelled_by {
            tracing::info!(chat = %chat.id(), start = %start, moderator = %by, "run called off by a moderator; not posting it");
            if daemon.options.once {
                return Ok(());
            }
            continue;
        }
        if Box::pin(drive(daemon, social, me, instance, chat, &plan, run)).await?
            == Ended::Interrupted
            || daemon.options.once
        {
            return Ok(());
        }
    }
}

trait ZeroNanos {
    fn with_nanosecond_zeroed(self) -> Self;
}

impl ZeroNanos for DateTime<Utc> {
    fn with_nanosecond_zeroed(self) -> Self {
        use chrono::Timelike;
        self.with_nanosecond(0).unwrap_or(self)
    }
}

/// `check` measures posts against the configured limit; the instance may
/// allow less. Say so at start-up rather than at 20:00.
fn warn_overlong_posts(chat: &Chat, limit: usize) {
    let timeline = schedule::timeline(chat, chrono::DateTime::<Utc>::UNIX_EPOCH);
    for post in timeline.posts {
        let length = chat.account().length(&post.text);
        if length > limit {
            tracing::error!(
                chat = %chat.id(), seq = post.seq, length, limit,
                "this post is longer than the instance allows and will be rejected; shorten it in chats.yaml"
            );
        }
    }
}

/// Who the bot is and what the instance allows, asked once per account
/// however many chats it runs (100 chats of one account used to spend 200
/// requests at start-up, two thirds of the 5-minute rate limit).
async fn identify(
    daemon: &Daemon,
    social: &dyn Social,
    chat: &Chat,
) -> anyhow::Result<(Account, Instance)> {
    let known = daemon.identities.of(&account_key(chat));
    let found = known
        .get_or_try_init(|| ask_identity(daemon, social, chat))
        .await?;
    Ok(found.clone())
}

/// Asks the server, retrying while it is unreachable (a daemon started
/// before the network is up). A refused token is not retried; the next
/// chat of the account asks again and gets the same answer.
async fn ask_identity(
    daemon: &Daemon,
    social: &dyn Social,
    chat: &Chat,
) -> anyhow::Result<(Account, Instance)> {
    let mut backoff = crate::network::backoff::Backoff::new(
        daemon.tuning.backoff_base,
        daemon.tuning.backoff_cap,
    );
    loop {
        let result =
            async { Ok::<_, NetError>((social.me().await?, social.instance().await?)) }.await;
        match result {
            Ok(found) => {
                crate::network::nodeinfo::warn_on_other_platform(social, chat.account().server(), chat.account().platform())
                    .await;
                return Ok(found);
            }
            Err(e @ NetError::Unauthorized { .. }) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "chat {}: the server {} refused the access token; check the token and that it has the scopes `read write`",
                    chat.id(), chat.account().server()
                )))
            }
            Err(e) if e.is_retryable() => {
                let delay = backoff.next_delay();
                tracing::warn!(chat = %chat.id(), ?delay, "cannot reach the server yet: {e}");
                tokio::select! {
                    _ = daemon.shutdown.cancelled() => anyhow::bail!("stopped before the server answered"),
                    _ = tokio::time::sleep(delay) => {}
                }
            }
            Err(e) => return Err(anyhow::Error::new(e).context(format!("chat {}", chat.id()))),
        }
    }
}

/// The run to do next: one in progress (started while hashchat was down,
/// not yet over) or the next scheduled one; runs already done are passed.
/// The next `n` scheduled starts after `now` that have no run yet (a
/// cancelled run counts as one).
pub(crate) async fn upcoming_starts(
    daemon: &Daemon,
    chat: &Chat,
    now: DateTime<Utc>,
    n: usize,
) -> anyhow::Result<Vec<DateTime<Utc>>> {
    // A run already opened for its reminders comes first.
    let mut starts: Vec<DateTime<Utc>> = daemon
        .store
        .unfinished_runs(chat.id())
        .await?
        .into_iter()
        .filter(|r| r.planned_start > now)
        .map(|r| r.planned_start)
        .collect();
    let last = daemon.store.last_planned_start(chat.id()).await?;
    let after = last.map_or(now, |last| last.max(now));
    starts.extend(schedule::next_starts(chat, after, n));
    starts.truncate(n);
    Ok(starts)
}

async fn next_start(
    daemon: &Daemon,
    chat: &Chat,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<DateTime<Utc>>> {
    let length = schedule::timeline(chat, now).collect_until - now;
    let mut after = now - length;
    for _ in 0..MISSED_LOOKBACK_RUNS {
        let Some(start) = schedule::next_starts(chat, after, 1).into_iter().next() else {
            return Ok(None);
        };
        let done = daemon
            .store
            .last_planned_start(chat.id())
            .await?
            .is_some_and(|last| last >= start);
        if !done {
            return Ok(Some(start));
        }
        after = start;
    }
    Ok(None)
}

/// Records runs whose whole window passed since the last known run, so
/// the history shows them as missed instead of silently absent. Only
/// chats with a history are checked: a new chat has missed nothing.
async fn record_missed(daemon: &Daemon, chat: &Chat) -> anyhow::Result<()> {
    let Some(last) = daemon.store.last_planned_start(chat.id()).await? else {
        return Ok(());
    };
    let now = daemon.clock.now();
    for start in schedule::next_starts(chat, last, MISSED_LOOKBACK_RUNS) {
        let until = schedule::timeline(chat, start).collect_until;
        if until >= now {
            break;
        }
        if daemon
            .store
            .record_missed_run(chat.id(), start, until)
            .await?
        {
            tracing::error!(chat = %chat.id(), start = %start, "missed a whole run while hashchat was not running");
        }
    }
    Ok(())
}
