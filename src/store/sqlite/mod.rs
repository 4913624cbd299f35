//! SQLite storage, the embedded default: one file, written by one daemon
//! at a time (the lease files beside it, `super::leases`), read by `recap`,
//! `stats` and `serve` at the same time (WAL).
//!
//! Owns the SQLite schema (`migrations/`) and the SQL in these files; the
//! rules shared with PostgreSQL (what recording a page of statuses does)
//! live in `super::page`.

mod batch;
mod history;
mod posts;
mod runs;
mod sessions;
mod statuses;
mod steering;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, SqliteConnection, SqlitePool};

use super::{Answered, PostRow, PostState, Recorded, RunActivity, RunRow, StatusRow, SteerRecord};
use crate::schedule::PlanPost;

/// A SQLite database file (or a private in-memory one).
pub(crate) struct SqliteBackend {
    pool: SqlitePool,
    /// The file, for the connection [`SqliteBackend::change_marker`] reads
    /// on; `None` in memory, where no other process can write.
    path: Option<PathBuf>,
    /// `PRAGMA data_version` is per connection (it moves when another
    /// connection commits): it must be read on one connection kept for it,
    /// opened the first time it is asked for.
    marker: tokio::sync::Mutex<Option<SqliteConnection>>,
}

impl std::fmt::Debug for SqliteBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteBackend")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

with_operations!(delegate_backend, SqliteBackend);

impl SqliteBackend {
    /// Opens (creating if needed) the database file and brings its schema
    /// up to date.
    pub(crate) async fn open(path: &Path) -> anyhow::Result<Self> {
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
        Self::connect(options, pool, Some(path.to_path_buf()))
            .await
            .with_context(|| format!("cannot open the database {}", path.display()))
    }

    /// A private in-memory database (dry runs and tests).
    pub(crate) async fn open_in_memory() -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?;
        // One connection, never closed or recycled: every in-memory
        // connection is its own database, gone when it closes.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None);
        Self::connect(options, pool, None).await
    }

    async fn connect(
        options: SqliteConnectOptions,
        pool: SqlitePoolOptions,
        path: Option<PathBuf>,
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
            path,
            marker: tokio::sync::Mutex::new(None),
        })
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub(crate) async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// SQLite's `data_version` on a read-only connection of our own: it
    /// changes whenever another connection (this process's pool or another
    /// process) commits.
    pub(crate) async fn change_marker(&self) -> anyhow::Result<i64> {
        let Some(path) = &self.path else {
            return Ok(0);
        };
        let mut marker = self.marker.lock().await;
        if marker.is_none() {
            let conn = SqliteConnectOptions::new()
                .filename(path)
                .read_only(true)
                .connect()
                .await?;
            *marker = Some(conn);
        }
        let conn = marker.as_mut().context("the marker connection is open")?;
        Ok(sqlx::query_scalar::<_, i64>("PRAGMA data_version")
            .fetch_one(conn)
            .await?)
    }
}

#[cfg(test)]
mod tests;
