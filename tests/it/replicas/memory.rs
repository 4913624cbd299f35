//! Chat leases in the test's memory with PostgreSQL's semantics
//! (`store::postgres::Leases`): the replicas of a SQLite run share them,
//! so the fault test runs on both stores.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hashchat::run::SharedLeases;
use hashchat::store::postgres::{Acquired, Claim, FencingToken, Grant};

#[derive(Default)]
pub struct MemoryLeases(Mutex<Table>);

#[derive(Default)]
struct Table {
    leases: HashMap<String, Grant>,
    claims: HashMap<(i64, u32), FencingToken>,
    last_token: i64,
}

#[async_trait]
impl SharedLeases for MemoryLeases {
    async fn acquire(
        &self,
        chat_id: &str,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Acquired> {
        let mut table = self.0.lock().unwrap();
        if let Some(other) = table.leases.get(chat_id) {
            if other.expires_at > now && other.holder != holder {
                return Ok(Acquired::HeldBy(Some(other.clone())));
            }
        }
        table.last_token += 1;
        let grant = Grant {
            chat_id: chat_id.into(),
            holder: holder.into(),
            token: FencingToken(table.last_token),
            expires_at: now + chrono::Duration::from_std(ttl)?,
        };
        table.leases.insert(chat_id.into(), grant.clone());
        Ok(Acquired::Granted(grant))
    }

    async fn renew(
        &self,
        grant: &Grant,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<Grant>> {
        let mut table = self.0.lock().unwrap();
        let Some(held) = table.leases.get_mut(&grant.chat_id) else {
            return Ok(None);
        };
        if held.token != grant.token || held.holder != grant.holder || held.expires_at <= now {
            return Ok(None);
        }
        held.expires_at = now + chrono::Duration::from_std(ttl)?;
        Ok(Some(held.clone()))
    }

    async fn release(&self, grant: &Grant) -> anyhow::Result<bool> {
        let mut table = self.0.lock().unwrap();
        let ours = table
            .leases
            .get(&grant.chat_id)
            .is_some_and(|held| held.token == grant.token);
        if ours {
            table.leases.remove(&grant.chat_id);
        }
        Ok(ours)
    }

    async fn claim_post(
        &self,
        chat_id: &str,
        run_id: i64,
        seq: u32,
        token: FencingToken,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Claim> {
        let mut table = self.0.lock().unwrap();
        let current = table
            .leases
            .get(chat_id)
            .is_some_and(|held| held.token == token && held.expires_at > now);
        if !current {
            return Ok(Claim::NotHolder);
        }
        Ok(match table.claims.get(&(run_id, seq)) {
            Some(earlier) => Claim::AlreadyClaimed(*earlier),
            None => {
                table.claims.insert((run_id, seq), token);
                Claim::Claimed
            }
        })
    }
}

impl MemoryLeases {
    /// The unexpired lease on `chat_id` at `now`.
    pub fn holder_of(&self, chat_id: &str, now: DateTime<Utc>) -> Option<Grant> {
        let table = self.0.lock().unwrap();
        table
            .leases
            .get(chat_id)
            .filter(|held| held.expires_at > now)
            .cloned()
    }
}
