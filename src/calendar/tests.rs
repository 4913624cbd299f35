use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::*;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("test time")
        .with_timezone(&Utc)
}

fn base() -> url::Url {
    url::Url::parse("https://chats.example/hashchat").expect("url")
}

/// A weekly chat on Thursdays 20:00 London, with `keys` added.
fn weekly(keys: &str) -> Arc<Chat> {
    let yaml = format!(
        "id: 1qedchat\nhashtag: 1QEdChat\nschedule: \"0 20 * * 4\"\ntimezone: Europe/London\nquestions:\n  - One?\n  - Two?\n{keys}"
    );
    Arc::new(Chat::from_yaml(&yaml).expect("valid chat"))
}

/// The unfolded content lines of a feed.
fn lines(feed: &str) -> Vec<String> {
    feed.replace("\r\n ", "")
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// The value of `name` in each event, in order.
fn values(feed: &str, name: &str) -> Vec<String> {
    let prefix = format!("{name}:");
    lines(feed)
        .iter()
        .filter_map(|l| l.strip_prefix(&prefix).map(str::to_string))
        .collect()
}

#[test]
fn a_feed_holds_the_next_eight_runs_from_intro_to_closing_in_utc() {
    let now = utc("2026-03-20T00:00:00Z");
    let feed = feed(&[weekly("")], now, &base(), &Cancelled::none());
    assert!(
        feed.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"),
        "{feed}"
    );
    assert!(feed.ends_with("END:VCALENDAR\r\n"));
    let starts = values(&feed, "DTSTART");
    assert_eq!(starts.len(), RUNS);
    // 20:00 GMT, then 20:00 BST once the clocks change.
    assert_eq!(starts[0], "20260326T200000Z");
    assert_eq!(starts[1], "20260402T190000Z");
    // Intro at 20:00, Q1 at 20:05, Q2 at 20:15, closing at 20:25.
    assert_eq!(values(&feed, "DTEND")[0], "20260326T202500Z");
    assert_eq!(values(&feed, "DTSTAMP")[0], "20260320T000000Z");
    assert_eq!(values(&feed, "STATUS"), vec!["CONFIRMED"; RUNS]);
    assert_eq!(
        values(&feed, "URL")[0],
        "https://chats.example/hashchat/chats/1qedchat"
    );
    assert_eq!(values(&feed, "SUMMARY")[0], "#1QEdChat");
    let description = &values(&feed, "DESCRIPTION")[0];
    assert!(
        description.contains("Reply with A1\\, A2 … and #1QEdChat."),
        "{description}"
    );
}

#[test]
fn uids_are_stable_across_regenerations_and_distinct_per_run() {
    let chat = weekly("");
    let first = feed(
        std::slice::from_ref(&chat),
        utc("2026-03-20T00:00:00Z"),
        &base(),
        &Cancelled::none(),
    );
    // A day later, and with a session added: the same runs keep their UIDs.
    let changed =
        weekly("sessions:\n  - date: \"2026-04-02\"\n    topic: Feedback\n    questions: [Q?]");
    let second = feed(
        &[changed],
        utc("2026-03-21T00:00:00Z"),
        &base(),
        &Cancelled::none(),
    );
    let (a, b) = (values(&first, "UID"), values(&second, "UID"));
    assert_eq!(a, b);
    assert_eq!(a[0], "1qedchat-20260326T200000Z@chats.example");
    let unique: std::collections::HashSet<&String> = a.iter().collect();
    assert_eq!(unique.len(), a.len());
}

#[test]
fn a_session_gives_its_topic_and_host_and_its_own_length() {
    let chat = weekly(
        "sessions:\n  - date: \"2026-03-26\"\n    topic: \"Feedback, marks; and grades\"\n    host: \"@guest@school.example\"\n    questions: [Only?]",
    );
    let feed = chat_feed(
        &chat,
        utc("2026-03-20T00:00:00Z"),
        &base(),
        &Cancelled::none(),
    );
    assert_eq!(
        values(&feed, "SUMMARY")[0],
        "#1QEdChat: Feedback\\, marks\\; and grades"
    );
    let description = &values(&feed, "DESCRIPTION")[0];
    assert!(
        description.starts_with(
            "Topic: Feedback\\, marks\\; and grades\\nHosted by @guest@school.example\\n"
        ),
        "{description}"
    );
    // One question: the closing comes at 20:15.
    assert_eq!(values(&feed, "DTEND")[0], "20260326T201500Z");
    assert_eq!(values(&feed, "X-WR-CALNAME"), ["#1QEdChat"]);
}

#[test]
fn skipped_and_cancelled_runs_are_cancelled_events_besides_eight_runs() {
    let chat = weekly("skip_dates: [\"2026-12-24\", \"2026-12-31\"]");
    let cancelled: Cancelled = [("1qedchat".to_string(), utc("2027-01-07T20:00:00Z"))]
        .into_iter()
        .collect();
    let feed = feed(&[chat], utc("2026-12-20T00:00:00Z"), &base(), &cancelled);
    let starts = values(&feed, "DTSTART");
    let statuses = values(&feed, "STATUS");
    assert_eq!(starts.len(), RUNS + 3);
    assert_eq!(
        &starts[..4],
        [
            "20261224T200000Z",
            "20261231T200000Z",
            "20270107T200000Z",
            "20270114T200000Z"
        ]
    );
    assert_eq!(
        &statuses[..4],
        ["CANCELLED", "CANCELLED", "CANCELLED", "CONFIRMED"]
    );
    assert_eq!(statuses.iter().filter(|s| *s == "CONFIRMED").count(), RUNS);
    let summaries = values(&feed, "SUMMARY");
    assert_eq!(summaries[0], "No #1QEdChat this time");
    assert_eq!(summaries[2], "Cancelled: #1QEdChat");
    assert_eq!(values(&feed, "SEQUENCE")[..4], ["1", "1", "1", "0"]);
}

#[test]
fn a_run_in_progress_stays_until_its_closing_and_a_past_one_off_is_gone() {
    let chat = weekly("");
    let during = feed(
        std::slice::from_ref(&chat),
        utc("2026-03-26T20:10:00Z"),
        &base(),
        &Cancelled::none(),
    );
    assert_eq!(values(&during, "DTSTART")[0], "20260326T200000Z");
    let after = feed(
        &[chat],
        utc("2026-03-26T20:25:00Z"),
        &base(),
        &Cancelled::none(),
    );
    assert_eq!(values(&after, "DTSTART")[0], "20260402T190000Z");
    let once = Arc::new(
        Chat::from_yaml(
            "id: once\nhashtag: Once\nstart: \"2026-01-01T10:00:00Z\"\nquestions: [Q?]",
        )
        .expect("valid"),
    );
    let gone = feed(
        &[once],
        utc("2026-02-01T00:00:00Z"),
        &base(),
        &Cancelled::none(),
    );
    assert!(!gone.contains("BEGIN:VEVENT"), "{gone}");
}

#[test]
fn every_line_ends_in_crlf_and_fits_in_75_octets() {
    let chat = weekly("sessions:\n  - date: \"2026-03-26\"\n    topic: \"Évaluation formative et rétroaction : ce qui marche vraiment en classe 🎉🎉🎉\"\n    questions: [Q?]");
    let feed = chat_feed(
        &chat,
        utc("2026-03-20T00:00:00Z"),
        &base(),
        &Cancelled::none(),
    );
    assert!(feed.ends_with("\r\n"));
    for line in feed.split("\r\n") {
        assert!(line.len() <= 75, "{} octets: {line}", line.len());
        assert!(!line.contains('\n') && !line.contains('\r'), "{line:?}");
    }
}
