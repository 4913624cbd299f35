//! Validation: raw structs to domain types, every problem reported at once
//! and located in the source. Holding the resulting [`Config`] means every
//! chat can run. Chat-level keys override the top level's defaults; a bad
//! top-level value is reported once, not again for each chat inheriting it.

mod around;
mod chat;
mod questions;
mod sessions;
#[cfg(test)]
mod tests;
mod values;
mod yaml;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;
use url::Url;
use yaml_serde::Value;

use super::diagnostics::{Diagnostic, Diagnostics, Span};
use super::locate::SourceMap;
use super::raw::{self, describe, join, Level, RawChat, RawConfig, Shaped};
use super::{Chat, Config, Platform, TokenSource};

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
                chat.sessions.sort_by_key(|s| s.date);
                chat
            })
            .collect();
        let config = Config {
            path: path.clone(),
            chats,
        };
        let warnings = Diagnostics {
            path,
            source,
            errors: warnings,
        };
        Ok((config, warnings))
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
            if let Some(chat) = self.chat(&path, &chat, &shared) {
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
