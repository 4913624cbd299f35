//! The leases of a database every replica shares, as the chat tasks use
//! them: a trait, so that the fault test can put a replica's calls behind
//! a gate, and its one implementation, PostgreSQL's rows.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::store::postgres::{Acquired, Claim, FencingToken, Grant, Leases};

/// Chat leases in a database every replica shares. PostgreSQL's
/// [`Leases`] are the one implementation; tests wrap them to freeze a
/// replica.
#[async_trait]
pub trait SharedLeases: Send + Sync + 'static {
    async fn acquire(
        &self,
        chat_id: &str,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Acquired>;
    async fn renew(
        &self,
        grant: &Grant,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<Grant>>;
    async fn release(&self, grant: &Grant) -> anyhow::Result<bool>;
    async fn claim_post(
        &self,
        chat_id: &str,
        run_id: i64,
        seq: u32,
        token: FencingToken,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Claim>;
}

#[async_trait]
impl SharedLeases for Leases {
    async fn acquire(
        &self,
        chat_id: &str,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Acquired> {
        Leases::acquire(self, chat_id, holder, ttl, now).await
    }

    async fn renew(
        &self,
        grant: &Grant,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<Grant>> {
        Leases::renew(self, grant, ttl, now).await
    }

    async fn release(&self, grant: &Grant) -> anyhow::Result<bool> {
        Leases::release(self, grant).await
    }

    async fn claim_post(
        &self,
        chat_id: &str,
        run_id: i64,
        seq: u32,
        token: FencingToken,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Claim> {
        Leases::claim_post(self, chat_id, run_id, seq, token, now).await
    }
}
