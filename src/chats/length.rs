//! Post lengths as Mastodon counts them, and the check that every post of
//! a chat fits its instance's limit.

use std::collections::HashSet;

use super::Validator;
use crate::chats::diagnostics::Diagnostic;
use crate::chats::raw::join;
use crate::chats::Chat;
use crate::schedule::{self, RunContent};

/// One post to measure: where to point, what to call it, its text.
struct Measured {
    at: String,
    what: String,
    text: String,
    /// How to shorten it, when not by editing the text at `at`.
    fix: Option<&'static str>,
}

impl Validator<'_> {
    /// Every post must fit the instance's limit: for runs without a
    /// session and for each session, the intro, questions, closing and
    /// reminders, with the content warning (Mastodon counts it too).
    /// Reported once per place in the file.
    pub(super) fn lengths(&mut self, path: &str, chat: &Chat) -> bool {
        let max = chat.max_characters;
        let warning = chat.content_warning.as_deref().map_or(0, post_length);
        let mut seen = HashSet::new();
        let mut ok = true;
        for post in self.posts(path, chat) {
            let length = post_length(&post.text) + warning;
            if length <= max || !seen.insert(post.at.clone()) {
                continue;
            }
            ok = false;
            let over = length - max;
            let fix = match post.what.strip_prefix("the default ") {
                _ if post.fix.is_some() => post.fix.unwrap_or_default().to_string(),
                Some(key) => {
                    format!("write a shorter `{key}:` (at most {max} characters with the hashtag)")
                }
                None if warning > 0 => format!(
                    "shorten it by {over} characters (the hashtag, `Qn: ` and the {warning} characters of `content_warning` count)"
                ),
                None => format!("shorten it by {over} characters (the hashtag and `Qn: ` count)"),
            };
            let e = Diagnostic::new(
                self.at.value(&post.at),
                format!(
                    "{} is {length} characters once posted, over the limit of {max}",
                    post.what
                ),
            )
            .hint(format!(
                "{fix}, or raise `max_characters` if your instance allows longer posts"
            ));
            self.errors.push(e);
        }
        ok
    }

    /// Every distinct post the chat can make, located in the file.
    fn posts(&self, path: &str, chat: &Chat) -> Vec<Measured> {
        let tag = &chat.hashtag;
        let what = |key: &str| match self.at.has(&join(path, key)) {
            true => format!("the {key}"),
            false => format!("the default {key}"),
        };
        let mut runs: Vec<(Option<usize>, RunContent<'_>)> = Vec::new();
        if !chat.require_session {
            runs.push((None, schedule::content_of(chat, None)));
        }
        for (i, s) in chat.sessions.iter().enumerate() {
            runs.push((Some(i), schedule::content_of(chat, Some(s))));
        }
        let mut posts = Vec::new();
        for (session, run) in runs {
            let own = session.map(|i| Self::session_path(path, i));
            let on = run.session.map_or(String::new(), |s| {
                format!(" (in the session on {})", s.date)
            });
            // A text the session writes itself is located there.
            let place = |key: &str, overridden: bool| match (&own, overridden) {
                (Some(own), true) => (join(own, key), format!("the {key} of the session")),
                _ => (join(path, key), format!("{}{on}", what(key))),
            };
            let overrides = run
                .session
                .map(|s| (s.intro.is_some(), s.closing.is_some()));
            let (at, name) = place("intro", overrides.is_some_and(|o| o.0));
            posts.push(Measured {
                at,
                what: name,
                text: run.intro_text(chat),
                fix: None,
            });
            let list = own.as_deref().unwrap_or(path);
            for (i, q) in run.questions.iter().enumerate() {
                posts.push(Measured {
                    at: format!("{list}.questions[{i}]"),
                    what: format!("question {}{on}", i + 1),
                    text: schedule::question_text(i + 1, q, tag),
                    fix: None,
                });
            }
            let (at, name) = place("closing", overrides.is_some_and(|o| o.1));
            posts.push(Measured {
                at,
                what: name,
                text: run.closing_text(chat),
                fix: None,
            });
            for (k, before) in chat.reminders.iter().enumerate() {
                let at = if chat.reminder_text.is_some() {
                    join(path, "reminder_text")
                } else {
                    format!("{path}.reminders[{k}]")
                };
                posts.push(Measured {
                    at,
                    what: format!("the reminder {} before{on}", schedule::human(*before)),
                    text: run.reminder_text(chat, *before),
                    fix: Some("shorten the session's `topic`, or write a shorter `reminder_text`"),
                });
            }
        }
        posts
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
