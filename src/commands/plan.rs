//! `hashchat plan`: the next runs of the chats and every post's time, in
//! the chat's zone and in UTC, and the starts `skip_dates` calls off, as
//! text for people or JSON for tools; or the chats' calendar (iCalendar).
//! Pure: the caller passes the clock reading and prints the result.

use crate::store::DbLocation;
use std::process::ExitCode;

use anyhow::bail;
use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::common::{find_chat, open_existing, print_out};
use crate::calendar::{self, Cancelled};
use crate::chats::{Chat, Config};
use crate::schedule::{self, PostKind, Timeline};

/// The calendar's links without `--public-url`: `hashchat serve`'s default
/// address.
pub const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:8080/";

/// How the plan is printed.
#[derive(Debug, Clone, Copy)]
pub struct Output<'a> {
    pub format: PlanFormat,
    /// The calendar's links to rooms start here.
    pub public_url: &'a url::Url,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
    /// The calendar feed of every chat, or of `--chat` (iCalendar).
    Ics,
}

/// The next `runs` runs of `chat` (every chat when `None`) after `now`,
/// ordered by start time, with the starts `skip_dates` calls off; for
/// `Ics`, the [`calendar`] without cancelled runs.
pub fn plan(
    config: &Config,
    chat: Option<&str>,
    runs: usize,
    now: DateTime<Utc>,
    format: PlanFormat,
) -> anyhow::Result<String> {
    if format == PlanFormat::Ics {
        let base = url::Url::parse(DEFAULT_PUBLIC_URL)?;
        return calendar(config, chat, now, &base, &Cancelled::none());
    }
    let chats: Vec<&Chat> = match chat {
        None => config.chats.iter().map(AsRef::as_ref).collect(),
        Some(id) => match config.chat(id) {
            Some(c) => vec![c],
            None => bail!("{}", config.unknown_chat_message(id)),
        },
    };
    let mut planned: Vec<(&Chat, Entry)> = chats
        .iter()
        .flat_map(|c| {
            schedule::next_slots(c, now, runs).into_iter().map(|slot| {
                if slot.skipped {
                    (*c, Entry::Skipped(slot.start))
                } else {
                    (*c, Entry::Run(schedule::timeline(c, slot.start)))
                }
            })
        })
        .collect();
    planned.sort_by(|a, b| (a.1.start(), &a.0.id()).cmp(&(b.1.start(), &b.0.id())));
    if format == PlanFormat::Json {
        json(&planned)
    } else {
        Ok(text(&chats, &planned))
    }
}

/// The calendar feed of every chat, or of `chat` alone (as served at
/// `/calendar.ics` and `/chats/<id>/calendar.ics`).
pub fn calendar(
    config: &Config,
    chat: Option<&str>,
    now: DateTime<Utc>,
    public_url: &url::Url,
    cancelled: &Cancelled,
) -> anyhow::Result<String> {
    Ok(match chat {
        None => calendar::feed(&config.chats, now, public_url, cancelled),
        Some(id) => match config.chat(id) {
            Some(c) => calendar::chat_feed(c, now, public_url, cancelled),
            None => bail!("{}", config.unknown_chat_message(id)),
        },
    })
}

/// A start of the plan: a run, or one that `skip_dates` calls off.
enum Entry {
    Run(Timeline),
    Skipped(DateTime<Utc>),
}

impl Entry {
    fn start(&self) -> DateTime<Utc> {
        match self {
            Entry::Run(t) => t.start,
            Entry::Skipped(start) => *start,
        }
    }
}

#[derive(Serialize)]
struct JsonRun<'a> {
    chat: &'a str,
    start_utc: String,
    start_local: String,
    /// The start's day is one of `skip_dates`: no run, no posts.
    skipped: bool,
    /// The session this run uses; `null` when it uses the chat's questions.
    session: Option<JsonSession<'a>>,
    posts: Vec<JsonPost<'a>>,
}

#[derive(Serialize)]
struct JsonSession<'a> {
    date: String,
    topic: Option<&'a str>,
    host: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonPost<'a> {
    kind: PostKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    number: Option<u32>,
    at_utc: String,
    at_local: String,
    text: &'a str,
}

