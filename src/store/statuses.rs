//! Participants' statuses seen during a run and the questions they answer.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::Store;

/// A participant's status as stored (text already stripped of HTML).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredStatus {
    pub status_id: String,
    pub account_id: String,
    pub account: String,
    pub display_name: String,
    pub url: String,
    pub html: String,
    pub text: String,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub in_reply_to_id: Option<String>,
    pub visibility: String,
}

/// A stored status with the questions it answers.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct StatusRow {
    pub status_id: String,
    pub account_id: String,
    pub account: String,
    pub display_name: String,
    pub url: String,
    pub text: String,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub in_reply_to_id: Option<String>,
    pub deleted_at: Option<DateTime<Utc>>,
    #[sqlx(skip)]
    pub answers: Vec<u32>,
}

/// What `record_status` did, for the run's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    New,
    Edited,
    /// Already stored with this (or a newer) version, or deleted.
    Unchanged,
}

impl Store {
    /// Stores a status and the questions it answers. Seeing the same
    /// status again changes nothing unless it is a newer edit, so every
    /// source (stream, timeline, context) can feed the same status safely.
    pub async fn record_status(
        &self,
        run_id: i64,
        status: &StoredStatus,
        answers: &[u32],
    ) -> anyhow::Result<Recorded> {
        // IMMEDIATE: take the write lock before reading, so another writer
        // between our read and write waits (busy_timeout) instead of
        // failing with SQLITE_BUSY_SNAPSHOT, which WAL gives a deferred
        // read transaction that later tries to write.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        // (edited_at, deleted_at) of the stored copy, if any.
        type Versions = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);
        let existing: Option<Versions> = sqlx::query_as(
            "SELECT edited_at, deleted_at FROM statuses WHERE run_id = ? AND status_id = ?",
        )
        .bind(run_id)
        .bind(&status.status_id)
        .fetch_optional(&mut *tx)
        .await?;
        let outcome = match existing {
            None => Recorded::New,
            Some((_, Some(_deleted))) => Recorded::Unchanged,
            Some((stored_edit, None)) if is_newer(status.edited_at, stored_edit) => {
                Recorded::Edited
            }
            Some(_) => Recorded::Unchanged,
        };
        if outcome == Recorded::Unchanged {
            return Ok(outcome);
        }
        sqlx::query(
            "INSERT INTO statuses (run_id, status_id, account_id, account, display_name, url,
                                   html, text, created_at, edited_at, in_reply_to_id, visibility)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (run_id, status_id) DO UPDATE SET
                 display_name = excluded.display_name, html = excluded.html,
                 text = excluded.text, edited_at = excluded.edited_at",
        )
        .bind(run_id)
        .bind(&status.status_id)
        .bind(&status.account_id)
        .bind(&status.account)
        .bind(&status.display_name)
        .bind(&status.url)
        .bind(&status.html)
        .bind(&status.text)
        .bind(status.created_at)
        .bind(status.edited_at)
        .bind(&status.in_reply_to_id)
        .bind(&status.visibility)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM answers WHERE run_id = ? AND status_id = ?")
            .bind(run_id)
            .bind(&status.status_id)
            .execute(&mut *tx)
            .await?;
        for question in answers {
            sqlx::query("INSERT INTO answers (run_id, status_id, question) VALUES (?, ?, ?)")
                .bind(run_id)
                .bind(&status.status_id)
                .bind(question)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(outcome)
    }

    /// Marks a status deleted; returns whether it was one of this run's.
    pub async fn mark_deleted(
        &self,
        run_id: i64,
        status_id: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "UPDATE statuses SET deleted_at = ? WHERE run_id = ? AND status_id = ? AND deleted_at IS NULL",
        )
        .bind(at)
        .bind(run_id)
        .bind(status_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every status of a run (deleted ones included, marked), oldest first.
    pub async fn statuses(&self, run_id: i64) -> anyhow::Result<Vec<StatusRow>> {
        let mut rows: Vec<StatusRow> = sqlx::query_as(
            "SELECT status_id, account_id, account, display_name, url, text, created_at,
                    edited_at, in_reply_to_id, deleted_at
             FROM statuses WHERE run_id = ? ORDER BY created_at, length(status_id), status_id",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        let answers: Vec<(String, i64)> = sqlx::query_as(
            "SELECT status_id, question FROM answers WHERE run_id = ? ORDER BY question",
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

    /// The newest status id stored for a run: where reconciliation resumes.
    pub async fn last_status_id(&self, run_id: i64) -> anyhow::Result<Option<String>> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT status_id FROM statuses WHERE run_id = ?
             ORDER BY length(status_id) DESC, status_id DESC LIMIT 1",
        )
        .bind(run_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.0))
    }
}

fn is_newer(candidate: Option<DateTime<Utc>>, stored: Option<DateTime<Utc>>) -> bool {
    match (candidate, stored) {
        (Some(c), Some(s)) => c > s,
        (Some(_), None) => true,
        (None, _) => false,
    }
}
