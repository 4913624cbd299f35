//! Chat definitions: `chats.yaml` read in two stages, raw serde structs
//! (`raw`) then validated domain types (this module). Holding a [`Chat`]
//! means every field was checked; errors are compiler-style diagnostics
//! (`diagnostics`). This module does no I/O beyond reading the file,
//! checking that question images exist and reading `ca_file:`.

mod chat;
mod cron_dialect;
mod diagnostics;
mod length;
mod locate;
mod raw;
mod suggest;
mod validate;

pub use chat::{Account, Chat, Content, Policy, Timing};
pub use cron_dialect::{classic_cron, parse_classic, CronError, CRON_HINT};
pub use diagnostics::{Diagnostic, Diagnostics, Note, Span};
pub use length::post_length;
pub use locate::SourceMap;
pub use suggest::suggest;
pub use validate::{load, load_checked, parse, parse_checked, parse_platform, Draft, Placed};

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};

/// Every chat of one `chats.yaml`, validated. Chats are shared by `Arc`:
/// the daemon's tasks and listeners hold the same chat, never a copy.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub chats: Vec<Arc<Chat>>,
}

impl Config {
    pub fn chat(&self, id: &str) -> Option<&Chat> {
        self.shared(id).map(Arc::as_ref)
    }

    /// The chat named `id`, to hold beside the configuration.
    pub fn shared(&self, id: &str) -> Option<&Arc<Chat>> {
        self.chats.iter().find(|c| c.id() == id)
    }

    /// The message for `--chat ID` naming no chat, with the ids there are.
    pub fn unknown_chat_message(&self, id: &str) -> String {
        let known: Vec<&str> = self.chats.iter().map(|c| c.id.as_str()).collect();
        let list = known
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ");
        match suggest(id, known.iter().copied()) {
            Some(s) => format!(
                "no chat `{id}` in {}; did you mean `{s}`? (known: {list})",
                self.path.display()
            ),
            None => format!(
                "no chat `{id}` in {}; known chats: {list}",
                self.path.display()
            ),
        }
    }
}

/// A hashtag without its leading `#`, as the moderator spelled it.
/// Comparison with statuses is case-insensitive (see [`Hashtag::matches`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hashtag(String);

impl Hashtag {
    /// Accepts `1QEdChat` or `#1QEdChat`; letters, digits and `_` only,
    /// at least one non-digit (Mastodon's rule).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let tag = raw.trim().trim_start_matches('#');
        if tag.is_empty() {
            return Err("the hashtag is empty".into());
        }
        if let Some(bad) = tag.chars().find(|c| !(c.is_alphanumeric() || *c == '_')) {
            return Err(format!(
                "a hashtag holds only letters, digits and '_', not {bad:?}"
            ));
        }
        if tag.chars().all(|c| c.is_ascii_digit()) {
            return Err("a hashtag needs at least one letter".into());
        }
        Ok(Self(tag.to_string()))
    }

    /// The tag as written, without `#`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `name` (a status's tag, with or without `#`) is this tag.
    pub fn matches(&self, other: &str) -> bool {
        let lower = |s: &str| s.chars().flat_map(char::to_lowercase).collect::<Vec<_>>();
        lower(&self.0) == lower(other.trim_start_matches('#'))
    }

    /// Whether `text` carries this tag, found the way Mastodon's own
    /// parser finds tags (`Tag::HASHTAG_RE`), so that posting, judging and
    /// reconciliation agree with the server: a `#` (or `＃`) not preceded
    /// by a letter, digit, `=`, `/` or `)` (so not inside a word or a
    /// URL), then a name of letters, digits, `_` and Mastodon's separators
    /// (`·`, `・`, ZWNJ), ending with a letter, digit or `_`. The whole
    /// name must be this tag, in any case: `#1QEdChatter` is another tag.
    pub fn found_in(&self, text: &str) -> bool {
        tags_in(text).any(|name| self.matches(name))
    }
}

/// The tag names in `text`, without `#`, as Mastodon would link them.
fn tags_in(text: &str) -> impl Iterator<Item = &str> {
    let separator = |c: char| matches!(c, '·' | '・' | '\u{200C}');
    let in_name = move |c: char| c.is_alphanumeric() || c == '_' || separator(c);
    let mut previous: Option<char> = None;
    text.char_indices().filter_map(move |(i, c)| {
        let before = previous.replace(c);
        let bounded = !before.is_some_and(|b| b.is_alphanumeric() || matches!(b, '=' | '/' | ')'));
        if !(matches!(c, '#' | '＃') && bounded) {
            return None;
        }
        let rest = &text[i + c.len_utf8()..];
        let end = rest.find(|c: char| !in_name(c)).unwrap_or(rest.len());
        let name = rest[..end].trim_end_matches(separator);
        (!name.is_empty()).then_some(name)
    })
}

