//! Steering recorded: moderators' steers (table `commands`) and what they
//! change in a run: pause, shifted post times, cancelled runs; plus the
//! mention cursor and participants' opt-outs.

use chrono::{DateTime, Utc};

/// One steer as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SteerRecord<'a> {
    pub scope: &'a str,
    pub run_id: Option<i64>,
    pub status_id: &'a str,
    pub account: &'a str,
    pub command: &'a str,
    pub received_at: DateTime<Utc>,
    pub effect: &'a str,
}
