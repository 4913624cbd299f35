//! SQLite storage: runs, the posts planned for them and the statuses seen.
//!
//! Owns the database file and its schema (`migrations/`, applied at
//! start-up). Uniqueness in the schema is what makes reprocessing
//! idempotent: one run per (chat, planned start), one post per (run, seq),
//! one status per (run, uri), whatever
//! id its server gives it now. Knows nothing about the network.

mod batch;
mod history;
mod leases;
pub mod postgres;
mod posts;
mod runs;
mod sessions;
mod statuses;
mod steering;

pub use history::RunActivity;
pub use leases::{Lease, LeaseHolder};
pub use posts::{PostRow, PostState};
pub use runs::{RunRow, RunState};
pub use statuses::{watched_key, Answered, Recorded, StatusRow, StoredStatus};
pub use steering::SteerRecord;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, SqlitePool};
use tokio::sync::watch;

/// A handle on the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    leases: leases::Leases,
    /// Bumped after every write the pages show (a post sent, an answer
    /// stored, a run paused): the web room wakes on it instead of polling.
    changes: Arc<watch::Sender<u64>>,
}

impl Store {
    /// Opens (creating if needed) the database file and brings its schema
    /// up to date.
    pub async fn open(path: &Path) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            // A connection is a thread and a page cache: an idle daemon
            // keeps one, not the four a busy moment opened. Opening one
            // again costs about a millisecond.
            .idle_timeout(Duration::from_secs(60))
            // A task cancelled just as its `BEGIN IMMEDIATE` ran leaves its
            // connection inside a transaction nothing can end, holding the
            // write lock, and every other writer fails after `busy_timeout`:
            // once any queued rollback has run, close such a connection
            // (SQLite rolls back) instead of pooling it. Not for the in-memory store, whose one connection is the
            // database.
            .after_release(|conn, _| {
                Box::pin(async move {
                    conn.ping().await?; // runs a queued rollback first
                    Ok(!conn.is_in_transaction())
                })
            });
        Self::connect(options, pool, leases::Leases::beside(path))
            .await
            .with_context(|| format!("cannot open the database {}", path.display()))
    }

    /// A private in-memory database (dry runs and tests).
    pub async fn open_in_memory() -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?;
        // One connection, never closed or recycled: every in-memory
        // connection is its own database, gone when it closes.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None);
        Self::connect(options, pool, leases::Leases::in_memory()).await
    }

    async fn connect(
        options: SqliteConnectOptions,
        pool: SqlitePoolOptions,
        leases: leases::Leases,
    ) -> anyhow::Result<Self> {
        let options = options
            // WAL lets `hashchat recap` read while the daemon writes.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            // Another process holding the write lock is waited for, not fatal.
            .busy_timeout(Duration::from_secs(10));
        // A local file does not go stale as a network connection does: no
        // ping to the worker thread before every use of a connection.
        let pool = pool
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .context("cannot bring the database schema up to date")?;
        Ok(Self {
            pool,
            leases,
            changes: Arc::new(watch::Sender::new(0)),
        })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// A receiver that sees a new value after each change to what the
    /// web pages show, made through this handle (or a clone of it).
    pub fn watch_changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Tells the watchers something changed: called after a write has
    /// committed, and by `crate::web` when another process wrote.
    pub fn changed(&self) {
        self.changes.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Takes the lease on `chat_id` for `holder`; when another holder has
    /// it, returns who. Never waits for the other holder.
    pub async fn take_lease(
        &self,
        chat_id: &str,
        holder: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Result<Lease, LeaseHolder>> {
        self.leases.take(chat_id, holder, now).await
    }

    /// Who holds the chat's lease now, if anyone.
    pub fn lease_of(&self, chat_id: &str) -> anyhow::Result<Option<LeaseHolder>> {
        self.leases.holder_of(chat_id)
    }
}

/// Orders Mastodon status ids (decimal strings of varying length) numerically.
pub fn id_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests;
