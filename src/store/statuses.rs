//! Participants' statuses seen during a run and the questions they answer.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

/// A participant's status as stored (text already stripped of HTML).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredStatus {
    /// The server's id for it now: snac2 gives an edited status a new one.
    /// From a watched instance, [`watched_key`] of its id there.
    pub status_id: String,
    /// The watched instance it was read from (`None`: the bot's server).
    pub instance: Option<String>,
    /// Its identity: the ActivityPub id, or the status id when a server
    /// gives none. One row per (run, uri).
    pub uri: String,
    pub account_id: String,
    pub account: String,
    pub display_name: String,
    pub url: String,
    pub html: String,
    pub text: String,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub in_reply_to_id: Option<String>,
    pub visibility: String,
}

/// The key of a watched instance's status: its local id collides with the
/// bot's server's ids ("5" there is not "5" here), so it is stored as
/// `instance/id`; no server's own id holds a `/`.
pub fn watched_key(instance: &str, id: &str) -> String {
    format!("{instance}/{id}")
}

/// A status to store and the questions it answers: what the store takes.
pub type Answered = (StoredStatus, Vec<u32>);

/// A stored status with the questions it answers.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct StatusRow {
    pub status_id: String,
    /// The watched instance its id belongs to (`None`: the bot's server).
    pub instance: Option<String>,
    pub account_id: String,
    pub account: String,
    pub display_name: String,
    pub url: String,
    pub text: String,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub in_reply_to_id: Option<String>,
    pub deleted_at: Option<DateTime<Utc>>,
    /// Favourites and boosts as read at the end of collection; `None`
    /// when not read then.
    pub favourites: Option<i64>,
    pub boosts: Option<i64>,
    #[sqlx(skip)]
    pub answers: Vec<u32>,
}

/// What recording a status did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    New,
    Edited,
    /// Already stored with this (or a newer) version, or deleted.
    Unchanged,
}
