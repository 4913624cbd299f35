//! Validation: raw structs to domain types, every problem reported at once
//! and located in the source. Holding the resulting [`Config`] means every
//! chat can run. Chat-level keys override the top level's defaults; a bad
//! top-level value is reported once, not again for each chat inheriting it.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use url::Url;
use yaml_serde::Value;

use super::diagnostics::{suggest, Diagnostic, Diagnostics, SourceMap, Span};
use super::raw::{self, describe, join, Level, RawChat, RawConfig, Shaped};
use super::{defaults, Chat, Config, Hashtag, Platform, TokenSource, Visibility, When};
use crate::schedule;

/// Reads and validates a chats.yaml file; every problem at once on failure.
pub fn load(path: &Path) -> Result<Config, Diagnostics> {
    match std::fs::read_to_string(path) {
        Ok(source) => parse(path, &source),
        Err(e) => {
            let shown = path.display();
            let (message, hint) = match e.kind() {
                std::io::ErrorKind::NotFound => (
                    format!("`{shown}` does not exist"),
                    Some("create it from the commented example in the hashchat repository, or pass `--config PATH`".into()),
                ),
                std::io::ErrorKind::InvalidData => (format!("`{shown}` is not UTF-8 text"), None),
                _ => (format!("cannot read `{shown}`: {e}"), None),
            };
            Err(Diagnostics::whole_file(path.to_path_buf(), message, hint))
        }
    }
}

/// Validates chats.yaml text; `path` is only used in messages.
pub fn parse(path: &Path, source: &str) -> Result<Config, Diagnostics> {
    let at = SourceMap::build(source);
    let mut errors = Vec::new();
    let chats = match document(source, &at, &mut errors) {
        Some(value) => Validator {
            at: &at,
            errors: &mut errors,
        }
        .config(&value),
        None => Vec::new(),
    };
    if errors.is_empty() {
        return Ok(Config {
            path: path.to_path_buf(),
            chats,
        });
    }
    errors.sort_by_key(|e| (e.line, e.column));
    Err(Diagnostics {
        path: path.to_path_buf(),
        source: source.to_string(),
        errors,
    })
}

const EXAMPLE_HINT: &str =
    "a chats.yaml needs at least `server:` and a `chats:` list; see the commented example in the hashchat repository";

/// The YAML document as a value, or `None` after reporting why not.
fn document(source: &str, at: &SourceMap, errors: &mut Vec<Diagnostic>) -> Option<Value> {
    let empty = || Diagnostic::new(Span::default(), "the file is empty").hint(EXAMPLE_HINT);
    if source.trim().is_empty() {
        errors.push(empty());
        return None;
    }
    let mut value = match yaml_serde::from_str::<Value>(source) {
        Ok(value) => value,
        Err(e) => {
            errors.extend(syntax(&e, source, at));
            return None;
        }
    };
    if value.is_null() {
        errors.push(empty());
        return None;
    }
    if let Err(e) = value.apply_merge() {
        errors.push(Diagnostic::new(
            at.value(""),
            format!("cannot apply a `<<` merge: {e}"),
        ));
        return None;
    }
    Some(value)
}

/// A YAML syntax error, or one per key written twice in a mapping.
fn syntax(e: &yaml_serde::Error, source: &str, at: &SourceMap) -> Vec<Diagnostic> {
    let text = strip_locations(&e.to_string());
    if text.contains("duplicate entry") && !at.duplicates.is_empty() {
        return at
            .duplicates
            .iter()
            .map(|d| {
                let key = d.path.rsplit('.').next().unwrap_or(&d.path);
                Diagnostic::new(
                    d.key,
                    format!("`{key}` is written twice (first on line {})", d.first_line),
                )
                .hint("keep one: YAML does not allow a key twice in the same mapping")
            })
            .collect();
    }
    let (line, column) = e
        .location()
        .map_or((1, 1), |l| (l.line().max(1), l.column().max(1)));
    let line_text = source.lines().nth(line - 1).unwrap_or("");
    let hint = if line_text.contains('\t') {
        Some("indent with spaces: YAML does not allow tabs")
    } else if text.contains("more than one document") {
        Some("chats.yaml holds one document: remove the `---` separators")
    } else if text.contains("mapping values are not allowed") {
        Some("put text containing `: ` in double quotes")
    } else if text.contains("flow sequence") {
        Some("a list opened with `[` needs its closing `]`; quote text that contains `,` or `]`")
    } else if text.contains("flow mapping") {
        Some("a mapping opened with `{` needs its closing `}`")
    } else if text.contains("cannot start any token") {
        Some("put text starting with `@`, `` ` `` or `%` in double quotes")
    } else {
        None
    };
    let span = Span {
        line,
        column,
        length: 1,
    };
    vec![Diagnostic::new(span, format!("invalid YAML: {text}")).maybe_hint(hint.map(String::from))]
}

