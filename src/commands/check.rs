//! `hashchat check`: validates chats.yaml and says so, before the chat
//! rather than at 20:00. Valid: a line per chat on stdout, exit 0, and any
//! warnings (a session dated on no run) on stderr. Invalid: every problem
//! on stderr, compiler-style, exit 2. Never a panic. `--online` is
//! `online`'s.
//!
//! [`load`] is how every command reads chats.yaml: `chats` validates each
//! value, `posts` adds what needs `schedule` (lengths, placeholders).

mod placeholders;
mod posts;
mod skip_dates;

use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, Utc};

use crate::chats::{Chat, Config, Diagnostics, Draft, When};
use crate::schedule;

/// Reads and fully validates chats.yaml: every value (`chats`) and every
/// post a run can make. Every problem at once on failure.
pub fn load(path: &Path) -> Result<Config, Diagnostics> {
    load_checked(path).map(|(config, _)| config)
}

/// [`load`], also returning the warnings (a session dated on no run).
pub fn load_checked(path: &Path) -> Result<(Config, Diagnostics), Diagnostics> {
    finish(Draft::load(path)?)
}

/// [`load`] for chats.yaml text; `path` names the file in messages.
pub fn parse(path: &Path, source: &str) -> Result<Config, Diagnostics> {
    parse_checked(path, source).map(|(config, _)| config)
}

/// [`parse`], also returning the warnings.
pub fn parse_checked(path: &Path, source: &str) -> Result<(Config, Diagnostics), Diagnostics> {
    finish(Draft::parse(path, source))
}

fn finish(mut draft: Draft) -> Result<(Config, Diagnostics), Diagnostics> {
    posts::check(&mut draft);
    draft.finish()
}

/// What `check` prints and how it exits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutcome {
    pub stdout: String,
    pub stderr: String,
    /// 0 valid, 2 invalid (or unreadable).
    pub code: u8,
}

/// Checks the file at `path`; `now` dates the "next run" of each chat.
pub fn check(path: &Path, now: DateTime<Utc>) -> CheckOutcome {
    checked(path, now).0
}

/// [`check`], also returning the configuration when it is valid (for
/// `check --online`).
pub fn checked(path: &Path, now: DateTime<Utc>) -> (CheckOutcome, Option<Config>) {
    match load_checked(path) {
        Ok((config, warnings)) => {
            let mut stdout = format!(
                "{}: valid, {} {}\n",
                path.display(),
                config.chats.len(),
                if config.chats.len() == 1 {
                    "chat"
                } else {
                    "chats"
                }
            );
            for chat in &config.chats {
                stdout.push_str(&summary(chat, now));
            }
            let stderr = match warnings.errors.len() {
                0 => String::new(),
                n => format!(
                    "{warnings}\nwarning: {} has {n} {}\n",
                    path.display(),
                    if n == 1 { "warning" } else { "warnings" }
                ),
            };
            let outcome = CheckOutcome {
                stdout,
                stderr,
                code: 0,
            };
            (outcome, Some(config))
        }
        Err(diagnostics) => {
            let n = diagnostics.errors.len();
            let plural = if n == 1 { "problem" } else { "problems" };
            let outcome = CheckOutcome {
                stdout: String::new(),
                stderr: format!(
                    "{diagnostics}\nerror: {} has {n} {plural}\n",
                    path.display()
                ),
                code: 2,
            };
            (outcome, None)
        }
    }
}

/// The CLI's entry: checks at the current time and prints the outcome.
pub fn run(path: &Path) -> ExitCode {
    let outcome = check(path, Utc::now());
    print!("{}", outcome.stdout);
    eprint!("{}", outcome.stderr);
    ExitCode::from(outcome.code)
}

