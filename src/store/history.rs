//! Reads across a chat's runs, for recaps and `hashchat stats`: who took
//! part before, and who took part in each run. Read-only; a participant is
//! someone with a post that was not deleted, as in the recaps themselves.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

/// One run of a chat as `hashchat stats` counts it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunActivity {
    pub run_id: i64,
    pub planned_start: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    /// Each participant's handle with the number of their posts that
    /// answer at least one question.
    pub accounts: HashMap<String, u32>,
}