/// "x at line 2 column 1, while y at line 1 column 4" becomes "x, while y
/// started on line 1": the first location is the diagnostic's own.
fn strip_locations(message: &str) -> String {
    let mut out = message.to_string();
    let mut first = true;
    while let Some(i) = out.find(" at line ") {
        let rest = &out[i + " at line ".len()..];
        let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let n = digits(rest);
        let Some(after) = rest[n..].strip_prefix(" column ") else {
            break;
        };
        let m = digits(after);
        let end = i + " at line ".len() + n + " column ".len() + m;
        let replacement = if first {
            String::new()
        } else {
            format!(" started on line {}", &rest[..n])
        };
        out.replace_range(i..end, &replacement);
        first = false;
    }
    out
}

/// A problem with one value, before it is located.
struct Problem {
    message: String,
    hint: Option<String>,
    /// Characters inside the value to underline (a cron field).
    inside: Option<(usize, usize)>,
    /// The value may be a token: point at the key and hide the value.
    secret: bool,
}

impl Problem {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: None,
            inside: None,
            secret: false,
        }
    }

    fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// A key's validated value: absent, present but already reported, or good.
#[derive(Debug, Clone)]
enum Setting<T> {
    Unset,
    Bad,
    Set(T),
}

impl<T: Clone> Setting<T> {
    /// The chat's own value, else the top level's.
    fn or(self, inherited: &Setting<T>) -> Setting<T> {
        match self {
            Setting::Unset => inherited.clone(),
            own => own,
        }
    }

    /// The value of a key without default: `None` unless set.
    fn required(self) -> Option<T> {
        match self {
            Setting::Set(v) => Some(v),
            _ => None,
        }
    }

    /// The value, the default when unset, `None` when bad.
    fn get(self, default: T) -> Option<T> {
        match self {
            Setting::Unset => Some(default),
            Setting::Bad => None,
            Setting::Set(v) => Some(v),
        }
    }
}

/// Keys shared by the top level and chats, validated.
#[derive(Clone)]
struct Shared {
    server: Setting<Url>,
    platform: Setting<Platform>,
    token: Setting<TokenSource>,
    timezone: Setting<Tz>,
    max_characters: Setting<usize>,
    recap_dir: Setting<PathBuf>,
    late_limit: Setting<Duration>,
}

/// The shared keys as written, at either level.
struct SharedRaw<'a> {
    server: Option<&'a String>,
    platform: Option<&'a String>,
    token_env: Option<&'a String>,
    token_file: Option<&'a String>,
    timezone: Option<&'a String>,
    max_characters: Option<u64>,
    recap_dir: Option<&'a String>,
    late_limit: Option<&'a String>,
}

struct Validator<'a> {
    at: &'a SourceMap,
    errors: &'a mut Vec<Diagnostic>,
}

