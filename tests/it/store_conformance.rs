//! The store's behaviour, the same on both databases: every test here is
//! an `async fn` over a [`Store`], run once on a fresh SQLite file in a
//! temporary directory and once on a fresh PostgreSQL database
//! (`postgres::server`). What only one of them has (SQLite's lease files
//! and write lock, PostgreSQL's fenced leases) is tested beside it.

use chrono::{DateTime, TimeZone, Utc};
use hashchat::schedule::{PlanPost, PlannedPost, PostKind};
use hashchat::store::{
    PostState, PostgresUrl, Recorded, RunState, SteerRecord, Store, StoredStatus,
};

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
    a_post_goes_from_planned_to_sending_to_sent_or_failed,
    collection_is_never_shortened_and_a_finished_run_is_done,
    counts_reactions_and_html_leave_deleted_statuses_out,
    who_took_part_before_and_in_each_run_is_read_across_runs,
    a_steer_acts_once_and_its_log_keeps_what_it_did,
    pausing_shifting_and_stopping_move_only_unsent_posts,
    a_run_called_off_is_done_and_shown_as_cancelled,
    a_platform_session_is_saved_replaced_and_read_back,
    the_change_marker_moves_with_each_write_and_only_then,
    the_same_answer_recorded_at_once_by_many_writers_is_stored_once,
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

/// Plans an intro (seq 0), questions 1..=`questions` and a closing, a
/// minute apart from `at(0)`; keys are unique per run.
async fn plan(store: &Store, run: i64, questions: u32) {
    let post = |seq: u32, kind: PostKind, number: Option<u32>| PlanPost {
        post: PlannedPost {
            seq,
            kind,
            number,
            at: at(seq),
            text: format!("post {seq} #T"),
        },
        body: format!("post {seq}"),
        idempotency_key: format!("{run}-{seq}"),
        image: None,
    };
    let mut posts = vec![post(0, PostKind::Intro, None)];
    posts.extend((1..=questions).map(|n| post(n, PostKind::Question, Some(n))));
    posts.push(post(questions + 1, PostKind::Closing, None));
    store.plan_posts(run, &posts).await.unwrap();
}

fn states(posts: &[hashchat::store::PostRow]) -> Vec<(u32, PostState)> {
    posts.iter().map(|p| (p.seq, p.state)).collect()
}

async fn a_post_goes_from_planned_to_sending_to_sent_or_failed(store: Store) {
    let run = store.open_run("chat", at(0), at(50)).await.unwrap().id;
    plan(&store, run, 2).await;
    store.mark_sending(run, 0).await.unwrap();
    store.mark_sending(run, 0).await.unwrap();
    store
        .mark_sent(run, 0, "100", "https://x/100", at(1))
        .await
        .unwrap();
    store
        .mark_post(run, 1, PostState::Failed, "server said no")
        .await
        .unwrap();
    store.skip_post(run, 2, "too late").await.unwrap();
    let posts = store.posts(run).await.unwrap();
    assert_eq!(
        states(&posts),
        [
            (0, PostState::Sent),
            (1, PostState::Failed),
            (2, PostState::Skipped),
            (3, PostState::Planned)
        ]
    );
    assert_eq!(posts[0].attempts, 2);
    assert_eq!(posts[0].status_id.as_deref(), Some("100"));
    assert_eq!(posts[0].posted_at, Some(at(1)));
    assert_eq!(posts[1].last_error.as_deref(), Some("server said no"));
    assert_eq!(posts[1].number, Some(1));
    assert_eq!(posts[3].kind, PostKind::Closing);
}

