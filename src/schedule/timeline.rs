//! The posts of one run: what is posted, and when, relative to its start.

use chrono::{DateTime, Duration as TimeDelta, Utc};

use super::content::{content, question_text};
use super::{PlannedPost, PostKind, Timeline};
use crate::chats::Chat;

/// The timeline of a run of `chat` starting at `start`, with the
/// questions, intro and closing of the session of its date, if any.
///
/// Seqs are stable for a given chat and start (the store keys posts by
/// them): 0 intro, 1..=n questions, n+1 closing, then n+2.. reminders in
/// the order `reminders:` lists them. `posts` is ordered by time, then seq,
/// so reminders (before the start) come first.
pub fn timeline(chat: &Chat, start: DateTime<Utc>) -> Timeline {
    let run = content(chat, start);
    let tag = &chat.content().hashtag();
    let interval = delta(chat.timing().question_interval());
    let mut posts = vec![PlannedPost {
        seq: 0,
        kind: PostKind::Intro,
        number: None,
        at: start,
        text: run.intro_text(chat),
    }];
    let mut at = add(start, delta(chat.timing().first_question_after()));
    for (i, question) in run.questions.iter().enumerate() {
        let number = seq(i + 1);
        posts.push(PlannedPost {
            seq: number,
            kind: PostKind::Question,
            number: Some(number),
            at,
            text: question_text(i + 1, question, tag),
        });
        at = add(at, interval);
    }
    // After the loop `at` is one interval past the last question.
    let closing = run.questions.len() + 1;
    posts.push(PlannedPost {
        seq: seq(closing),
        kind: PostKind::Closing,
        number: None,
        at,
        text: run.closing_text(chat),
    });
    for (k, before) in chat.timing().reminders().iter().enumerate() {
        posts.push(PlannedPost {
            seq: seq(closing + 1 + k),
            kind: PostKind::Reminder,
            number: None,
            at: sub(start, delta(*before)),
            text: run.reminder_text(chat, *before),
        });
    }
    posts.sort_by_key(|p| (p.at, p.seq));
    Timeline {
        start,
        posts,
        collect_until: add(at, delta(chat.timing().collect_after())),
    }
}

fn seq(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn delta(d: std::time::Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

/// Saturating: validated chats never get near the end of time, but a
/// timeline must not panic whatever it is given.
fn add(t: DateTime<Utc>, d: TimeDelta) -> DateTime<Utc> {
    t.checked_add_signed(d).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn sub(t: DateTime<Utc>, d: TimeDelta) -> DateTime<Utc> {
    t.checked_sub_signed(d).unwrap_or(DateTime::<Utc>::MIN_UTC)
}