fn json(planned: &[(&Chat, Entry)]) -> anyhow::Result<String> {
    let runs: Vec<JsonRun> = planned
        .iter()
        .map(|(chat, entry)| match entry {
            Entry::Run(t) => json_run(chat, t),
            Entry::Skipped(start) => JsonRun {
                chat: chat.id(),
                start_utc: rfc3339_utc(*start),
                start_local: rfc3339_local(*start, chat.timing().timezone()),
                skipped: true,
                session: None,
                posts: Vec::new(),
            },
        })
        .collect();
    Ok(serde_json::to_string_pretty(&runs)? + "\n")
}

fn json_run<'a>(chat: &'a Chat, t: &'a Timeline) -> JsonRun<'a> {
    JsonRun {
        chat: chat.id(),
        start_utc: rfc3339_utc(t.start),
        start_local: rfc3339_local(t.start, chat.timing().timezone()),
        skipped: false,
        session: schedule::session_for(chat, t.start).map(|s| JsonSession {
            date: s.date.to_string(),
            topic: s.topic.as_deref(),
            host: s.host.as_deref(),
        }),
        posts: t
            .posts
            .iter()
            .map(|p| JsonPost {
                kind: p.kind,
                number: p.number,
                at_utc: rfc3339_utc(p.at),
                at_local: rfc3339_local(p.at, chat.timing().timezone()),
                text: &p.text,
            })
            .collect(),
    }
}