impl Validator<'_> {
    fn config(&mut self, value: &Value) -> Vec<Chat> {
        let Some(map) = value.as_mapping() else {
            let message = format!(
                "the top level should be a mapping of keys such as `server:` and `chats:`, not {}",
                describe(value)
            );
            self.errors
                .push(Diagnostic::new(self.at.value(""), message).hint(EXAMPLE_HINT));
            return Vec::new();
        };
        let top: Shaped<RawConfig> = raw::shape(map, "", Level::Top, self.at, self.errors);
        let t = &top.raw;
        let shared = self.shared("", top_raw(t), &top.broken);
        let Some(items) = &t.chats else {
            if !top.broken.contains("chats") {
                let e = Diagnostic::new(
                    Span::default(),
                    "there is no `chats:` list, so nothing to run",
                )
                .hint("add `chats:` with at least one chat: `- id: …`");
                self.errors.push(e);
            }
            return Vec::new();
        };
        if items.is_empty() {
            let e = Diagnostic::new(self.at.key("chats"), "`chats` is empty, so nothing to run")
                .hint("add at least one chat: `- id: …`");
            self.errors.push(e);
        }
        let mut chats = Vec::new();
        let mut ids: HashMap<String, usize> = HashMap::new();
        for (i, item) in items.iter().enumerate() {
            let Some(map) = item.as_mapping() else {
                continue; // reported by `shape`
            };
            let path = format!("chats[{i}]");
            let chat: Shaped<RawChat> = raw::shape(map, &path, Level::Chat, self.at, self.errors);
            self.unique_id(&path, chat.raw.id.as_deref(), &mut ids);
            chats.extend(self.chat(&path, &chat, &shared));
        }
        chats
    }

    fn unique_id(&mut self, path: &str, id: Option<&str>, seen: &mut HashMap<String, usize>) {
        let Some(id) = id.map(str::trim) else {
            return;
        };
        let span = self.at.value(&join(path, "id"));
        match seen.get(id) {
            Some(first) => {
                let e = Diagnostic::new(span, format!("duplicate chat id `{id}` (first used on line {first})"))
                    .hint("each chat needs its own id: it names the chat on the command line and in the database");
                self.errors.push(e);
            }
            None => {
                seen.insert(id.to_string(), span.line);
            }
        }
    }

    /// Validates one setting; `None` in `raw` means absent (or broken).
    fn value<T>(
        &mut self,
        raw: Option<&String>,
        parent: &str,
        key: &str,
        broken: &HashSet<String>,
        parse: impl FnOnce(&str) -> Result<T, Problem>,
    ) -> Setting<T> {
        let Some(text) = raw else {
            return if broken.contains(key) {
                Setting::Bad
            } else {
                Setting::Unset
            };
        };
        match parse(text) {
            Ok(v) => Setting::Set(v),
            Err(p) => {
                self.report(&join(parent, key), p);
                Setting::Bad
            }
        }
    }

    fn report(&mut self, path: &str, p: Problem) {
        let span = match (p.secret, p.inside) {
            (true, _) => self.at.key(path),
            (false, Some((start, len))) => self.at.inside(path, start, len),
            (false, None) => self.at.value(path),
        };
        let mut d = Diagnostic::new(span, p.message).maybe_hint(p.hint);
        if p.secret {
            d = d.secret();
        }
        self.errors.push(d);
    }

    /// A required key is missing: say so at the chat.
    fn missing(&mut self, chat: &str, message: String, hint: &str) {
        let span = self.at.key(&join(chat, "id"));
        self.errors.push(Diagnostic::new(span, message).hint(hint));
    }

    fn shared(&mut self, parent: &str, raw: SharedRaw<'_>, broken: &HashSet<String>) -> Shared {
        let token = match (raw.token_env, raw.token_file) {
            (Some(_), Some(_)) => {
                let e = Diagnostic::new(
                    self.at.key(&join(parent, "token_file")),
                    "`token_env` and `token_file` are both set",
                )
                .hint("keep one: the token comes from an environment variable or from a file");
                self.errors.push(e);
                Setting::Bad
            }
            (env, None) => self
                .value(env, parent, "token_env", broken, values::token_env)
                .map(TokenSource::Env),
            (None, file) => self
                .value(file, parent, "token_file", broken, |s| {
                    values::non_empty(s, "token_file")
                })
                .map(|f| TokenSource::File(PathBuf::from(f))),
        };
        let max_characters = match raw.max_characters {
            Some(0) => {
                self.report(
                    &join(parent, "max_characters"),
                    Problem::new("`max_characters` must be at least 1"),
                );
                Setting::Bad
            }
            Some(n) => Setting::Set(usize::try_from(n).unwrap_or(usize::MAX)),
            None if broken.contains("max_characters") => Setting::Bad,
            None => Setting::Unset,
        };
        Shared {
            server: self.value(raw.server, parent, "server", broken, values::server),
            platform: self.value(raw.platform, parent, "platform", broken, values::platform),
            token,
            timezone: self.value(raw.timezone, parent, "timezone", broken, values::timezone),
            max_characters,
            recap_dir: self
                .value(raw.recap_dir, parent, "recap_dir", broken, |s| {
                    values::non_empty(s, "recap_dir")
                })
                .map(PathBuf::from),
            late_limit: self.value(raw.late_limit, parent, "late_limit", broken, |s| {
                values::duration(s, "late_limit", true)
            }),
        }
    }
}

impl<T> Setting<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Setting<U> {
        match self {
            Setting::Unset => Setting::Unset,
            Setting::Bad => Setting::Bad,
            Setting::Set(v) => Setting::Set(f(v)),
        }
    }
}

fn top_raw(t: &RawConfig) -> SharedRaw<'_> {
    SharedRaw {
        server: t.server.as_ref(),
        platform: t.platform.as_ref(),
        token_env: t.token_env.as_ref(),
        token_file: t.token_file.as_ref(),
        timezone: t.timezone.as_ref(),
        max_characters: t.max_characters,
        recap_dir: t.recap_dir.as_ref(),
        late_limit: t.late_limit.as_ref(),
    }
}

fn chat_raw(c: &RawChat) -> SharedRaw<'_> {
    SharedRaw {
        server: c.server.as_ref(),
        platform: c.platform.as_ref(),
        token_env: c.token_env.as_ref(),
        token_file: c.token_file.as_ref(),
        timezone: c.timezone.as_ref(),
        max_characters: c.max_characters,
        recap_dir: c.recap_dir.as_ref(),
        late_limit: c.late_limit.as_ref(),
    }
}

