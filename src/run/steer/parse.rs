//! Steering a chat live: moderators mention or message the bot (`pause`,
//! `resume`, `next`, `skip`, `extend 10m`, `stop`, `cancel`, `status`),
//! participants ask to be left out of recaps (`optout`, `optin`).
//!
//! A sender is authenticated by the account the server reports (its full
//! `user@domain`), never by display name, so a same-named account on
//! another instance is refused. Every command is recorded with who, when
//! and its effect; the record is unique per status, so a command seen
//! twice (stream, then reconciliation; or by two chats) acts once. The
//! effect lives in the store (paused run, shifted post times), so it
//! survives a restart; the driver is woken through [`Controls`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::chats::{Chat, Config};
use crate::network::html_to_text;

/// What a mention asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Status,
    Pause,
    Resume,
    Next,
    Skip,
    Extend(Duration),
    Stop,
    Cancel,
    OptOut,
    OptIn,
    /// A word after the mentions that is no command (help goes back only
    /// in direct messages, so answers that mention the bot stay quiet).
    Unknown(String),
}

impl Command {
    pub fn name(&self) -> String {
        match self {
            Command::Status => "status".into(),
            Command::Pause => "pause".into(),
            Command::Resume => "resume".into(),
            Command::Next => "next".into(),
            Command::Skip => "skip".into(),
            Command::Extend(by) => format!("extend {}", humantime::format_duration(*by)),
            Command::Stop => "stop".into(),
            Command::Cancel => "cancel".into(),
            Command::OptOut => "optout".into(),
            Command::OptIn => "optin".into(),
            Command::Unknown(word) => format!("unknown: {word}"),
        }
    }

    pub fn is_consent(&self) -> bool {
        matches!(self, Command::OptOut | Command::OptIn)
    }
}

pub const HELP: &str = "I understand: status, pause, resume, next (post the next question now), \
skip (drop the next question), extend 10m, stop (post the closing now), cancel (call off the \
next run before it starts). Name the chat's hashtag when you moderate several chats.";

/// The command in a post's text (HTML already stripped): the first word
/// after the leading @mentions and #hashtags. `None` when there is none.
pub fn parse(text: &str) -> Option<Command> {
    let mut words = text
        .split_whitespace()
        .skip_while(|w| w.starts_with('@') || w.starts_with('#'));
    let word = words.next()?;
    let word = word.trim_end_matches(['.', '!', ':', ',']).to_lowercase();
    let command = match word.as_str() {
        "status" => Command::Status,
        "pause" => Command::Pause,
        "resume" => Command::Resume,
        "next" => Command::Next,
        "skip" => Command::Skip,
        "stop" => Command::Stop,
        "cancel" => Command::Cancel,
        "optout" | "opt-out" => Command::OptOut,
        "optin" | "opt-in" => Command::OptIn,
        "extend" => {
            let amount: String = words
                .take_while(|w| !w.starts_with('#'))
                .collect::<Vec<_>>()
                .join(" ");
            match humantime::parse_duration(amount.trim()) {
                Ok(by) if !by.is_zero() && by <= Duration::from_secs(6 * 3600) => {
                    Command::Extend(by)
                }
                _ => Command::Unknown(format!("extend {amount}")),
            }
        }
        other => Command::Unknown(other.to_string()),
    };
    Some(command)
}

/// Which chat a moderator's command is for: the one whose hashtag or id
/// the post names, else the only chat (of `config`) this sender moderates.
pub fn chat_for<'a>(config: &'a Config, sender: &str, text: &str) -> Option<&'a Chat> {
    let moderated: Vec<&Chat> = config
        .chats
        .iter()
        .filter(|c| is_moderator(c, sender))
        .collect();
    let named: Vec<&Chat> = moderated
        .iter()
        .copied()
        .filter(|c| names_chat(c, text))
        .collect();
    match (named.as_slice(), moderated.as_slice()) {
        ([one], _) => Some(one),
        ([], [only]) => Some(only),
        _ => None,
    }
}

fn names_chat(chat: &Chat, text: &str) -> bool {
    text.split_whitespace().any(|w| {
        let w = w.trim_end_matches(['.', '!', ':', ',', '?']);
        w.strip_prefix('#')
            .is_some_and(|tag| chat.hashtag.matches(tag))
            || w.eq_ignore_ascii_case(&chat.id)
    })
}

/// Whether `sender` (`user@domain`, as the server reports the account) is
/// one of the chat's moderators (`@user@domain`), compared case-insensitively.
pub fn is_moderator(chat: &Chat, sender: &str) -> bool {
    chat.moderators
        .iter()
        .any(|m| m.trim_start_matches('@').eq_ignore_ascii_case(sender))
}

/// Wakes drivers when a command changed a run (a new version per change).
#[derive(Debug, Clone)]
pub struct Controls(watch::Sender<u64>);

impl Default for Controls {
    fn default() -> Self {
        Self(watch::Sender::new(0))
    }
}

impl Controls {
    pub fn changed(&self) {
        self.0.send_modify(|v| *v += 1);
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}

/// A short local time for replies: "20:41 GMT".
pub fn local_time(chat: &Chat, at: DateTime<Utc>) -> String {
    at.with_timezone(&chat.timezone)
        .format("%H:%M %Z")
        .to_string()
}

/// The plain text of a mention, for parsing.
pub fn text_of(content: &str) -> String {
    html_to_text(content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_read_after_the_leading_mentions_and_hashtags() {
        let cases: &[(&str, Option<Command>)] = &[
            ("@chatbot pause", Some(Command::Pause)),
            (
                "@chatbot@fake.example #1QEdChat Resume.",
                Some(Command::Resume),
            ),
            ("@chatbot next!", Some(Command::Next)),
            (
                "@chatbot extend 10m",
                Some(Command::Extend(Duration::from_secs(600))),
            ),
            (
                "@chatbot extend 1h 30m #1QEdChat",
                Some(Command::Extend(Duration::from_secs(5400))),
            ),
            (
                "@chatbot extend soon",
                Some(Command::Unknown("extend soon".into())),
            ),
            (
                "@chatbot extend 0s",
                Some(Command::Unknown("extend 0s".into())),
            ),
            ("@chatbot opt-out", Some(Command::OptOut)),
            (
                "@chatbot #1QEdChat A1: my answer",
                Some(Command::Unknown("a1".into())),
            ),
            ("@chatbot", None),
            ("", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text), *expected, "{text:?}");
        }
    }
}
