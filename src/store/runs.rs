//! Runs: one row per run of a chat.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// Started (or about to): posting and/or collecting.
    Running,
    /// Collection ended and the final reconciliation was done.
    Done,
    /// The whole window passed while hashchat was not running.
    Missed,
}

impl RunState {
    fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Done => "done",
            RunState::Missed => "missed",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "done" => RunState::Done,
            "missed" => RunState::Missed,
            _ => RunState::Running,
        }
    }
}

#[derive(Debug, Clone, FromRow)]
struct RawRun {
    id: i64,
    chat_id: String,
    planned_start: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    collect_until: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
    state: String,
    paused_at: Option<DateTime<Utc>>,
    cancelled_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub id: i64,
    pub chat_id: String,
    pub planned_start: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub collect_until: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub state: RunState,
    /// Set while a moderator has the run paused.
    pub paused_at: Option<DateTime<Utc>>,
    /// The moderator who called the run off before it started.
    pub cancelled_by: Option<String>,
}

impl From<RawRun> for RunRow {
    fn from(r: RawRun) -> Self {
        Self {
            id: r.id,
            chat_id: r.chat_id,
            planned_start: r.planned_start,
            started_at: r.started_at,
            collect_until: r.collect_until,
            ended_at: r.ended_at,
            state: RunState::parse(&r.state),
            paused_at: r.paused_at,
            cancelled_by: r.cancelled_by,
        }
    }
}

const COLUMNS: &str = "id, chat_id, planned_start, started_at, collect_until, ended_at, state, paused_at, cancelled_by";

impl Store {
    /// The run of `chat_id` planned for `planned_start`, created when new.
    #[tracing::instrument(skip(self))]
    pub async fn open_run(
        &self,
        chat_id: &str,
        planned_start: DateTime<Utc>,
        collect_until: DateTime<Utc>,
    ) -> anyhow::Result<RunRow> {
        sqlx::query(
            "INSERT INTO runs (chat_id, planned_start, collect_until) VALUES (?, ?, ?)
             ON CONFLICT (chat_id, planned_start) DO NOTHING",
        )
        .bind(chat_id)
        .bind(planned_start)
        .bind(collect_until)
        .execute(&self.pool)
        .await?;
        let raw: RawRun = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM runs WHERE chat_id = ? AND planned_start = ?"
        ))
        .bind(chat_id)
        .bind(planned_start)
        .fetch_one(&self.pool)
        .await?;
        self.changed();
        Ok(raw.into())
    }

    /// Records a run whose whole window passed while hashchat was down.
    pub async fn record_missed_run(
        &self,
        chat_id: &str,
        planned_start: DateTime<Utc>,
        collect_until: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "INSERT INTO runs (chat_id, planned_start, collect_until, state, note)
             VALUES (?, ?, ?, 'missed', 'hashchat was not running during the whole run')
             ON CONFLICT (chat_id, planned_start) DO NOTHING",
        )
        .bind(chat_id)
        .bind(planned_start)
        .bind(collect_until)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn mark_run_started(&self, run_id: i64, at: DateTime<Utc>) -> anyhow::Result<()> {
        sqlx::query("UPDATE runs SET started_at = ? WHERE id = ? AND started_at IS NULL")
            .bind(at)
            .bind(run_id)
            .execute(&self.pool)
            .await?;
        self.changed();
        Ok(())
    }

    /// Makes collection last at least until `at` (the closing went out
    /// late). Never shortens it: the stored value may be newer than the
    /// caller's (a moderator's `extend` or `stop`).
    pub async fn collect_at_least_until(
        &self,
        run_id: i64,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE runs SET collect_until = MAX(collect_until, ?) WHERE id = ?")
            .bind(at)
            .bind(run_id)
            .execute(&self.pool)
            .await?;
        self.changed();
        Ok(())
    }

    pub async fn finish_run(&self, run_id: i64, at: DateTime<Utc>) -> anyhow::Result<()> {
        sqlx::query("UPDATE runs SET state = ?, ended_at = ? WHERE id = ?")
            .bind(RunState::Done.as_str())
            .bind(at)
            .bind(run_id)
            .execute(&self.pool)
            .await?;
        self.changed();
        Ok(())
    }

    /// Runs of a chat still marked running (a crash or a stop left them).
    pub async fn unfinished_runs(&self, chat_id: &str) -> anyhow::Result<Vec<RunRow>> {
        let rows: Vec<RawRun> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM runs WHERE chat_id = ? AND state = 'running'
             ORDER BY planned_start"
        ))
        .bind(chat_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The most recent run of a chat, whatever its state.
    pub async fn latest_run(&self, chat_id: &str) -> anyhow::Result<Option<RunRow>> {
        let row: Option<RawRun> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM runs
             WHERE chat_id = ? AND state != 'missed' AND cancelled_by IS NULL
             ORDER BY planned_start DESC LIMIT 1"
        ))
        .bind(chat_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Into::into))
    }

    /// The planned start of the newest run of any state (missed included).
    pub async fn last_planned_start(&self, chat_id: &str) -> anyhow::Result<Option<DateTime<Utc>>> {
        let row: Option<(DateTime<Utc>,)> = sqlx::query_as(
            "SELECT planned_start FROM runs WHERE chat_id = ? ORDER BY planned_start DESC LIMIT 1",
        )
        .bind(chat_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.0))
    }

    pub async fn run(&self, run_id: i64) -> anyhow::Result<Option<RunRow>> {
        let row: Option<RawRun> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM runs WHERE id = ?"))
                .bind(run_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(Into::into))
    }
}

impl Store {
    /// The newest `limit` runs of a chat (missed ones included), newest first.
    pub async fn recent_runs(&self, chat_id: &str, limit: u32) -> anyhow::Result<Vec<RunRow>> {
        let rows: Vec<RawRun> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM runs WHERE chat_id = ? ORDER BY planned_start DESC LIMIT ?"
        ))
        .bind(chat_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// How many live statuses and answering statuses a run has.
    pub async fn run_counts(&self, run_id: i64) -> anyhow::Result<(u32, u32)> {
        let (posts, answers): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*),
                    COUNT(*) FILTER (WHERE EXISTS (SELECT 1 FROM answers a
                        WHERE a.run_id = s.run_id AND a.status_id = s.status_id))
             FROM statuses s WHERE s.run_id = ? AND s.deleted_at IS NULL",
        )
        .bind(run_id)
        .fetch_one(&self.pool)
        .await?;
        Ok((posts as u32, answers as u32))
    }
}
