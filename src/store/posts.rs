//! Posts planned for a run and what became of each.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use crate::schedule::PostKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostState {
    Planned,
    /// A send was started; whether it reached the server is unknown until
    /// reconciled (idempotent resend or the bot's own statuses).
    Sending,
    Sent,
    /// Gave up after retries; reported, never silently dropped.
    Failed,
    /// Too late to post (past `late_limit` or after the run ended).
    Skipped,
}

impl PostState {
    pub fn as_str(self) -> &'static str {
        match self {
            PostState::Planned => "planned",
            PostState::Sending => "sending",
            PostState::Sent => "sent",
            PostState::Failed => "failed",
            PostState::Skipped => "skipped",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "sending" => PostState::Sending,
            "sent" => PostState::Sent,
            "failed" => PostState::Failed,
            "skipped" => PostState::Skipped,
            _ => PostState::Planned,
        }
    }
}

pub(crate) fn kind_str(kind: PostKind) -> &'static str {
    match kind {
        PostKind::Intro => "intro",
        PostKind::Question => "question",
        PostKind::Closing => "closing",
        PostKind::Reminder => "reminder",
    }
}

pub(crate) fn parse_kind(s: &str) -> PostKind {
    match s {
        "intro" => PostKind::Intro,
        "closing" => PostKind::Closing,
        "reminder" => PostKind::Reminder,
        _ => PostKind::Question,
    }
}

#[derive(Debug, FromRow)]
pub(crate) struct RawPost {
    run_id: i64,
    seq: i64,
    kind: String,
    number: Option<i64>,
    body: String,
    text: String,
    planned_at: DateTime<Utc>,
    idempotency_key: String,
    state: String,
    attempts: i64,
    status_id: Option<String>,
    url: Option<String>,
    posted_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PostRow {
    pub run_id: i64,
    pub seq: u32,
    pub kind: PostKind,
    pub number: Option<u32>,
    pub body: String,
    pub text: String,
    pub planned_at: DateTime<Utc>,
    pub idempotency_key: String,
    pub state: PostState,
    pub attempts: u32,
    pub status_id: Option<String>,
    pub url: Option<String>,
    pub posted_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

impl From<RawPost> for PostRow {
    fn from(r: RawPost) -> Self {
        Self {
            run_id: r.run_id,
            seq: u32::try_from(r.seq).unwrap_or_default(),
            kind: parse_kind(&r.kind),
            number: r.number.and_then(|n| u32::try_from(n).ok()),
            body: r.body,
            text: r.text,
            planned_at: r.planned_at,
            idempotency_key: r.idempotency_key,
            state: PostState::parse(&r.state),
            attempts: u32::try_from(r.attempts).unwrap_or_default(),
            status_id: r.status_id,
            url: r.url,
            posted_at: r.posted_at,
            last_error: r.last_error,
        }
    }
}
