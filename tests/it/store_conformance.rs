//! The store's behaviour, the same on both databases: every test here is
//! an `async fn` over a [`Store`], run once on a fresh SQLite file in a
//! temporary directory and once on a fresh PostgreSQL database
//! (`postgres::server`). What only one of them has (SQLite's lease files
//! and write lock, PostgreSQL's fenced leases) is tested beside it.

use chrono::{DateTime, TimeZone, Utc};
use hashchat::schedule::{PlanPost, PlannedPost, PostKind};
use hashchat::store::{PostState, PostgresUrl, Recorded, Store, StoredStatus};

use crate::postgres::server::fresh_database;

/// Each test once per database, as `sqlite::name` and `postgres::name`.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = hashchat::store::Store::open(&dir.path().join("h.db"))
                        .await
                        .unwrap();
                    super::$name(store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let url = super::PostgresUrl::new(super::fresh_database().await);
                    let store = hashchat::store::Store::open_postgres(&url).await.unwrap();
                    super::$name(store).await;
                }
            )*
        }
    };
}

on_both_stores!(
    opening_the_same_run_twice_finds_the_first,
    planning_posts_again_keeps_a_sent_post_sent,
    recording_a_status_twice_stores_it_once_and_only_newer_edits_replace_it,
    a_status_edited_under_a_new_id_is_one_answer_under_that_id,
    a_page_holding_a_status_and_its_edit_under_a_new_id_stores_one_answer,
    a_deleted_status_is_marked_and_not_revived,
    the_last_status_id_is_the_numerically_largest,
    a_missed_run_is_recorded_once_and_is_not_the_latest_run,
    a_watched_instances_status_5_never_overwrites_the_home_status_5,
    one_post_seen_at_home_and_on_a_watched_instance_is_one_row_under_its_first_key,
);

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 3, 20, minute, 0).unwrap()
}

fn status(id: &str, text: &str, edited: Option<DateTime<Utc>>) -> StoredStatus {
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
        edited_at: edited,
        in_reply_to_id: None,
        visibility: "public".into(),
    }
}

async fn opening_the_same_run_twice_finds_the_first(store: Store) {
    let first = store.open_run("chat", at(0), at(50)).await.unwrap();
    let again = store.open_run("chat", at(0), at(50)).await.unwrap();
    assert_eq!(first.id, again.id);
    assert_eq!(store.unfinished_runs("chat").await.unwrap().len(), 1);
}

async fn planning_posts_again_keeps_a_sent_post_sent(store: Store) {
    let run = store.open_run("chat", at(0), at(50)).await.unwrap();
    let planned = vec![PlanPost {
        post: PlannedPost {
            seq: 0,
            kind: PostKind::Intro,
            number: None,
            at: at(0),
            text: "Hi #T".into(),
        },
        body: "Hi #T".to_string(),
        idempotency_key: "k-0".into(),
        image: None,
    }];
    store.plan_posts(run.id, &planned).await.unwrap();
    store
        .mark_sent(run.id, 0, "100", "https://x/100", at(0))
        .await
        .unwrap();
    store.plan_posts(run.id, &planned).await.unwrap();
    let posts = store.posts(run.id).await.unwrap();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].state, PostState::Sent);
    assert_eq!(posts[0].idempotency_key, "k-0");
}

async fn recording_a_status_twice_stores_it_once_and_only_newer_edits_replace_it(store: Store) {
    let run = store.open_run("chat", at(0), at(50)).await.unwrap();
    assert_eq!(
        store
            .record_status(run.id, &status("7", "A1 first", None), &[1])
            .await
            .unwrap(),
        Recorded::New
    );
    assert_eq!(
        store
            .record_status(run.id, &status("7", "A1 first", None), &[1])
            .await
            .unwrap(),
        Recorded::Unchanged
    );
    let edited = status("7", "A2 changed", Some(at(9)));
    assert_eq!(
        store.record_status(run.id, &edited, &[2]).await.unwrap(),
        Recorded::Edited
    );
    // An older copy (a timeline page read before the edit) changes nothing.
    assert_eq!(
        store
            .record_status(run.id, &status("7", "A1 first", None), &[1])
            .await
            .unwrap(),
        Recorded::Unchanged
    );
    let rows = store.statuses(run.id).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].text, "A2 changed");
    assert_eq!(rows[0].answers, vec![2]);
    assert_eq!(rows[0].edited_at, Some(at(9)));
}

/// Status `id` as its server gives it now, with the identity of status `of`.
fn under_id(id: &str, of: &str, text: &str, edited: Option<DateTime<Utc>>) -> StoredStatus {
    StoredStatus {
        uri: status(of, text, edited).uri,
        ..status(id, text, edited)
    }
}

/// (status id, text, answers) of every stored status.
async fn rows_of(store: &Store, run: i64) -> Vec<(String, String, Vec<u32>)> {
    let rows = store.statuses(run).await.unwrap();
    rows.into_iter()
        .map(|r| (r.status_id, r.text, r.answers))
        .collect()
}

async fn a_status_edited_under_a_new_id_is_one_answer_under_that_id(store: Store) {
    let run = store.open_run("chat", at(0), at(50)).await.unwrap().id;
    let first = status("7", "A1 first", None);
    store.record_status(run, &first, &[1]).await.unwrap();
    // snac2 gives the edit a new id; its uri stays.
    let edit = under_id("9", "7", "A2 changed", Some(at(9)));
    assert_eq!(
        store.record_status(run, &edit, &[2]).await.unwrap(),
        Recorded::Edited
    );
    let want = vec![("9".to_string(), "A2 changed".to_string(), vec![2])];
    assert_eq!(rows_of(&store, run).await, want);
    // The old copy again (a page read before the edit) changes nothing,
    // and the same version under its new id is no second answer either.
    for again in [&first, &edit] {
        let outcome = store.record_status(run, again, &[1]).await.unwrap();
        assert_eq!(outcome, Recorded::Unchanged, "{}", again.status_id);
    }
    assert_eq!(rows_of(&store, run).await, want);
    assert!(
        !store.mark_deleted(run, "7", at(10)).await.unwrap(),
        "the old id is retired"
    );
    assert!(store.mark_deleted(run, "9", at(10)).await.unwrap());
}

