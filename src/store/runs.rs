//! Runs: one row per run of a chat.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// Started (or about to): posting and/or collecting.
    Running,
    /// Collection ended and the final reconciliation was done.
    Done,
    /// The whole window passed while hashchat was not running.
    Missed,
}

impl RunState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Done => "done",
            RunState::Missed => "missed",
        }
    }

    pub(crate) fn parse(s: &str) -> Self {
        match s {
            "done" => RunState::Done,
            "missed" => RunState::Missed,
            _ => RunState::Running,
        }
    }
}

#[derive(Debug, Clone, FromRow)]
pub(crate) struct RawRun {
    id: i64,
    chat_id: String,
    planned_start: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    collect_until: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
    state: String,
    paused_at: Option<DateTime<Utc>>,
    cancelled_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub id: i64,
    pub chat_id: String,
    pub planned_start: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub collect_until: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub state: RunState,
    /// Set while a moderator has the run paused.
    pub paused_at: Option<DateTime<Utc>>,
    /// The moderator who called the run off before it started.
    pub cancelled_by: Option<String>,
}

impl From<RawRun> for RunRow {
    fn from(r: RawRun) -> Self {
        Self {
            id: r.id,
            chat_id: r.chat_id,
            planned_start: r.planned_start,
            started_at: r.started_at,
            collect_until: r.collect_until,
            ended_at: r.ended_at,
            state: RunState::parse(&r.state),
            paused_at: r.paused_at,
            cancelled_by: r.cancelled_by,
        }
    }
}

pub(crate) const COLUMNS: &str = "id, chat_id, planned_start, started_at, collect_until, ended_at, state, paused_at, cancelled_by";
