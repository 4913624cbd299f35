//! Raw chats.yaml: the serde structs (first stage, strings as written) and
//! the key/type check that feeds them, collecting every unknown key and
//! wrong type instead of stopping at the first. Meaning (zones, cron,
//! durations…) is `validate`'s job, not this module's.

use std::collections::HashSet;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use yaml_serde::{Mapping, Value};

use super::diagnostics::Diagnostic;
use super::locate::{join, SourceMap};
use super::suggest::suggest;

/// One entry of `chats:`, and the top level too (once its `chats:` list is
/// taken out): there, the keys a chat shares with it (`SHARED`) are
/// defaults every chat inherits. Which keys each level allows is the
/// tables' job (see [`keep`]); `deny_unknown_fields` is the safety net
/// should they drift.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChat {
    pub id: Option<String>,
    pub hashtag: Option<String>,
    /// What the chat is about, for the directory page (`hashchat serve`).
    pub description: Option<String>,
    pub schedule: Option<String>,
    pub start: Option<String>,
    pub intro: Option<String>,
    pub first_question_after: Option<String>,
    pub question_interval: Option<String>,
    pub questions: Option<Vec<RawQuestion>>,
    pub closing: Option<String>,
    pub collect_after: Option<String>,
    pub visibility: Option<String>,
    pub moderators: Option<Vec<String>>,
    pub sessions: Option<Vec<Value>>,
    pub require_session: Option<bool>,
    pub reminders: Option<Vec<String>>,
    pub reminder_text: Option<String>,
    pub ignore: Option<Vec<String>>,
    pub exclude: Option<Vec<String>>,
    pub welcome_newcomers: Option<bool>,
    pub language: Option<String>,
    pub content_warning: Option<String>,
    pub recap_post: Option<bool>,
    pub recap_url: Option<String>,
    pub server: Option<String>,
    pub platform: Option<String>,
    pub token_env: Option<String>,
    pub token_file: Option<String>,
    pub ca_file: Option<String>,
    pub timezone: Option<String>,
    pub max_characters: Option<u64>,
    pub recap_dir: Option<String>,
    pub late_limit: Option<String>,
    pub skip_dates: Option<Vec<String>>,
    pub also_watch: Option<Vec<String>>,
}

/// One entry of a chat's `sessions:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSession {
    pub date: Option<String>,
    pub topic: Option<String>,
    pub host: Option<String>,
    pub questions: Option<Vec<RawQuestion>>,
    pub intro: Option<String>,
    pub closing: Option<String>,
}

/// A question: its text, or a mapping with an image and its alt text.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawQuestion {
    Text(String),
    Rich {
        text: Option<String>,
        image: Option<String>,
        alt: Option<String>,
    },
}

/// The YAML type a key expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Count,
    Flag,
    TextList,
    Questions,
    /// A list of mappings, each checked later against its own key table.
    Mappings,
    Chats,
}

/// Keys allowed both at the top level (as defaults) and in a chat.
pub const SHARED: &[(&str, Kind)] = &[
    ("server", Kind::Text),
    ("platform", Kind::Text),
    ("token_env", Kind::Text),
    ("token_file", Kind::Text),
    ("ca_file", Kind::Text),
    ("timezone", Kind::Text),
    ("max_characters", Kind::Count),
    ("recap_dir", Kind::Text),
    ("late_limit", Kind::Text),
    ("skip_dates", Kind::TextList),
    ("also_watch", Kind::TextList),
];

pub const TOP_ONLY: &[(&str, Kind)] = &[("chats", Kind::Chats)];

pub const CHAT_ONLY: &[(&str, Kind)] = &[
    ("id", Kind::Text),
    ("hashtag", Kind::Text),
    ("description", Kind::Text),
    ("schedule", Kind::Text),
    ("start", Kind::Text),
    ("intro", Kind::Text),
    ("first_question_after", Kind::Text),
    ("question_interval", Kind::Text),
    ("questions", Kind::Questions),
    ("closing", Kind::Text),
    ("collect_after", Kind::Text),
    ("visibility", Kind::Text),
    ("moderators", Kind::TextList),
    ("sessions", Kind::Mappings),
    ("require_session", Kind::Flag),
    ("reminders", Kind::TextList),
    ("reminder_text", Kind::Text),
    ("ignore", Kind::TextList),
    ("exclude", Kind::TextList),
    ("welcome_newcomers", Kind::Flag),
    ("language", Kind::Text),
    ("content_warning", Kind::Text),
    ("recap_post", Kind::Flag),
    ("recap_url", Kind::Text),
];

