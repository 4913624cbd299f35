//! One chat's keys: the required ones, the schedule, questions and
//! moderators, and the bound on a run's length.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use chrono_tz::Tz;

use super::questions::Questions;
use super::{chat_raw, values, Problem, Setting, Shared, Validator};
use crate::chats::cron_dialect::{parse_classic, CRON_HINT};
use crate::chats::diagnostics::Diagnostic;
use crate::chats::raw::{join, RawChat, Shaped};
use crate::chats::{defaults, Chat, Platform, TokenSource, Visibility, When};

impl Validator<'_> {
    /// One chat, or `None` when any of its keys was reported.
    pub(super) fn chat(
        &mut self,
        path: &str,
        shaped: &Shaped<RawChat>,
        top: &Shared,
    ) -> Option<Chat> {
        let (c, broken) = (&shaped.raw, &shaped.broken);
        let label = c.id.as_deref().map_or_else(
            || "this chat".to_string(),
            |id| format!("chat `{}`", id.trim()),
        );
        let id = self.value(c.id.as_ref(), path, "id", broken, values::id);
        let hashtag = self.value(c.hashtag.as_ref(), path, "hashtag", broken, values::hashtag);
        let when = self.when(path, c, broken, &label);
        let shared = self.shared(path, chat_raw(c), broken);
        let intro = self.value(c.intro.as_ref(), path, "intro", broken, |s| {
            values::non_empty(s, "intro")
        });
        let closing = self.value(c.closing.as_ref(), path, "closing", broken, |s| {
            values::non_empty(s, "closing")
        });
        let first = self.value(
            c.first_question_after.as_ref(),
            path,
            "first_question_after",
            broken,
            |s| values::duration(s, "first_question_after", false),
        );
        let interval = self.value(
            c.question_interval.as_ref(),
            path,
            "question_interval",
            broken,
            |s| values::duration(s, "question_interval", false),
        );
        let collect = self.value(
            c.collect_after.as_ref(),
            path,
            "collect_after",
            broken,
            |s| values::duration(s, "collect_after", true),
        );
        let visibility = self.value(
            c.visibility.as_ref(),
            path,
            "visibility",
            broken,
            values::visibility,
        );
        let sessions = self.sessions(path, c.sessions.as_deref());
        let around = self.around(path, c, broken);
        let questions = self.questions(path, c, broken, &label);
        let moderators = self.moderators(path, c.moderators.as_deref());

        if matches!(id, Setting::Unset) {
            self.missing(
                path,
                "this chat has no `id`".into(),
                "add e.g. `id: 1qedchat`: it names the chat on the command line",
            );
        }
        if matches!(hashtag, Setting::Unset) {
            self.missing(
                path,
                format!("{label} has no `hashtag`"),
                "add e.g. `hashtag: 1QEdChat` (with or without `#`)",
            );
        }
        let server = match shared.server.clone().or(&top.server) {
            Setting::Unset => {
                self.missing(
                    path,
                    format!("{label} has no `server`"),
                    "add `server: https://your.instance` at the top of the file or in this chat",
                );
                Setting::Bad
            }
            s => s,
        };
        let s = shared;
        let around = around?;
        let (questions, question_images) = questions?;
        let chat = Chat {
            id: id.required()?,
            hashtag: hashtag.required()?,
            when: when?,
            timezone: s.timezone.or(&top.timezone).get(Tz::UTC)?,
            intro: intro.get(defaults::INTRO.into())?,
            first_question_after: first.get(defaults::FIRST_QUESTION_AFTER)?,
            question_interval: interval.get(defaults::QUESTION_INTERVAL)?,
            questions,
            closing: closing.get(defaults::CLOSING.into())?,
            collect_after: collect.get(defaults::COLLECT_AFTER)?,
            visibility: visibility.get(Visibility::Public)?,
            late_limit: match s.late_limit.or(&top.late_limit) {
                Setting::Bad => return None,
                Setting::Unset => None,
                Setting::Set(d) => Some(d),
            },
            server: server.required()?,
            platform: s.platform.or(&top.platform).get(Platform::Mastodon)?,
            token: s
                .token
                .or(&top.token)
                .get(TokenSource::Env(defaults::TOKEN_ENV.into()))?,
            max_characters: s
                .max_characters
                .or(&top.max_characters)
                .get(defaults::MAX_CHARACTERS)?,
            recap_dir: s
                .recap_dir
                .or(&top.recap_dir)
                .get(PathBuf::from(defaults::RECAP_DIR))?,
            moderators: moderators?,
            question_images,
            sessions: sessions?,
            require_session: around.require_session,
            reminders: around.reminders,
            reminder_text: around.reminder_text,
            ignore: around.ignore,
            exclude: around.exclude,
            welcome_newcomers: around.welcome_newcomers,
            language: around.language,
            content_warning: around.content_warning,
            recap_post: around.recap_post,
            recap_url: around.recap_url,
        };
        // Reported, but the chat is still returned so that the checks of
        // its posts (`Draft`) report their problems in the same pass.
        self.duration_ok(path, &chat, &label);
        Some(chat)
    }

    /// Exactly one of `schedule` and `start`.
    fn when(
        &mut self,
        path: &str,
        c: &RawChat,
        broken: &HashSet<String>,
        label: &str,
    ) -> Option<When> {
        let schedule = self.value(c.schedule.as_ref(), path, "schedule", broken, |s| {
            parse_classic(s)
                .map(|schedule| When::Recurring {
                    expr: s.trim().to_string(),
                    schedule: Box::new(schedule),
                })
                .map_err(|e| Problem {
                    inside: Some((e.start, e.len)),
                    ..Problem::new(format!("invalid schedule: {}", e.message)).hint(CRON_HINT)
                })
        });
        let start = self.value(c.start.as_ref(), path, "start", broken, values::start);
        match (schedule, start) {
            (Setting::Set(w), Setting::Unset) | (Setting::Unset, Setting::Set(w)) => Some(w),
            (Setting::Unset, Setting::Unset) => {
                self.missing(
                    path,
                    format!("{label} has neither `schedule` nor `start`"),
                    "add `schedule: \"0 20 * * 4\"` (Thursdays 20:00) or a one-off `start: \"2026-12-03T20:00:00Z\"`",
                );
                None
            }
            (Setting::Bad, _) | (_, Setting::Bad) => None,
            (Setting::Set(_), Setting::Set(_)) => {
                let e = Diagnostic::new(
                    self.at.key(&join(path, "start")),
                    format!("{label} has both `schedule` and `start`"),
                )
                .hint("keep `schedule` for a recurring chat, or `start` for a one-off");
                self.errors.push(e);
                None
            }
        }
    }

    /// The chat's default questions: required unless every run has a
    /// session (`require_session: true`).
    fn questions(
        &mut self,
        path: &str,
        c: &RawChat,
        broken: &HashSet<String>,
        label: &str,
    ) -> Option<Questions> {
        match &c.questions {
            Some(raw) => self.question_list(&join(path, "questions"), raw),
            None if c.require_session == Some(true) => Some((Vec::new(), Vec::new())),
            None => {
                if !broken.contains("questions") {
                    self.missing(
                        path,
                        format!("{label} has no `questions`"),
                        "add a list: `questions:` then one `- How do you …?` per line (or `require_session: true` when every run has a session)",
                    );
                }
                None
            }
        }
    }

    fn moderators(&mut self, path: &str, raw: Option<&[String]>) -> Option<Vec<String>> {
        let mut out = Vec::new();
        let mut ok = true;
        for (i, handle) in raw.unwrap_or_default().iter().enumerate() {
            match values::handle(handle) {
                Some(h) => out.push(h),
                None => {
                    ok = false;
                    let e = Diagnostic::new(
                        self.at.value(&format!("{path}.moderators[{i}]")),
                        format!(
                            "moderator `{}` is not a handle like `@user@domain`",
                            handle.trim()
                        ),
                    )
                    .hint("write the full handle, e.g. `@alice@mastodon.social`");
                    self.errors.push(e);
                }
            }
        }
        ok.then_some(out)
    }

    /// A run must end within a month: longer is a typo (`10d` for `10m`),
    /// and date arithmetic elsewhere must never get near its limits.
    fn duration_ok(&mut self, path: &str, chat: &Chat, label: &str) {
        // The longest question list, the chat's or a session's, sets the length.
        let most = chat
            .sessions
            .iter()
            .map(|s| s.questions.len())
            .chain([chat.questions.len()])
            .max()
            .unwrap_or(0);
        let questions = u32::try_from(most).unwrap_or(u32::MAX);
        let total = chat
            .question_interval
            .checked_mul(questions)
            .and_then(|q| q.checked_add(chat.first_question_after))
            .and_then(|q| q.checked_add(chat.collect_after));
        if total.is_some_and(|t| t <= values::MONTH) {
            return;
        }
        let shown = total.map_or("forever".into(), short_duration);
        let e = Diagnostic::new(self.at.key(&join(path, "id")), format!("{label} would last {shown} from intro to end of collection"))
            .hint("a run must end within 31 days: check `question_interval`, `first_question_after` and `collect_after`");
        self.errors.push(e);
    }
}

/// `40d 5m`, in the units chats.yaml is written in (humantime's own
/// formatter speaks of 30.44-day months).
fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    let parts = [
        (s / 86_400, "d"),
        (s / 3600 % 24, "h"),
        (s / 60 % 60, "m"),
        (s % 60, "s"),
    ];
    let shown: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    if shown.is_empty() {
        "0s".into()
    } else {
        shown.join(" ")
    }
}
