//! PostgreSQL: history.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::PgBackend;
use crate::store::RunActivity;

impl PgBackend {
    /// Handles with a (not deleted) post in a run of `chat_id` planned
    /// before `before`: whoever is not in it is a first-timer.
    #[tracing::instrument(skip(self))]
    pub(crate) async fn accounts_seen_before(
        &self,
        chat_id: &str,
        before: DateTime<Utc>,
    ) -> anyhow::Result<HashSet<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT DISTINCT s.account FROM statuses s JOIN runs r ON r.id = s.run_id
             WHERE r.chat_id = $1 AND r.planned_start < $2 AND s.deleted_at IS NULL",
        )
        .bind(chat_id)
        .bind(before)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// The stored HTML of each status of a run, by status id (deleted ones
    /// left out): what the recap sanitises and shows.
    pub(crate) async fn status_html(&self, run_id: i64) -> anyhow::Result<HashMap<String, String>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT status_id, html FROM statuses WHERE run_id = $1 AND deleted_at IS NULL",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().collect())
    }

    /// How many of a run's statuses were deleted.
    pub(crate) async fn deleted_count(&self, run_id: i64) -> anyhow::Result<u32> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM statuses WHERE run_id = $1 AND deleted_at IS NOT NULL",
        )
        .bind(run_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Every run of a chat that took place (missed ones left out), oldest
    /// first, with who took part: two queries whatever the number of runs.
    #[tracing::instrument(skip(self))]
    pub(crate) async fn run_activity(&self, chat_id: &str) -> anyhow::Result<Vec<RunActivity>> {
        let runs: Vec<(i64, DateTime<Utc>, Option<DateTime<Utc>>)> = sqlx::query_as(
            "SELECT id, planned_start, started_at FROM runs
             WHERE chat_id = $1 AND state != 'missed' ORDER BY planned_start",
        )
        .bind(chat_id)
        .fetch_all(&self.pool)
        .await?;
        let posts: Vec<(i64, String, bool)> = sqlx::query_as(
            "SELECT s.run_id, s.account,
                    EXISTS (SELECT 1 FROM answers a
                            WHERE a.run_id = s.run_id AND a.status_id = s.status_id)
             FROM statuses s JOIN runs r ON r.id = s.run_id
             WHERE r.chat_id = $1 AND s.deleted_at IS NULL",
        )
        .bind(chat_id)
        .fetch_all(&self.pool)
        .await?;
        let mut by_run: HashMap<i64, HashMap<String, u32>> = HashMap::new();
        for (run_id, account, answered) in posts {
            *by_run
                .entry(run_id)
                .or_default()
                .entry(account)
                .or_default() += u32::from(answered);
        }
        Ok(runs
            .into_iter()
            .map(|(run_id, planned_start, started_at)| RunActivity {
                run_id,
                planned_start,
                started_at,
                accounts: by_run.remove(&run_id).unwrap_or_default(),
            })
            .collect())
    }
}

impl PgBackend {
    /// Records that `account` got its welcome from `chat_id`; `false` when
    /// it already had one (it never gets a second).
    pub(crate) async fn record_welcome(
        &self,
        chat_id: &str,
        account: &str,
        status_id: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "INSERT INTO welcomes (chat_id, account, status_id, at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (chat_id, account) DO NOTHING",
        )
        .bind(chat_id)
        .bind(account)
        .bind(status_id)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

impl PgBackend {
    pub(crate) async fn welcomes(
        &self,
        chat_id: &str,
    ) -> anyhow::Result<Vec<(String, String, DateTime<Utc>)>> {
        Ok(sqlx::query_as(
            "SELECT account, status_id, at FROM welcomes WHERE chat_id = $1 ORDER BY at, account",
        )
        .bind(chat_id)
        .fetch_all(&self.pool)
        .await?)
    }
}