pub const SESSION: &[(&str, Kind)] = &[
    ("date", Kind::Text),
    ("topic", Kind::Text),
    ("host", Kind::Text),
    ("questions", Kind::Questions),
    ("intro", Kind::Text),
    ("closing", Kind::Text),
];

/// The keys of a question written as a mapping.
const QUESTION: &[&str] = &["text", "image", "alt"];

/// Keys that would hold the access token itself; never accepted, because
/// chats.yaml gets committed, shared and pasted into bug reports.
const TOKEN_KEYS: &[&str] = &[
    "token",
    "access_token",
    "accesstoken",
    "bearer_token",
    "auth_token",
    "api_token",
    "secret",
    "client_secret",
    "password",
];

/// A raw struct plus the keys that were present but unusable; those are
/// already reported, so validation must not also call them missing.
#[derive(Debug, Default)]
pub struct Shaped<T> {
    pub raw: T,
    pub broken: HashSet<String>,
}

/// Which level a mapping is, for the key tables and the messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Top,
    Chat,
    Session,
}

impl Level {
    fn keys(self) -> impl Iterator<Item = &'static (&'static str, Kind)> {
        let (shared, own) = match self {
            Level::Top => (SHARED, TOP_ONLY),
            Level::Chat => (SHARED, CHAT_ONLY),
            Level::Session => (&[][..], SESSION),
        };
        shared.iter().chain(own)
    }

    fn other(self) -> &'static [(&'static str, Kind)] {
        match self {
            Level::Top => CHAT_ONLY,
            Level::Chat => TOP_ONLY,
            Level::Session => &[],
        }
    }
}

/// Checks every key of `map` (at YAML path `path`) against the tables,
/// reports each problem, and deserializes what is left.
pub fn shape<T: DeserializeOwned + Default>(
    map: &Mapping,
    path: &str,
    level: Level,
    at: &SourceMap,
    errors: &mut Vec<Diagnostic>,
) -> Shaped<T> {
    let (kept, broken) = keep(map, path, level, at, errors);
    Shaped {
        raw: read(kept, path, at, errors),
        broken,
    }
}

/// The keys of `map` that are allowed at `level` and hold the type they
/// should, coerced (`id: 42` is text); the names of the others, reported.
pub fn keep(
    map: &Mapping,
    path: &str,
    level: Level,
    at: &SourceMap,
    errors: &mut Vec<Diagnostic>,
) -> (Mapping, HashSet<String>) {
    let mut kept = Mapping::new();
    let mut broken = HashSet::new();
    for (key, value) in map {
        let Some(name) = key.as_str() else {
            errors.push(Diagnostic::new(at.value(path), "keys must be plain words"));
            continue;
        };
        let child = join(path, name);
        match level.keys().find(|(k, _)| *k == name) {
            Some((_, kind)) => match coerce(value, *kind, &child, name, at, errors) {
                Some(good) => {
                    kept.insert(key.clone(), good);
                }
                None => {
                    broken.insert(name.to_string());
                }
            },
            None => errors.push(unknown_key(name, &child, level, at)),
        }
    }
    (kept, broken)
}

/// The raw struct of a mapping [`keep`] returned.
pub fn read<T: DeserializeOwned + Default>(
    kept: Mapping,
    path: &str,
    at: &SourceMap,
    errors: &mut Vec<Diagnostic>,
) -> T {
    match yaml_serde::from_value(Value::Mapping(kept)) {
        Ok(raw) => raw,
        Err(e) => {
            errors.push(Diagnostic::new(
                at.value(path),
                format!("cannot read this: {e}"),
            ));
            T::default()
        }
    }
}

