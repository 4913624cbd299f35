//! `{placeholders}` of intros, closings and reminders: each is known where
//! it is written and has a value in every run that uses it; and sessions
//! dated on a day the chat does not run.

use super::posts::{join, session_path, Checker};
use crate::chats::{suggest, Chat, Diagnostic, Session};
use crate::schedule::{self, REMINDER_PLACEHOLDERS, TEXT_PLACEHOLDERS};

impl Checker<'_> {
    /// Every `{placeholder}` is known where it is written, and every run
    /// that uses a text has the values it asks for.
    pub(super) fn placeholders(&mut self, path: &str, chat: &Chat) {
        let plain_runs = !chat.timing().require_session();
        let all: Vec<&Session> = chat.timing().sessions().iter().collect();
        for key in ["intro", "closing"] {
            let at = join(path, key);
            if !self.at.has(&at) {
                continue; // the defaults have no placeholders
            }
            let (text, users): (&str, Vec<&Session>) = if key == "intro" {
                let users = chat
                    .timing()
                    .sessions()
                    .iter()
                    .filter(|s| s.intro.is_none());
                (chat.content().intro(), users.collect())
            } else {
                let users = chat
                    .timing()
                    .sessions()
                    .iter()
                    .filter(|s| s.closing.is_none());
                (chat.content().closing(), users.collect())
            };
            self.placeholders_in(&at, key, text, TEXT_PLACEHOLDERS, &users, plain_runs);
        }
        if let Some(text) = &chat.content().reminder_text() {
            let at = join(path, "reminder_text");
            let known = REMINDER_PLACEHOLDERS;
            self.placeholders_in(&at, "reminder_text", text, known, &all, plain_runs);
        }
        for (i, s) in chat.timing().sessions().iter().enumerate() {
            let at = session_path(path, i);
            for (key, text) in [("intro", &s.intro), ("closing", &s.closing)] {
                if let Some(text) = text {
                    let at = join(&at, key);
                    self.placeholders_in(&at, key, text, TEXT_PLACEHOLDERS, &[s], false);
                }
            }
        }
    }

    /// Checks the placeholders of one text at `at`, used by the runs of
    /// `sessions` and, when `plain_runs`, by runs without a session.
    fn placeholders_in(
        &mut self,
        at: &str,
        key: &str,
        text: &str,
        known: &[&str],
        sessions: &[&Session],
        plain_runs: bool,
    ) {
        for (offset, name) in schedule::placeholders(text) {
            let span = self
                .at
                .inside(at, text[..offset].chars().count(), name.chars().count() + 2);
            if !known.contains(&name) {
                let list: Vec<String> = known.iter().map(|k| format!("`{{{k}}}`")).collect();
                let hint = suggest(name, known.iter().copied()).map_or_else(
                    || format!("`{key}` knows {}", list.join(", ")),
                    |s| format!("did you mean `{{{s}}}`?"),
                );
                let message = format!("unknown placeholder `{{{name}}}` in `{key}`");
                self.errors.push(Diagnostic::new(span, message).hint(hint));
                continue;
            }
            if !matches!(name, "topic" | "host") {
                continue;
            }
            let lacks = |s: &&&Session| match name {
                "topic" => s.topic.is_none(),
                _ => s.host.is_none(),
            };
            let e = if let Some(s) = sessions.iter().find(lacks) {
                Diagnostic::new(
                    span,
                    format!(
                        "`{key}` uses `{{{name}}}`, but the session on {} has no {name}",
                        s.date
                    ),
                )
                .hint(format!(
                    "add `{name}:` to that session, or leave `{{{name}}}` out"
                ))
            } else if plain_runs {
                Diagnostic::new(
                    span,
                    format!(
                        "`{key}` uses `{{{name}}}`, but runs on dates without a session have no {name}"
                    ),
                )
                .hint(format!(
                    "set `require_session: true`, or write `{{{name}}}` only in a session's own `{key}`"
                ))
            } else {
                continue;
            };
            self.errors.push(e);
        }
    }

    /// Warns about sessions dated on a day the chat does not run.
    pub(super) fn session_dates(&mut self, path: &str, chat: &Chat) {
        for (i, s) in chat.timing().sessions().iter().enumerate() {
            if schedule::runs_on(chat, s.date) {
                continue;
            }
            let at = join(&session_path(path, i), "date");
            let weekday = s.date.format("%A");
            let e = Diagnostic::new(
                self.at.value(&at),
                format!(
                    "no run of chat `{}` falls on {} ({weekday}): this session is never used",
                    chat.id(),
                    s.date
                ),
            )
            .hint("move it to a date of the schedule (`hashchat plan --runs 10` lists them)")
            .warning();
            self.warnings.push(e);
        }
    }
}