async fn a_page_holding_a_status_and_its_edit_under_a_new_id_stores_one_answer(store: Store) {
    let run = store.open_run("chat", at(0), at(50)).await.unwrap().id;
    store
        .record_status(run, &status("3", "A3 stored", None), &[3])
        .await
        .unwrap();
    let page = vec![
        (status("7", "A1 first", None), vec![1]),
        (under_id("9", "7", "A2 changed", Some(at(9))), vec![2]),
        (under_id("4", "3", "A3 edited", Some(at(9))), vec![3]),
    ];
    let outcomes = store.record_statuses(run, &page).await.unwrap();
    use Recorded::*;
    assert_eq!(outcomes, vec![New, Edited, Edited]);
    assert_eq!(
        rows_of(&store, run).await,
        vec![
            ("4".to_string(), "A3 edited".to_string(), vec![3]),
            ("9".to_string(), "A2 changed".to_string(), vec![2]),
        ]
    );
}

async fn a_deleted_status_is_marked_and_not_revived(store: Store) {
    let run = store.open_run("chat", at(0), at(50)).await.unwrap();
    store
        .record_status(run.id, &status("7", "A1", None), &[1])
        .await
        .unwrap();
    assert!(store.mark_deleted(run.id, "7", at(10)).await.unwrap());
    assert!(!store.mark_deleted(run.id, "7", at(11)).await.unwrap());
    let edit = status("7", "A1 again", Some(at(12)));
    assert_eq!(
        store.record_status(run.id, &edit, &[1]).await.unwrap(),
        Recorded::Unchanged
    );
    assert!(store.statuses(run.id).await.unwrap()[0]
        .deleted_at
        .is_some());
}

async fn the_last_status_id_is_the_numerically_largest(store: Store) {
    let run = store.open_run("chat", at(0), at(50)).await.unwrap();
    for id in ["99", "100", "98"] {
        store
            .record_status(run.id, &status(id, "x", None), &[])
            .await
            .unwrap();
    }
    assert_eq!(
        store.last_status_id(run.id).await.unwrap().as_deref(),
        Some("100")
    );
}

async fn a_missed_run_is_recorded_once_and_is_not_the_latest_run(store: Store) {
    assert!(store
        .record_missed_run("chat", at(0), at(50))
        .await
        .unwrap());
    assert!(!store
        .record_missed_run("chat", at(0), at(50))
        .await
        .unwrap());
    assert!(store.latest_run("chat").await.unwrap().is_none());
    assert_eq!(store.last_planned_start("chat").await.unwrap(), Some(at(0)));
}

/// Status `id` of the watched instance `b.example`, with the identity of
/// status `of` (its uri).
fn watched(id: &str, of: &str, text: &str, edited: Option<DateTime<Utc>>) -> StoredStatus {
    StoredStatus {
        status_id: hashchat::store::watched_key("b.example", id),
        instance: Some("b.example".into()),
        uri: status(of, text, edited).uri,
        ..status(id, text, edited)
    }
}

async fn a_watched_instances_status_5_never_overwrites_the_home_status_5(store: Store) {
    let run = store.open_run("chat", at(0), at(50)).await.unwrap().id;
    let home = status("5", "A1 at home", None);
    let other = watched("5", "elsewhere", "A2 on b", None);
    store.record_status(run, &home, &[1]).await.unwrap();
    let recorded = store.record_status(run, &other, &[2]).await.unwrap();
    assert_eq!(recorded, Recorded::New);
    store.mark_deleted(run, "b.example/5", at(9)).await.unwrap();
    let rows = store.statuses(run).await.unwrap();
    let live: Vec<_> = rows.iter().filter(|r| r.deleted_at.is_none()).collect();
    assert_eq!(live.len(), 1, "deleting b's 5 leaves home's 5");
    assert_eq!(
        (live[0].status_id.as_str(), live[0].instance.as_deref()),
        ("5", None)
    );
    assert_eq!(live[0].answers, vec![1]);
}

async fn one_post_seen_at_home_and_on_a_watched_instance_is_one_row_under_its_first_key(
    store: Store,
) {
    let run = store.open_run("chat", at(0), at(50)).await.unwrap().id;
    store
        .record_status(run, &status("5", "A1 yes", None), &[1])
        .await
        .unwrap();
    // The same post (same uri) under b's own id: another copy, no move.
    let copy = watched("90", "5", "A1 yes", None);
    assert_eq!(
        store.record_status(run, &copy, &[1]).await.unwrap(),
        Recorded::Unchanged
    );
    // b has its newer edit first: written under the home row's key.
    let edit = watched("90", "5", "A2 edited", Some(at(8)));
    assert_eq!(
        store.record_status(run, &edit, &[2]).await.unwrap(),
        Recorded::Edited
    );
    let rows = store.statuses(run).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].status_id.as_str(), rows[0].instance.as_deref()),
        ("5", None)
    );
    assert_eq!(
        (rows[0].text.as_str(), rows[0].answers.clone()),
        ("A2 edited", vec![2])
    );
}
