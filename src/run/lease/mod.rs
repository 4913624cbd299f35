//! Which process runs a chat, on either store (issue 16).
//!
//! On SQLite a chat's lease is its lock file beside the database
//! (`store::Lease`): held for the chat task's life, never lost unless the
//! file is removed, and the lock itself is the fence; a second process
//! fails at once with "already being run".
//!
//! With leases in a shared database ([`SharedLeases`], PostgreSQL's
//! `chat_leases` rows) any number of replicas run the same chats.yaml:
//! - a replica without the lease stands by, trying again every TTL/3 with
//!   jitter (a tenth of the TTL at most, so two standbys do not meet on
//!   every try);
//! - the holder's keeper renews every TTL/3; a renewal refused (the lease
//!   expired or was taken over) or one it could not make before the lease
//!   ran out cancels the chat task's token ([`ChatLease::acting`]): the
//!   task stops where it stands, as at shutdown, and stands by again. Its
//!   runs stay unfinished in the store, and whoever takes the chat next
//!   resumes them from there;
//! - every planned post is claimed under the lease's fencing token in one
//!   transaction with the check that the token is still the chat's
//!   ([`Replicas::claim`]) right before it is sent, and a decision only the
//!   holder may take (skipping a late post, ending the run) checks the
//!   lease first ([`Replicas::still_held`]). A replica frozen past its TTL
//!   and woken is refused there, whatever its keeper believes.
//!
//! Expiry is judged by the daemon's clock (the `now` each call passes), so
//! tests drive it with a manual clock. Safety rests on the tokens alone;
//! clocks out of step only move when a takeover happens (docs/RELIABILITY.md).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use tokio_util::sync::CancellationToken;

mod shared;

pub use shared::SharedLeases;

use super::daemon::{Daemon, TaskGuard};
use crate::chats::Chat;
use crate::clock::SharedClock;
use crate::store::postgres::{Acquired, Claim, Grant};
use crate::store::Lease;

/// How long a shared lease lasts unless renewed: `run --lease-ttl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTtl(Duration);

impl LeaseTtl {
    pub const DEFAULT: Self = Self(Duration::from_secs(30));
    /// Renewals come every TTL/3; below a few seconds one slow query loses
    /// the chat.
    pub const MIN: Duration = Duration::from_secs(3);
    /// A dead replica's chats wait this long for another: longer would
    /// let a whole question go unposted.
    pub const MAX: Duration = Duration::from_secs(300);

    pub fn new(ttl: Duration) -> Result<Self, String> {
        if (Self::MIN..=Self::MAX).contains(&ttl) {
            Ok(Self(ttl))
        } else {
            Err(format!(
                "a lease TTL must be between {} and {} (a dead replica's chats wait that long for another), not {}",
                humantime::format_duration(Self::MIN),
                humantime::format_duration(Self::MAX),
                humantime::format_duration(ttl),
            ))
        }
    }

    /// Parses `30s`, `1m`… for the command line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let ttl = humantime::parse_duration(text)
            .map_err(|e| format!("`{text}` is not a duration such as 30s or 1m: {e}"))?;
        Self::new(ttl)
    }

    pub fn get(self) -> Duration {
        self.0
    }

    /// How often the holder renews and a standby tries again.
    fn beat(self) -> Duration {
        self.0 / 3
    }

    /// The most a standby adds to its wait.
    fn jitter(self) -> Duration {
        self.0 / 10
    }
}

impl Default for LeaseTtl {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// How this daemon shares its chats with other processes: the default is
/// SQLite's lease files (no other replica); [`Replicas::shared`] puts the
/// leases in a database. A chat task's view of the daemon also carries
/// the fence of the lease it holds.
#[derive(Clone, Default)]
pub struct Replicas {
    shared: Option<Arc<dyn SharedLeases>>,
    ttl: LeaseTtl,
    fence: Option<Arc<Fence>>,
}

/// What a chat task holding a shared lease checks before acting.
pub(crate) struct Fence {
    leases: Arc<dyn SharedLeases>,
    grant: Grant,
    ttl: LeaseTtl,
    /// Cancelled when the lease is lost: the chat task's shutdown token.
    lost: CancellationToken,
}

/// What a claim of a planned post found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claimed {
    /// This holder may send the post (its own earlier claim included).
    Mine,
    /// An earlier holder claimed it and may have sent it before it died or
    /// froze: look for it among the bot's statuses before sending.
    Earlier,
    /// This process no longer holds the chat: send nothing, stop.
    Refused,
}

