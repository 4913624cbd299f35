//! PostgreSQL storage, for several replicas on one database (issue 16).
//!
//! Owns the PostgreSQL schema (`migrations/postgres/`, a folder of its own
//! since PostgreSQL has `timestamptz` and identities where SQLite has text
//! and rowids), the same operations as `super::sqlite` in PostgreSQL's SQL
//! ([`PgBackend`]), and the chat leases that let replicas share chats.
//! Transactions that SQLite opens with `BEGIN IMMEDIATE` lock the run's
//! row first here ([`lock_run`]).

mod batch;
mod history;
pub mod leases;
mod posts;
mod runs;
mod sessions;
mod statuses;
mod steering;

pub use leases::{Acquired, Claim, FencingToken, Grant, Leases};

use std::collections::{HashMap, HashSet};

use anyhow::Context;
use chrono::{DateTime, Utc};
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool};

use super::{
    Answered, PostRow, PostState, PostgresUrl, Recorded, RunActivity, RunRow, StatusRow,
    SteerRecord,
};
use crate::schedule::PlanPost;

/// Connects to the database at `url` (`postgres://user:pass@host:port/db`)
/// and brings its schema up to date.
pub async fn open(url: &str) -> anyhow::Result<PgPool> {
    let options = PgConnectOptions::from_str(url)
        .context("cannot read the PostgreSQL URL")?
        // A task cancelled just after its BEGIN reached the server leaves
        // its connection in a transaction that sqlx does not know of (its
        // depth was never counted), and the pool hands it out again: every
        // later statement on it, a lease grant included, then joins that
        // transaction, whose locks are never released and hold every other
        // replica's lease renewal. The fault test (tests/it/replicas.rs)
        // found it. The server ends such a session after a moment, and the
        // fencing tokens make whatever it believed it held harmless.
        .options([("idle_in_transaction_session_timeout", "2s")]);
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .context("cannot connect to the PostgreSQL database")?;
    migrate(&pool).await?;
    Ok(pool)
}

/// Applies the migrations in `migrations/postgres/` not yet applied. Several
/// replicas starting at once are safe: sqlx takes an advisory lock for it.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::migrate!("./migrations/postgres")
        .run(pool)
        .await
        .context("cannot bring the PostgreSQL schema up to date")
}

/// A PostgreSQL database: the storage operations on its pool.
#[derive(Debug)]
pub(crate) struct PgBackend {
    pool: PgPool,
}

with_operations!(delegate_backend, PgBackend);

impl PgBackend {
    /// Connects and migrates; every error names the URL without its
    /// password, and any text of the driver's that quotes it is scrubbed.
    pub(crate) async fn open(url: &PostgresUrl) -> anyhow::Result<Self> {
        match open(url.expose()).await {
            Ok(pool) => Ok(Self { pool }),
            Err(e) => Err(anyhow::anyhow!(
                "cannot open the database {url}: {}",
                url.scrub(&format!("{e:#}"))
            )),
        }
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The `store_changes` counter, which a trigger bumps once in every
    /// transaction that writes a table the pages show (see the schema):
    /// it commits with the writes, so whoever sees the new number sees them.
    pub(crate) async fn change_marker(&self) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar("SELECT n FROM store_changes")
            .fetch_one(&self.pool)
            .await?)
    }
}

/// Locks a run's row for the rest of the transaction: what SQLite's
/// `BEGIN IMMEDIATE` does for the whole file, for a read of the run's rows
/// that the same transaction's writes depend on. (`NO KEY`: inserting a
/// post or a status of the run, which only needs the key, is not blocked.)
async fn lock_run(conn: &mut PgConnection, run_id: i64) -> anyhow::Result<()> {
    sqlx::query("SELECT 1 FROM runs WHERE id = $1 FOR NO KEY UPDATE")
        .bind(run_id)
        .execute(conn)
        .await?;
    Ok(())
}