fn unknown_key(name: &str, path: &str, level: Level, at: &SourceMap) -> Diagnostic {
    let span = at.key(path);
    if TOKEN_KEYS.contains(&name.to_lowercase().as_str()) {
        return Diagnostic::new(span, "an access token does not belong in chats.yaml")
            .hint("put it in an environment variable named by `token_env` (default HASHCHAT_TOKEN) or in a file named by `token_file`")
            .secret();
    }
    if level.other().iter().any(|(k, _)| *k == name) {
        let (message, hint) = match level {
            Level::Top => (
                format!("`{name}` belongs to a chat, not to the top level"),
                "move it under an entry of `chats:`",
            ),
            Level::Chat | Level::Session => (
                format!("`{name}` belongs to the top level, not to a chat"),
                "move it to the top of the file, without indentation",
            ),
        };
        return Diagnostic::new(span, message).hint(hint);
    }
    let known: Vec<&str> = level.keys().map(|(k, _)| *k).collect();
    let hint = match suggest(name, known.iter().copied()) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!("known keys here: {}", known.join(", ")),
    };
    let place = match level {
        Level::Top => "at the top level",
        Level::Chat => "in a chat",
        Level::Session => "in a session",
    };
    Diagnostic::new(span, format!("unknown key `{name}` {place}")).hint(hint)
}

/// The value in the form the raw struct wants, or `None` after reporting
/// why it cannot be. Numbers are accepted as text (`id: 42`), digit
/// strings as counts (`max_characters: "500"`).
fn coerce(
    value: &Value,
    kind: Kind,
    path: &str,
    name: &str,
    at: &SourceMap,
    errors: &mut Vec<Diagnostic>,
) -> Option<Value> {
    let wrong = |expected: &str| {
        Diagnostic::new(
            at.value(path),
            format!("`{name}` should be {expected}, not {}", describe(value)),
        )
    };
    if value.is_null() {
        let hint = if name == "hashtag" {
            "`#` starts a comment in YAML: write `hashtag: \"#1QEdChat\"` or leave out the `#`"
        } else {
            "give it a value, or remove the line to use the default"
        };
        let e = Diagnostic::new(at.key(path), format!("`{name}` has no value")).hint(hint);
        errors.push(e);
        return None;
    }
    let result = match kind {
        Kind::Text => text(value).map(Value::String).ok_or_else(|| wrong("text")),
        Kind::Count => count(value).ok_or_else(|| wrong("a whole number")),
        Kind::Flag => flag(value).ok_or_else(|| {
            wrong("`true` or `false`")
                .hint("write `true` or `false` (YAML reads `yes` and `on` as text)")
        }),
        Kind::TextList => return text_list(value, path, name, at, errors),
        Kind::Questions => return questions(value, path, name, at, errors),
        Kind::Mappings => return mapping_list(value, path, name, at, errors),
        Kind::Chats => return chat_list(value, path, at, errors),
    };
    result.map_err(|e| errors.push(e)).ok()
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn count(value: &Value) -> Option<Value> {
    match value {
        Value::Number(n) => n.as_u64().map(|n| Value::Number(n.into())),
        Value::String(s) => s
            .trim()
            .parse::<u64>()
            .ok()
            .map(|n| Value::Number(n.into())),
        _ => None,
    }
}

fn text_list(
    value: &Value,
    path: &str,
    name: &str,
    at: &SourceMap,
    errors: &mut Vec<Diagnostic>,
) -> Option<Value> {
    let Some(items) = value.as_sequence() else {
        errors.push(
            not_a_list(value, path, &format!("`{name}` should be a list"), at)
                .hint("write each item on its own line, starting with `- `"),
        );
        return None;
    };
    let mut out = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        match text_item(item, path, i, name, at) {
            Ok(v) => out.push(v),
            Err(e) => {
                ok = false;
                errors.push(e);
            }
        }
    }
    ok.then_some(Value::Sequence(out))
}

/// Item `i` of list `name` as text.
fn text_item(
    item: &Value,
    path: &str,
    i: usize,
    name: &str,
    at: &SourceMap,
) -> Result<Value, Diagnostic> {
    text(item).map(Value::String).ok_or_else(|| {
        Diagnostic::new(
            at.value(&format!("{path}[{i}]")),
            format!(
                "item {} of `{name}` should be text, not {}",
                i + 1,
                describe(item)
            ),
        )
        .hint("put the text in double quotes when it contains `: `, ` #` or starts with a sign such as `-`, `[` or `{`")
    })
}

/// "`<what>`, not <the value's kind>", located at the value.
fn not_a_list(value: &Value, path: &str, what: &str, at: &SourceMap) -> Diagnostic {
    Diagnostic::new(at.value(path), format!("{what}, not {}", describe(value)))
}

