//! PostgreSQL: posts.

use chrono::{DateTime, Utc};

use super::PgBackend;
use crate::schedule::PlanPost;
use crate::store::posts::{kind_str, RawPost};
use crate::store::{PostRow, PostState};

impl PgBackend {
    /// Records the run's timeline; posts already recorded keep their state
    /// (a restart must not reset a sent post to planned).
    pub(crate) async fn plan_posts(&self, run_id: i64, posts: &[PlanPost]) -> anyhow::Result<()> {
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
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (run_id, seq) DO NOTHING",
            )
            .bind(run_id)
            .bind(i64::from(post.seq))
            .bind(kind_str(post.kind))
            .bind(post.number.map(i64::from))
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

    pub(crate) async fn posts(&self, run_id: i64) -> anyhow::Result<Vec<PostRow>> {
        let rows: Vec<RawPost> = sqlx::query_as(
            "SELECT run_id, seq::bigint AS seq, kind, number::bigint AS number, body, text, planned_at,
                    idempotency_key, state, attempts::bigint AS attempts, status_id, url, posted_at, last_error
             FROM posts WHERE run_id = $1 ORDER BY seq",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Marks a post as being sent, before the request leaves.
    pub(crate) async fn mark_sending(&self, run_id: i64, seq: u32) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE posts SET state = 'sending', attempts = attempts + 1 WHERE run_id = $1 AND seq = $2",
        )
        .bind(run_id)
        .bind(i64::from(seq))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn mark_sent(
        &self,
        run_id: i64,
        seq: u32,
        status_id: &str,
        url: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE posts SET state = 'sent', status_id = $1, url = $2, posted_at = $3, last_error = NULL
             WHERE run_id = $4 AND seq = $5",
        )
        .bind(status_id)
        .bind(url)
        .bind(at)
        .bind(run_id)
        .bind(i64::from(seq))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records why a post did not go out (`Failed` or `Skipped`), or the
    /// last error of an attempt that will be retried (`Sending`).
    pub(crate) async fn mark_post(
        &self,
        run_id: i64,
        seq: u32,
        state: PostState,
        reason: &str,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE posts SET state = $1, last_error = $2 WHERE run_id = $3 AND seq = $4")
            .bind(state.as_str())
            .bind(reason)
            .bind(run_id)
            .bind(i64::from(seq))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
