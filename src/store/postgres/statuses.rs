//! PostgreSQL: statuses.

use chrono::{DateTime, Utc};

use super::PgBackend;
use crate::store::StatusRow;

impl PgBackend {
    /// Marks a status deleted; returns whether it was one of this run's.
    pub(crate) async fn mark_deleted(
        &self,
        run_id: i64,
        status_id: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "UPDATE statuses SET deleted_at = $1 WHERE run_id = $2 AND status_id = $3 AND deleted_at IS NULL",
        )
        .bind(at)
        .bind(run_id)
        .bind(status_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every status of a run (deleted ones included, marked), oldest first.
    /// Stores the favourites and boosts read at the end of collection:
    /// (status id, favourites, boosts), in one transaction.
    pub(crate) async fn save_reactions(
        &self,
        run_id: i64,
        reactions: &[(String, u64, u64)],
    ) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        for (status_id, favourites, boosts) in reactions {
            sqlx::query(
                "UPDATE statuses SET favourites = $1, boosts = $2 WHERE run_id = $3 AND status_id = $4",
            )
            .bind(i64::try_from(*favourites).unwrap_or(i64::MAX))
            .bind(i64::try_from(*boosts).unwrap_or(i64::MAX))
            .bind(run_id)
            .bind(status_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn statuses(&self, run_id: i64) -> anyhow::Result<Vec<StatusRow>> {
        let mut rows: Vec<StatusRow> = sqlx::query_as(
            "SELECT status_id, instance, account_id, account, display_name, url, text, created_at,
                    edited_at, in_reply_to_id, deleted_at, favourites, boosts
             FROM statuses WHERE run_id = $1 ORDER BY created_at, length(status_id), status_id COLLATE \"C\"",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        let answers: Vec<(String, i64)> = sqlx::query_as(
            "SELECT status_id, question::bigint FROM answers WHERE run_id = $1 ORDER BY question",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        let mut by_status: std::collections::HashMap<String, Vec<u32>> = Default::default();
        for (status_id, question) in answers {
            if let Ok(q) = u32::try_from(question) {
                by_status.entry(status_id).or_default().push(q);
            }
        }
        for row in &mut rows {
            row.answers = by_status.remove(&row.status_id).unwrap_or_default();
        }
        Ok(rows)
    }

    /// The newest status id of the bot's server stored for a run: where
    /// reconciliation resumes.
    pub(crate) async fn last_status_id(&self, run_id: i64) -> anyhow::Result<Option<String>> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT status_id FROM statuses WHERE run_id = $1 AND instance IS NULL
             ORDER BY length(status_id) DESC, status_id COLLATE \"C\" DESC LIMIT 1",
        )
        .bind(run_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.0))
    }
}