impl Validator<'_> {
    /// One chat, or `None` when any of its keys was reported.
    fn chat(&mut self, path: &str, shaped: &Shaped<RawChat>, top: &Shared) -> Option<Chat> {
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
        let questions = self.questions(path, c.questions.as_deref(), broken, &label);
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
        let chat = Chat {
            id: id.required()?,
            hashtag: hashtag.required()?,
            when: when?,
            timezone: s.timezone.or(&top.timezone).get(Tz::UTC)?,
            intro: intro.get(defaults::INTRO.into())?,
            first_question_after: first.get(defaults::FIRST_QUESTION_AFTER)?,
            question_interval: interval.get(defaults::QUESTION_INTERVAL)?,
            questions: questions?,
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
        };
        let fits = self.lengths(path, &chat);
        (self.duration_ok(path, &chat, &label) && fits).then_some(chat)
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
            schedule::parse_classic(s)
                .map(|schedule| When::Recurring {
                    expr: s.trim().to_string(),
                    schedule: Box::new(schedule),
                })
                .map_err(|e| Problem {
                    inside: Some((e.start, e.len)),
                    ..Problem::new(format!("invalid schedule: {}", e.message))
                        .hint(schedule::CRON_HINT)
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

    fn questions(
        &mut self,
        path: &str,
        raw: Option<&[String]>,
        broken: &HashSet<String>,
        label: &str,
    ) -> Option<Vec<String>> {
        let key = join(path, "questions");
        let Some(raw) = raw else {
            if !broken.contains("questions") {
                self.missing(
                    path,
                    format!("{label} has no `questions`"),
                    "add a list: `questions:` then one `- How do you …?` per line",
                );
            }
            return None;
        };
        if raw.is_empty() {
            let e = Diagnostic::new(self.at.key(&key), "`questions` is empty")
                .hint("add at least one question: `- How do you …?`");
            self.errors.push(e);
            return None;
        }
        let mut ok = true;
        for (i, q) in raw.iter().enumerate() {
            if q.trim().is_empty() {
                ok = false;
                let e = Diagnostic::new(
                    self.at.value(&format!("{key}[{i}]")),
                    format!("question {} is empty", i + 1),
                )
                .hint("write the question, or remove the line");
                self.errors.push(e);
            }
        }
        ok.then(|| raw.iter().map(|q| q.trim().to_string()).collect())
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
    fn duration_ok(&mut self, path: &str, chat: &Chat, label: &str) -> bool {
        let questions = u32::try_from(chat.questions.len()).unwrap_or(u32::MAX);
        let total = chat
            .question_interval
            .checked_mul(questions)
            .and_then(|q| q.checked_add(chat.first_question_after))
            .and_then(|q| q.checked_add(chat.collect_after));
        if total.is_some_and(|t| t <= values::MONTH) {
            return true;
        }
        let shown = total.map_or("forever".into(), short_duration);
        let e = Diagnostic::new(self.at.key(&join(path, "id")), format!("{label} would last {shown} from intro to end of collection"))
            .hint("a run must end within 31 days: check `question_interval`, `first_question_after` and `collect_after`");
        self.errors.push(e);
        false
    }

    /// Every post must fit the instance's limit; reported at the text.
    fn lengths(&mut self, path: &str, chat: &Chat) -> bool {
        let (tag, max) = (&chat.hashtag, chat.max_characters);
        let what = |key: &str| match self.at.has(&join(path, key)) {
            true => format!("the {key}"),
            false => format!("the default {key}"),
        };
        let mut posts = vec![(
            join(path, "intro"),
            what("intro"),
            schedule::with_hashtag(&chat.intro, tag),
        )];
        for (i, q) in chat.questions.iter().enumerate() {
            let text = schedule::question_text(i + 1, q, tag);
            posts.push((
                format!("{path}.questions[{i}]"),
                format!("question {}", i + 1),
                text,
            ));
        }
        posts.push((
            join(path, "closing"),
            what("closing"),
            schedule::with_hashtag(&chat.closing, tag),
        ));
        let mut ok = true;
        for (at, what, text) in posts {
            let length = post_length(&text);
            if length > max {
                ok = false;
                let over = length - max;
                let fix = match what.strip_prefix("the default ") {
                    Some(key) => format!(
                        "write a shorter `{key}:` (at most {max} characters with the hashtag)"
                    ),
                    None => {
                        format!("shorten it by {over} characters (the hashtag and `Qn: ` count)")
                    }
                };
                let e = Diagnostic::new(
                    self.at.value(&at),
                    format!("{what} is {length} characters once posted, over the limit of {max}"),
                )
                .hint(format!(
                    "{fix}, or raise `max_characters` if your instance allows longer posts"
                ));
                self.errors.push(e);
            }
        }
        ok
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

/// Length of a post as Mastodon counts it: every URL is 23 characters, a
/// mention `@user@domain` counts as `@user`, and user-perceived characters
/// are approximated (combining marks, variation selectors, skin tones and
/// emoji joined by zero-width joiners add nothing).
pub fn post_length(text: &str) -> usize {
    let chars: Vec<char> = text.chars().collect();
    let mut count = 0;
    let mut i = 0;
    while i < chars.len() {
        let prev = i.checked_sub(1).map(|p| chars[p]);
        let starts_word =
            prev.is_none_or(|p| !(p.is_alphanumeric() || p == '_' || p == '/' || p == '='));
        if starts_word {
            if let Some(end) = url_end(&chars, i) {
                count += 23;
                i = end;
                continue;
            }
            if let Some((user, end)) = mention(&chars, i) {
                count += 1 + user;
                i = end;
                continue;
            }
        }
        let joined = prev == Some('\u{200d}');
        let regional_pair = is_regional(chars[i])
            && prev.is_some_and(is_regional)
            && regional_run(&chars, i) % 2 == 1;
        if !(joined || extends(chars[i]) || regional_pair) {
            count += 1;
        }
        i += 1;
    }
    count
}

fn url_end(chars: &[char], i: usize) -> Option<usize> {
    let rest: String = chars[i..].iter().take(8).collect::<String>().to_lowercase();
    let scheme = ["https://", "http://"]
        .into_iter()
        .find(|s| rest.starts_with(s))?;
    let mut end = i + scheme.len();
    while end < chars.len() && !chars[end].is_whitespace() {
        end += 1;
    }
    // Trailing punctuation ends a sentence, not the URL.
    while end > i + scheme.len() && ".,:;!?'\")]".contains(chars[end - 1]) {
        end -= 1;
    }
    (end > i + scheme.len()).then_some(end)
}

/// `@user@domain` at `i`: the user's length and where the mention ends.
fn mention(chars: &[char], i: usize) -> Option<(usize, usize)> {
    if chars[i] != '@' {
        return None;
    }
    let word = |c: &char| c.is_alphanumeric() || *c == '_';
    let user = chars[i + 1..].iter().take_while(|c| word(c)).count();
    let at = i + 1 + user;
    if user == 0 || chars.get(at) != Some(&'@') {
        return None;
    }
    let domain = chars[at + 1..]
        .iter()
        .take_while(|c| word(c) || **c == '.' || **c == '-')
        .count();
    // A domain ends in a word character: `@a@b.org.` ends before the dot.
    let trimmed = chars[at + 1..at + 1 + domain]
        .iter()
        .rposition(word)
        .map_or(0, |p| p + 1);
    (trimmed > 0).then_some((user, at + 1 + trimmed))
}

fn extends(c: char) -> bool {
    matches!(c as u32,
        0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F
        | 0xFE00..=0xFE0F | 0x200D | 0x1F3FB..=0x1F3FF | 0xE0020..=0xE007F)
}

fn is_regional(c: char) -> bool {
    matches!(c as u32, 0x1F1E6..=0x1F1FF)
}

/// How many regional indicators precede `i` in an unbroken run.
fn regional_run(chars: &[char], i: usize) -> usize {
    chars[..i]
        .iter()
        .rev()
        .take_while(|c| is_regional(**c))
        .count()
}

/// Parsers for single values: text as written to a domain value, or a
/// problem saying what is wrong and how to fix it.
mod values {
    use super::*;

    /// The longest run, and so the longest single duration, accepted.
    pub const MONTH: Duration = Duration::from_secs(31 * 24 * 3600);

    pub fn non_empty(s: &str, key: &str) -> Result<String, Problem> {
        if s.trim().is_empty() {
            return Err(Problem::new(format!("`{key}` is empty"))
                .hint("write a value, or remove the line to use the default"));
        }
        Ok(s.to_string())
    }

    pub fn id(s: &str) -> Result<String, Problem> {
        let id = s.trim();
        if id.is_empty() {
            return Err(Problem::new("the chat id is empty")
                .hint("use lowercase letters, digits, `-` and `_`, e.g. `1qedchat`"));
        }
        let allowed =
            |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
        if id.chars().all(allowed) {
            return Ok(id.to_string());
        }
        let fixed: String = id
            .to_lowercase()
            .chars()
            .map(|c| if allowed(c) { c } else { '-' })
            .collect();
        Err(Problem::new(format!(
            "chat id `{id}` may only hold lowercase letters, digits, `-` and `_`"
        ))
        .hint(format!("did you mean `{fixed}`?")))
    }

    pub fn hashtag(s: &str) -> Result<Hashtag, Problem> {
        Hashtag::parse(s).map_err(|e| {
            let p = Problem::new(format!("invalid hashtag `{}`: {e}", s.trim()));
            let joined: String = s
                .trim()
                .trim_start_matches('#')
                .split_whitespace()
                .collect();
            if s.trim().contains(char::is_whitespace) && Hashtag::parse(&joined).is_ok() {
                p.hint(format!("a hashtag is one word: `{joined}`"))
            } else {
                p.hint("write it as one word of letters, digits and `_`, e.g. `1QEdChat`")
            }
        })
    }

    pub fn start(s: &str) -> Result<When, Problem> {
        let text = s.trim();
        if let Ok(t) = DateTime::parse_from_rfc3339(text) {
            return Ok(When::Once(t.with_timezone(&Utc)));
        }
        let local = text.replace(' ', "T");
        let naive = chrono::NaiveDateTime::parse_from_str(&local, "%Y-%m-%dT%H:%M:%S").is_ok();
        Err(if naive {
            Problem::new(format!("`start` has no UTC offset: `{text}`")).hint(format!(
                "add `Z` for UTC or the zone's offset, e.g. `{local}Z` or `{local}+01:00`"
            ))
        } else {
            Problem::new(format!("`start` should be an RFC 3339 time, not `{text}`"))
                .hint("write the date, the time and the offset, e.g. `2026-12-03T20:00:00Z` or `2026-12-03T20:00:00+01:00`")
        })
    }

    pub fn duration(s: &str, key: &str, zero_ok: bool) -> Result<Duration, Problem> {
        let d = humantime::parse_duration(s.trim()).map_err(|e| {
            Problem::new(format!(
                "`{key}` should be a duration such as `90s`, `5m` or `1h 30m`, not `{}`",
                s.trim()
            ))
            .hint(e.to_string())
        })?;
        if d.is_zero() && !zero_ok {
            return Err(Problem::new(format!("`{key}` must be longer than zero"))
                .hint("seconds are fine for rehearsals, e.g. `10s`"));
        }
        if d > MONTH {
            return Err(Problem::new(format!("`{key}` is longer than 31 days")));
        }
        Ok(d)
    }

    pub fn visibility(s: &str) -> Result<Visibility, Problem> {
        match s.trim().to_lowercase().as_str() {
            "public" => Ok(Visibility::Public),
            "unlisted" => Ok(Visibility::Unlisted),
            other @ ("private" | "direct" | "followers") => Err(Problem::new(format!(
                "a chat cannot post `{other}`: only `public` or `unlisted`"
            ))
            .hint("followers-only and direct posts cannot gather a hashtag chat")),
            other => Err(Problem::new(format!("unknown visibility `{other}`")).hint(
                suggest(other, ["public", "unlisted"])
                    .map_or("use `public` or `unlisted`".into(), |s| {
                        format!("did you mean `{s}`?")
                    }),
            )),
        }
    }

    pub fn platform(s: &str) -> Result<Platform, Problem> {
        const NAMES: [&str; 5] = ["mastodon", "pleroma", "friendica", "firefish", "gotosocial"];
        let lower = s.trim().to_lowercase();
        Ok(match lower.as_str() {
            "mastodon" => Platform::Mastodon,
            "pleroma" | "akkoma" => Platform::Pleroma,
            "friendica" => Platform::Friendica,
            "firefish" => Platform::Firefish,
            "gotosocial" => Platform::Gotosocial,
            _ => {
                let hint = suggest(&lower, NAMES).map_or_else(
                    || format!("use one of {}", NAMES.join(", ")),
                    |s| format!("did you mean `{s}`?"),
                );
                return Err(Problem::new(format!("unknown platform `{}`", s.trim())).hint(hint));
            }
        })
    }

    pub fn timezone(s: &str) -> Result<Tz, Problem> {
        let name = s.trim();
        name.parse::<Tz>().map_err(|_| {
            let names = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name());
            let hint = suggest(name, names).map_or(
                "use an IANA zone name such as `Europe/London` or `America/New_York`".into(),
                |s| format!("did you mean `{s}`?"),
            );
            Problem::new(format!("unknown time zone `{name}`")).hint(hint)
        })
    }

    pub fn server(s: &str) -> Result<Url, Problem> {
        let text = s.trim();
        match Url::parse(text) {
            Ok(url)
                if matches!(url.scheme(), "http" | "https")
                    && url.host_str().is_some_and(|h| !h.is_empty()) =>
            {
                Ok(url)
            }
            _ => {
                let p = Problem::new(format!("`server` should be an http(s) URL, not `{text}`"));
                let bare = !text.contains("://")
                    && text.contains('.')
                    && !text.contains(char::is_whitespace);
                Err(if bare {
                    p.hint(format!("did you mean `https://{text}`?"))
                } else {
                    p.hint("write the instance's address, e.g. `https://mastodon.social`")
                })
            }
        }
    }

    pub fn token_env(s: &str) -> Result<String, Problem> {
        let name = s.trim();
        let identifier = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        // Variable names are short and shouting; a long mixed-case string is
        // most likely the token pasted into the wrong key.
        let token_like = name.len() >= 30 && name.chars().any(|c| c.is_ascii_lowercase());
        if identifier && !token_like {
            return Ok(name.to_string());
        }
        Err(Problem {
            secret: true,
            ..Problem::new("`token_env` should name an environment variable, like `HASHCHAT_TOKEN`")
                .hint("if this is the token itself, remove it from chats.yaml and `export HASHCHAT_TOKEN=…` instead")
        })
    }

    /// `@user@domain` (the leading `@` optional), normalised with it.
    pub fn handle(s: &str) -> Option<String> {
        let (user, domain) = s.trim().trim_start_matches('@').split_once('@')?;
        let user_ok = !user.is_empty()
            && user
                .chars()
                .all(|c| c.is_alphanumeric() || "_.-".contains(c));
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || ".-:".contains(c));
        (user_ok && domain_ok).then(|| format!("@{user}@{domain}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CHAT: &str = "server: https://mastodon.example\nchats:\n  - id: a\n    hashtag: A\n    schedule: \"0 20 * * 4\"\n    questions: [One?]\n";

    /// The messages `parse` gives for `source`, located as `line:col`.
    fn messages(source: &str) -> Vec<String> {
        match parse(Path::new("chats.yaml"), source) {
            Ok(_) => Vec::new(),
            Err(d) => d
                .errors
                .iter()
                .map(|e| format!("{}:{} {}", e.line, e.column, e.message))
                .collect(),
        }
    }

    #[test]
    fn each_bad_value_gets_its_own_located_message() {
        let cases = [
            (
                "    timezone: Europe/Londn\n",
                "7:15 unknown time zone `Europe/Londn`",
            ),
            (
                "    schedule2: x\n",
                "7:5 unknown key `schedule2` in a chat",
            ),
            (
                "    question_interval: 0s\n",
                "7:24 `question_interval` must be longer than zero",
            ),
            ("    collect_after: 0s\n", ""),
            ("    late_limit: 0s\n", ""),
            (
                "    visibility: direct\n",
                "7:17 a chat cannot post `direct`: only `public` or `unlisted`",
            ),
            ("    platform: Akkoma\n", ""),
            ("    server: http://localhost:3000\n", ""),
            (
                "    server: https://\n",
                "7:13 `server` should be an http(s) URL, not `https://`",
            ),
            (
                "    max_characters: -5\n",
                "7:21 `max_characters` should be a whole number, not the number `-5`",
            ),
            ("    max_characters: \"5000\"\n", ""),
            ("    moderators: [\"alice@example.org\"]\n", ""),
            ("    token_file: /run/secrets/hashchat\n", ""),
            (
                "    token_env: \"\"\n",
                "7:5 `token_env` should name an environment variable, like `HASHCHAT_TOKEN`",
            ),
            (
                "    question_interval: 40d\n",
                "7:24 `question_interval` is longer than 31 days",
            ),
            (
                "    question_interval: 20d\n    collect_after: 20d\n",
                "3:5 chat `a` would last 40d 5m from intro to end of collection",
            ),
            ("    intro: \"\"\n", "7:12 `intro` is empty"),
            ("    hashtag2: A\n", "7:5 unknown key `hashtag2` in a chat"),
        ];
        for (extra, expected) in cases {
            let source = format!("{CHAT}{extra}");
            let expected: Vec<&str> = [expected].into_iter().filter(|e| !e.is_empty()).collect();
            assert_eq!(messages(&source), expected, "for {extra:?}");
        }
    }

    #[test]
    fn a_valid_chat_gets_every_default() {
        let config = parse(Path::new("chats.yaml"), CHAT).expect("valid");
        let chat = &config.chats[0];
        assert_eq!(chat.timezone, Tz::UTC);
        assert_eq!(chat.platform, Platform::Mastodon);
        assert_eq!(chat.token, TokenSource::Env("HASHCHAT_TOKEN".into()));
        assert_eq!(chat.max_characters, 500);
        assert_eq!(chat.recap_dir, PathBuf::from("recaps"));
        assert_eq!(chat.first_question_after, Duration::from_secs(300));
        assert_eq!(chat.question_interval, Duration::from_secs(600));
        assert_eq!(chat.collect_after, Duration::from_secs(1800));
        assert_eq!(chat.visibility, Visibility::Public);
        assert_eq!(chat.late_limit, None);
        assert_eq!(chat.intro, defaults::INTRO);
        assert_eq!(chat.closing, defaults::CLOSING);
    }

    #[test]
    fn a_chat_overrides_the_top_level_and_inherits_the_rest() {
        let source = "server: https://a.example\ntimezone: Europe/London\ntoken_file: /tok\nlate_limit: 10m\nchats:\n  - id: a\n    hashtag: A\n    start: \"2026-12-03T20:00:00+01:00\"\n    questions: [One?]\n    server: https://b.example\n    token_env: OTHER\n";
        let config = parse(Path::new("chats.yaml"), source).expect("valid");
        let chat = &config.chats[0];
        assert_eq!(chat.server.as_str(), "https://b.example/");
        assert_eq!(chat.timezone, chrono_tz::Europe::London);
        assert_eq!(chat.token, TokenSource::Env("OTHER".into()));
        assert_eq!(chat.late_limit, Some(Duration::from_secs(600)));
        let start = DateTime::parse_from_rfc3339("2026-12-03T19:00:00Z").expect("time");
        assert!(matches!(chat.when, When::Once(t) if t == start));
    }

    #[test]
    fn posts_are_counted_as_mastodon_counts_them() {
        let cases = [
            ("hello", 5),
            (
                "see https://example.com/a/very/long/path?with=query",
                4 + 23,
            ),
            ("see https://example.com.", 4 + 23 + 1),
            ("hi @alice@very.long.example.org!", 3 + 6 + 1),
            ("mail me@example.org", 8 + 11),
            ("café", 4),
            ("cafe\u{301}", 4),
            ("👩‍💻", 1),
            ("👍🏽", 1),
            ("🇬🇧🇫🇷", 2),
            ("#1QEdChat", 9),
        ];
        for (text, expected) in cases {
            assert_eq!(post_length(text), expected, "{text:?}");
        }
    }

    #[test]
    fn aliases_nested_deeply_do_not_hang_or_panic() {
        let mut source = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..12 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("b{}", i - 1)
            };
            source.push_str(&format!("b{i}: &b{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        assert!(!messages(&source).is_empty());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        for source in [
            "[".repeat(100_000),
            "a:\n".to_string() + &"- ".repeat(50_000) + "x\n",
        ] {
            assert!(!messages(&source).is_empty());
        }
    }

    /// Text that looks like chats.yaml: its keys, YAML punctuation, values.
    fn yamlish() -> impl Strategy<Value = String> {
        let token = prop_oneof![
            Just("server: https://mastodon.example\n".to_string()),
            Just("chats:\n".to_string()),
            Just("  - id: a\n".to_string()),
            Just("    hashtag: A\n".to_string()),
            Just("    schedule: \"0 20 * * 4\"\n".to_string()),
            Just("    questions:\n      - One?\n".to_string()),
            Just("    start: 2026-12-03T20:00:00Z\n".to_string()),
            "[a-z_]{1,20}: ".prop_map(String::from),
            "[ \\-:#&*!|>%@`\"'\\[\\]{},?\n\t0-9a-zA-Z/.]{0,12}".prop_map(String::from),
            "\\PC{0,8}".prop_map(String::from),
        ];
        prop::collection::vec(token, 0..40).prop_map(|parts| parts.concat())
    }

    /// The example chats.yaml with a slice replaced by random text.
    fn mutated() -> impl Strategy<Value = String> {
        let example = include_str!("../../chats.yaml");
        let n = example.len();
        (0..n, 0..64usize, "\\PC{0,16}").prop_map(move |(at, len, insert)| {
            let start = (0..=at)
                .rev()
                .find(|i| example.is_char_boundary(*i))
                .unwrap_or(0);
            let end = ((start + len).min(n)..=n)
                .find(|i| example.is_char_boundary(*i))
                .unwrap_or(n);
            format!("{}{insert}{}", &example[..start], &example[end..])
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn parse_never_panics_on_yamlish_text(source in yamlish()) {
            let _ = parse(Path::new("chats.yaml"), &source).map_err(|d| d.to_string());
        }

        #[test]
        fn parse_never_panics_on_a_mutated_example(source in mutated()) {
            let _ = parse(Path::new("chats.yaml"), &source).map_err(|d| d.to_string());
        }
    }
}