impl Replicas {
    /// Leases in `leases`, each lasting `ttl` unless renewed.
    pub fn shared(leases: Arc<dyn SharedLeases>, ttl: LeaseTtl) -> Self {
        Self {
            shared: Some(leases),
            ttl,
            fence: None,
        }
    }

    /// Whether the leases live in a shared database (replicas stand by).
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Claims post `seq` of `run_id` for sending, fenced by the lease this
    /// chat task holds; on SQLite the lock file is the fence. A refusal
    /// also stops the chat task.
    pub(crate) async fn claim(
        &self,
        run_id: i64,
        seq: u32,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Claimed> {
        let Some(fence) = &self.fence else {
            return Ok(Claimed::Mine);
        };
        let grant = &fence.grant;
        let claim = fence
            .leases
            .claim_post(&grant.chat_id, run_id, seq, grant.token, now)
            .await?;
        Ok(match claim {
            Claim::Claimed => Claimed::Mine,
            Claim::AlreadyClaimed(token) if token == grant.token => Claimed::Mine,
            Claim::AlreadyClaimed(_) => Claimed::Earlier,
            Claim::NotHolder => {
                tracing::warn!(chat = %grant.chat_id, seq, "this replica's lease on the chat is gone: not sending, standing by");
                fence.lost.cancel();
                Claimed::Refused
            }
        })
    }

    /// Whether this chat task still holds its lease (renewing it), before
    /// a step only the holder may take; a refusal stops the chat task.
    pub(crate) async fn still_held(&self, now: DateTime<Utc>) -> anyhow::Result<bool> {
        let Some(fence) = &self.fence else {
            return Ok(true);
        };
        if fence.lost.is_cancelled() {
            return Ok(false);
        }
        let held = fence
            .leases
            .renew(&fence.grant, fence.ttl.get(), now)
            .await?
            .is_some();
        if !held {
            tracing::warn!(chat = %fence.grant.chat_id, "this replica's lease on the chat is gone: standing by");
            fence.lost.cancel();
        }
        Ok(held)
    }
}

/// The lease a chat task holds: a lock file, or a shared lease with the
/// keeper renewing it (stopped when this is dropped; nothing is released
/// then, as when the process is killed).
pub(crate) enum ChatLease {
    File(Lease),
    Shared {
        fence: Arc<Fence>,
        _keeper: TaskGuard<()>,
    },
}

impl ChatLease {
    /// Waits as a standby until this replica gets the chat's shared lease;
    /// `None` at shutdown.
    pub(crate) async fn stand_by(daemon: &Daemon, chat: &Chat) -> anyhow::Result<Option<Self>> {
        let Some(leases) = daemon.replicas.shared.clone() else {
            anyhow::bail!("no shared leases: this daemon runs on SQLite's lease files");
        };
        let ttl = daemon.replicas.ttl;
        let mut standing_by = false;
        loop {
            let now = daemon.clock.now();
            match leases
                .acquire(chat.id(), &daemon.holder, ttl.get(), now)
                .await
            {
                Ok(Acquired::Granted(grant)) => {
                    tracing::info!(chat = %chat.id(), token = grant.token.0, until = %grant.expires_at, "took the chat's lease");
                    return Ok(Some(Self::keep_shared(daemon, leases, grant, now)));
                }
                Ok(Acquired::HeldBy(other)) if !standing_by => {
                    standing_by = true;
                    let (holder, until) = other
                        .map(|g| (g.holder, g.expires_at.to_string()))
                        .unwrap_or_default();
                    tracing::info!(chat = %chat.id(), holder, until, "another replica runs the chat; standing by");
                }
                Ok(Acquired::HeldBy(_)) => {}
                Err(e) => {
                    tracing::warn!(chat = %chat.id(), "cannot read the chat's lease; trying again: {e:#}")
                }
            }
            let jitter = rand::thread_rng().gen_range(Duration::ZERO..=ttl.jitter());
            let next = now + chrono_of(ttl.beat() + jitter);
            tokio::select! {
                _ = daemon.shutdown.cancelled() => return Ok(None),
                _ = daemon.clock.sleep_until(next) => {}
            }
        }
    }