async fn collection_is_never_shortened_and_a_finished_run_is_done(store: Store) {
    let run = store.open_run("chat", at(0), at(50)).await.unwrap().id;
    store.mark_run_started(run, at(1)).await.unwrap();
    store.mark_run_started(run, at(2)).await.unwrap();
    store.collect_at_least_until(run, at(40)).await.unwrap();
    assert_eq!(store.run(run).await.unwrap().unwrap().collect_until, at(50));
    store.collect_at_least_until(run, at(55)).await.unwrap();
    store.finish_run(run, at(56)).await.unwrap();
    let row = store.run(run).await.unwrap().unwrap();
    assert_eq!(
        (row.started_at, row.collect_until, row.ended_at, row.state),
        (Some(at(1)), at(55), Some(at(56)), RunState::Done)
    );
    assert!(store.unfinished_runs("chat").await.unwrap().is_empty());
    let later = store.open_run("chat", at(58), at(59)).await.unwrap().id;
    let recent: Vec<i64> = store
        .recent_runs("chat", 5)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(recent, [later, run]);
    assert_eq!(store.recent_runs("chat", 1).await.unwrap().len(), 1);
    assert!(store.run(later + 1000).await.unwrap().is_none());
}

async fn counts_reactions_and_html_leave_deleted_statuses_out(store: Store) {
    let run = store.open_run("chat", at(0), at(50)).await.unwrap().id;
    for (id, answers) in [("1", vec![1]), ("2", vec![]), ("3", vec![1, 2])] {
        store
            .record_status(run, &status(id, "A1", None), &answers)
            .await
            .unwrap();
    }
    store.mark_deleted(run, "3", at(9)).await.unwrap();
    store
        .save_reactions(run, &[("1".into(), 4, 2), ("2".into(), u64::MAX, 0)])
        .await
        .unwrap();
    assert_eq!(store.run_counts(run).await.unwrap(), (2, 1));
    assert_eq!(store.deleted_count(run).await.unwrap(), 1);
    let html = store.status_html(run).await.unwrap();
    assert_eq!(html.len(), 2);
    assert_eq!(html["1"], "<p>A1</p>");
    let rows = store.statuses(run).await.unwrap();
    let reactions: Vec<_> = rows.iter().map(|r| (r.favourites, r.boosts)).collect();
    assert_eq!(
        reactions,
        [(Some(4), Some(2)), (Some(i64::MAX), Some(0)), (None, None)]
    );
    assert_eq!(rows[2].answers, [1, 2]);
}

async fn who_took_part_before_and_in_each_run_is_read_across_runs(store: Store) {
    let first = store.open_run("chat", at(0), at(10)).await.unwrap().id;
    store.mark_run_started(first, at(0)).await.unwrap();
    store
        .record_status(first, &status("1", "A1", None), &[1])
        .await
        .unwrap();
    store
        .record_missed_run("chat", at(20), at(30))
        .await
        .unwrap();
    let second = store.open_run("chat", at(40), at(50)).await.unwrap().id;
    let mut bob = status("2", "hi", None);
    bob.account = "bob@fake.example".into();
    store.record_status(second, &bob, &[]).await.unwrap();
    let seen = store.accounts_seen_before("chat", at(40)).await.unwrap();
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["alice@fake.example"]);
    let activity = store.run_activity("chat").await.unwrap();
    let runs: Vec<_> = activity
        .iter()
        .map(|a| {
            let mut accounts: Vec<_> = a.accounts.clone().into_iter().collect();
            accounts.sort();
            (a.run_id, a.started_at, accounts)
        })
        .collect();
    assert_eq!(
        runs,
        [
            (first, Some(at(0)), vec![("alice@fake.example".into(), 1)]),
            (second, None, vec![("bob@fake.example".into(), 0)]),
        ]
    );
    assert!(store
        .record_welcome("chat", "bob@fake.example", "2", at(41))
        .await
        .unwrap());
    assert!(!store
        .record_welcome("chat", "bob@fake.example", "3", at(42))
        .await
        .unwrap());
    assert_eq!(
        store.welcomes("chat").await.unwrap(),
        [("bob@fake.example".into(), "2".into(), at(41))]
    );
}

