//! Participants' statuses seen during a run and the questions they answer.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::Store;

/// A participant's status as stored (text already stripped of HTML).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredStatus {
    /// The server's id for it now: snac2 gives an edited status a new one.
    /// From a watched instance, [`watched_key`] of its id there.
    pub status_id: String,
    /// The watched instance it was read from (`None`: the bot's server).
    pub instance: Option<String>,
    /// Its identity: the ActivityPub id, or the status id when a server
    /// gives none. One row per (run, uri).
    pub uri: String,
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

/// The key of a watched instance's status: its local id collides with the
/// bot's server's ids ("5" there is not "5" here), so it is stored as
/// `instance/id`; no server's own id holds a `/`.
pub fn watched_key(instance: &str, id: &str) -> String {
    format!("{instance}/{id}")
}

/// A status to store and the questions it answers: what the store takes.
pub type Answered = (StoredStatus, Vec<u32>);

/// A stored status with the questions it answers.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct StatusRow {
    pub status_id: String,
    /// The watched instance its id belongs to (`None`: the bot's server).
    pub instance: Option<String>,
    pub account_id: String,
    pub account: String,
    pub display_name: String,
    pub url: String,
    pub text: String,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub in_reply_to_id: Option<String>,
    pub deleted_at: Option<DateTime<Utc>>,
    /// Favourites and boosts as read at the end of collection; `None`
    /// when not read then.
    pub favourites: Option<i64>,
    pub boosts: Option<i64>,
    #[sqlx(skip)]
    pub answers: Vec<u32>,
}

/// What recording a status did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    New,
    Edited,
    /// Already stored with this (or a newer) version, or deleted.
    Unchanged,
}

impl Store {
    /// Stores a status and the questions it answers: a page of one (see
    /// [`Store::record_statuses`], which holds the rules).
    pub async fn record_status(
        &self,
        run_id: i64,
        status: &StoredStatus,
        answers: &[u32],
    ) -> anyhow::Result<Recorded> {
        let page = [(status.clone(), answers.to_vec())];
        let recorded = self.record_statuses(run_id, &page).await?;
        recorded
            .into_iter()
            .next()
            .context("the store returned no outcome for a page of one")
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
        self.changed();
        Ok(done.rows_affected() == 1)
    }

    /// Every status of a run (deleted ones included, marked), oldest first.
    /// Stores the favourites and boosts read at the end of collection:
    /// (status id, favourites, boosts), in one transaction.
    pub async fn save_reactions(
        &self,
        run_id: i64,
        reactions: &[(String, u64, u64)],
    ) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        for (status_id, favourites, boosts) in reactions {
            sqlx::query(
                "UPDATE statuses SET favourites = ?, boosts = ? WHERE run_id = ? AND status_id = ?",
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

    pub async fn statuses(&self, run_id: i64) -> anyhow::Result<Vec<StatusRow>> {
        let mut rows: Vec<StatusRow> = sqlx::query_as(
            "SELECT status_id, instance, account_id, account, display_name, url, text, created_at,
                    edited_at, in_reply_to_id, deleted_at, favourites, boosts
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

    /// The newest status id of the bot's server stored for a run: where
    /// reconciliation resumes.
    pub async fn last_status_id(&self, run_id: i64) -> anyhow::Result<Option<String>> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT status_id FROM statuses WHERE run_id = ? AND instance IS NULL
             ORDER BY length(status_id) DESC, status_id DESC LIMIT 1",
        )
        .bind(run_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.0))
    }
}
