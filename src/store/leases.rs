//! Chat leases: at most one process runs a chat at a time.

use chrono::{DateTime, Utc};

use super::Store;

/// Who holds a chat, when another process asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHolder {
    pub holder: String,
    pub acquired_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl Store {
    /// Takes (or renews) the lease on `chat_id` for `holder` until
    /// `expires_at`; when another live holder has it, returns that holder.
    pub async fn acquire_lease(
        &self,
        chat_id: &str,
        holder: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> anyhow::Result<Result<(), LeaseHolder>> {
        // One statement, so two processes racing cannot both win: the
        // update only applies when the lease is ours or has expired.
        let done = sqlx::query(
            "INSERT INTO chat_leases (chat_id, holder, acquired_at, expires_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (chat_id) DO UPDATE SET
                 holder = excluded.holder,
                 acquired_at = CASE WHEN chat_leases.holder = excluded.holder
                                    THEN chat_leases.acquired_at ELSE excluded.acquired_at END,
                 expires_at = excluded.expires_at
             WHERE chat_leases.holder = excluded.holder OR chat_leases.expires_at < ?",
        )
        .bind(chat_id)
        .bind(holder)
        .bind(now)
        .bind(expires_at)
        .bind(now)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 1 {
            return Ok(Ok(()));
        }
        let (holder, acquired_at, expires_at): (String, DateTime<Utc>, DateTime<Utc>) =
            sqlx::query_as(
                "SELECT holder, acquired_at, expires_at FROM chat_leases WHERE chat_id = ?",
            )
            .bind(chat_id)
            .fetch_one(self.pool())
            .await?;
        Ok(Err(LeaseHolder {
            holder,
            acquired_at,
            expires_at,
        }))
    }

    /// Takes the lease from `dead` (a holder known to have died), only if
    /// it still holds it: two processes noticing at once cannot both win.
    pub async fn take_over_lease(
        &self,
        chat_id: &str,
        dead: &str,
        holder: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "UPDATE chat_leases SET holder = ?, acquired_at = ?, expires_at = ?
             WHERE chat_id = ? AND holder = ?",
        )
        .bind(holder)
        .bind(now)
        .bind(expires_at)
        .bind(chat_id)
        .bind(dead)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Renews, until `expires_at`, every lease `holder` still holds;
    /// returns the chats renewed. One statement however many chats.
    pub async fn renew_leases(
        &self,
        holder: &str,
        expires_at: DateTime<Utc>,
    ) -> anyhow::Result<Vec<String>> {
        let renewed = sqlx::query_scalar(
            "UPDATE chat_leases SET expires_at = ? WHERE holder = ? RETURNING chat_id",
        )
        .bind(expires_at)
        .bind(holder)
        .fetch_all(self.pool())
        .await?;
        Ok(renewed)
    }

    /// Gives the lease back (clean exit), if still ours.
    pub async fn release_lease(&self, chat_id: &str, holder: &str) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM chat_leases WHERE chat_id = ? AND holder = ?")
            .bind(chat_id)
            .bind(holder)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

impl Store {
    /// Who holds the chat's lease now, if anyone (expired leases count as none).
    pub async fn lease_of(
        &self,
        chat_id: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<LeaseHolder>> {
        let row: Option<(String, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
            "SELECT holder, acquired_at, expires_at FROM chat_leases
             WHERE chat_id = ? AND expires_at >= ?",
        )
        .bind(chat_id)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(holder, acquired_at, expires_at)| LeaseHolder {
            holder,
            acquired_at,
            expires_at,
        }))
    }
}