async fn a_steer_acts_once_and_its_log_keeps_what_it_did(store: Store) {
    let run = store.open_run("chat", at(0), at(50)).await.unwrap().id;
    let steer = |status_id: &'static str, command: &'static str| SteerRecord {
        scope: "chat",
        run_id: Some(run),
        status_id,
        account: "mod@fake.example",
        command,
        received_at: at(5),
        effect: "",
    };
    assert!(!store.steer_seen("chat", "10").await.unwrap());
    assert!(store
        .record_steer(&steer("10", "extend 10m"))
        .await
        .unwrap());
    assert!(!store
        .record_steer(&steer("10", "extend 10m"))
        .await
        .unwrap());
    assert!(store.steer_seen("chat", "10").await.unwrap());
    assert!(!store.steer_seen("other", "10").await.unwrap());
    assert!(store.record_steer(&steer("11", "pause")).await.unwrap());
    store
        .set_steer_effect("chat", "10", "collecting until 21:00")
        .await
        .unwrap();
    assert_eq!(
        store.steer_log("chat").await.unwrap(),
        [
            (
                "mod@fake.example".into(),
                "extend 10m".into(),
                "collecting until 21:00".into()
            ),
            ("mod@fake.example".into(), "pause".into(), "".into()),
        ]
    );
    assert_eq!(store.extend_commands(run).await.unwrap(), ["extend 10m"]);
    assert_eq!(store.mention_cursor("chat").await.unwrap(), None);
    store.set_mention_cursor("chat", "5").await.unwrap();
    store.set_mention_cursor("chat", "6").await.unwrap();
    assert_eq!(
        store.mention_cursor("chat").await.unwrap().as_deref(),
        Some("6")
    );
    store
        .set_opted_out("Alice@Fake.Example", true, "12", at(6))
        .await
        .unwrap();
    store
        .set_opted_out("bob@fake.example", true, "13", at(6))
        .await
        .unwrap();
    store
        .set_opted_out("bob@fake.example", false, "14", at(7))
        .await
        .unwrap();
    let opted: Vec<_> = store.opted_out().await.unwrap().into_iter().collect();
    assert_eq!(opted, ["alice@fake.example"]);
}

async fn pausing_shifting_and_stopping_move_only_unsent_posts(store: Store) {
    let run = store.open_run("chat", at(0), at(50)).await.unwrap().id;
    plan(&store, run, 3).await;
    store
        .mark_sent(run, 0, "100", "https://x/100", at(0))
        .await
        .unwrap();
    store.set_paused(run, Some(at(2))).await.unwrap();
    assert_eq!(
        store.run(run).await.unwrap().unwrap().paused_at,
        Some(at(2))
    );
    store.set_paused(run, None).await.unwrap();
    store
        .shift_unsent(run, chrono::Duration::minutes(5))
        .await
        .unwrap();
    let planned: Vec<_> = store
        .posts(run)
        .await
        .unwrap()
        .iter()
        .map(|p| p.planned_at)
        .collect();
    assert_eq!(planned, [at(0), at(6), at(7), at(8), at(9)]);
    assert_eq!(store.run(run).await.unwrap().unwrap().collect_until, at(55));
    store
        .stop_run(run, &[2, 3], Some(4), at(10), at(20), "stopped")
        .await
        .unwrap();
    let posts = store.posts(run).await.unwrap();
    assert_eq!(
        states(&posts),
        [
            (0, PostState::Sent),
            (1, PostState::Planned),
            (2, PostState::Skipped),
            (3, PostState::Skipped),
            (4, PostState::Planned)
        ]
    );
    assert_eq!(posts[4].planned_at, at(10));
    assert_eq!(store.run(run).await.unwrap().unwrap().collect_until, at(20));
    assert_eq!(store.run(run).await.unwrap().unwrap().paused_at, None);
}