    fn keep_shared(
        daemon: &Daemon,
        leases: Arc<dyn SharedLeases>,
        grant: Grant,
        now: DateTime<Utc>,
    ) -> Self {
        let fence = Arc::new(Fence {
            leases,
            grant,
            ttl: daemon.replicas.ttl,
            lost: daemon.shutdown.child_token(),
        });
        let keeper = TaskGuard::spawn(keep(Arc::clone(&fence), Arc::clone(&daemon.clock), now));
        Self::Shared {
            fence,
            _keeper: keeper,
        }
    }

    /// The daemon as this chat task sees it while it holds the lease: its
    /// shutdown token is also cancelled when the lease is lost, and its
    /// claims are fenced by this lease.
    pub(crate) fn acting(&self, daemon: &Daemon) -> Daemon {
        match self {
            Self::File(_) => daemon.acting(daemon.shutdown.clone(), daemon.replicas.clone()),
            Self::Shared { fence, .. } => {
                let replicas = Replicas {
                    fence: Some(Arc::clone(fence)),
                    ..daemon.replicas.clone()
                };
                daemon.acting(fence.lost.clone(), replicas)
            }
        }
    }

    /// Whether the lease was lost (a lock file is never lost this way).
    pub(crate) fn is_lost(&self) -> bool {
        match self {
            Self::File(_) => false,
            Self::Shared { fence, .. } => fence.lost.is_cancelled(),
        }
    }

    /// The lock file, if this is one (see `chat::keep_lease`).
    pub(crate) fn file(&self) -> Option<&Lease> {
        match self {
            Self::File(lease) => Some(lease),
            Self::Shared { .. } => None,
        }
    }

    /// Gives the lease up so that a standby need not wait for it to expire.
    pub(crate) async fn release(self) {
        if let Self::Shared { fence, _keeper } = self {
            drop(_keeper);
            if let Err(e) = fence.leases.release(&fence.grant).await {
                tracing::warn!(chat = %fence.grant.chat_id, "could not release the chat's lease; it expires by itself: {e:#}");
            }
        }
    }
}

/// Renews `fence`'s lease every TTL/3 from `renewed_at` until it is lost:
/// refused, or not renewed (the database unreachable) before it ran out.
async fn keep(fence: Arc<Fence>, clock: SharedClock, mut renewed_at: DateTime<Utc>) {
    let (ttl, chat) = (fence.ttl, fence.grant.chat_id.clone());
    let mut grant = fence.grant.clone();
    let mut next = renewed_at + chrono_of(ttl.beat());
    loop {
        tokio::select! {
            _ = fence.lost.cancelled() => return,
            _ = clock.sleep_until(next) => {}
        }
        let now = clock.now();
        match fence.leases.renew(&grant, ttl.get(), now).await {
            Ok(Some(renewed)) => {
                (grant, renewed_at) = (renewed, now);
                next = renewed_at + chrono_of(ttl.beat());
                continue;
            }
            Ok(None) => {
                tracing::warn!(chat = %chat, "the chat's lease expired or was taken over; stopping and standing by");
            }
            Err(e) if now < grant.expires_at => {
                tracing::warn!(chat = %chat, until = %grant.expires_at, "cannot renew the chat's lease; trying again: {e:#}");
                next = now + chrono_of(ttl.jitter());
                continue;
            }
            Err(e) => {
                tracing::error!(chat = %chat, "could not renew the chat's lease before it ran out; stopping and standing by: {e:#}");
            }
        }
        fence.lost.cancel();
        return;
    }
}

fn chrono_of(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests;
