//! Store behaviour on a real SQLite file in a temporary directory.

use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::schedule::{PlanPost, PlannedPost, PostKind};

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 3, 20, minute, 0).unwrap()
}

async fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("h.db")).await.unwrap();
    (dir, store)
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

#[tokio::test]
async fn opening_the_same_run_twice_finds_the_first() {
    let (_dir, store) = store().await;
    let first = store.open_run("chat", at(0), at(50)).await.unwrap();
    let again = store.open_run("chat", at(0), at(50)).await.unwrap();
    assert_eq!(first.id, again.id);
    assert_eq!(store.unfinished_runs("chat").await.unwrap().len(), 1);
}

#[tokio::test]
async fn planning_posts_again_keeps_a_sent_post_sent() {
    let (_dir, store) = store().await;
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

#[tokio::test]
async fn recording_a_status_twice_stores_it_once_and_only_newer_edits_replace_it() {
    let (_dir, store) = store().await;
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

#[tokio::test]
async fn a_status_edited_under_a_new_id_is_one_answer_under_that_id() {
    let (_dir, store) = store().await;
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

#[tokio::test]
async fn a_page_holding_a_status_and_its_edit_under_a_new_id_stores_one_answer() {
    let (_dir, store) = store().await;
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

#[tokio::test]
async fn a_status_stored_before_uris_were_kept_is_found_by_its_id() {
    let (_dir, store) = store().await;
    let run = store.open_run("chat", at(0), at(50)).await.unwrap().id;
    store
        .record_status(run, &status("7", "A1 first", None), &[1])
        .await
        .unwrap();
    // What the migration leaves of a row stored before it: no uri.
    sqlx::query("UPDATE statuses SET uri = NULL")
        .execute(store.pool())
        .await
        .unwrap();
    let again = store
        .record_status(run, &status("7", "A1 first", None), &[1])
        .await
        .unwrap();
    assert_eq!(again, Recorded::Unchanged);
    let edit = status("7", "A2 changed", Some(at(9)));
    assert_eq!(
        store.record_status(run, &edit, &[2]).await.unwrap(),
        Recorded::Edited
    );
    // Its uri is kept now: an edit under a new id finds it.
    let moved = under_id("9", "7", "A3 moved", Some(at(10)));
    assert_eq!(
        store.record_status(run, &moved, &[3]).await.unwrap(),
        Recorded::Edited
    );
    let want = vec![("9".to_string(), "A3 moved".to_string(), vec![3])];
    assert_eq!(rows_of(&store, run).await, want);
}

#[tokio::test]
async fn a_deleted_status_is_marked_and_not_revived() {
    let (_dir, store) = store().await;
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

#[tokio::test]
async fn the_last_status_id_is_the_numerically_largest() {
    let (_dir, store) = store().await;
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

#[tokio::test]
async fn a_missed_run_is_recorded_once_and_is_not_the_latest_run() {
    let (_dir, store) = store().await;
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

/// Takes a lease that must be free.
async fn take(store: &Store, chat: &str, holder: &str, at: DateTime<Utc>) -> Lease {
    let taken = store.take_lease(chat, holder, at).await.unwrap();
    taken.expect("the lease is free")
}

/// Who holds the chat's lease, by name.
fn holder_of(store: &Store, chat: &str) -> Option<String> {
    store.lease_of(chat).unwrap().map(|l| l.holder)
}

#[tokio::test]
async fn a_lease_is_refused_to_others_until_its_holder_lets_go() {
    let (dir, store) = store().await;
    // Another process: its own pool and its own lease files' descriptors.
    let other = Store::open(&dir.path().join("h.db")).await.unwrap();
    let one = take(&store, "chat", "one", at(0)).await;
    let refused = other
        .take_lease("chat", "two", at(1))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(refused.holder, "one");
    assert_eq!(refused.acquired_at, Some(at(0)));
    // The same process asking again is refused too: a chat runs once.
    assert!(store
        .take_lease("chat", "one", at(1))
        .await
        .unwrap()
        .is_err());
    // Another chat is free.
    let _two = take(&other, "other", "two", at(1)).await;
    assert_eq!(holder_of(&other, "chat"), Some("one".to_string()));
    drop(one);
    assert_eq!(other.lease_of("chat").unwrap(), None);
    let three = take(&other, "chat", "three", at(2)).await;
    assert_eq!(holder_of(&store, "chat"), Some("three".to_string()));
    drop(three);
    assert!(dir.path().join("h.db-leases").join("chat.lease").exists());
}

#[tokio::test]
async fn a_lease_file_left_by_a_killed_process_is_free_at_once() {
    let (dir, store) = store().await;
    // What `kill -9` leaves: the file still names its holder, but the
    // kernel dropped the lock with the process.
    let folder = dir.path().join("h.db-leases");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("chat.lease"),
        format!("dead-host:1234:abcd\n{}\n", at(0).to_rfc3339()),
    )
    .unwrap();
    assert_eq!(store.lease_of("chat").unwrap(), None);
    let _lease = take(&store, "chat", "new", at(5)).await;
    let other = Store::open(&dir.path().join("h.db")).await.unwrap();
    assert_eq!(
        other.lease_of("chat").unwrap(),
        Some(LeaseHolder {
            holder: "new".into(),
            acquired_at: Some(at(5)),
        })
    );
}

#[tokio::test]
async fn an_in_memory_store_keeps_its_leases_in_the_process() {
    let store = Store::open_in_memory().await.unwrap();
    let lease = take(&store, "chat", "one", at(0)).await;
    let refused = store
        .clone()
        .take_lease("chat", "two", at(1))
        .await
        .unwrap();
    assert_eq!(refused.unwrap_err().holder, "one");
    assert_eq!(holder_of(&store, "chat"), Some("one".into()));
    drop(lease);
    assert_eq!(store.lease_of("chat").unwrap(), None);
    assert!(store
        .take_lease("chat", "two", at(2))
        .await
        .unwrap()
        .is_ok());
}

#[test]
fn lease_files_are_named_after_the_chat_and_nothing_escapes_the_folder() {
    let folder = std::path::Path::new("/db-leases");
    assert_eq!(
        leases::lease_file(folder, "1qedchat"),
        folder.join("1qedchat.lease")
    );
    assert_eq!(
        leases::lease_file(folder, "../x/Y"),
        folder.join("%2e%2e%2fx%2f%59.lease")
    );
}

/// Another process's connection to the same file (its own pool, as a
/// second daemon or `hashchat recap` would have), holding the write lock.
async fn hold_the_write_lock(path: &std::path::Path) -> sqlx::SqliteConnection {
    use sqlx::Connection;
    let options = SqliteConnectOptions::new().filename(path);
    let mut other = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    other
}

#[tokio::test]
async fn writes_wait_for_another_connections_write_lock_and_then_succeed() {
    let (dir, store) = store().await;
    let run = store.open_run("chat", at(0), at(50)).await.unwrap();
    let mut other = hold_the_write_lock(&dir.path().join("h.db")).await;
    // The other writer moves the end of collection while our calls wait: a
    // read-then-write transaction that read before this commit (a deferred
    // `BEGIN`) could not write after it (SQLITE_BUSY_SNAPSHOT).
    sqlx::query("UPDATE runs SET collect_until = ? WHERE id = ?")
        .bind(at(55))
        .bind(run.id)
        .execute(&mut other)
        .await
        .unwrap();

    let shift = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .shift_unsent(run.id, chrono::Duration::minutes(10))
                .await
        }
    });
    let record = tokio::spawn({
        let store = store.clone();
        async move {
            let command = SteerRecord {
                scope: "chat",
                run_id: Some(run.id),
                status_id: "1",
                account: "alice@fake.example",
                command: "extend",
                received_at: at(6),
                effect: "received",
            };
            store.record_steer(&command).await
        }
    });
    // Both calls have taken a connection from the pool and are at SQLite
    // (or one has already ended, which fails below)...
    while store.pool().size() as usize - store.pool().num_idle() < 2
        && !shift.is_finished()
        && !record.is_finished()
    {
        tokio::task::yield_now().await;
    }
    // ...where they wait for the lock instead of failing with "database is
    // locked" (which would end them at once).
    let (shift, record) = (std::pin::pin!(shift), std::pin::pin!(record));
    let mut both = futures_util::future::join(shift, record);
    let waited = tokio::time::timeout(std::time::Duration::from_millis(300), &mut both).await;
    assert!(
        waited.is_err(),
        "a call ended while the lock was held: {waited:?}"
    );
    sqlx::query("COMMIT").execute(&mut other).await.unwrap();

    let (shift, record) = both.await;
    shift.unwrap().unwrap();
    assert!(record.unwrap().unwrap(), "the command was recorded");
    let run = store.run(run.id).await.unwrap().unwrap();
    assert_eq!(run.collect_until, at(55) + chrono::Duration::minutes(10));
}

/// Status `id` of the watched instance `b.example`, with the identity of
/// status `of` (its uri).
fn watched(id: &str, of: &str, text: &str, edited: Option<DateTime<Utc>>) -> StoredStatus {
    StoredStatus {
        status_id: crate::store::watched_key("b.example", id),
        instance: Some("b.example".into()),
        uri: status(of, text, edited).uri,
        ..status(id, text, edited)
    }
}

#[tokio::test]
async fn a_watched_instances_status_5_never_overwrites_the_home_status_5() {
    let (_dir, store) = store().await;
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

#[tokio::test]
async fn one_post_seen_at_home_and_on_a_watched_instance_is_one_row_under_its_first_key() {
    let (_dir, store) = store().await;
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