fn flag(value: &Value) -> Option<Value> {
    match value {
        Value::Bool(b) => Some(Value::Bool(*b)),
        Value::String(s) => match s.trim().to_lowercase().as_str() {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
        _ => None,
    }
}

/// A list whose items are text or `{text, image, alt}` mappings. A mapping
/// with none of those keys is most likely a question with an unquoted `: `.
fn questions(
    value: &Value,
    path: &str,
    name: &str,
    at: &SourceMap,
    errors: &mut Vec<Diagnostic>,
) -> Option<Value> {
    let Some(items) = value.as_sequence() else {
        return text_list(value, path, name, at, errors);
    };
    let mut out = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        let rich = item.as_mapping().filter(|m| {
            m.keys()
                .any(|k| k.as_str().is_some_and(|k| QUESTION.contains(&k)))
        });
        let good = match rich {
            Some(map) => question_mapping(map, &item_path, i, at, errors),
            None => text_item(item, path, i, name, at)
                .map_err(|e| errors.push(e))
                .ok(),
        };
        match good {
            Some(v) => out.push(v),
            None => ok = false,
        }
    }
    ok.then_some(Value::Sequence(out))
}

/// `{text: …, image: …, alt: …}`: known keys only, each holding text. An
/// unknown key is reported and left out, so the rest is still checked.
fn question_mapping(
    map: &Mapping,
    path: &str,
    i: usize,
    at: &SourceMap,
    errors: &mut Vec<Diagnostic>,
) -> Option<Value> {
    let mut kept = Mapping::new();
    let mut ok = true;
    for (key, value) in map {
        let name = key.as_str().unwrap_or("?");
        let child = join(path, name);
        if !QUESTION.contains(&name) {
            let hint = suggest(name, QUESTION.iter().copied()).map_or(
                "a question written as a mapping has `text:`, `image:` and `alt:`".into(),
                |s| format!("did you mean `{s}`?"),
            );
            errors.push(
                Diagnostic::new(
                    at.key(&child),
                    format!("unknown key `{name}` in question {}", i + 1),
                )
                .hint(hint),
            );
            continue;
        }
        match text(value) {
            Some(s) => {
                kept.insert(key.clone(), Value::String(s));
            }
            None => {
                ok = false;
                errors.push(Diagnostic::new(
                    at.value(&child),
                    format!(
                        "`{name}` of question {} should be text, not {}",
                        i + 1,
                        describe(value)
                    ),
                ));
            }
        }
    }
    ok.then_some(Value::Mapping(kept))
}

/// A list of mappings (`sessions:`); their keys are checked by the caller.
fn mapping_list(
    value: &Value,
    path: &str,
    name: &str,
    at: &SourceMap,
    errors: &mut Vec<Diagnostic>,
) -> Option<Value> {
    let Some(items) = value.as_sequence() else {
        errors.push(
            not_a_list(value, path, &format!("`{name}` should be a list"), at)
                .hint("start each entry with `- date: …` on its own line"),
        );
        return None;
    };
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        if !item.is_mapping() {
            ok = false;
            let e = Diagnostic::new(
                at.value(&format!("{path}[{i}]")),
                format!(
                    "entry {} of `{name}` should be a mapping of keys such as `date:` and `questions:`, not {}",
                    i + 1,
                    describe(item)
                ),
            );
            errors.push(e);
        }
    }
    ok.then(|| value.clone())
}

fn chat_list(
    value: &Value,
    path: &str,
    at: &SourceMap,
    errors: &mut Vec<Diagnostic>,
) -> Option<Value> {
    let Some(items) = value.as_sequence() else {
        errors.push(
            not_a_list(value, path, "`chats` should be a list of chats", at)
                .hint("start each chat with `- id: …` on its own line"),
        );
        return None;
    };
    for (i, item) in items.iter().enumerate() {
        if !item.is_mapping() {
            let e = Diagnostic::new(
                at.value(&format!("{path}[{i}]")),
                format!(
                    "chat {} should be a mapping of keys such as `id:` and `hashtag:`, not {}",
                    i + 1,
                    describe(item)
                ),
            );
            errors.push(e);
        }
    }
    Some(value.clone())
}

/// How a YAML value reads to a moderator.
pub fn describe(value: &Value) -> String {
    match value {
        Value::Null => "nothing".into(),
        Value::Bool(b) => format!("`{b}`"),
        Value::Number(n) => format!("the number `{n}`"),
        Value::String(_) => "text".into(),
        Value::Sequence(_) => "a list".into(),
        Value::Mapping(_) => "a mapping (`key: value`)".into(),
        Value::Tagged(_) => "a tagged value".into(),
    }
}
