//! Posts planned for a run and what became of each.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::Store;
use crate::schedule::{PlanPost, PostKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostState {
    Planned,
    /// A send was started; whether it reached the server is unknown until
    /// reconciled (idempotent resend or the bot's own statuses).
    Sending,
    Sent,
    /// Gave up after retries; reported, never silently dropped.
    Failed,
    /// Too late to post (past `late_limit` or after the run ended).
    Skipped,
}

impl PostState {
    pub fn as_str(self) -> &'static str {
        match self {
            PostState::Planned => "planned",
            PostState::Sending => "sending",
            PostState::Sent => "sent",
            PostState::Failed => "failed",
            PostState::Skipped => "skipped",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "sending" => PostState::Sending,
            "sent" => PostState::Sent,
            "failed" => PostState::Failed,
            "skipped" => PostState::Skipped,
            _ => PostState::Planned,
        }
    }
}

fn kind_str(kind: PostKind) -> &'static str {
    match kind {
        PostKind::Intro => "intro",
        PostKind::Question => "question",
        PostKind::Closing => "closing",
        PostKind::Reminder => "reminder",
    }
}

fn parse_kind(s: &str) -> PostKind {
    match s {
        "intro" => PostKind::Intro,
        "closing" => PostKind::Closing,
        "reminder" => PostKind::Reminder,
        _ => PostKind::Question,
    }
}

#[derive(Debug, FromRow)]
struct RawPost {
    run_id: i64,
    seq: i64,
    kind: String,
    number: Option<i64>,
    body: String,
    text: String,
    planned_at: DateTime<Utc>,
    idempotency_key: String,
    state: String,
    attempts: i64,
    status_id: Option<String>,
    url: Option<String>,
    posted_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PostRow {
    pub run_id: i64,
    pub seq: u32,
    pub kind: PostKind,
    pub number: Option<u32>,
    pub body: String,
    pub text: String,
    pub planned_at: DateTime<Utc>,
    pub idempotency_key: String,
    pub state: PostState,
    pub attempts: u32,
    pub status_id: Option<String>,
    pub url: Option<String>,
    pub posted_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

impl From<RawPost> for PostRow {
    fn from(r: RawPost) -> Self {
        Self {
            run_id: r.run_id,
            seq: u32::try_from(r.seq).unwrap_or_default(),
            kind: parse_kind(&r.kind),
            number: r.number.and_then(|n| u32::try_from(n).ok()),
            body: r.body,
            text: r.text,
            planned_at: r.planned_at,
            idempotency_key: r.idempotency_key,
            state: PostState::parse(&r.state),
            attempts: u32::try_from(r.attempts).unwrap_or_default(),
            status_id: r.status_id,
            url: r.url,
            posted_at: r.posted_at,
            last_error: r.last_error,
        }
    }
}

impl Store {
    /// Records the run's timeline; posts already recorded keep their state
    /// (a restart must not reset a sent post to planned).
    pub async fn plan_posts(&self, run_id: i64, posts: &[PlanPost]) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        for PlanPost {
            post,
            body,
            idempotency_key,
            ..
        } in posts
        {
            sqlx::query(
                "INSERT INTO posts (run_id, seq, kind, number, body, text, planned_at, idempotency_key)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (run_id, seq) DO NOTHING",
            )
            .bind(run_id)
            .bind(post.seq)
            .bind(kind_str(post.kind))
            .bind(post.number)
            .bind(body)
            .bind(&post.text)
            .bind(post.at)
            .bind(idempotency_key)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn posts(&self, run_id: i64) -> anyhow::Result<Vec<PostRow>> {
        let rows: Vec<RawPost> = sqlx::query_as(
            "SELECT run_id, seq, kind, number, body, text, planned_at, idempotency_key, state,
                    attempts, status_id, url, posted_at, last_error
             FROM posts WHERE run_id = ? ORDER BY seq",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Marks a post as being sent, before the request leaves.
    pub async fn mark_sending(&self, run_id: i64, seq: u32) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE posts SET state = 'sending', attempts = attempts + 1 WHERE run_id = ? AND seq = ?",
        )
        .bind(run_id)
        .bind(seq)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn mark_sent(
        &self,
        run_id: i64,
        seq: u32,
        status_id: &str,
        url: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE posts SET state = 'sent', status_id = ?, url = ?, posted_at = ?, last_error = NULL
             WHERE run_id = ? AND seq = ?",
        )
        .bind(status_id)
        .bind(url)
        .bind(at)
        .bind(run_id)
        .bind(seq)
        .execute(&self.pool)
        .await?;
        self.changed();
        Ok(())
    }

    /// Records why a post did not go out (`Failed` or `Skipped`), or the
    /// last error of an attempt that will be retried (`Sending`).
    pub async fn mark_post(
        &self,
        run_id: i64,
        seq: u32,
        state: PostState,
        reason: &str,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE posts SET state = ?, last_error = ? WHERE run_id = ? AND seq = ?")
            .bind(state.as_str())
            .bind(reason)
            .bind(run_id)
            .bind(seq)
            .execute(&self.pool)
            .await?;
        self.changed();
        Ok(())
    }
}
