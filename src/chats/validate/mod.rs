//! Validation: raw structs to domain types, every problem reported at once
//! and located in the source. Holding the resulting [`Config`] means every
//! chat can run. Chat-level keys override the top level's defaults; a bad
//! top-level value is reported once, not again for each chat inheriting it.

mod bluesky;
mod chat;
mod lists;
mod questions;
mod sessions;
#[cfg(test)]
mod tests;
mod values;
mod yaml;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use yaml_serde::{Mapping, Value};

use super::diagnostics::{Diagnostic, Diagnostics, Span};
use super::locate::join;
use super::locate::SourceMap;
use super::raw::{self, describe, Level, RawChat};
use super::{Chat, Config, Platform};

/// Reads and validates a chats.yaml file; every problem at once on failure.
/// The posts' lengths and placeholders are not checked here (they need
/// `schedule`): `commands::check::load` does both.
pub fn load(path: &Path) -> Result<Config, Diagnostics> {
    load_checked(path).map(|(config, _)| config)
}

/// [`load`], also returning the warnings (things that are valid but
/// probably not what the moderator meant); `check` prints them.
pub fn load_checked(path: &Path) -> Result<(Config, Diagnostics), Diagnostics> {
    Draft::load(path)?.finish()
}

/// Validates chats.yaml text; `path` names the file in messages, and its
/// folder is where relative image paths are looked up.
pub fn parse(path: &Path, source: &str) -> Result<Config, Diagnostics> {
    parse_checked(path, source).map(|(config, _)| config)
}

/// [`parse`], also returning the warnings (see [`load_checked`]).
pub fn parse_checked(path: &Path, source: &str) -> Result<(Config, Diagnostics), Diagnostics> {
    Draft::parse(path, source).finish()
}

