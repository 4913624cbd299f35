//! SQLite: recording a page of statuses at once (`crate::store::page` holds
//! the rules). One transaction and a few multi-row statements per page
//! instead of three statements and a commit per status: sqlx hands every
//! statement to its worker thread, so the per-statement cost, not SQLite,
//! is what limits one-at-a-time writes (see docs/PERFORMANCE.md).

use std::collections::HashMap;

use anyhow::Context;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::SqliteBackend;
use crate::store::page::{self, hold, kept_prepared, Held, Stored, ROWS_PER_STATEMENT};
use crate::store::{Answered, Recorded, StoredStatus};

impl SqliteBackend {
    pub(crate) async fn record_statuses(
        &self,
        run_id: i64,
        page: &[Answered],
    ) -> anyhow::Result<Vec<Recorded>> {
        if page.is_empty() {
            return Ok(Vec::new());
        }
        // IMMEDIATE: take the write lock before reading, so another writer
        // between our read and write waits (busy_timeout) instead of
        // failing with SQLITE_BUSY_SNAPSHOT, which WAL gives a deferred
        // read transaction that later tries to write. The read of what is
        // stored and the writes must see the same database.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
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
    conn: &mut SqliteConnection,
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
fn versions_query(run_id: i64, chunk: &[Answered]) -> QueryBuilder<'_, Sqlite> {
    let mut query: QueryBuilder<Sqlite> = QueryBuilder::new(
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
    conn: &mut SqliteConnection,
    run_id: i64,
    old_id: &str,
    status: &StoredStatus,
) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM statuses WHERE run_id = ? AND status_id = ? AND uri IS NULL")
        .bind(run_id)
        .bind(status.status_id.as_str())
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE statuses SET status_id = ? WHERE run_id = ? AND status_id = ?")
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
    conn: &mut SqliteConnection,
    run_id: i64,
    page: &[Answered],
    rows: &[(usize, bool)],
) -> anyhow::Result<()> {
    let mut query: QueryBuilder<Sqlite> = QueryBuilder::new(
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
    conn: &mut SqliteConnection,
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
        let mut query: QueryBuilder<Sqlite> =
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
        let mut query: QueryBuilder<Sqlite> =
            QueryBuilder::new("INSERT INTO answers (run_id, status_id, question) ");
        query.push_values(chunk, |mut row, &(id, question)| {
            row.push_bind(run_id).push_bind(id).push_bind(question);
        });
        query
            .build()
            .persistent(kept_prepared(chunk.len()))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeZone, Utc};

    use super::*;
    use crate::store::Store;

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, 20, minute, 0).unwrap()
    }

    fn status(id: &str, text: &str, edited: Option<u32>) -> StoredStatus {
        StoredStatus {
            status_id: id.into(),
            instance: None,
            uri: format!("https://fake.example/users/alice/statuses/{id}"),
            account_id: "2".into(),
            account: "alice@fake.example".into(),
            display_name: "Alice".into(),
            url: format!("https://fake.example/@alice/{id}"),
            html: format!("<p>{text}</p>"),
            text: text.into(),
            created_at: at(6),
            edited_at: edited.map(at),
            in_reply_to_id: None,
            visibility: "public".into(),
        }
    }

    async fn store() -> (tempfile::TempDir, Store, i64) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("h.db")).await.unwrap();
        let run = store.open_run("chat", at(0), at(50)).await.unwrap();
        (dir, store, run.id)
    }

    /// (text, answers) of every live stored status, by id.
    async fn stored(store: &Store, run: i64) -> Vec<(String, String, Vec<u32>)> {
        let rows = store.statuses(run).await.unwrap();
        rows.into_iter()
            .map(|r| (r.status_id, r.text, r.answers))
            .collect()
    }

    #[tokio::test]
    async fn a_page_is_recorded_as_one_status_after_another_would_be() {
        let (_dir, store, run) = store().await;
        // Stored before the page: one to edit, one deleted, one unchanged.
        for id in ["1", "2", "3"] {
            store
                .record_status(run, &status(id, "A1 old", None), &[1])
                .await
                .unwrap();
        }
        store.mark_deleted(run, "2", at(7)).await.unwrap();
        let page = vec![
            (status("1", "A2 edited", Some(8)), vec![2]),
            (status("2", "A1 revived?", Some(9)), vec![1]),
            (status("3", "A1 old", None), vec![1]),
            (status("4", "A1 new", None), vec![1, 3]),
            (status("4", "A1 new", None), vec![1, 3]),
            (status("5", "hello", None), vec![]),
            (status("5", "A3 edited in the page", Some(10)), vec![3]),
        ];
        let outcomes = store.record_statuses(run, &page).await.unwrap();
        use Recorded::*;
        assert_eq!(
            outcomes,
            vec![Edited, Unchanged, Unchanged, New, Unchanged, New, Edited]
        );
        let rows = stored(&store, run).await;
        let expected = [
            ("1", "A2 edited", vec![2]),
            ("2", "A1 old", vec![1]),
            ("3", "A1 old", vec![1]),
            ("4", "A1 new", vec![1, 3]),
            ("5", "A3 edited in the page", vec![3]),
        ];
        assert_eq!(rows.len(), expected.len());
        for ((id, text, answers), (want_id, want_text, want_answers)) in rows.iter().zip(expected) {
            assert_eq!((id.as_str(), text.as_str()), (want_id, want_text));
            assert_eq!(answers, &want_answers, "answers of {id}");
        }
        let deleted = store.statuses(run).await.unwrap();
        assert!(
            deleted[1].deleted_at.is_some(),
            "a deleted post stays deleted"
        );
    }

    #[tokio::test]
    async fn recording_the_same_page_again_changes_nothing() {
        let (_dir, store, run) = store().await;
        let page: Vec<_> = (0..1200)
            .map(|i| (status(&i.to_string(), "A1 yes", None), vec![1]))
            .collect();
        let first = store.record_statuses(run, &page).await.unwrap();
        assert!(first.iter().all(|r| *r == Recorded::New));
        let again = store.record_statuses(run, &page).await.unwrap();
        assert!(again.iter().all(|r| *r == Recorded::Unchanged));
        assert_eq!(stored(&store, run).await.len(), 1200);
    }

    #[tokio::test]
    async fn pages_of_every_size_keep_only_full_size_statements_prepared() {
        use sqlx::Connection;
        // One connection: the in-memory store's pool never opens another.
        let store = Store::open_in_memory().await.unwrap();
        let run = store.open_run("chat", at(0), at(50)).await.unwrap().id;
        // A flood commits batches of every size. Each multi-row statement
        // of hundreds of rows kept prepared holds about half a megabyte.
        let mut next = 0;
        let mut record_sizes = |sizes: std::ops::RangeInclusive<usize>| {
            let store = store.clone();
            let pages: Vec<Vec<Answered>> = sizes
                .map(|size| {
                    (0..size)
                        .map(|_| {
                            next += 1;
                            (status(&next.to_string(), "A1 yes", None), vec![1])
                        })
                        .collect()
                })
                .collect();
            async move {
                for page in pages {
                    store.record_statuses(run, &page).await.unwrap();
                }
                let conn = store.sqlite_pool().unwrap().acquire().await.unwrap();
                conn.cached_statements_size()
            }
        };
        let kept = record_sizes(101..=130).await;
        let kept_after_more_sizes = record_sizes(131..=160).await;
        assert_eq!(
            kept, kept_after_more_sizes,
            "one statement kept per page size"
        );
        assert_eq!(stored(&store, run).await.len(), next);
    }
}
