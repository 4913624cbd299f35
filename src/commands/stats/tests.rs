//! Two runs of a chat in a temp SQLite file: the rows `hashchat stats`
//! shows, and the recap of the second run (first-timers, deleted, HTML).

use std::path::Path;

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::chats::{self, Chat};
use crate::recap::{self, Format};
use crate::schedule::{timeline, PlanPost};
use crate::store::StoredStatus;

const CHATS: &str = "\
server: https://mastodon.example
timezone: Europe/London
chats:
  - id: 1qedchat
    hashtag: 1QEdChat
    schedule: \"0 20 * * 4\"
    intro: Welcome!
    first_question_after: 5m
    question_interval: 10m
    questions:
      - How do you build an online PLN?
      - Which chats help you most?
    closing: Thanks!
    collect_after: 10m
";

fn chat() -> std::sync::Arc<Chat> {
    let config = chats::parse(Path::new("chats.yaml"), CHATS).expect("the test chat is valid");
    config.chats.into_iter().next().expect("one chat")
}

/// A post by `user` (`user@mastodon.example`), `minutes` after `start`.
fn post(id: &str, user: &str, start: DateTime<Utc>, minutes: i64, html: &str) -> StoredStatus {
    StoredStatus {
        status_id: id.into(),
        instance: None,
        uri: format!("https://mastodon.example/users/{user}/statuses/{id}"),
        account_id: format!("{user}-id"),
        account: format!("{user}@mastodon.example"),
        display_name: user.to_uppercase(),
        url: format!("https://mastodon.example/@{user}/{id}"),
        html: html.into(),
        text: html.replace("<p>", "").replace("</p>", ""),
        created_at: start + Duration::minutes(minutes),
        edited_at: None,
        in_reply_to_id: None,
        visibility: "public".into(),
    }
}

/// A whole run at `start`: its posts planned and sent, the statuses
/// recorded (each with the questions it answers), then finished.
async fn run(
    store: &Store,
    chat: &Chat,
    start: DateTime<Utc>,
    statuses: &[(StoredStatus, &[u32])],
) -> i64 {
    let plan = timeline(chat, start);
    let row = store
        .open_run(chat.id(), start, plan.collect_until)
        .await
        .expect("open run");
    let bodies: Vec<_> = plan
        .posts
        .iter()
        .map(|p| PlanPost {
            post: p.clone(),
            body: p.text.clone(),
            idempotency_key: format!("run{}-{}", row.id, p.seq),
            image: None,
        })
        .collect();
    store.plan_posts(row.id, &bodies).await.expect("plan");
    for p in &plan.posts {
        let id = format!("9{}{}", row.id, p.seq);
        let url = format!("https://mastodon.example/@bot/{id}");
        store
            .mark_sent(row.id, p.seq, &id, &url, p.at)
            .await
            .expect("sent");
    }
    store
        .mark_run_started(row.id, start)
        .await
        .expect("started");
    for (status, answers) in statuses {
        store
            .record_status(row.id, status, answers)
            .await
            .expect("record");
    }
    store
        .finish_run(row.id, plan.collect_until)
        .await
        .expect("finish");
    row.id
}

/// Run 1: Alice answers, Bob answers two questions in one post and chats,
/// Carol posts and deletes. Run 2, a week later: Alice again (an edited
/// answer), Carol (new: her deleted post made her no participant), Dave's
/// hostile other post, and Erin's deleted answer.
async fn two_runs(store: &Store, chat: &Chat) -> (i64, i64) {
    let week1 = Utc.with_ymd_and_hms(2026, 6, 4, 19, 0, 0).unwrap();
    let week2 = week1 + Duration::days(7);
    let first = run(
        store,
        chat,
        week1,
        &[
            (post("101", "alice", week1, 6, "<p>A1: lists</p>"), &[1]),
            (
                post("102", "bob", week1, 16, "<p>A1 &amp; A2: both</p>"),
                &[1, 2],
            ),
            (post("103", "bob", week1, 17, "<p>hello</p>"), &[]),
            (post("104", "carol", week1, 7, "<p>A1: oops</p>"), &[1]),
        ],
    )
    .await;
    store
        .mark_deleted(first, "104", week1 + Duration::minutes(8))
        .await
        .expect("delete");
    let mut edited = post("203", "alice", week2, 7, "<p>A1: lists, edited</p>");
    edited.edited_at = Some(week2 + Duration::minutes(9));
    let second = run(
        store,
        chat,
        week2,
        &[
            (
                post(
                    "201",
                    "carol",
                    week2,
                    6,
                    "<p>A1: <a href=\"https://carol.example/\" class=\"x\">my blog</a></p>",
                ),
                &[1],
            ),
            (post("203", "alice", week2, 7, "<p>A1: lists</p>"), &[1]),
            (edited, &[1]),
            (
                post(
                    "204",
                    "dave",
                    week2,
                    8,
                    "<p>hi <script>alert(1)</script><img src=http://evil/x></p>",
                ),
                &[],
            ),
            (post("205", "erin", week2, 16, "<p>A2: gone</p>"), &[2]),
        ],
    )
    .await;
    store
        .mark_deleted(second, "205", week2 + Duration::minutes(20))
        .await
        .expect("delete");
    (first, second)
}

async fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("hashchat.db"))
        .await
        .expect("store");
    (dir, store)
}

#[tokio::test]
async fn stats_count_each_run_with_first_timers_and_returning() {
    let (_dir, store) = store().await;
    let chat = chat();
    let (first, second) = two_runs(&store, &chat).await;

    let rows = history(&store, &chat).await.expect("history");

    let date = |d| NaiveDate::from_ymd_opt(2026, 6, d).unwrap();
    let summary: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.run_id,
                r.date,
                r.participants,
                r.answers,
                r.new,
                r.returning,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [(first, date(4), 2, 2, 2, 0), (second, date(11), 3, 2, 2, 1)]
    );
    assert_eq!(
        render(&chat, &rows, StatsFormat::Text),
        format!(
            "#1QEdChat (1qedchat): 2 runs\n\
             date        run  participants  answers  new  returning\n\
             2026-06-04  {first:>3}             2        2    2          0\n\
             2026-06-11  {second:>3}             3        2    2          1\n"
        )
    );
    let json: serde_json::Value =
        serde_json::from_str(&render(&chat, &rows, StatsFormat::Json)).expect("JSON");
    assert_eq!(json[1]["date"], "2026-06-11");
    assert_eq!(json[1]["new"], 2);
    let html = render(&chat, &rows, StatsFormat::Html);
    assert!(html.contains("<svg class=\"chart runs\""), "{html}");
    assert!(html.contains("11 Jun 26: 3 (2 new, 1 returning)"), "{html}");
}

#[tokio::test]
async fn a_chat_without_runs_has_an_empty_history() {
    let (_dir, store) = store().await;
    let chat = chat();

    let rows = history(&store, &chat).await.expect("history");

    assert!(rows.is_empty());
    assert_eq!(
        render(&chat, &rows, StatsFormat::Text),
        "#1QEdChat (1qedchat): 0 runs\n"
    );
    assert!(render(&chat, &rows, StatsFormat::Html).contains("No runs yet."));
}

#[tokio::test]
async fn the_recap_counts_first_timers_deletes_and_edits_from_the_store() {
    let (_dir, store) = store().await;
    let chat = chat();
    let (_, second) = two_runs(&store, &chat).await;

    let recap = recap::build(&store, &chat, second).await.expect("recap");

    let s = &recap.stats;
    let counts = (
        s.participants,
        s.answers,
        s.other_posts,
        s.edited,
        s.deleted,
    );
    assert_eq!(counts, (3, 2, 1, 1, 1));
    assert_eq!((s.first_timers, s.returning), (2, 1));
    let first_time: Vec<(&str, bool)> = recap
        .participants
        .iter()
        .map(|p| (p.account.as_str(), p.first_time))
        .collect();
    assert_eq!(
        first_time,
        [
            ("alice@mastodon.example", false),
            ("carol@mastodon.example", true),
            ("dave@mastodon.example", true),
        ]
    );
    let html = recap.render(Format::Html);
    assert!(
        html.contains("A1: lists, edited"),
        "the edit, from the store's HTML"
    );
    assert!(
        html.contains(
            r#"<a href="https://carol.example/" rel="nofollow noopener ugc">my blog</a>"#
        ),
        "the link, sanitised"
    );
    assert!(!html.contains("gone"), "the deleted answer");
    assert!(
        !html.contains("<script") && !html.contains("<img"),
        "the hostile post"
    );
    let json = recap.render(Format::Json);
    assert!(!json.contains("<p>"), "HTML stays out of the JSON contract");
}
