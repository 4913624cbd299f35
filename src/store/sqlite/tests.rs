//! What only the SQLite store has: its lease files, its write lock, rows
//! from before uris were kept. Everything else it shares with PostgreSQL is
//! tested on both in `tests/it/store_conformance.rs`.

use chrono::{DateTime, TimeZone, Utc};

use crate::store::*;
use sqlx::sqlite::SqliteConnectOptions;

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
async fn a_status_stored_before_uris_were_kept_is_found_by_its_id() {
    let (_dir, store) = store().await;
    let run = store.open_run("chat", at(0), at(50)).await.unwrap().id;
    store
        .record_status(run, &status("7", "A1 first", None), &[1])
        .await
        .unwrap();
    // What the migration leaves of a row stored before it: no uri.
    sqlx::query("UPDATE statuses SET uri = NULL")
        .execute(store.sqlite_pool().unwrap())
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
    while store.sqlite_pool().unwrap().size() as usize - store.sqlite_pool().unwrap().num_idle() < 2
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
