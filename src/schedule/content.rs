//! What a run posts, as opposed to when: the session of its date (if
//! any), the intro, questions and closing it uses, reminders' wording, and
//! the `{placeholders}` moderators may write in those texts.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::chats::{Chat, Hashtag, QuestionImage, Session};

/// Placeholders allowed in intros and closings.
pub const TEXT_PLACEHOLDERS: &[&str] = &["topic", "host"];
/// Placeholders allowed in `reminder_text`.
pub const REMINDER_PLACEHOLDERS: &[&str] = &["hashtag", "in", "topic", "host"];

/// The texts one run uses: its session's where it has them, else the chat's.
#[derive(Debug, Clone, Copy)]
pub struct RunContent<'a> {
    pub session: Option<&'a Session>,
    pub questions: &'a [String],
    /// Same length as `questions`.
    pub question_images: &'a [Option<QuestionImage>],
    /// Unfilled template (placeholders as written, no hashtag added).
    pub intro: &'a str,
    pub closing: &'a str,
}

/// The session of the run starting at `start`: the one dated on the
/// start's day in the chat's zone.
pub fn session_for(chat: &Chat, start: DateTime<Utc>) -> Option<&Session> {
    let day = start.with_timezone(&chat.timing().timezone()).date_naive();
    chat.timing().sessions().iter().find(|s| s.date == day)
}

/// What the run of `chat` starting at `start` posts.
pub fn content(chat: &Chat, start: DateTime<Utc>) -> RunContent<'_> {
    content_of(chat, session_for(chat, start))
}

/// What a run of `chat` with `session` (or none) posts.
pub fn content_of<'a>(chat: &'a Chat, session: Option<&'a Session>) -> RunContent<'a> {
    match session {
        Some(s) => RunContent {
            session,
            questions: &s.questions,
            question_images: &s.question_images,
            intro: s.intro.as_deref().unwrap_or(chat.content().intro()),
            closing: s.closing.as_deref().unwrap_or(chat.content().closing()),
        },
        None => RunContent {
            session: None,
            questions: chat.content().questions(),
            question_images: chat.content().question_images(),
            intro: chat.content().intro(),
            closing: chat.content().closing(),
        },
    }
}

impl RunContent<'_> {
    pub fn topic(&self) -> Option<&str> {
        self.session.and_then(|s| s.topic.as_deref())
    }

    pub fn host(&self) -> Option<&str> {
        self.session.and_then(|s| s.host.as_deref())
    }

    /// The intro as posted: placeholders filled, hashtag added.
    pub fn intro_text(&self, chat: &Chat) -> String {
        with_hashtag(&self.fill(self.intro, chat, None), chat.content().hashtag())
    }

    pub fn closing_text(&self, chat: &Chat) -> String {
        with_hashtag(
            &self.fill(self.closing, chat, None),
            chat.content().hashtag(),
        )
    }

    /// The reminder posted `before` the start.
    pub fn reminder_text(&self, chat: &Chat, before: Duration) -> String {
        let text = match &chat.content().reminder_text() {
            Some(template) => self.fill(template, chat, Some(before)),
            None => {
                let lead = format!("{} starts in {}", chat.content().hashtag(), human(before));
                match (self.topic(), self.host()) {
                    (Some(t), Some(h)) => format!("{lead}: {t}, hosted by {h}"),
                    (Some(t), None) => format!("{lead}: {t}"),
                    (None, Some(h)) => format!("{lead}, hosted by {h}"),
                    (None, None) => format!("{lead}. Join us!"),
                }
            }
        };
        with_hashtag(&text, chat.content().hashtag())
    }

    /// `text` with every known placeholder replaced; a value the run lacks
    /// becomes empty (validation refuses such files, see `chats`).
    fn fill(&self, text: &str, chat: &Chat, before: Option<Duration>) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = 0;
        for (start, name) in placeholders(text) {
            let value = match name {
                "topic" => self.topic().map(str::to_string),
                "host" => self.host().map(str::to_string),
                "hashtag" if before.is_some() => Some(chat.content().hashtag().to_string()),
                "in" => before.map(human),
                _ => continue,
            };
            out.push_str(&text[rest..start]);
            out.push_str(&value.unwrap_or_default());
            rest = start + name.len() + 2;
        }
        out.push_str(&text[rest..]);
        out
    }
}

/// The `{name}` placeholders of `text`: byte offset of the `{` and name.
/// A name is lowercase ASCII letters and `_`; other braces are text.
pub fn placeholders(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices('{') {
        let after = &text[i + 1..];
        let len = after
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(after.len());
        if len > 0 && after[len..].starts_with('}') {
            out.push((i, &after[..len]));
        }
    }
    out
}

/// `24 hours`, `15 minutes`, `1 hour 30 minutes`, `2 days`: how people
/// say how long until a chat starts.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    let unit = |n: u64, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
    if s >= 48 * 3600 && s.is_multiple_of(86_400) {
        return unit(s / 86_400, "day");
    }
    let parts = [
        (s / 3600, "hour"),
        (s / 60 % 60, "minute"),
        (s % 60, "second"),
    ];
    let shown: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, name)| unit(*n, name))
        .collect();
    if shown.is_empty() {
        "a moment".into()
    } else {
        shown.join(" ")
    }
}

/// `Q<n>: <text> #<hashtag>`, the tag added only when the text lacks it.
pub fn question_text(number: usize, text: &str, tag: &Hashtag) -> String {
    with_hashtag(&format!("Q{number}: {}", text.trim()), tag)
}

/// `text` with ` #<hashtag>` appended unless it already carries the tag
/// (by the rule of [`Hashtag::found_in`]: `#1QEdChatter` is another tag).
pub fn with_hashtag(text: &str, tag: &Hashtag) -> String {
    let text = text.trim();
    if tag.found_in(text) {
        text.to_string()
    } else {
        format!("{text} {tag}")
    }
}