impl std::fmt::Display for Hashtag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// When a chat's runs start.
#[derive(Debug, Clone)]
pub enum When {
    /// A recurring chat; `expr` is what the moderator wrote (classic
    /// 5-field cron), `schedule` its translation for the `cron` crate.
    Recurring {
        expr: String,
        schedule: Box<cron::Schedule>,
    },
    /// A one-off chat.
    Once(DateTime<Utc>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    Public,
    Unlisted,
    /// Only for the bot's replies to moderators (never a chat's setting).
    Direct,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Unlisted => "unlisted",
            Visibility::Direct => "direct",
        }
    }
}

/// Fediverse server family, as megalodon names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Mastodon,
    Pleroma,
    Friendica,
    Firefish,
    Gotosocial,
}

/// Where the access token comes from. Never the token itself: it is read
/// at start-up by `network::Token::load` and kept out of every log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    Env(String),
    File(PathBuf),
}

/// One dated session of a recurring chat: on its date (in the chat's
/// zone) the run uses its questions, and its intro and closing if given.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub date: NaiveDate,
    pub topic: Option<String>,
    /// The guest host's handle, `@user@domain`.
    pub host: Option<String>,
    pub questions: Vec<String>,
    /// Same length as `questions`.
    pub question_images: Vec<Option<QuestionImage>>,
    pub intro: Option<String>,
    pub closing: Option<String>,
}

/// One entry of `skip_dates:`: a day, or the days of a range with both
/// ends included (`2026-12-21..2027-01-04`), in the chat's zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkipDates {
    pub first: NaiveDate,
    /// Equal to `first` for a single day.
    pub last: NaiveDate,
}

impl SkipDates {
    pub fn contains(&self, day: NaiveDate) -> bool {
        (self.first..=self.last).contains(&day)
    }
}

impl std::fmt::Display for SkipDates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}..{}", self.first, self.last)
        }
    }
}

/// An image posted with a question; the file existed when chats.yaml was
/// checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuestionImage {
    /// Resolved against the folder of chats.yaml.
    pub path: PathBuf,
    /// The description for people who cannot see it (required).
    pub alt: String,
}

/// The CA certificates of `ca_file:` (a PEM bundle), trusted beside the
/// system's roots by every connection of the account; read and checked
/// (at least one certificate) when chats.yaml was.
#[derive(Clone, PartialEq, Eq)]
pub struct CaFile {
    /// Resolved against the folder of chats.yaml.
    pub path: PathBuf,
    pub certificates: Vec<rustls::pki_types::CertificateDer<'static>>,
}

impl std::fmt::Debug for CaFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaFile")
            .field("path", &self.path)
            .field("certificates", &self.certificates.len())
            .finish()
    }
}

/// One entry of `ignore:`, lowercase, without a leading `@`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IgnoreRule {
    /// `@user@domain`: that account.
    Account(String),
    /// `domain.example`: every account on that domain.
    Domain(String),
    /// `*.domain.example`: that domain and all its subdomains.
    DomainAndSubdomains(String),
}

impl IgnoreRule {
    /// Whether any of `rules` covers `handle` (`user@domain`, a leading `@`
    /// allowed); case-insensitive.
    pub fn any_covers(rules: &[IgnoreRule], handle: &str) -> bool {
        let handle = handle.trim().trim_start_matches('@').to_lowercase();
        let domain = handle.split_once('@').map_or("", |(_, d)| d);
        rules.iter().any(|rule| match rule {
            IgnoreRule::Account(a) => *a == handle,
            IgnoreRule::Domain(d) => domain == d,
            IgnoreRule::DomainAndSubdomains(d) => {
                domain == d
                    || domain
                        .strip_suffix(d.as_str())
                        .is_some_and(|s| s.ends_with('.'))
            }
        })
    }
}

/// Defaults for keys chats.yaml leaves out (also documented in the example
/// chats.yaml). Timings suit a one-hour weekly chat.
pub mod defaults {
    use std::time::Duration;

    pub const TOKEN_ENV: &str = "HASHCHAT_TOKEN";
    pub const MAX_CHARACTERS: usize = 500;
    pub const RECAP_DIR: &str = "recaps";
    pub const FIRST_QUESTION_AFTER: Duration = Duration::from_secs(5 * 60);
    pub const QUESTION_INTERVAL: Duration = Duration::from_secs(10 * 60);
    pub const COLLECT_AFTER: Duration = Duration::from_secs(30 * 60);
    pub const INTRO: &str = "Welcome! Introduce yourself: who you are, where you are and what you do. Questions follow as Q1, Q2…; answer with A1, A2… and the hashtag.";
    pub const CLOSING: &str = "Thank you all for joining! A recap of every answer follows soon.";
}

/// A valid chat for unit tests elsewhere in the crate.
#[cfg(test)]
pub(crate) fn test_chat(when: When, timezone: chrono_tz::Tz) -> Chat {
    let entry = "id: 1qedchat\nhashtag: 1QEdChat\nstart: \"2026-12-03T20:00:00Z\"\nquestions:\n  - How do you build an online PLN?\n  - Which groups help you most?\n";
    let mut chat = Chat::from_yaml(entry).expect("the test chat is valid");
    chat.set_when(when, timezone);
    chat
}
