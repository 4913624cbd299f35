//! The calendar feed as a calendar program reads it: `hashchat plan --format ics` parsed by
//! Python's `icalendar` (pinned, in `target/icalendar-venv`), its events checked against
//! `hashchat plan --format json`: times, count, skip_dates, cancelled runs and stable UIDs.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use chrono::{DateTime, Timelike as _, Utc};
use serde_json::Value;

use crate::venv;

const VERSION: &str = "7.3.2";
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/icalendar");
const BASE: &str = "https://chats.example/hc";

fn python() -> PathBuf {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let venv = PYTHON.get_or_init(|| {
        let constraints = Path::new(FIXTURES).join("constraints.txt");
        venv::install("icalendar-venv", "icalendar", VERSION, &constraints)
    });
    venv.clone()
        .unwrap_or_else(|err| panic!("{err}"))
        .join("bin/python")
}

/// The events of `feed` as the `icalendar` parser reads them; panics on any parse error.
fn parse(feed: &str) -> Vec<Value> {
    let mut child = Command::new(python())
        .arg(Path::new(FIXTURES).join("parse.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(feed.as_bytes())
        .expect("write the feed");
    let out = child.wait_with_output().expect("python ends");
    assert!(
        out.status.success(),
        "icalendar rejected the feed:\n{}\n{feed}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Value = serde_json::from_slice(&out.stdout).expect("parser's JSON");
    assert_eq!(parsed["version"], "2.0");
    parsed["events"].as_array().expect("events").clone()
}

fn hashchat(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_hashchat"))
        .current_dir(dir)
        .args(args)
        .env_remove("HASHCHAT_CONFIG")
        .env_remove("HASHCHAT_DB")
        .env_remove("HASHCHAT_PUBLIC_URL")
        .output()
        .expect("run hashchat");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// A daily chat in Auckland (far from UTC, so a day in its zone is not the UTC day), at an hour
/// twelve hours from now there: no run is in progress while the test looks at the plan, which
/// lists runs to come, and the calendar, which also keeps the one in progress.
fn write_chats(dir: &Path, hour: u32, extra: &str) {
    let yaml = format!(
        "server: https://mastodon.example\nchats:\n  - id: daily\n    hashtag: DailyChat\n    schedule: \"0 {hour} * * *\"\n    timezone: Pacific/Auckland\n    questions: [One?, Two?]\n{extra}"
    );
    std::fs::write(dir.join("chats.yaml"), yaml).expect("write chats.yaml");
}

fn plan_json(dir: &Path, runs: &str) -> Vec<Value> {
    let json = hashchat(dir, &["plan", "--format", "json", "--runs", runs]);
    serde_json::from_str::<Value>(&json)
        .expect("plan JSON")
        .as_array()
        .expect("runs")
        .clone()
}

fn utc_of(rfc3339: &Value) -> String {
    let t: DateTime<Utc> = rfc3339.as_str().expect("time").parse().expect("RFC 3339");
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn ics(dir: &Path) -> String {
    hashchat(dir, &["plan", "--format", "ics", "--public-url", BASE])
}

#[tokio::test]
async fn the_feed_parses_and_matches_the_plan_with_skip_dates_and_cancelled_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    // The days of the next runs, in the chat's zone, decide which to skip and where a session goes.
    let hour = (Utc::now()
        .with_timezone(&chrono_tz::Pacific::Auckland)
        .hour()
        + 12)
        % 24;
    write_chats(dir.path(), hour, "");
    let before = plan_json(dir.path(), "4");
    let day = |i: usize| before[i]["start_local"].as_str().expect("start")[..10].to_string();
    let session = format!(
        "    skip_dates: [\"{}\"]\n    sessions:\n      - date: \"{}\"\n        topic: \"Feedback, marks; grades \\\\ « évaluation » 🎉 and a topic long enough to be folded\"\n        host: \"@guest@school.example\"\n        questions: [Only one?]\n",
        day(1),
        day(2)
    );
    write_chats(dir.path(), hour, &session);

    // Arrange the plan: 8 runs, and the skipped day listed as such.
    let planned = plan_json(dir.path(), "8");
    let runs: Vec<&Value> = planned.iter().filter(|r| r["skipped"] == false).collect();
    assert_eq!(runs.len(), 8);
    let skipped: Vec<&Value> = planned.iter().filter(|r| r["skipped"] == true).collect();
    assert_eq!(skipped.len(), 1);
    assert_eq!(
        skipped[0]["start_local"].as_str().expect("start")[..10],
        day(1)
    );

    // Act: the feed, as a calendar program reads it.
    let feed = ics(dir.path());
    for line in feed.split_inclusive('\n') {
        assert!(line.ends_with("\r\n"), "a line without CRLF: {line:?}");
        assert!(line.len() <= 77, "{} octets: {line:?}", line.len() - 2);
    }
    let events = parse(&feed);

    // Each run of the plan is an event from its intro to its closing.
    let confirmed: Vec<&Value> = events
        .iter()
        .filter(|e| e["status"] == "CONFIRMED")
        .collect();
    assert_eq!(confirmed.len(), 8);
    for (event, run) in confirmed.iter().zip(&runs) {
        let posts = run["posts"].as_array().expect("posts");
        let closing = posts
            .iter()
            .find(|p| p["kind"] == "closing")
            .expect("closing");
        assert_eq!(event["start"], utc_of(&run["start_utc"]).as_str());
        assert_eq!(event["end"], utc_of(&closing["at_utc"]).as_str());
        assert_eq!(event["url"], format!("{BASE}/chats/daily").as_str());
        let description = event["description"].as_str().expect("description");
        assert!(
            description.contains("Reply with A1, A2 … and #DailyChat."),
            "{description}"
        );
    }
    // The skipped day is a cancelled event, and no run falls on it.
    let cancelled: Vec<&Value> = events
        .iter()
        .filter(|e| e["status"] == "CANCELLED")
        .collect();
    assert_eq!(cancelled.len(), 1);
    assert_eq!(
        cancelled[0]["start"],
        utc_of(&skipped[0]["start_utc"]).as_str()
    );
    // The session's topic survives escaping and folding, multibyte characters included.
    let topic = "Feedback, marks; grades \\ « évaluation » 🎉 and a topic long enough to be folded";
    let session = confirmed
        .iter()
        .find(|e| e["summary"] == format!("#DailyChat: {topic}").as_str());
    let session = session.unwrap_or_else(|| panic!("no session event in {events:?}"));
    assert!(session["description"]
        .as_str()
        .expect("text")
        .contains("Hosted by @guest@school.example"));

    // A second generation gives the same UIDs.
    let uids = |events: &[Value]| -> Vec<String> {
        events
            .iter()
            .map(|e| e["uid"].as_str().expect("uid").to_string())
            .collect()
    };
    let again = parse(&ics(dir.path()));
    assert_eq!(uids(&again), uids(&events));

    // A moderator cancels the third run: it stays, cancelled, with its UID, and a ninth comes in.
    let third: DateTime<Utc> = runs[2]["start_utc"]
        .as_str()
        .expect("start")
        .parse()
        .expect("time");
    let db = dir.path().join("hashchat.db");
    let store = hashchat::store::Store::open(&db).await.expect("database");
    let until = third + chrono::Duration::hours(1);
    assert!(store
        .cancel_run("daily", third, until, "alice", Utc::now())
        .await
        .expect("cancel"));
    drop(store);
    let after = parse(&hashchat(
        dir.path(),
        &[
            "--db",
            "hashchat.db",
            "plan",
            "--format",
            "ics",
            "--public-url",
            BASE,
        ],
    ));
    let third_event = after
        .iter()
        .find(|e| e["start"] == utc_of(&runs[2]["start_utc"]).as_str());
    let third_event = third_event.expect("the cancelled run is still in the feed");
    assert_eq!(third_event["status"], "CANCELLED");
    assert!(third_event["summary"]
        .as_str()
        .expect("summary")
        .starts_with("Cancelled: "));
    assert_eq!(
        after.iter().filter(|e| e["status"] == "CONFIRMED").count(),
        8
    );
    let kept = uids(&after);
    assert!(
        uids(&events).iter().all(|u| kept.contains(u)),
        "a run changed its UID"
    );
}
