//! PostgreSQL: recording a page of statuses at once, in one transaction and
//! a few multi-row statements per page as on SQLite (`crate::store::page`
//! holds the rules).

use std::collections::HashMap;

use anyhow::Context;
use sqlx::{PgConnection, Postgres, QueryBuilder};

use super::PgBackend;
use crate::store::page::{self, hold, kept_prepared, Held, Stored, ROWS_PER_STATEMENT};
use crate::store::{Answered, Recorded, StoredStatus};

impl PgBackend {
    pub(crate) async fn record_statuses(
        &self,
        run_id: i64,
        page: &[Answered],
    ) -> anyhow::Result<Vec<Recorded>> {
        if page.is_empty() {
            return Ok(Vec::new());
        }
        // The run's row locked first, as SQLite's `BEGIN IMMEDIATE` takes
        // the write lock: another writer of this run's statuses (another
        // replica) waits between our read and our write instead of both
        // reading "not stored" and the second failing on `statuses_by_uri`.
        let mut tx = self.pool.begin().await?;
        super::lock_run(&mut tx, run_id).await?;
        let stored = stored_versions(&mut tx, run_id, page).await?;
        let plan = page::plan(page, &stored);
        let page = plan.page.as_ref();
        for (old_id, index) in &plan.moves {
            move_id(&mut tx, run_id, old_id, &page[*index].0).await?;
        }
        for chunk in plan.rows.chunks(ROWS_PER_STATEMENT) {
            upsert_statuses(&mut tx, run_id, page, chunk).await?;
        }
        replace_answers(&mut tx, run_id, page, &plan.rows).await?;
        tx.commit().await?;
        Ok(plan.outcomes)
    }
}

/// What is stored of the page's statuses, by uri. A row stored before uris
/// were kept (none) is matched by its id.
async fn stored_versions<'p>(
    conn: &mut PgConnection,
    run_id: i64,
    page: &'p [Answered],
) -> anyhow::Result<HashMap<&'p str, Held>> {
    let mut held = HashMap::with_capacity(page.len());
    for chunk in page.chunks(ROWS_PER_STATEMENT) {
        let mut query = versions_query(run_id, chunk);
        let rows: Vec<Stored> = query
            .build_query_as()
            .persistent(kept_prepared(chunk.len()))
            .fetch_all(&mut *conn)
            .await?;
        hold(&mut held, chunk, rows);
    }
    Ok(held)
}

/// The rows stored under any uri of `chunk`, or (stored without a uri)
/// any of its ids.
fn versions_query(run_id: i64, chunk: &[Answered]) -> QueryBuilder<'_, Postgres> {
    let mut query: QueryBuilder<Postgres> = QueryBuilder::new(
        "SELECT status_id, instance, uri, edited_at, deleted_at FROM statuses WHERE run_id = ",
    );
    query.push_bind(run_id).push(" AND (uri IN (");
    // Every uri and id of the chunk, repeats too: the same text for
    // every full chunk, so its statement is prepared once.
    let mut uris = query.separated(", ");
    for (status, _) in chunk {
        uris.push_bind(status.uri.as_str());
    }
    query.push(") OR (uri IS NULL AND status_id IN (");
    let mut ids = query.separated(", ");
    for (status, _) in chunk {
        ids.push_bind(status.status_id.as_str());
    }
    query.push(")))");
    query
}

/// Moves a stored status to the id its server now gives it; its answers
/// follow (ON UPDATE CASCADE). A row stored under the new id before uris
/// were kept is this same status seen earlier: it goes.
async fn move_id(
    conn: &mut PgConnection,
    run_id: i64,
    old_id: &str,
    status: &StoredStatus,
) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM statuses WHERE run_id = $1 AND status_id = $2 AND uri IS NULL")
        .bind(run_id)
        .bind(status.status_id.as_str())
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE statuses SET status_id = $1 WHERE run_id = $2 AND status_id = $3")
        .bind(status.status_id.as_str())
        .bind(run_id)
        .bind(old_id)
        .execute(&mut *conn)
        .await
        .with_context(|| {
            format!(
                "cannot move status {old_id} to its new id {}",
                status.status_id
            )
        })?;
    tracing::info!(old_id, status_id = %status.status_id, "a post's id changed with an edit");
    Ok(())
}

async fn upsert_statuses(
    conn: &mut PgConnection,
    run_id: i64,
    page: &[Answered],
    rows: &[(usize, bool)],
) -> anyhow::Result<()> {
    let mut query: QueryBuilder<Postgres> = QueryBuilder::new(
        "INSERT INTO statuses (run_id, status_id, instance, uri, account_id, account, display_name, url,
                               html, text, created_at, edited_at, in_reply_to_id, visibility) ",
    );
    query.push_values(rows, |mut row, &(index, _)| {
        let s = &page[index].0;
        row.push_bind(run_id)
            .push_bind(s.status_id.as_str())
            .push_bind(s.instance.as_deref())
            .push_bind(s.uri.as_str())
            .push_bind(s.account_id.as_str())
            .push_bind(s.account.as_str())
            .push_bind(s.display_name.as_str())
            .push_bind(s.url.as_str())
            .push_bind(s.html.as_str())
            .push_bind(s.text.as_str())
            .push_bind(s.created_at)
            .push_bind(s.edited_at)
            .push_bind(s.in_reply_to_id.as_deref())
            .push_bind(s.visibility.as_str());
    });
    query.push(
        " ON CONFLICT (run_id, status_id) DO UPDATE SET
             display_name = excluded.display_name, html = excluded.html,
             text = excluded.text, edited_at = excluded.edited_at, uri = excluded.uri",
    );
    query
        .build()
        .persistent(kept_prepared(rows.len()))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Drops the answers of statuses stored before (an edit can change them)
/// and inserts the answers of every written version.
async fn replace_answers(
    conn: &mut PgConnection,
    run_id: i64,
    page: &[Answered],
    rows: &[(usize, bool)],
) -> anyhow::Result<()> {
    let replaced: Vec<&str> = rows
        .iter()
        .filter(|(_, had)| *had)
        .map(|&(index, _)| page[index].0.status_id.as_str())
        .collect();
    for chunk in replaced.chunks(ROWS_PER_STATEMENT) {
        let mut query: QueryBuilder<Postgres> =
            QueryBuilder::new("DELETE FROM answers WHERE run_id = ");
        query.push_bind(run_id).push(" AND status_id IN (");
        let mut ids = query.separated(", ");
        for id in chunk {
            ids.push_bind(*id);
        }
        query.push(")");
        query
            .build()
            .persistent(kept_prepared(chunk.len()))
            .execute(&mut *conn)
            .await?;
    }
    let answers: Vec<(&str, u32)> = rows
        .iter()
        .flat_map(|&(index, _)| {
            let (status, questions) = &page[index];
            questions.iter().map(|q| (status.status_id.as_str(), *q))
        })
        .collect();
    for chunk in answers.chunks(ROWS_PER_STATEMENT) {
        let mut query: QueryBuilder<Postgres> =
            QueryBuilder::new("INSERT INTO answers (run_id, status_id, question) ");
        query.push_values(chunk, |mut row, &(id, question)| {
            row.push_bind(run_id)
                .push_bind(id)
                .push_bind(i64::from(question));
        });
        query
            .build()
            .persistent(kept_prepared(chunk.len()))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