/// `  1qedchat  #1QEdChat  6 questions  next: Thu 2026-12-03 20:00 GMT (20:00 UTC)`
fn summary(chat: &Chat, now: DateTime<Utc>) -> String {
    let plural = |n: usize, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
    let questions = match (
        chat.timing().require_session(),
        chat.timing().sessions().len(),
    ) {
        (true, n) => plural(n, "session"),
        (false, 0) => plural(chat.content().questions().len(), "question"),
        (false, n) => format!(
            "{}, {}",
            plural(chat.content().questions().len(), "question"),
            plural(n, "session")
        ),
    };
    let slots = schedule::next_slots(chat, now, 1);
    let tz = chat.timing().timezone();
    let skipped: Vec<String> = (slots.iter().filter(|s| s.skipped))
        .map(|s| s.start.with_timezone(&tz).format("%a %Y-%m-%d").to_string())
        .collect();
    let next = match slots.iter().find(|s| !s.skipped) {
        Some(slot) => {
            let local = slot.start.with_timezone(&tz);
            let mut next = format!(
                "next: {} ({} UTC)",
                local.format("%a %Y-%m-%d %H:%M %Z"),
                slot.start.format("%H:%M")
            );
            if !skipped.is_empty() {
                next.push_str(&format!(", after skipping {}", skipped.join(", ")));
            }
            next
        }
        None => match &chat.timing().when() {
            When::Once(start) => format!(
                "one-off start {} has passed",
                start.format("%Y-%m-%d %H:%M UTC")
            ),
            When::Recurring { expr, .. } => format!("`{expr}` has no future run"),
        },
    };
    let mut line = format!(
        "  {}  {}  {questions}  {next}\n",
        chat.id(),
        chat.content().hashtag()
    );
    if let Some(bluesky) = chat.account().bluesky() {
        line.push_str(&format!(
            "    on Bluesky as @{} (PDS {}, {} graphemes a post)\n",
            bluesky.handle(),
            chat.account().server(),
            chat.account().max_characters()
        ));
    }
    for watched in chat.account().also_watch() {
        line.push_str(&format!("    also watches {watched}\n"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-30T12:00:00Z")
            .expect("time")
            .with_timezone(&Utc)
    }

    fn check_text(source: &str) -> CheckOutcome {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("chats.yaml");
        std::fs::write(&path, source).expect("write");
        let mut outcome = check(&path, now());
        let shown = path.display().to_string();
        outcome.stdout = outcome.stdout.replace(&shown, "chats.yaml");
        outcome.stderr = outcome.stderr.replace(&shown, "chats.yaml");
        outcome
    }

    #[test]
    fn a_bluesky_chat_says_which_account_and_limit_it_runs_with() {
        let source = "platform: bluesky\nhandle: chatbot.bsky.social\nchats:\n  - id: edusky\n    hashtag: EduSkyChat\n    schedule: \"0 20 * * 4\"\n    questions: [One?]\n";
        let outcome = check_text(source);
        assert_eq!(
            outcome.stdout,
            "chats.yaml: valid, 1 chat\n  edusky  #EduSkyChat  1 question  next: Thu 2026-12-03 20:00 UTC (20:00 UTC)\n    on Bluesky as @chatbot.bsky.social (PDS https://bsky.social/, 300 graphemes a post)\n",
            "{outcome:?}"
        );
    }

    #[test]
    fn a_valid_file_gets_a_line_per_chat_and_exit_0() {
        let source = "server: https://mastodon.example\ntimezone: Europe/London\nchats:\n  - id: 1qedchat\n    hashtag: 1QEdChat\n    schedule: \"0 20 * * 4\"\n    questions: [One?, Two?]\n  - id: once\n    hashtag: Once\n    start: \"2026-01-01T10:00:00Z\"\n    questions: [Only?]\n";
        let outcome = check_text(source);
        assert_eq!(
            outcome,
            CheckOutcome {
                stdout: "chats.yaml: valid, 2 chats\n  1qedchat  #1QEdChat  2 questions  next: Thu 2026-12-03 20:00 GMT (20:00 UTC)\n  once  #Once  1 question  one-off start 2026-01-01 10:00 UTC has passed\n".into(),
                stderr: String::new(),
                code: 0,
            }
        );
    }

    #[test]
    fn the_watched_instances_are_listed_under_their_chat() {
        let source = "server: https://mastodon.example\nalso_watch: [\"https://b.example\", \"http://localhost:8001\"]\nchats:\n  - id: once\n    hashtag: Once\n    start: \"2026-01-01T10:00:00Z\"\n    questions: [Only?]\n";
        let outcome = check_text(source);
        assert_eq!(
            outcome.stdout,
            "chats.yaml: valid, 1 chat\n  once  #Once  1 question  one-off start 2026-01-01 10:00 UTC has passed\n    also watches https://b.example/\n    also watches http://localhost:8001/\n"
        );
    }

    #[test]
    fn an_invalid_file_prints_every_problem_and_exits_2() {
        let source = "server: https://mastodon.example\nchats:\n  - id: a\n    hashtag: A\n    schedule: \"0 20 * * 4\"\n    timezone: Europe/Londn\n    questions: []\n";
        let outcome = check_text(source);
        assert_eq!(outcome.code, 2);
        assert_eq!(outcome.stdout, "");
        assert_eq!(
            outcome.stderr,
            "chats.yaml:6:15: error: unknown time zone `Europe/Londn`\n  |\n6 |     timezone: Europe/Londn\n  |               ^^^^^^^^^^^^\n  = hint: did you mean `Europe/London`?\n\nchats.yaml:7:5: error: `questions` is empty\n  |\n7 |     questions: []\n  |     ^^^^^^^^^\n  = hint: add at least one question: `- How do you …?`\n\nerror: chats.yaml has 2 problems\n"
        );
    }

    #[test]
    fn a_session_on_no_run_date_is_a_warning_and_exit_stays_0() {
        let source = "server: https://mastodon.example\ntimezone: Europe/London\nchats:\n  - id: a\n    hashtag: A\n    schedule: \"0 20 * * 4\"\n    questions: [One?]\n    sessions:\n      - date: 2026-12-03\n        questions: [Thu?]\n      - date: 2026-12-04\n        questions: [Fri?]\n";
        let outcome = check_text(source);
        assert_eq!(outcome.code, 0);
        assert_eq!(
            outcome.stdout,
            "chats.yaml: valid, 1 chat\n  a  #A  1 question, 2 sessions  next: Thu 2026-12-03 20:00 GMT (20:00 UTC)\n"
        );
        assert_eq!(
            outcome.stderr,
            "chats.yaml:11:15: warning: no run of chat `a` falls on 2026-12-04 (Friday): this session is never used\n   |\n11 |       - date: 2026-12-04\n   |               ^^^^^^^^^^\n   = hint: move it to a date of the schedule (`hashchat plan --runs 10` lists them)\n\nwarning: chats.yaml has 1 warning\n"
        );
    }

    #[test]
    fn a_missing_file_exits_2_with_a_clear_message() {
        let outcome = check(Path::new("does/not/exist.yaml"), now());
        assert_eq!(outcome.code, 2);
        assert!(
            outcome
                .stderr
                .starts_with("does/not/exist.yaml: error: `does/not/exist.yaml` does not exist\n"),
            "{}",
            outcome.stderr
        );
    }

    #[test]
    fn skip_dates_show_in_the_summary_and_useless_ones_are_warnings() {
        let source = "server: https://mastodon.example\ntimezone: Europe/London\nchats:\n  - id: a\n    hashtag: A\n    schedule: \"0 20 * * 4\"\n    questions: [One?]\n    skip_dates: [2026-12-03, 2026-12-05..2026-12-06]\n    sessions:\n      - date: 2026-12-03\n        questions: [Thu?]\n";
        let outcome = check_text(source);
        assert_eq!(outcome.code, 0);
        assert_eq!(
            outcome.stdout,
            "chats.yaml: valid, 1 chat\n  a  #A  1 question, 1 session  next: Thu 2026-12-10 20:00 GMT (20:00 UTC), after skipping Thu 2026-12-03\n"
        );
        assert_eq!(
            outcome.stderr,
            "chats.yaml:8:30: warning: no run of chat `a` falls on 2026-12-05..2026-12-06: skipping it changes nothing\n  |\n8 |     skip_dates: [2026-12-03, 2026-12-05..2026-12-06]\n  |                              ^^^^^^^^^^^^^^^^^^^^^^\n  = hint: check the date against the schedule (`hashchat plan --runs 10` lists the runs)\n\nchats.yaml:10:15: warning: 2026-12-03 is in `skip_dates` of chat `a`: this session is never used\n   |\n10 |       - date: 2026-12-03\n   |               ^^^^^^^^^^\n   = hint: move the session to another date, or take the day out of `skip_dates`\n\nwarning: chats.yaml has 2 warnings\n"
        );
    }
}
