//! PostgreSQL storage, for several replicas on one database (issue 16).
//!
//! Owns the PostgreSQL schema (`migrations/postgres/`, a folder of its own
//! since PostgreSQL has `timestamptz` and identities where SQLite has text
//! and rowids) and, so far, the chat leases that let replicas share chats.
//! The SQLite store (`super`) does not use this module, nor this one it.

pub mod leases;

pub use leases::{Acquired, Claim, FencingToken, Grant, Leases};

use anyhow::Context;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

/// Connects to the database at `url` (`postgres://user:pass@host:port/db`)
/// and brings its schema up to date.
pub async fn open(url: &str) -> anyhow::Result<PgPool> {
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect(url)
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
