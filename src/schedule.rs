//! When things happen: a chat's run starts (cron in the chat's zone, or a
//! one-off start) and the timeline of posts inside one run. Pure functions.
// STUB: owned by the config/schedule helper; signatures are the contract.

use chrono::{DateTime, Utc};

use crate::chats::Chat;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PostKind {
    Intro,
    Question,
    Closing,
}

/// One post of a run's timeline. `seq`: 0 intro, 1..=n questions, n+1 closing.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedPost {
    pub seq: u32,
    pub kind: PostKind,
    /// The question number (1-based) for questions.
    pub number: Option<u32>,
    pub at: DateTime<Utc>,
    /// Exactly what will be posted (hashtag included).
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    pub start: DateTime<Utc>,
    pub posts: Vec<PlannedPost>,
    /// The run stops collecting answers at this time.
    pub collect_until: DateTime<Utc>,
}

/// The timeline of a run of `chat` starting at `start`.
pub fn timeline(chat: &Chat, start: DateTime<Utc>) -> Timeline {
    let _ = (chat, start);
    unimplemented!("stub")
}

/// The next `n` run starts strictly after `after` (a one-off chat has at most one).
pub fn next_starts(chat: &Chat, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
    let _ = (chat, after, n);
    unimplemented!("stub")
}

/// Translates classic 5-field cron (`0 20 * * 4`, Sunday = 0 or 7) into a
/// schedule for the `cron` crate (seconds first, Sunday = 1).
pub fn classic_cron(expr: &str) -> Result<cron::Schedule, String> {
    let _ = expr;
    unimplemented!("stub")
}