fn rfc3339_utc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn rfc3339_local(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz)
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// One block per run: a header with the chat, local start and UTC, then a
/// line per post. Seconds appear only when a run needs them (rehearsals).
fn text(chats: &[&Chat], planned: &[(&Chat, Entry)]) -> String {
    let mut out = String::new();
    for chat in chats {
        if !planned.iter().any(|(c, _)| c.id() == chat.id()) {
            out.push_str(&format!(
                "{} ({}): no upcoming run\n\n",
                chat.id(),
                chat.content().hashtag()
            ));
        }
    }
    for (chat, entry) in planned {
        let t = match entry {
            Entry::Run(t) => t,
            Entry::Skipped(start) => {
                let clock = if start.timestamp() % 60 != 0 {
                    "%H:%M:%S"
                } else {
                    "%H:%M"
                };
                out.push_str(&header(chat, *start, clock));
                out.push_str("  skipped: the day is in `skip_dates`\n\n");
                continue;
            }
        };
        let tz = chat.timing().timezone();
        let seconds = t.posts.iter().any(|p| p.at.timestamp() % 60 != 0);
        let clock = if seconds { "%H:%M:%S" } else { "%H:%M" };
        let local = t.start.with_timezone(&tz);
        out.push_str(&header(chat, t.start, clock));
        if let Some(line) = session_line(chat, t.start) {
            out.push_str(&line);
        }
        let day = local.date_naive();
        for p in &t.posts {
            let at = p.at.with_timezone(&tz);
            let when = if at.date_naive() == day {
                at.format(clock).to_string()
            } else {
                at.format(&format!("%a {clock}")).to_string()
            };
            let utc = p.at.format(clock);
            let text = p.text.replace('\n', " ");
            let label = if p.kind == PostKind::Reminder {
                "reminder: "
            } else {
                ""
            };
            out.push_str(&format!(
                "  {when} {} ({utc} UTC)  {label}{text}\n",
                at.format("%Z")
            ));
        }
        let until = t.collect_until.with_timezone(&tz);
        out.push_str(&format!(
            "  answers collected until {} {} ({} UTC)\n\n",
            until.format(clock),
            until.format("%Z"),
            t.collect_until.format(clock)
        ));
    }
    if out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// `1qedchat (#1QEdChat): Thu 2026-06-04 20:00 Europe/London BST (19:00 UTC)`
fn header(chat: &Chat, start: DateTime<Utc>, clock: &str) -> String {
    let tz = chat.timing().timezone();
    let local = start.with_timezone(&tz);
    // "Europe/London BST", but "UTC" once, not "UTC UTC".
    let abbreviation = local.format("%Z").to_string();
    let zone = if abbreviation == tz.name() {
        abbreviation
    } else {
        format!("{} {abbreviation}", tz.name())
    };
    format!(
        "{} ({}): {} {zone} ({} UTC)\n",
        chat.id(),
        chat.content().hashtag(),
        local.format(&format!("%a %Y-%m-%d {clock}")),
        start.format(clock),
    )
}

/// Which session a run uses, for chats that have sessions at all.
fn session_line(chat: &Chat, start: DateTime<Utc>) -> Option<String> {
    if chat.timing().sessions().is_empty() {
        return None;
    }
    let Some(s) = schedule::session_for(chat, start) else {
        return Some("  session: none on this date; the chat's own questions\n".into());
    };
    let mut line = format!("  session: {}", s.date);
    if let Some(topic) = &s.topic {
        line.push_str(&format!(", \"{topic}\""));
    }
    if let Some(host) = &s.host {
        line.push_str(&format!(", hosted by {host}"));
    }
    let n = s.questions.len();
    line.push_str(&format!(
        ", {n} question{}\n",
        if n == 1 { "" } else { "s" }
    ));
    Some(line)
}

/// The command: checks `--chat`, then prints the plan at the current time.
/// The calendar also shows the runs moderators cancelled, when the
/// database at `db` exists (it is never created here).
pub async fn run(
    db: &DbLocation,
    config: &Config,
    chat: Option<&str>,
    runs: usize,
    output: Output<'_>,
) -> anyhow::Result<ExitCode> {
    if let Some(id) = chat {
        find_chat(config, id)?;
    }
    let now = chrono::Utc::now();
    let text = match output.format {
        PlanFormat::Ics => {
            let cancelled = if db.exists() {
                // Runs last at most a month: older ones are over.
                let since = now - chrono::Duration::days(31);
                let store = open_existing(db).await?;
                store.cancelled_runs(since).await?.into_iter().collect()
            } else {
                Cancelled::none()
            };
            calendar(config, chat, now, output.public_url, &cancelled)?
        }
        format => plan(config, chat, runs, now, format)?,
    };
    print_out(&text)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chats::Chat;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test time")
            .with_timezone(&Utc)
    }

    fn config() -> Config {
        config_with("")
    }

    /// A weekly chat (`1qedchat`, with `weekly_keys` added) and a one-off
    /// rehearsal (`demo`).
    fn config_with(weekly_keys: &str) -> Config {
        let weekly = Chat::from_yaml(&format!(
            "id: 1qedchat\nhashtag: 1QEdChat\nschedule: \"0 20 * * 4\"\ntimezone: Europe/London\nintro: Welcome!\nclosing: Thanks!\nquestions:\n  - How do you build an online PLN?\n  - Which groups help you most?\n{weekly_keys}"
        ))
        .expect("the weekly chat is valid");
        let once = Chat::from_yaml(
            "id: demo\nhashtag: 1QEdChat\nstart: \"2026-12-01T09:00:30Z\"\nquestions: [\"Ready?\"]\nintro: Rehearsal\nclosing: Done\nfirst_question_after: 5s\nquestion_interval: 10s\ncollect_after: 5s",
        )
        .expect("the one-off chat is valid");
        Config {
            path: "chats.yaml".into(),
            chats: vec![std::sync::Arc::new(weekly), std::sync::Arc::new(once)],
        }
    }

    #[test]
    fn json_lists_each_run_with_every_post_in_both_zones() {
        let now = utc("2026-03-20T00:00:00Z");
        let out = plan(&config(), Some("1qedchat"), 2, now, PlanFormat::Json).expect("plan");
        let runs: serde_json::Value = serde_json::from_str(&out).expect("json");
        let first = &runs[0];
        assert_eq!(first["chat"], "1qedchat");
        assert_eq!(first["start_utc"], "2026-03-26T20:00:00Z");
        assert_eq!(first["start_local"], "2026-03-26T20:00:00+00:00");
        // After the change to BST the chat stays at 20:00 local.
        assert_eq!(runs[1]["start_utc"], "2026-04-02T19:00:00Z");
        assert_eq!(runs[1]["start_local"], "2026-04-02T20:00:00+01:00");
        let posts = first["posts"].as_array().expect("posts");
        assert_eq!(posts.len(), 4);
        assert_eq!(
            posts[0],
            serde_json::json!({"kind": "intro", "at_utc": "2026-03-26T20:00:00Z", "at_local": "2026-03-26T20:00:00+00:00", "text": "Welcome! #1QEdChat"})
        );
        assert_eq!(
            posts[1],
            serde_json::json!({"kind": "question", "number": 1, "at_utc": "2026-03-26T20:05:00Z", "at_local": "2026-03-26T20:05:00+00:00", "text": "Q1: How do you build an online PLN? #1QEdChat"})
        );
        assert_eq!(posts[3]["kind"], "closing");
        assert!(posts[3].get("number").is_none());
    }

    #[test]
    fn text_shows_local_and_utc_times_for_every_post() {
        let now = utc("2026-06-01T00:00:00Z");
        let out = plan(&config(), Some("1qedchat"), 1, now, PlanFormat::Text).expect("plan");
        let expected = "\
1qedchat (#1QEdChat): Thu 2026-06-04 20:00 Europe/London BST (19:00 UTC)
  20:00 BST (19:00 UTC)  Welcome! #1QEdChat
  20:05 BST (19:05 UTC)  Q1: How do you build an online PLN? #1QEdChat
  20:15 BST (19:15 UTC)  Q2: Which groups help you most? #1QEdChat
  20:25 BST (19:25 UTC)  Thanks! #1QEdChat
  answers collected until 20:55 BST (19:55 UTC)
";
        assert_eq!(out, expected);
    }

    #[test]
    fn all_chats_are_planned_in_start_order_with_seconds_when_needed() {
        let now = utc("2026-11-30T00:00:00Z");
        let out = plan(&config(), None, 1, now, PlanFormat::Text).expect("plan");
        let headers: Vec<&str> = out
            .lines()
            .filter(|l| !l.starts_with(' ') && !l.is_empty())
            .collect();
        assert_eq!(
            headers,
            [
                "demo (#1QEdChat): Tue 2026-12-01 09:00:30 UTC (09:00:30 UTC)",
                "1qedchat (#1QEdChat): Thu 2026-12-03 20:00 Europe/London GMT (20:00 UTC)",
            ]
        );
    }

    /// Regression (defect 7): a chat in `timezone: UTC` printed
    /// "19:00:00 UTC UTC", the zone's name and its abbreviation.
    #[test]
    fn a_chat_in_utc_names_its_zone_once() {
        let now = utc("2026-11-30T00:00:00Z");
        let out = plan(&config(), Some("demo"), 1, now, PlanFormat::Text).expect("plan");
        let header = out.lines().next().expect("a header");
        assert_eq!(
            header,
            "demo (#1QEdChat): Tue 2026-12-01 09:00:30 UTC (09:00:30 UTC)"
        );
        assert!(!out.contains("UTC UTC"), "{out}");
    }

    #[test]
    fn a_past_one_off_chat_has_no_run() {
        let now = utc("2027-01-01T00:00:00Z");
        let text = plan(&config(), Some("demo"), 3, now, PlanFormat::Text).expect("plan");
        assert_eq!(text, "demo (#1QEdChat): no upcoming run\n");
        let json = plan(&config(), Some("demo"), 3, now, PlanFormat::Json).expect("plan");
        assert_eq!(json, "[]\n");
    }

    #[test]
    fn an_unknown_chat_lists_the_known_ones() {
        let now = utc("2026-11-30T00:00:00Z");
        let cases = [
            ("1qedchta", "no chat `1qedchta` in chats.yaml; did you mean `1qedchat`? (known: `1qedchat`, `demo`)"),
            ("weekly", "no chat `weekly` in chats.yaml; known chats: `1qedchat`, `demo`"),
        ];
        for (id, message) in cases {
            let e = plan(&config(), Some(id), 1, now, PlanFormat::Text).expect_err(id);
            assert_eq!(e.to_string(), message);
        }
    }

    #[test]
    fn a_run_shows_its_session_and_its_reminders() {
        let config = config_with(
            "reminders: [15m]\nsessions:\n  - date: \"2026-06-04\"\n    topic: Feedback\n    host: \"@guest@school.example\"\n    questions: [\"How do you give feedback?\"]",
        );
        let now = utc("2026-06-01T00:00:00Z");
        let out = plan(&config, Some("1qedchat"), 2, now, PlanFormat::Text).expect("plan");
        let expected = "\
1qedchat (#1QEdChat): Thu 2026-06-04 20:00 Europe/London BST (19:00 UTC)
  session: 2026-06-04, \"Feedback\", hosted by @guest@school.example, 1 question
  19:45 BST (18:45 UTC)  reminder: #1QEdChat starts in 15 minutes: Feedback, hosted by @guest@school.example
  20:00 BST (19:00 UTC)  Welcome! #1QEdChat
  20:05 BST (19:05 UTC)  Q1: How do you give feedback? #1QEdChat
  20:15 BST (19:15 UTC)  Thanks! #1QEdChat
  answers collected until 20:45 BST (19:45 UTC)

1qedchat (#1QEdChat): Thu 2026-06-11 20:00 Europe/London BST (19:00 UTC)
  session: none on this date; the chat's own questions
";
        assert!(out.starts_with(expected), "{out}");
        let json = plan(&config, Some("1qedchat"), 2, now, PlanFormat::Json).expect("plan");
        let runs: serde_json::Value = serde_json::from_str(&json).expect("json");
        assert_eq!(
            runs[0]["session"],
            serde_json::json!({"date": "2026-06-04", "topic": "Feedback", "host": "@guest@school.example"})
        );
        assert_eq!(runs[0]["posts"][0]["kind"], "reminder");
        assert!(runs[1]["session"].is_null());
    }

    #[test]
    fn a_skip_date_is_shown_as_skipped_in_both_zones_and_in_json() {
        let config = config_with("skip_dates: [\"2026-12-24\"]");
        let now = utc("2026-12-20T00:00:00Z");
        let out = plan(&config, Some("1qedchat"), 1, now, PlanFormat::Text).expect("plan");
        let expected = "\
1qedchat (#1QEdChat): Thu 2026-12-24 20:00 Europe/London GMT (20:00 UTC)
  skipped: the day is in `skip_dates`

1qedchat (#1QEdChat): Thu 2026-12-31 20:00 Europe/London GMT (20:00 UTC)
";
        assert!(out.starts_with(expected), "{out}");
        let json = plan(&config, Some("1qedchat"), 1, now, PlanFormat::Json).expect("plan");
        let runs: serde_json::Value = serde_json::from_str(&json).expect("json");
        assert_eq!(
            runs[0],
            serde_json::json!({"chat": "1qedchat", "start_utc": "2026-12-24T20:00:00Z", "start_local": "2026-12-24T20:00:00+00:00", "skipped": true, "session": null, "posts": []})
        );
        assert_eq!(runs[1]["start_utc"], "2026-12-31T20:00:00Z");
        assert_eq!(runs[1]["skipped"], false);
        assert_eq!(runs.as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn ics_is_the_calendar_of_the_chosen_chats() {
        let now = utc("2026-11-30T00:00:00Z");
        let all = plan(&config(), None, 1, now, PlanFormat::Ics).expect("plan");
        assert!(all.contains("X-WR-CALNAME:hashchat\r\n"), "{all}");
        assert!(all.contains("URL:http://127.0.0.1:8080/chats/demo\r\n"));
        assert_eq!(
            all.matches("BEGIN:VEVENT").count(),
            9,
            "8 weekly runs and the one-off"
        );
        let one = plan(&config(), Some("demo"), 1, now, PlanFormat::Ics).expect("plan");
        assert_eq!(one.matches("BEGIN:VEVENT").count(), 1);
    }
}
