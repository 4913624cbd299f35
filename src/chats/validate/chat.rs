//! One chat's keys: the required ones, the schedule, questions and
//! moderators, and the bound on a run's length.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use chrono_tz::Tz;

use super::questions::Questions;
use super::{values, Problem, Setting, Validator};
use crate::chats::cron_dialect::{parse_classic, CRON_HINT};
use crate::chats::diagnostics::Diagnostic;
use crate::chats::locate::join;
use crate::chats::raw::RawChat;
use crate::chats::{
    defaults, Account, Chat, Content, Platform, Policy, Timing, TokenSource, Visibility, When,
};

impl Validator<'_> {
    /// One chat, or `None` when any of its keys was reported. `c` holds the
    /// top level's values for the shared keys the chat does not set. At the
    /// top level itself (`path` ""), this reports its bad values and nothing
    /// is missing.
    pub(super) fn chat(
        &mut self,
        path: &str,
        c: &RawChat,
        broken: &HashSet<String>,
    ) -> Option<Chat> {
        let label = c.id.as_deref().map_or_else(
            || "this chat".to_string(),
            |id| format!("chat `{}`", id.trim()),
        );
        let text = |key: &'static str| move |s: &str| values::non_empty(s, key);
        let span = |key: &'static str, zero_ok| move |s: &str| values::duration(s, key, zero_ok);
        // One line per key: the key's name is its field's.
        macro_rules! key {
            ($field:ident, $parse:expr) => {
                self.value(c.$field.as_ref(), path, stringify!($field), broken, $parse)
            };
        }
        let id = key!(id, values::id);
        let hashtag = key!(hashtag, values::hashtag);
        let when = self.when(path, c, broken, &label);
        let server = key!(server, values::server);
        let platform = key!(platform, values::platform);
        let token = self.token(path, c, broken);
        let base = self.base;
        let ca_file = key!(ca_file, |s| values::ca_file(s, base));
        let timezone = key!(timezone, values::timezone);
        let max_characters = self.max_characters(path, c, broken);
        let recap_dir = key!(recap_dir, text("recap_dir"));
        let late_limit = key!(late_limit, span("late_limit", true));
        let intro = key!(intro, text("intro"));
        let description = key!(description, text("description"));
        let closing = key!(closing, text("closing"));
        let first = key!(first_question_after, span("first_question_after", false));
        let interval = key!(question_interval, span("question_interval", false));
        let collect = key!(collect_after, span("collect_after", true));
        let visibility = key!(visibility, values::visibility);
        let sessions = self.sessions(path, c.sessions.as_deref());
        let reminders = self.list(
            path,
            "reminders",
            c.reminders.as_deref(),
            span("reminders", false),
        );
        let reminders = reminders.and_then(|r| self.distinct_reminders(path, c, r));
        let reminder_text = key!(reminder_text, text("reminder_text"));
        let skip_dates = self.list(
            path,
            "skip_dates",
            c.skip_dates.as_deref(),
            values::skip_dates,
        );
        let ignore = self.list(path, "ignore", c.ignore.as_deref(), values::ignore_rule);
        let exclude = self.list(path, "exclude", c.exclude.as_deref(), values::excluded);
        let also_watch = self.list(path, "also_watch", c.also_watch.as_deref(), values::watched);
        let also_watch = also_watch.and_then(|w| self.distinct_watched(path, server.set(), w));
        let language = key!(language, values::language);
        let content_warning = key!(content_warning, values::content_warning);
        let recap_url = key!(recap_url, values::recap_url);
        let flag = |v: Option<bool>, key: &str| (!broken.contains(key)).then(|| v.unwrap_or(false));
        let questions = self.questions(path, c, broken, &label);
        let moderators = self.moderators(path, c.moderators.as_deref());
        self.required(
            path,
            &label,
            [id.is_unset(), hashtag.is_unset(), server.is_unset()],
        );
        let (questions, question_images) = questions?;
        let chat = Chat {
            id: id.required()?,
            account: Account {
                server: server.required()?,
                platform: platform.get(Platform::Mastodon)?,
                token: token.get(TokenSource::Env(defaults::TOKEN_ENV.into()))?,
                visibility: visibility.get(Visibility::Public)?,
                max_characters: max_characters.get(defaults::MAX_CHARACTERS)?,
                also_watch: also_watch?,
                ca_file: ca_file.optional()?,
            },
            timing: Timing {
                when: when?,
                timezone: timezone.get(Tz::UTC)?,
                first_question_after: first.get(defaults::FIRST_QUESTION_AFTER)?,
                question_interval: interval.get(defaults::QUESTION_INTERVAL)?,
                collect_after: collect.get(defaults::COLLECT_AFTER)?,
                late_limit: late_limit.optional()?,
                reminders: reminders?,
                sessions: sessions?,
                require_session: flag(c.require_session, "require_session")?,
                skip_dates: skip_dates?,
            },
            content: Content {
                hashtag: hashtag.required()?,
                intro: intro.get(defaults::INTRO.into())?,
                description: description.optional()?,
                questions,
                question_images,
                closing: closing.get(defaults::CLOSING.into())?,
                reminder_text: reminder_text.optional()?,
                language: language.optional()?,
                content_warning: content_warning.optional()?,
            },
            policy: Policy {
                moderators: moderators?,
                ignore: ignore?,
                exclude: exclude?,
                welcome_newcomers: flag(c.welcome_newcomers, "welcome_newcomers")?,
                recap_dir: recap_dir.get(defaults::RECAP_DIR.into())?.into(),
                recap_post: flag(c.recap_post, "recap_post")?,
                recap_url: recap_url.optional()?,
            },
        };
        // Reported, but the chat is still returned so that the checks of
        // its posts (`Draft`) report their problems in the same pass.
        self.duration_ok(path, &chat, &label);
        Some(chat)
    }

    /// Says which of `id`, `hashtag` and `server` a chat lacks.
    fn required(&mut self, path: &str, label: &str, unset: [bool; 3]) {
        if unset[0] {
            self.missing(
                path,
                "this chat has no `id`".into(),
                "add e.g. `id: 1qedchat`: it names the chat on the command line",
            );
        }
        if unset[1] {
            self.missing(
                path,
                format!("{label} has no `hashtag`"),
                "add e.g. `hashtag: 1QEdChat` (with or without `#`)",
            );
        }
        if unset[2] {
            self.missing(
                path,
                format!("{label} has no `server`"),
                "add `server: https://your.instance` at the top of the file or in this chat",
            );
        }
    }

    /// `token_env` or `token_file`, not both.
    fn token(&mut self, path: &str, c: &RawChat, broken: &HashSet<String>) -> Setting<TokenSource> {
        match (&c.token_env, &c.token_file) {
            (Some(_), Some(_)) => {
                let at = join(path, "token_file");
                let e = Diagnostic::new(
                    self.at.key(&at),
                    "`token_env` and `token_file` are both set",
                )
                .hint("keep one: the token comes from an environment variable or from a file");
                self.errors.push(e);
                self.bad.insert(join(path, "token_env"));
                self.bad.insert(at);
                Setting::Bad
            }
            (env, None) => self
                .value(env.as_ref(), path, "token_env", broken, values::token_env)
                .map(TokenSource::Env),
            (None, file) => self
                .value(file.as_ref(), path, "token_file", broken, |s| {
                    values::non_empty(s, "token_file")
                })
                .map(|f| TokenSource::File(PathBuf::from(f))),
        }
    }

    fn max_characters(
        &mut self,
        path: &str,
        c: &RawChat,
        broken: &HashSet<String>,
    ) -> Setting<usize> {
        match c.max_characters {
            Some(0) => {
                self.report(
                    &join(path, "max_characters"),
                    Problem::new("`max_characters` must be at least 1"),
                );
                Setting::Bad
            }
            Some(n) => Setting::Set(usize::try_from(n).unwrap_or(usize::MAX)),
            None if broken.contains("max_characters") => Setting::Bad,
            None => Setting::Unset,
        }
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
            .timing()
            .sessions()
            .iter()
            .map(|s| s.questions.len())
            .chain([chat.content().questions().len()])
            .max()
            .unwrap_or(0);
        let questions = u32::try_from(most).unwrap_or(u32::MAX);
        let total = chat
            .timing()
            .question_interval()
            .checked_mul(questions)
            .and_then(|q| q.checked_add(chat.timing().first_question_after()))
            .and_then(|q| q.checked_add(chat.timing().collect_after()));
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
