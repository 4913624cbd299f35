//! Keys around the chat itself: reminders, who is ignored or excluded,
//! welcoming newcomers, language and content warning; and the
//! `{placeholders}` of intros, closings and reminders.

use std::collections::HashSet;
use std::time::Duration;

use super::{values, Problem, Validator};
use crate::chats::diagnostics::Diagnostic;
use crate::chats::raw::{join, RawChat};
use crate::chats::{Chat, IgnoreRule, Session};
use crate::schedule::{self, REMINDER_PLACEHOLDERS, TEXT_PLACEHOLDERS};

/// The validated keys of this module, for `Chat`.
pub(super) struct Around {
    pub require_session: bool,
    pub reminders: Vec<Duration>,
    pub reminder_text: Option<String>,
    pub ignore: Vec<IgnoreRule>,
    pub exclude: Vec<String>,
    pub welcome_newcomers: bool,
    pub language: Option<String>,
    pub content_warning: Option<String>,
    pub recap_post: bool,
    pub recap_url: Option<String>,
}

impl Validator<'_> {
    pub(super) fn around(
        &mut self,
        path: &str,
        c: &RawChat,
        broken: &HashSet<String>,
    ) -> Option<Around> {
        let reminders = self.list(path, "reminders", c.reminders.as_deref(), |s| {
            values::duration(s, "reminders", false)
        });
        let reminders = reminders.and_then(|r| self.distinct_reminders(path, c, r));
        let reminder_text = self.value(
            c.reminder_text.as_ref(),
            path,
            "reminder_text",
            broken,
            |s| values::non_empty(s, "reminder_text"),
        );
        let ignore = self.list(path, "ignore", c.ignore.as_deref(), values::ignore_rule);
        let exclude = self.list(path, "exclude", c.exclude.as_deref(), |s| {
            values::handle(s).ok_or_else(|| {
                Problem::new(format!("`{}` is not a handle like `@user@domain`", s.trim()))
                    .hint("write the full handle of the person to leave out, e.g. `@alice@mastodon.social`")
            })
        });
        let language = self.value(
            c.language.as_ref(),
            path,
            "language",
            broken,
            values::language,
        );
        let content_warning = self.value(
            c.content_warning.as_ref(),
            path,
            "content_warning",
            broken,
            |s| values::non_empty(s, "content_warning").map(|s| s.trim().to_string()),
        );
        let recap_url = self.value(
            c.recap_url.as_ref(),
            path,
            "recap_url",
            broken,
            |s| {
                let s = s.trim();
                let probe = s.replace("{date}", "2026-12-03");
                match url::Url::parse(&probe) {
                    Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(s.to_string()),
                    _ => Err(Problem::new(format!("`{s}` is not an http(s) URL"))
                        .hint("e.g. `https://school.example/recaps/{date}.html`; `{date}` becomes the run's date")),
                }
            },
        );
        let flag = |v: Option<bool>, key: &str| (!broken.contains(key)).then(|| v.unwrap_or(false));
        Some(Around {
            require_session: flag(c.require_session, "require_session")?,
            reminders: reminders?,
            reminder_text: reminder_text.optional()?,
            ignore: ignore?,
            exclude: exclude?,
            welcome_newcomers: flag(c.welcome_newcomers, "welcome_newcomers")?,
            language: language.optional()?,
            content_warning: content_warning.optional()?,
            recap_post: flag(c.recap_post, "recap_post")?,
            recap_url: recap_url.optional()?,
        })
    }

    /// Each item of the text list `key`, parsed; `None` after reporting.
    fn list<T>(
        &mut self,
        path: &str,
        key: &str,
        raw: Option<&[String]>,
        parse: impl Fn(&str) -> Result<T, Problem>,
    ) -> Option<Vec<T>> {
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in raw.unwrap_or_default().iter().enumerate() {
            match parse(item) {
                Ok(v) => out.push(v),
                Err(p) => {
                    ok = false;
                    self.report(&format!("{path}.{key}[{i}]"), p);
                }
            }
        }
        ok.then_some(out)
    }

    /// Two equal reminders would post the same text twice.
    fn distinct_reminders(
        &mut self,
        path: &str,
        c: &RawChat,
        reminders: Vec<Duration>,
    ) -> Option<Vec<Duration>> {
        let mut ok = true;
        for (i, d) in reminders.iter().enumerate() {
            if let Some(first) = reminders[..i].iter().position(|e| e == d) {
                ok = false;
                let written = c.reminders.as_ref().map_or("", |r| r[first].as_str());
                let e = Diagnostic::new(
                    self.at.value(&format!("{path}.reminders[{i}]")),
                    format!(
                        "this reminder is the same as reminder {} (`{written}`)",
                        first + 1
                    ),
                )
                .hint("remove one: both would post the same words at the same time");
                self.errors.push(e);
            }
        }
        ok.then_some(reminders)
    }

    /// Every `{placeholder}` is known where it is written, and every run
    /// that uses a text has the values it asks for.
    pub(super) fn placeholders_ok(&mut self, path: &str, chat: &Chat) -> bool {
        let mut ok = true;
        let plain_runs = !chat.require_session;
        let all: Vec<&Session> = chat.sessions.iter().collect();
        for key in ["intro", "closing"] {
            let at = join(path, key);
            if !self.at.has(&at) {
                continue; // the defaults have no placeholders
            }
            let text = if key == "intro" {
                &chat.intro
            } else {
                &chat.closing
            };
            let users: Vec<&Session> = chat
                .sessions
                .iter()
                .filter(|s| {
                    if key == "intro" {
                        s.intro.is_none()
                    } else {
                        s.closing.is_none()
                    }
                })
                .collect();
            ok &= self.placeholders_in(&at, key, text, TEXT_PLACEHOLDERS, &users, plain_runs);
        }
        if let Some(text) = &chat.reminder_text {
            let at = join(path, "reminder_text");
            ok &= self.placeholders_in(
                &at,
                "reminder_text",
                text,
                REMINDER_PLACEHOLDERS,
                &all,
                plain_runs,
            );
        }
        for (i, s) in chat.sessions.iter().enumerate() {
            let at = Self::session_path(path, i);
            for (key, text) in [("intro", &s.intro), ("closing", &s.closing)] {
                if let Some(text) = text {
                    ok &= self.placeholders_in(
                        &join(&at, key),
                        key,
                        text,
                        TEXT_PLACEHOLDERS,
                        &[s],
                        false,
                    );
                }
            }
        }
        ok
    }

    /// The YAML path of session `i`: `chat` must hold its sessions in
    /// the order written (they are sorted once every check is done).
    pub(super) fn session_path(path: &str, i: usize) -> String {
        format!("{path}.sessions[{i}]")
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
    ) -> bool {
        let mut ok = true;
        for (offset, name) in schedule::placeholders(text) {
            let inside = Some((text[..offset].chars().count(), name.chars().count() + 2));
            if !known.contains(&name) {
                ok = false;
                let list: Vec<String> = known.iter().map(|k| format!("`{{{k}}}`")).collect();
                let hint = crate::chats::suggest(name, known.iter().copied()).map_or_else(
                    || format!("`{key}` knows {}", list.join(", ")),
                    |s| format!("did you mean `{{{s}}}`?"),
                );
                let p =
                    Problem::new(format!("unknown placeholder `{{{name}}}` in `{key}`")).hint(hint);
                self.report(at, Problem { inside, ..p });
                continue;
            }
            let lacks = |s: &&&Session| match name {
                "topic" => s.topic.is_none(),
                "host" => s.host.is_none(),
                _ => false,
            };
            if !matches!(name, "topic" | "host") {
                continue;
            }
            let problem = if let Some(s) = sessions.iter().find(lacks) {
                Problem::new(format!(
                    "`{key}` uses `{{{name}}}`, but the session on {} has no {name}",
                    s.date
                ))
                .hint(format!(
                    "add `{name}:` to that session, or leave `{{{name}}}` out"
                ))
            } else if plain_runs {
                Problem::new(format!(
                    "`{key}` uses `{{{name}}}`, but runs on dates without a session have no {name}"
                ))
                .hint(format!(
                    "set `require_session: true`, or write `{{{name}}}` only in a session's own `{key}`"
                ))
            } else {
                continue;
            };
            ok = false;
            self.report(at, Problem { inside, ..problem });
        }
        ok
    }

    /// Warns about sessions dated on a day the chat does not run.
    pub(super) fn session_dates(&mut self, path: &str, chat: &Chat) {
        for (i, s) in chat.sessions.iter().enumerate() {
            if schedule::runs_on(chat, s.date) {
                continue;
            }
            let at = join(&Self::session_path(path, i), "date");
            let weekday = s.date.format("%A");
            let e = Diagnostic::new(
                self.at.value(&at),
                format!(
                    "no run of chat `{}` falls on {} ({weekday}): this session is never used",
                    chat.id, s.date
                ),
            )
            .hint("move it to a date of the schedule (`hashchat plan --runs 10` lists them)")
            .warning();
            self.warnings.push(e);
        }
    }
}
