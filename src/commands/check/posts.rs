//! The checks of chats.yaml that need to know what a run posts
//! (`schedule`): every post fits the instance's limit, every
//! `{placeholder}` is known and has a value, and sessions fall on dates the
//! chat runs. `chats` validates each value on its own and cannot ask
//! `schedule` (which reads `chats`) without a cycle, so they live here.

use std::collections::HashSet;

use crate::chats::{Chat, Diagnostic, Draft, Platform, SourceMap};
use crate::schedule::{self, RunContent};

/// Adds the problems of every chat's posts to `draft` (warnings too).
pub fn check(draft: &mut Draft) {
    let mut checker = Checker {
        at: &draft.at,
        errors: &mut draft.errors,
        warnings: &mut draft.warnings,
    };
    for placed in &draft.chats {
        checker.lengths(&placed.path, &placed.chat);
        checker.placeholders(&placed.path, &placed.chat);
        checker.session_dates(&placed.path, &placed.chat);
        checker.skip_dates(&placed.path, &placed.chat);
    }
}

/// Where problems go, and the source map to locate them.
pub(super) struct Checker<'a> {
    pub(super) at: &'a SourceMap,
    pub(super) errors: &'a mut Vec<Diagnostic>,
    pub(super) warnings: &'a mut Vec<Diagnostic>,
}

/// The YAML path of `key` under `parent`, as [`SourceMap`] spells it.
pub(super) fn join(parent: &str, key: &str) -> String {
    format!("{parent}.{key}")
}

/// The YAML path of session `i` of the chat at `path`: sessions are still
/// in the order written in a [`Draft`].
pub(super) fn session_path(path: &str, i: usize) -> String {
    format!("{path}.sessions[{i}]")
}

/// One post to measure: where to point, what to call it, its text.
struct Measured {
    at: String,
    what: String,
    text: String,
    /// How to shorten it, when not by editing the text at `at`.
    fix: Option<&'static str>,
}

impl Checker<'_> {
    /// Every post must fit the instance's limit: for runs without a
    /// session and for each session, the intro, questions, closing and
    /// reminders, with the content warning (Mastodon counts it too).
    /// Reported once per place in the file.
    fn lengths(&mut self, path: &str, chat: &Chat) {
        let max = chat.account().max_characters();
        let warning = chat
            .content()
            .content_warning()
            .map_or(0, |w| chat.account().length(w));
        let mut seen = HashSet::new();
        for post in self.posts(path, chat) {
            let length = chat.account().length(&post.text) + warning;
            if length <= max || !seen.insert(post.at.clone()) {
                continue;
            }
            let over = length - max;
            let fix = match post.what.strip_prefix("the default ") {
                _ if post.fix.is_some() => post.fix.unwrap_or_default().to_string(),
                Some(key) => {
                    format!("write a shorter `{key}:` (at most {max} characters with the hashtag)")
                }
                None if warning > 0 => format!(
                    "shorten it by {over} characters (the hashtag, `Qn: ` and the {warning} characters of `content_warning` count)"
                ),
                None => format!("shorten it by {over} characters (the hashtag and `Qn: ` count)"),
            };
            let e = Diagnostic::new(
                self.at.value(&post.at),
                format!(
                    "{} is {length} characters once posted, over the limit of {max}",
                    post.what
                ),
            )
            .hint(match chat.account().platform() {
                Platform::Bluesky => format!("{fix}: Bluesky allows {max} graphemes a post"),
                _ => {
                    format!("{fix}, or raise `max_characters` if your instance allows longer posts")
                }
            });
            self.errors.push(e);
        }
    }

    /// Every distinct post the chat can make, located in the file.
    fn posts(&self, path: &str, chat: &Chat) -> Vec<Measured> {
        let tag = &chat.content().hashtag();
        let what = |key: &str| match self.at.has(&join(path, key)) {
            true => format!("the {key}"),
            false => format!("the default {key}"),
        };
        let mut runs: Vec<(Option<usize>, RunContent<'_>)> = Vec::new();
        if !chat.timing().require_session() {
            runs.push((None, schedule::content_of(chat, None)));
        }
        for (i, s) in chat.timing().sessions().iter().enumerate() {
            runs.push((Some(i), schedule::content_of(chat, Some(s))));
        }
        let mut posts = Vec::new();
        for (session, run) in runs {
            let own = session.map(|i| session_path(path, i));
            let on = run.session.map_or(String::new(), |s| {
                format!(" (in the session on {})", s.date)
            });
            // A text the session writes itself is located there.
            let place = |key: &str, overridden: bool| match (&own, overridden) {
                (Some(own), true) => (join(own, key), format!("the {key} of the session")),
                _ => (join(path, key), format!("{}{on}", what(key))),
            };
            let overrides = run
                .session
                .map(|s| (s.intro.is_some(), s.closing.is_some()));
            let (at, name) = place("intro", overrides.is_some_and(|o| o.0));
            posts.push(Measured {
                at,
                what: name,
                text: run.intro_text(chat),
                fix: None,
            });
            let list = own.as_deref().unwrap_or(path);
            for (i, q) in run.questions.iter().enumerate() {
                posts.push(Measured {
                    at: format!("{list}.questions[{i}]"),
                    what: format!("question {}{on}", i + 1),
                    text: schedule::question_text(i + 1, q, tag),
                    fix: None,
                });
            }
            let (at, name) = place("closing", overrides.is_some_and(|o| o.1));
            posts.push(Measured {
                at,
                what: name,
                text: run.closing_text(chat),
                fix: None,
            });
            for (k, before) in chat.timing().reminders().iter().enumerate() {
                let at = if chat.content().reminder_text().is_some() {
                    join(path, "reminder_text")
                } else {
                    format!("{path}.reminders[{k}]")
                };
                posts.push(Measured {
                    at,
                    what: format!("the reminder {} before{on}", schedule::human(*before)),
                    text: run.reminder_text(chat, *before),
                    fix: Some("shorten the session's `topic`, or write a shorter `reminder_text`"),
                });
            }
        }
        posts
    }
}
