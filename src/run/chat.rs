//! One chat's life in the daemon: finish what a previous process left
//! unfinished, record runs missed while nobody was running, then sleep
//! until each next run and drive it.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::driver::{drive, Ended};
use super::{Daemon, DryRun};
use crate::chats::Chat;
use crate::memory::Activity;
use crate::network::{Account, Instance, NetError, Social};
use crate::schedule;

/// How far back missed runs are looked for after a long downtime.
const MISSED_LOOKBACK_RUNS: usize = 100;

pub async fn chat_loop(
    daemon: &Daemon,
    chat: Chat,
    activity: &mut Activity,
    leases: &Leases,
) -> anyhow::Result<()> {
    let holder = daemon.holder.as_str();
    take_lease(daemon, &chat, holder).await?;
    // Renewed by the daemon's one renewer while this chat sleeps for days
    // or waits on the server; no longer once the chat ends, even by a panic.
    let held = leases.hold(&chat.id);
    let result = chat_runs(daemon, &chat, activity).await;
    drop(held);
    if let Err(e) = daemon.store.release_lease(&chat.id, holder).await {
        tracing::warn!(chat = %chat.id, "could not release the chat's lease: {e:#}");
    }
    result
}

/// The chats whose leases this process holds. One task renews them all
/// with one statement every 30 s: an idle daemon with 100 chats used to
/// run 100 tasks and 100 writes, through as many database connections
/// as the pool allowed.
#[derive(Debug, Default)]
pub(crate) struct Leases {
    held: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl Leases {
    fn held(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeSet<String>> {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Renews `chat_id`'s lease until the returned guard is dropped.
    fn hold<'a>(&'a self, chat_id: &'a str) -> Held<'a> {
        self.held().insert(chat_id.to_string());
        Held {
            leases: self,
            chat_id,
        }
    }

    /// Renews the held leases every [`RENEW_EVERY`], until dropped.
    pub(crate) async fn keep(
        &self,
        store: crate::store::Store,
        clock: crate::clock::SharedClock,
        holder: String,
    ) {
        self.keep_every(RENEW_EVERY, store, clock, holder).await;
    }

    async fn keep_every(
        &self,
        every: std::time::Duration,
        store: crate::store::Store,
        clock: crate::clock::SharedClock,
        holder: String,
    ) {
        loop {
            tokio::time::sleep(every).await;
            let now = clock.now();
            let renewed = match store.renew_leases(&holder, now + LEASE).await {
                Ok(renewed) => renewed,
                Err(e) => {
                    tracing::warn!("could not renew the chats' leases: {e:#}");
                    continue;
                }
            };
            let missing: Vec<String> = {
                let held = self.held();
                held.iter()
                    .filter(|id| !renewed.contains(id))
                    .cloned()
                    .collect()
            };
            // Not ours any more (another process took it after this one
            // stalled past its expiry) or gone: take it back if free.
            for chat_id in missing {
                match store
                    .acquire_lease(&chat_id, &holder, now, now + LEASE)
                    .await
                {
                    Ok(Ok(())) => {}
                    Ok(Err(other)) => {
                        tracing::error!(chat = %chat_id, holder = %other.holder, "lost the chat's lease to another process")
                    }
                    Err(e) => {
                        tracing::warn!(chat = %chat_id, "could not renew the chat's lease: {e:#}")
                    }
                }
            }
        }
    }
}

/// A lease the renewer keeps renewing while this lives.
struct Held<'a> {
    leases: &'a Leases,
    chat_id: &'a str,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.leases.held().remove(self.chat_id);
    }
}

/// How long a lease lasts without renewal, and how often it is renewed.
const LEASE: chrono::Duration = chrono::Duration::seconds(90);
const RENEW_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// This process's identity in leases: host, pid and a random part (pids
/// are reused across containers).
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

/// Whether a lease holder is known to be gone: a process on this host
/// whose pid no longer exists, or that has our own pid but another random
/// part (a previous life of this container or service, after `kill -9`).
/// Unknown (another host, no /proc) counts as alive: its lease expires.
fn holder_is_gone(holder: &str) -> bool {
    let mut parts = holder.rsplitn(3, ':');
    let (Some(_random), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    if host != host_name() || !std::path::Path::new("/proc/self").exists() {
        return false;
    }
    pid == std::process::id() || !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

async fn take_lease(daemon: &Daemon, chat: &Chat, holder: &str) -> anyhow::Result<()> {
    let now = daemon.clock.now();
    let other = match daemon
        .store
        .acquire_lease(&chat.id, holder, now, now + LEASE)
        .await?
    {
        Ok(()) => return Ok(()),
        Err(other) => other,
    };
    if holder_is_gone(&other.holder)
        && daemon
            .store
            .take_over_lease(&chat.id, &other.holder, holder, now, now + LEASE)
            .await?
    {
        tracing::warn!(chat = %chat.id, previous = %other.holder, "took over the chat from a hashchat process that is no longer running");
        return Ok(());
    }
    anyhow::bail!(
        "chat `{}` is already being run by another hashchat process ({}, since {}); \
         stop that process first, or wait until its lease expires at {} if it died",
        chat.id,
        other.holder,
        other.acquired_at,
        other.expires_at
    )
}

async fn chat_runs(daemon: &Daemon, chat: &Chat, activity: &mut Activity) -> anyhow::Result<()> {
    let social: Arc<dyn Social> = if daemon.options.dry_run {
        Arc::new(DryRun::new(chat.timezone))
    } else {
        daemon.connector.connect(chat)?
    };
    let (me, instance) = identify(daemon, social.as_ref(), chat).await?;
    tracing::info!(chat = %chat.id, bot = %me.acct, domain = %instance.domain, "chat ready");
    warn_overlong_posts(chat, instance.max_characters);
    runs(daemon, chat, &social, &me, &instance, activity).await
}

/// Finishes unfinished runs, records missed ones, then does each next run.
async fn runs(
    daemon: &Daemon,
    chat: &Chat,
    social: &Arc<dyn Social>,
    me: &Account,
    instance: &Instance,
    activity: &mut Activity,
) -> anyhow::Result<()> {
    for run in daemon.store.unfinished_runs(&chat.id).await? {
        tracing::info!(chat = %chat.id, run = run.id, "resuming an unfinished run");
        if Box::pin(drive(daemon, social, me, instance, chat, run)).await? == Ended::Interrupted
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
                    tracing::info!(chat = %chat.id, "no more runs scheduled");
                    return Ok(());
                }
            }
        };
        tracing::info!(chat = %chat.id, start = %start, local = %start.with_timezone(&chat.timezone), "next run");
        // Reminders go out before the start: wake for the earliest post.
        let wake = schedule::timeline(chat, start)
            .posts
            .iter()
            .map(|p| p.at)
            .min()
            .map_or(start, |first| first.min(start));
        activity.rest();
        tokio::select! {
            _ = daemon.shutdown.cancelled() => return Ok(()),
            _ = daemon.clock.sleep_until(wake) => {}
        }
        activity.work();
        let collect_until = schedule::timeline(chat, start).collect_until;
        let run = daemon
            .store
            .open_run(&chat.id, start, collect_until)
            .await?;
        if let Some(by) = &run.cancelled_by {
            tracing::info!(chat = %chat.id, start = %start, moderator = %by, "run called off by a moderator; not posting it");
            if daemon.options.once {
                return Ok(());
            }
            continue;
        }
        if Box::pin(drive(daemon, social, me, instance, chat, run)).await? == Ended::Interrupted
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
        let length = crate::chats::post_length(&post.text);
        if length > limit {
            tracing::error!(
                chat = %chat.id, seq = post.seq, length, limit,
                "this post is longer than the instance allows and will be rejected; shorten it in chats.yaml"
            );
        }
    }
}

