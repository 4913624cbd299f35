//! SQLite: steering.

use chrono::{DateTime, Utc};

use super::SqliteBackend;
use crate::store::SteerRecord;

impl SqliteBackend {
    /// Whether a command status was already handled in this scope.
    pub(crate) async fn steer_seen(&self, scope: &str, status_id: &str) -> anyhow::Result<bool> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT id FROM commands WHERE scope = ? AND status_id = ?")
                .bind(scope)
                .bind(status_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.is_some())
    }

    /// Records a command; `false` when it was already recorded (by another
    /// listener, or an earlier pass), in which case the caller must not act.
    pub(crate) async fn record_steer(&self, c: &SteerRecord<'_>) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "INSERT INTO commands (scope, run_id, status_id, account, command, received_at, effect)
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (scope, status_id) DO NOTHING",
        )
        .bind(c.scope)
        .bind(c.run_id)
        .bind(c.status_id)
        .bind(c.account)
        .bind(c.command)
        .bind(c.received_at)
        .bind(c.effect)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records what a command did (after it was applied).
    pub(crate) async fn set_steer_effect(
        &self,
        scope: &str,
        status_id: &str,
        effect: &str,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE commands SET effect = ? WHERE scope = ? AND status_id = ?")
            .bind(effect)
            .bind(scope)
            .bind(status_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The commands of a scope, oldest first: (account, command, effect).
    pub(crate) async fn steer_log(
        &self,
        scope: &str,
    ) -> anyhow::Result<Vec<(String, String, String)>> {
        Ok(sqlx::query_as(
            "SELECT account, command, effect FROM commands WHERE scope = ? ORDER BY id",
        )
        .bind(scope)
        .fetch_all(&self.pool)
        .await?)
    }

    pub(crate) async fn set_paused(
        &self,
        run_id: i64,
        at: Option<DateTime<Utc>>,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE runs SET paused_at = ? WHERE id = ?")
            .bind(at)
            .bind(run_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Moves every post still planned (not one in flight), and the end of
    /// collection, by `by` (later when positive), in one transaction.
    pub(crate) async fn shift_unsent(
        &self,
        run_id: i64,
        by: chrono::Duration,
    ) -> anyhow::Result<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let rows: Vec<(i64, DateTime<Utc>)> = sqlx::query_as(
            "SELECT seq, planned_at FROM posts WHERE run_id = ? AND state = 'planned'",
        )
        .bind(run_id)
        .fetch_all(&mut *tx)
        .await?;
        for (seq, at) in rows {
            sqlx::query("UPDATE posts SET planned_at = ? WHERE run_id = ? AND seq = ?")
                .bind(at + by)
                .bind(run_id)
                .bind(seq)
                .execute(&mut *tx)
                .await?;
        }
        let (until,): (DateTime<Utc>,) =
            sqlx::query_as("SELECT collect_until FROM runs WHERE id = ?")
                .bind(run_id)
                .fetch_one(&mut *tx)
                .await?;
        sqlx::query("UPDATE runs SET collect_until = ? WHERE id = ?")
            .bind(until + by)
            .bind(run_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// `stop`, in one transaction: the given questions skipped, the closing
    /// (if still to come) moved to `now`, collection ending at `until`.
    pub(crate) async fn stop_run(
        &self,
        run_id: i64,
        questions: &[u32],
        closing: Option<u32>,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        reason: &str,
    ) -> anyhow::Result<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for seq in questions {
            sqlx::query(
                "UPDATE posts SET state = 'skipped', last_error = ?
                 WHERE run_id = ? AND seq = ? AND state = 'planned'",
            )
            .bind(reason)
            .bind(run_id)
            .bind(seq)
            .execute(&mut *tx)
            .await?;
        }
        if let Some(seq) = closing {
            sqlx::query("UPDATE posts SET planned_at = ? WHERE run_id = ? AND seq = ?")
                .bind(now)
                .bind(run_id)
                .bind(seq)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE runs SET collect_until = ? WHERE id = ?")
                .bind(until)
                .bind(run_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records a run called off before it started; `false` when that run
    /// already exists (started, done or cancelled).
    pub(crate) async fn cancel_run(
        &self,
        chat_id: &str,
        planned_start: DateTime<Utc>,
        collect_until: DateTime<Utc>,
        by: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "INSERT INTO runs (chat_id, planned_start, collect_until, state, ended_at, cancelled_by, note)
             VALUES (?, ?, ?, 'done', ?, ?, 'cancelled by a moderator')
             ON CONFLICT (chat_id, planned_start) DO NOTHING",
        )
        .bind(chat_id)
        .bind(planned_start)
        .bind(collect_until)
        .bind(at)
        .bind(by)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every run called off by a moderator planned to start after `after`,
    /// as (chat id, planned start): calendars show them as cancelled.
    pub(crate) async fn cancelled_runs(
        &self,
        after: DateTime<Utc>,
    ) -> anyhow::Result<Vec<(String, DateTime<Utc>)>> {
        let rows: Vec<(String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT chat_id, planned_start FROM runs
             WHERE cancelled_by IS NOT NULL AND planned_start > ?
             ORDER BY planned_start",
        )
        .bind(after)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Calls off a run that was opened (for its reminders) but has not
    /// started: it is marked cancelled and its unsent posts skipped.
    pub(crate) async fn cancel_open_run(
        &self,
        run_id: i64,
        by: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let done = sqlx::query(
            "UPDATE runs SET cancelled_by = ?, state = 'done', ended_at = ?
             WHERE id = ? AND state = 'running' AND started_at IS NULL",
        )
        .bind(by)
        .bind(at)
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 1 {
            sqlx::query(
                "UPDATE posts SET state = 'skipped', last_error = ?
                 WHERE run_id = ? AND state IN ('planned', 'sending')",
            )
            .bind(format!("the run was called off by @{by}"))
            .bind(run_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn mention_cursor(&self, scope: &str) -> anyhow::Result<Option<String>> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT notification_id FROM mention_cursors WHERE scope = ?")
                .bind(scope)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|r| r.0))
    }

    pub(crate) async fn set_mention_cursor(&self, scope: &str, id: &str) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO mention_cursors (scope, notification_id) VALUES (?, ?)
             ON CONFLICT (scope) DO UPDATE SET notification_id = excluded.notification_id",
        )
        .bind(scope)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a participant's opt-out (`true`) or opt-in (`false`).
    pub(crate) async fn set_opted_out(
        &self,
        account: &str,
        opted_out: bool,
        status_id: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        if opted_out {
            sqlx::query(
                "INSERT INTO opt_outs (account, since, status_id) VALUES (?, ?, ?)
                 ON CONFLICT (account) DO NOTHING",
            )
            .bind(account.to_lowercase())
            .bind(at)
            .bind(status_id)
            .execute(&self.pool)
            .await?;
        } else {
            sqlx::query("DELETE FROM opt_outs WHERE account = ?")
                .bind(account.to_lowercase())
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// Accounts (lowercase `user@domain`) that opted out of recaps.
    pub(crate) async fn opted_out(&self) -> anyhow::Result<std::collections::HashSet<String>> {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT account FROM opt_outs")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }
}

impl SqliteBackend {
    pub(crate) async fn extend_commands(&self, run_id: i64) -> anyhow::Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT command FROM commands WHERE run_id = ? AND command LIKE 'extend%' ORDER BY id",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?)
    }
}