async fn a_run_called_off_is_done_and_shown_as_cancelled(store: Store) {
    // Called off before it was opened.
    assert!(store
        .cancel_run("chat", at(30), at(40), "mod", at(1))
        .await
        .unwrap());
    assert!(!store
        .cancel_run("chat", at(30), at(40), "mod", at(2))
        .await
        .unwrap());
    // Opened for its reminders, then called off: its posts are skipped.
    let run = store.open_run("chat", at(10), at(20)).await.unwrap().id;
    plan(&store, run, 1).await;
    store.mark_sending(run, 0).await.unwrap();
    assert!(store.cancel_open_run(run, "mod", at(3)).await.unwrap());
    assert!(!store.cancel_open_run(run, "mod", at(4)).await.unwrap());
    let row = store.run(run).await.unwrap().unwrap();
    assert_eq!(
        (row.state, row.cancelled_by.as_deref(), row.ended_at),
        (RunState::Done, Some("mod"), Some(at(3)))
    );
    let posts = store.posts(run).await.unwrap();
    assert!(posts.iter().all(|p| p.state == PostState::Skipped));
    assert_eq!(
        posts[0].last_error.as_deref(),
        Some("the run was called off by @mod")
    );
    assert_eq!(
        store.cancelled_runs(at(5)).await.unwrap(),
        [("chat".into(), at(10)), ("chat".into(), at(30))]
    );
    assert!(store.latest_run("chat").await.unwrap().is_none());
}

async fn a_platform_session_is_saved_replaced_and_read_back(store: Store) {
    assert_eq!(
        store.platform_session("bot.bsky.social").await.unwrap(),
        None
    );
    store
        .save_platform_session("bot.bsky.social", "{\"jwt\":1}", at(1))
        .await
        .unwrap();
    store
        .save_platform_session("bot.bsky.social", "{\"jwt\":2}", at(2))
        .await
        .unwrap();
    assert_eq!(
        store
            .platform_session("bot.bsky.social")
            .await
            .unwrap()
            .as_deref(),
        Some("{\"jwt\":2}")
    );
    assert_eq!(store.platform_session("other").await.unwrap(), None);
}

async fn the_change_marker_moves_with_each_write_and_only_then(store: Store) {
    store.ping().await.unwrap();
    let before = store.change_marker().await.unwrap();
    assert_eq!(store.change_marker().await.unwrap(), before);
    let run = store.open_run("chat", at(0), at(50)).await.unwrap().id;
    let opened = store.change_marker().await.unwrap();
    assert_ne!(opened, before, "opening a run moves the marker");
    store.statuses(run).await.unwrap();
    store.latest_run("chat").await.unwrap();
    assert_eq!(store.change_marker().await.unwrap(), opened, "reads do not");
    store
        .record_status(run, &status("7", "A1", None), &[1])
        .await
        .unwrap();
    assert_ne!(store.change_marker().await.unwrap(), opened);
}

/// Two replicas (or a stream and a reconciliation) recording the same new
/// answer at once: each sees the other's write, none fails on a duplicate.
async fn the_same_answer_recorded_at_once_by_many_writers_is_stored_once(store: Store) {
    let run = store.open_run("chat", at(0), at(50)).await.unwrap().id;
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .record_status(run, &status("7", "A1 at once", None), &[1])
                    .await
            })
        })
        .collect();
    let mut new = 0;
    for writer in writers {
        let recorded = writer.await.unwrap().expect("no writer fails");
        new += usize::from(recorded == Recorded::New);
    }
    assert_eq!(new, 1, "one writer stored it, the others found it");
    let want = vec![("7".to_string(), "A1 at once".to_string(), vec![1])];
    assert_eq!(rows_of(&store, run).await, want);
}

/// Until the replicas' fenced leases are wired in, a chat on PostgreSQL
/// refuses to start, saying why, instead of running without a lease.
#[tokio::test]
async fn on_postgresql_taking_a_file_lease_is_refused_with_the_reason() {
    let url = PostgresUrl::new(fresh_database().await);
    let store = Store::open_postgres(&url).await.unwrap();
    let refused = store.take_lease("chat", "me", at(0)).await.unwrap_err();
    assert_eq!(
        refused.to_string(),
        "running chats on PostgreSQL needs the replica leases (not yet)"
    );
    assert!(store.lease_of("chat").unwrap().is_none());
    assert!(store.postgres_pool().is_some() && store.sqlite_pool().is_none());
}
