//! PostgreSQL: runs.

use chrono::{DateTime, Utc};

use super::PgBackend;
use crate::store::runs::{RawRun, COLUMNS};
use crate::store::{RunRow, RunState};

impl PgBackend {
    /// The run of `chat_id` planned for `planned_start`, created when new.
    #[tracing::instrument(skip(self))]
    pub(crate) async fn open_run(
        &self,
        chat_id: &str,
        planned_start: DateTime<Utc>,
        collect_until: DateTime<Utc>,
    ) -> anyhow::Result<RunRow> {
        sqlx::query(
            "INSERT INTO runs (chat_id, planned_start, collect_until) VALUES ($1, $2, $3)
             ON CONFLICT (chat_id, planned_start) DO NOTHING",
        )
        .bind(chat_id)
        .bind(planned_start)
        .bind(collect_until)
        .execute(&self.pool)
        .await?;
        let raw: RawRun = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM runs WHERE chat_id = $1 AND planned_start = $2"
        ))
        .bind(chat_id)
        .bind(planned_start)
        .fetch_one(&self.pool)
        .await?;
        Ok(raw.into())
    }

    /// Records a run whose whole window passed while hashchat was down.
    pub(crate) async fn record_missed_run(
        &self,
        chat_id: &str,
        planned_start: DateTime<Utc>,
        collect_until: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "INSERT INTO runs (chat_id, planned_start, collect_until, state, note)
             VALUES ($1, $2, $3, 'missed', 'hashchat was not running during the whole run')
             ON CONFLICT (chat_id, planned_start) DO NOTHING",
        )
        .bind(chat_id)
        .bind(planned_start)
        .bind(collect_until)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn mark_run_started(
        &self,
        run_id: i64,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE runs SET started_at = $1 WHERE id = $2 AND started_at IS NULL")
            .bind(at)
            .bind(run_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Makes collection last at least until `at` (the closing went out
    /// late). Never shortens it: the stored value may be newer than the
    /// caller's (a moderator's `extend` or `stop`).
    pub(crate) async fn collect_at_least_until(
        &self,
        run_id: i64,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE runs SET collect_until = GREATEST(collect_until, $1) WHERE id = $2")
            .bind(at)
            .bind(run_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn finish_run(&self, run_id: i64, at: DateTime<Utc>) -> anyhow::Result<()> {
        sqlx::query("UPDATE runs SET state = $1, ended_at = $2 WHERE id = $3")
            .bind(RunState::Done.as_str())
            .bind(at)
            .bind(run_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Runs of a chat still marked running (a crash or a stop left them).
    pub(crate) async fn unfinished_runs(&self, chat_id: &str) -> anyhow::Result<Vec<RunRow>> {
        let rows: Vec<RawRun> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM runs WHERE chat_id = $1 AND state = 'running'
             ORDER BY planned_start"
        ))
        .bind(chat_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The most recent run of a chat, whatever its state.
    pub(crate) async fn latest_run(&self, chat_id: &str) -> anyhow::Result<Option<RunRow>> {
        let row: Option<RawRun> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM runs
             WHERE chat_id = $1 AND state != 'missed' AND cancelled_by IS NULL
             ORDER BY planned_start DESC LIMIT 1"
        ))
        .bind(chat_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Into::into))
    }

    /// The planned start of the newest run of any state (missed included).
    pub(crate) async fn last_planned_start(
        &self,
        chat_id: &str,
    ) -> anyhow::Result<Option<DateTime<Utc>>> {
        let row: Option<(DateTime<Utc>,)> = sqlx::query_as(
            "SELECT planned_start FROM runs WHERE chat_id = $1 ORDER BY planned_start DESC LIMIT 1",
        )
        .bind(chat_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.0))
    }

    pub(crate) async fn run(&self, run_id: i64) -> anyhow::Result<Option<RunRow>> {
        let row: Option<RawRun> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM runs WHERE id = $1"))
                .bind(run_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(Into::into))
    }
}

impl PgBackend {
    /// The newest `limit` runs of a chat (missed ones included), newest first.
    pub(crate) async fn recent_runs(
        &self,
        chat_id: &str,
        limit: u32,
    ) -> anyhow::Result<Vec<RunRow>> {
        let rows: Vec<RawRun> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM runs WHERE chat_id = $1 ORDER BY planned_start DESC LIMIT $2"
        ))
        .bind(chat_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// How many live statuses and answering statuses a run has.
    pub(crate) async fn run_counts(&self, run_id: i64) -> anyhow::Result<(u32, u32)> {
        let (posts, answers): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*),
                    COUNT(*) FILTER (WHERE EXISTS (SELECT 1 FROM answers a
                        WHERE a.run_id = s.run_id AND a.status_id = s.status_id))
             FROM statuses s WHERE s.run_id = $1 AND s.deleted_at IS NULL",
        )
        .bind(run_id)
        .fetch_one(&self.pool)
        .await?;
        Ok((posts as u32, answers as u32))
    }
}
