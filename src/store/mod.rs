//! Storage: runs, the posts planned for them and the statuses seen, in
//! SQLite (`sqlite/`, the embedded default) or PostgreSQL (`postgres/`,
//! several replicas on one database).
//!
//! [`Store`] is the one handle the rest of the program holds; it calls a
//! [`Backend`] (the operations are listed once, in `backend.rs`) and tells
//! the pages' watchers after each write they show. Each backend owns its
//! schema (`migrations/`, `migrations/postgres/`, applied at start-up).
//! Uniqueness in the schema is what makes reprocessing idempotent: one run
//! per (chat, planned start), one post per (run, seq), one status per (run,
//! uri), whatever id its server gives it now. Knows nothing about the network.

#[macro_use]
mod backend;
mod history;
mod leases;
mod location;
mod page;
pub mod postgres;
mod posts;
mod runs;
pub(crate) mod sqlite;
mod statuses;
mod steering;

pub use backend::Backend;
pub use history::RunActivity;
pub use leases::{Lease, LeaseHolder};
pub use location::{DbLocation, PostgresUrl};
pub use posts::{PostRow, PostState};
pub use runs::{RunRow, RunState};
pub use statuses::{watched_key, Answered, Recorded, StatusRow, StoredStatus};
pub use steering::SteerRecord;

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::{PgPool, SqlitePool};
use tokio::sync::watch;

/// A handle on the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
    kind: Kind,
    /// Bumped after every write the pages show (a post sent, an answer
    /// stored, a run paused): the web room wakes on it instead of polling.
    changes: Arc<watch::Sender<u64>>,
}

/// Which database a [`Store`] is on, with what only that one has.
#[derive(Debug, Clone)]
enum Kind {
    /// Its pool (for its own tests) and the lease files beside it.
    Sqlite(SqlitePool, leases::Leases),
    /// Its pool: the replicas' leases and post claims (`postgres::Leases`)
    /// are taken on it.
    Postgres(PgPool),
}

impl Store {
    fn new(backend: Arc<dyn Backend>, kind: Kind) -> Self {
        Self {
            backend,
            kind,
            changes: Arc::new(watch::Sender::new(0)),
        }
    }

    /// Opens (creating if needed) the SQLite database file and brings its
    /// schema up to date.
    pub async fn open(path: &Path) -> anyhow::Result<Self> {
        let backend = sqlite::SqliteBackend::open(path).await?;
        let kind = Kind::Sqlite(backend.pool().clone(), leases::Leases::beside(path));
        Ok(Self::new(Arc::new(backend), kind))
    }

    /// A private in-memory SQLite database (dry runs and tests).
    pub async fn open_in_memory() -> anyhow::Result<Self> {
        let backend = sqlite::SqliteBackend::open_in_memory().await?;
        let kind = Kind::Sqlite(backend.pool().clone(), leases::Leases::in_memory());
        Ok(Self::new(Arc::new(backend), kind))
    }

    /// Connects to the PostgreSQL database at `url` and brings its schema
    /// up to date.
    pub async fn open_postgres(url: &PostgresUrl) -> anyhow::Result<Self> {
        let backend = postgres::PgBackend::open(url).await?;
        let kind = Kind::Postgres(backend.pool().clone());
        Ok(Self::new(Arc::new(backend), kind))
    }

    /// The database `--db` names, SQLite or PostgreSQL.
    pub async fn open_location(location: &DbLocation) -> anyhow::Result<Self> {
        match location {
            DbLocation::Sqlite(path) => Self::open(path).await,
            DbLocation::Postgres(url) => Self::open_postgres(url).await,
        }
    }

    /// The PostgreSQL pool, on PostgreSQL: where the replicas' leases and
    /// post claims live.
    pub fn postgres_pool(&self) -> Option<&PgPool> {
        match &self.kind {
            Kind::Postgres(pool) => Some(pool),
            Kind::Sqlite(..) => None,
        }
    }

    /// The SQLite pool, on SQLite (tests of SQLite's own behaviour).
    pub fn sqlite_pool(&self) -> Option<&SqlitePool> {
        match &self.kind {
            Kind::Sqlite(pool, _) => Some(pool),
            Kind::Postgres(_) => None,
        }
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
    /// it, returns who. Never waits for the other holder. SQLite only so
    /// far: on PostgreSQL the replicas' fenced leases (`postgres::Leases`)
    /// take its place, and until they are wired in a run refuses to start.
    pub async fn take_lease(
        &self,
        chat_id: &str,
        holder: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Result<Lease, LeaseHolder>> {
        match &self.kind {
            Kind::Sqlite(_, leases) => leases.take(chat_id, holder, now).await,
            Kind::Postgres(_) => {
                anyhow::bail!("running chats on PostgreSQL needs the replica leases (not yet)")
            }
        }
    }

    /// Who holds the chat's lease now, if anyone. On PostgreSQL, nobody
    /// until the replicas' leases are wired in (`status` shows no holder).
    pub fn lease_of(&self, chat_id: &str) -> anyhow::Result<Option<LeaseHolder>> {
        match &self.kind {
            Kind::Sqlite(_, leases) => leases.holder_of(chat_id),
            Kind::Postgres(_) => Ok(None),
        }
    }

    /// Stores a status and the questions it answers: a page of one (see
    /// [`Store::record_statuses`], which holds the rules).
    pub async fn record_status(
        &self,
        run_id: i64,
        status: &StoredStatus,
        answers: &[u32],
    ) -> anyhow::Result<Recorded> {
        let page = [(status.clone(), answers.to_vec())];
        let recorded = self.record_statuses(run_id, &page).await?;
        recorded
            .into_iter()
            .next()
            .context("the store returned no outcome for a page of one")
    }

    /// Marks the next unsent question of a run skipped; returns its number.
    pub async fn skip_post(&self, run_id: i64, seq: u32, reason: &str) -> anyhow::Result<()> {
        self.mark_post(run_id, seq, PostState::Skipped, reason)
            .await
    }
}

/// Orders Mastodon status ids (decimal strings of varying length) numerically.
pub fn id_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}