/// chats.yaml validated as far as this module can, before checks that
/// need other modules (what each post says needs `schedule`) add their
/// problems; [`Draft::finish`] then yields the [`Config`] or every problem.
pub struct Draft {
    pub path: PathBuf,
    pub source: String,
    pub at: SourceMap,
    /// Every chat whose keys all validated. Its sessions are still in the
    /// order written (so that `path.sessions[i]` locates session `i`);
    /// `finish` sorts them.
    pub chats: Vec<Placed>,
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

/// A chat of a [`Draft`] and its YAML path (`chats[2]`) in the source map.
pub struct Placed {
    pub chat: Chat,
    pub path: String,
}

impl Draft {
    /// Reads the file at `path`; a file that cannot be read is the only
    /// problem reported.
    pub fn load(path: &Path) -> Result<Draft, Diagnostics> {
        match std::fs::read_to_string(path) {
            Ok(source) => Ok(Draft::parse(path, &source)),
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

    /// Validates chats.yaml text; `path` names the file in messages, and
    /// its folder is where relative image paths are looked up.
    pub fn parse(path: &Path, source: &str) -> Draft {
        let at = SourceMap::build(source);
        let mut errors = Vec::new();
        let chats = match yaml::document(source, &at, &mut errors) {
            Some(value) => Validator {
                at: &at,
                errors: &mut errors,
                bad: HashSet::new(),
                base: path.parent().unwrap_or(Path::new("")),
            }
            .config(&value),
            None => Vec::new(),
        };
        Draft {
            path: path.to_path_buf(),
            source: source.to_string(),
            at,
            chats,
            errors,
            warnings: Vec::new(),
        }
    }

    /// The configuration and its warnings, or every error, sorted by place.
    pub fn finish(self) -> Result<(Config, Diagnostics), Diagnostics> {
        let (chats, warnings) = self.finish_chats()?;
        let config = Config {
            path: warnings.path.clone(),
            chats: chats.into_iter().map(std::sync::Arc::new).collect(),
        };
        Ok((config, warnings))
    }

    /// [`Draft::finish`]'s chats, before they are shared.
    pub(in crate::chats) fn finish_chats(self) -> Result<(Vec<Chat>, Diagnostics), Diagnostics> {
        let Draft {
            path,
            source,
            chats,
            mut errors,
            mut warnings,
            ..
        } = self;
        if !errors.is_empty() {
            errors.sort_by_key(|e| (e.line, e.column));
            return Err(Diagnostics {
                path,
                source,
                errors,
            });
        }
        warnings.sort_by_key(|e| (e.line, e.column));
        let chats = chats
            .into_iter()
            .map(|Placed { mut chat, .. }| {
                chat.timing.sessions.sort_by_key(|s| s.date);
                chat
            })
            .collect();
        let warnings = Diagnostics {
            path,
            source,
            errors: warnings,
        };
        Ok((chats, warnings))
    }
}

/// A platform name as chats.yaml accepts it, for the command line.
pub fn parse_platform(name: &str) -> Result<Platform, String> {
    values::platform(name).map_err(|p| match p.hint {
        Some(hint) => format!("{}; {hint}", p.message),
        None => p.message,
    })
}

const EXAMPLE_HINT: &str =
    "a chats.yaml needs at least `server:` and a `chats:` list; see the commented example in the hashchat repository";

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

impl<T> Setting<T> {
    /// The value when set, to compare another key with.
    fn set(&self) -> Option<&T> {
        match self {
            Setting::Set(v) => Some(v),
            _ => None,
        }
    }

    fn is_unset(&self) -> bool {
        matches!(self, Setting::Unset)
    }

    /// The value of a key without default: `None` unless set.
    fn required(self) -> Option<T> {
        match self {
            Setting::Set(v) => Some(v),
            _ => None,
        }
    }

    /// An optional key's value: `Some(None)` when unset, `None` when bad.
    fn optional(self) -> Option<Option<T>> {
        match self {
            Setting::Unset => Some(None),
            Setting::Bad => None,
            Setting::Set(v) => Some(Some(v)),
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

struct Validator<'a> {
    at: &'a SourceMap,
    errors: &'a mut Vec<Diagnostic>,
    /// The YAML paths of values reported as wrong, so that a chat that
    /// inherits a bad top-level value does not report it again.
    bad: HashSet<String>,
    /// The folder of chats.yaml: relative paths in it start here.
    base: &'a Path,
}

impl Validator<'_> {
    fn config(&mut self, value: &Value) -> Vec<Placed> {
        let Some(map) = value.as_mapping() else {
            let message = format!(
                "the top level should be a mapping of keys such as `server:` and `chats:`, not {}",
                describe(value)
            );
            self.errors
                .push(Diagnostic::new(self.at.value(""), message).hint(EXAMPLE_HINT));
            return Vec::new();
        };
        let (mut top, broken) = raw::keep(map, "", Level::Top, self.at, self.errors);
        let chats = top.remove("chats");
        let defaults: RawChat = raw::read(top.clone(), "", self.at, self.errors);
        // The top level is validated once, as a chat in which nothing is
        // required; what it gets wrong is not inherited (nor reported again).
        let _ = self.chat("", &defaults, &broken);
        let top = Inherited {
            good: top,
            bad: (raw::SHARED.iter().map(|(k, _)| k.to_string()))
                .filter(|k| broken.contains(k) || self.bad.contains(k))
                .collect(),
        };
        let items = match chats.as_ref().and_then(Value::as_sequence) {
            Some(items) => items,
            None => {
                if !broken.contains("chats") {
                    let e = Diagnostic::new(
                        Span::default(),
                        "there is no `chats:` list, so nothing to run",
                    )
                    .hint("add `chats:` with at least one chat: `- id: …`");
                    self.errors.push(e);
                }
                return Vec::new();
            }
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
                continue; // reported by `keep`
            };
            let path = format!("chats[{i}]");
            let (mut kept, mut broken) = raw::keep(map, &path, Level::Chat, self.at, self.errors);
            top.inherit(map, &mut kept, &mut broken);
            let chat: RawChat = raw::read(kept, &path, self.at, self.errors);
            self.unique_id(&path, chat.id.as_deref(), &mut ids);
            if let Some(chat) = self.chat(&path, &chat, &broken) {
                chats.push(Placed { chat, path });
            }
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
        self.bad.insert(path.to_string());
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

    /// A required key is missing: say so at the chat. Nothing is required
    /// at the top level (path ""), which only holds defaults.
    fn missing(&mut self, chat: &str, message: String, hint: &str) {
        if chat.is_empty() {
            return;
        }
        let span = self.at.key(&join(chat, "id"));
        self.errors.push(Diagnostic::new(span, message).hint(hint));
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

/// The top level's shared keys as chats inherit them: a chat that sets a
/// key (or, for the token, either of its keys) keeps its own.
struct Inherited {
    /// The top level's keys that held the right type (`chats` removed).
    good: Mapping,
    /// Shared keys the top level got wrong, already reported.
    bad: HashSet<String>,
}

impl Inherited {
    fn inherit(&self, own: &Mapping, kept: &mut Mapping, broken: &mut HashSet<String>) {
        let token = ["token_env", "token_file"];
        let sets_token = token.iter().any(|k| own.contains_key(*k));
        for (key, _) in raw::SHARED {
            if own.contains_key(*key) || (sets_token && token.contains(key)) {
                continue;
            }
            if self.bad.contains(*key) {
                broken.insert(key.to_string());
            } else if let Some(value) = self.good.get(*key) {
                kept.insert(Value::String(key.to_string()), value.clone());
            }
        }
    }
}
