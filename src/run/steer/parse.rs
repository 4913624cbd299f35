//! Reading a mention: the [`Steer`] it asks for (the first word after the
//! leading @mentions and #hashtags), whether its sender moderates a chat,
//! and which chat it is for. Pure: nothing here touches the store or the
//! network.

use std::time::Duration;

use crate::chats::{Chat, Config};
use crate::network::html_to_text;

/// What a mention asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Steer {
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

impl Steer {
    pub fn name(&self) -> String {
        match self {
            Steer::Status => "status".into(),
            Steer::Pause => "pause".into(),
            Steer::Resume => "resume".into(),
            Steer::Next => "next".into(),
            Steer::Skip => "skip".into(),
            Steer::Extend(by) => format!("extend {}", humantime::format_duration(*by)),
            Steer::Stop => "stop".into(),
            Steer::Cancel => "cancel".into(),
            Steer::OptOut => "optout".into(),
            Steer::OptIn => "optin".into(),
            Steer::Unknown(word) => format!("unknown: {word}"),
        }
    }

    pub fn is_consent(&self) -> bool {
        matches!(self, Steer::OptOut | Steer::OptIn)
    }
}

pub const HELP: &str = "I understand: status, pause, resume, next (post the next question now), \
skip (drop the next question), extend 10m, stop (post the closing now), cancel (call off the \
next run before it starts). Name the chat's hashtag when you moderate several chats.";

/// The command in a post's text (HTML already stripped): the first word
/// after the leading @mentions and #hashtags. `None` when there is none.
pub fn parse(text: &str) -> Option<Steer> {
    let mut words = text
        .split_whitespace()
        .skip_while(|w| w.starts_with('@') || w.starts_with('#'));
    let word = words.next()?;
    let word = word.trim_end_matches(['.', '!', ':', ',']).to_lowercase();
    let command = match word.as_str() {
        "status" => Steer::Status,
        "pause" => Steer::Pause,
        "resume" => Steer::Resume,
        "next" => Steer::Next,
        "skip" => Steer::Skip,
        "stop" => Steer::Stop,
        "cancel" => Steer::Cancel,
        "optout" | "opt-out" => Steer::OptOut,
        "optin" | "opt-in" => Steer::OptIn,
        "extend" => {
            let amount: String = words
                .take_while(|w| !w.starts_with('#'))
                .collect::<Vec<_>>()
                .join(" ");
            match humantime::parse_duration(amount.trim()) {
                Ok(by) if !by.is_zero() && by <= Duration::from_secs(6 * 3600) => Steer::Extend(by),
                _ => Steer::Unknown(format!("extend {amount}")),
            }
        }
        other => Steer::Unknown(other.to_string()),
    };
    Some(command)
}

/// Which chat a moderator's command is for: the one whose hashtag or id
/// the post names, else the only chat (of `config`) this sender moderates.
pub fn chat_for<'a>(config: &'a Config, sender: &str, text: &str) -> Option<&'a Chat> {
    let moderated: Vec<&Chat> = config
        .chats
        .iter()
        .map(AsRef::as_ref)
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
            .is_some_and(|tag| chat.content().hashtag().matches(tag))
            || w.eq_ignore_ascii_case(chat.id())
    })
}

/// Whether `sender` (`user@domain`, as the server reports the account) is
/// one of the chat's moderators (`@user@domain`), compared case-insensitively.
pub fn is_moderator(chat: &Chat, sender: &str) -> bool {
    chat.policy()
        .moderators()
        .iter()
        .any(|m| m.trim_start_matches('@').eq_ignore_ascii_case(sender))
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
        let cases: &[(&str, Option<Steer>)] = &[
            ("@chatbot pause", Some(Steer::Pause)),
            (
                "@chatbot@fake.example #1QEdChat Resume.",
                Some(Steer::Resume),
            ),
            ("@chatbot next!", Some(Steer::Next)),
            (
                "@chatbot extend 10m",
                Some(Steer::Extend(Duration::from_secs(600))),
            ),
            (
                "@chatbot extend 1h 30m #1QEdChat",
                Some(Steer::Extend(Duration::from_secs(5400))),
            ),
            (
                "@chatbot extend soon",
                Some(Steer::Unknown("extend soon".into())),
            ),
            (
                "@chatbot extend 0s",
                Some(Steer::Unknown("extend 0s".into())),
            ),
            ("@chatbot opt-out", Some(Steer::OptOut)),
            (
                "@chatbot #1QEdChat A1: my answer",
                Some(Steer::Unknown("a1".into())),
            ),
            ("@chatbot", None),
            ("", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text), *expected, "{text:?}");
        }
    }
}
