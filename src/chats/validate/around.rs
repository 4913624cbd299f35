//! Keys around the chat itself: reminders, who is ignored or excluded,
//! welcoming newcomers, language and content warning. Their
//! `{placeholders}` are checked by `commands::check`.

use std::collections::HashSet;
use std::time::Duration;

use super::{values, Problem, Validator};
use crate::chats::diagnostics::Diagnostic;
use crate::chats::raw::RawChat;
use crate::chats::IgnoreRule;

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
}