/// Who the bot is and what the instance allows, retried while the server
/// is unreachable (a daemon started before the network is up).
async fn identify(
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
            Ok(found) => return Ok(found),
            Err(e @ NetError::Unauthorized { .. }) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "chat {}: the server {} refused the access token; check the token and that it has the scopes `read write`",
                    chat.id, chat.server
                )))
            }
            Err(e) if e.is_retryable() => {
                let delay = backoff.next_delay();
                tracing::warn!(chat = %chat.id, ?delay, "cannot reach the server yet: {e}");
                tokio::select! {
                    _ = daemon.shutdown.cancelled() => anyhow::bail!("stopped before the server answered"),
                    _ = tokio::time::sleep(delay) => {}
                }
            }
            Err(e) => return Err(anyhow::Error::new(e).context(format!("chat {}", chat.id))),
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
        .unfinished_runs(&chat.id)
        .await?
        .into_iter()
        .filter(|r| r.planned_start > now)
        .map(|r| r.planned_start)
        .collect();
    let last = daemon.store.last_planned_start(&chat.id).await?;
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
            .last_planned_start(&chat.id)
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
    let Some(last) = daemon.store.last_planned_start(&chat.id).await? else {
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
            .record_missed_run(&chat.id, start, until)
            .await?
        {
            tracing::error!(chat = %chat.id, start = %start, "missed a whole run while hashchat was not running");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_renewer_extends_held_leases_and_reports_or_retakes_lost_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(&dir.path().join("h.db"))
            .await
            .unwrap();
        let start = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 12, 3, 20, 0, 0).unwrap();
        let (me, other) = ("me", "other");
        for chat in ["a", "b", "c"] {
            store
                .acquire_lease(chat, me, start, start + LEASE)
                .await
                .unwrap()
                .unwrap();
        }
        let leases = Arc::new(Leases::default());
        // "b" was taken by another process while this one stalled past its
        // expiry; the row of "c" is gone (someone cleaned the table).
        let later = start + LEASE + chrono::Duration::seconds(1);
        store
            .acquire_lease("b", other, later, later + LEASE)
            .await
            .unwrap()
            .unwrap();
        store.release_lease("c", me).await.unwrap();
        let clock: crate::clock::SharedClock = Arc::new(crate::clock::ManualClock::new(later));
        let renewer = {
            let (leases, store) = (Arc::clone(&leases), store.clone());
            tokio::spawn(async move {
                let (_a, _b, _c) = (leases.hold("a"), leases.hold("b"), leases.hold("c"));
                let every = std::time::Duration::from_millis(5);
                leases.keep_every(every, store, clock, me.into()).await;
            })
        };
        let holder = |chat: &'static str| {
            let store = store.clone();
            async move { store.lease_of(chat, later).await.unwrap() }
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), async {
            loop {
                let renewed = holder("a")
                    .await
                    .is_some_and(|a| a.expires_at == later + LEASE);
                let retaken = holder("c").await.is_some_and(|c| c.holder == me);
                if renewed && retaken {
                    break;
                }
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the held lease is renewed and the gone one taken back");
        renewer.abort();
        let b = holder("b").await.expect("b is held");
        assert_eq!(
            b.holder, other,
            "a lease another process took is not taken back"
        );
        assert_eq!(b.expires_at, later + LEASE);
    }

    #[test]
    fn a_lease_holder_is_gone_only_when_this_host_can_tell() {
        let host = host_name();
        let me = std::process::id();
        // Our own pid with another random part: a previous life of this process.
        assert!(holder_is_gone(&format!("{host}:{me}:00000000")));
        // A pid that cannot exist.
        assert!(holder_is_gone(&format!("{host}:4294967295:00000000")));
        // Another host, or a holder name we cannot read: assume alive.
        assert!(!holder_is_gone(&format!("elsewhere.example:{me}:00000000")));
        assert!(!holder_is_gone("test-process"));
        // pid 1 exists on every Linux host.
        assert!(!holder_is_gone(&format!("{host}:1:00000000")) || me == 1);
    }
}
