//! `--db postgres://…`: the reading commands find in PostgreSQL what a run
//! recorded there, as they do in a SQLite file, and never show the URL's
//! password.

use chrono::{Duration, Utc};
use hashchat::store::{PostgresUrl, Store, StoredStatus};

use super::{example_dir, hashchat, text};
use crate::postgres::server::fresh_database;

/// The URL of a fresh database with a password in it (the test server
/// trusts loopback, so any password connects).
async fn url_with_password() -> String {
    fresh_database()
        .await
        .replacen("postgres@", "postgres:s3cret-pw@", 1)
}

/// A finished run of `demo` with one answer to question 1 by alice.
async fn record_a_run(url: &str) {
    let store = Store::open_postgres(&PostgresUrl::new(url)).await.unwrap();
    let start = Utc::now() - Duration::hours(2);
    let run = store
        .open_run("demo", start, start + Duration::hours(1))
        .await
        .unwrap()
        .id;
    store.mark_run_started(run, start).await.unwrap();
    let answer = StoredStatus {
        status_id: "7".into(),
        instance: None,
        uri: "https://fake.example/users/alice/statuses/7".into(),
        account_id: "2".into(),
        account: "alice@fake.example".into(),
        display_name: "Alice".into(),
        url: "https://fake.example/@alice/7".into(),
        html: "<p>A1 tea, always tea</p>".into(),
        text: "A1 tea, always tea".into(),
        created_at: start + Duration::minutes(5),
        edited_at: None,
        in_reply_to_id: None,
        visibility: "public".into(),
    };
    store.record_status(run, &answer, &[1]).await.unwrap();
    store
        .finish_run(run, start + Duration::hours(1))
        .await
        .unwrap();
}

#[tokio::test]
async fn recap_stats_and_status_read_a_run_recorded_in_postgresql() {
    let dir = example_dir();
    let url = url_with_password().await;
    record_a_run(&url).await;
    for (args, expected) in [
        (&["recap", "demo"][..], "(@alice@fake.example): 1 answer"),
        (
            &["stats", "demo"][..],
            "    1             1        1    1          0",
        ),
        (&["status"][..], "done     1 post, 1 answering"),
    ] {
        let out = hashchat(dir.path(), &[args, &["--db", &url, "-vv"]].concat());
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stdout.contains(expected), "{args:?}:\n{stdout}");
        assert!(
            !stdout.contains("s3cret-pw") && !stderr.contains("s3cret-pw"),
            "{args:?} shows the password:\n{stdout}\n{stderr}"
        );
    }
    assert!(
        !dir.path().join("hashchat.db").exists(),
        "no SQLite file is made beside"
    );
}

#[tokio::test]
async fn a_database_that_cannot_be_opened_is_named_without_its_password() {
    let dir = example_dir();
    let url = url_with_password().await;
    let (server, _) = url.rsplit_once('/').unwrap();
    let missing = format!("{server}/no_such_database");
    let out = hashchat(dir.path(), &["recap", "demo", "--db", &missing]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("postgres://postgres:***@127.0.0.1:"),
        "names the database:\n{stderr}"
    );
    assert!(!stderr.contains("s3cret-pw"), "{stderr}");
}
