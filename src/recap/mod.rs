//! Recaps: the data of one run (`Recap`, whose JSON form is a public
//! contract) and its renderings. `build` reads it from the store; the
//! renderers (`markdown`, `html`, `csv`, JSON via serde) are pure functions
//! of a `Recap` and never touch the database or the network.

mod build;
pub(crate) mod charts;
mod csv;
pub(crate) mod html;
mod markdown;
mod render;
mod sanitize;
mod summary;
mod text;

pub use build::{build, mark_top_answers, write_files, HIDDEN};
pub use render::Format;
pub use summary::summary_posts;
pub(crate) use text::escape_html;
pub use text::stats;

use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recap {
    pub chat: String,
    pub hashtag: String,
    /// The chat's IANA zone, for showing local times (not in the contract
    /// list but harmless to add).
    pub timezone: String,
    pub run: RunInfo,
    pub questions: Vec<QuestionRecap>,
    pub participants: Vec<Participant>,
    pub other_posts: Vec<OtherPost>,
    /// Counts over the run (an addition to the contract): see [`Stats`].
    pub stats: Stats,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunInfo {
    pub id: i64,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuestionRecap {
    pub number: u32,
    pub text: String,
    pub status_id: Option<String>,
    pub url: Option<String>,
    pub posted_at: Option<DateTime<Utc>>,
    pub answers: Vec<Answer>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    pub status_id: String,
    pub account: String,
    pub display_name: String,
    pub text: String,
    /// The post as the server sent it. Only the HTML recap shows it, and
    /// only sanitised; not part of the JSON contract (`text` is).
    #[serde(skip)]
    pub html: String,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub url: String,
    /// The author opted out (or is listed under `exclude:`): it counts in
    /// the totals, but who wrote it and what it says are left out.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub hidden: bool,
    /// Favourites and boosts read at the end of collection (0 when not
    /// read); additions to the contract.
    pub favourites: u64,
    pub boosts: u64,
    /// One of the run's top answers (see [`TOP_ANSWERS`]).
    pub top: bool,
}

/// How many answer posts a recap marks as top answers: those with the
/// most favourites plus boosts (at least one), ties at the last place
/// included; a hidden answer never.
pub const TOP_ANSWERS: usize = 3;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Participant {
    pub account: String,
    pub display_name: String,
    pub answers: u32,
    pub posts: u32,
    /// No post in an earlier run of this chat (an addition to the contract).
    pub first_time: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OtherPost {
    pub status_id: String,
    pub account: String,
    pub display_name: String,
    pub text: String,
    /// As on [`Answer`]: HTML recap only, never in the JSON.
    #[serde(skip)]
    pub html: String,
    pub created_at: DateTime<Utc>,
    /// An addition to the contract, as on answers.
    pub edited_at: Option<DateTime<Utc>>,
    pub url: String,
    /// As on [`Answer`].
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub hidden: bool,
}

/// Counts shown at the end of every recap, and the JSON's `stats` block.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    pub participants: usize,
    /// Posts answering at least one question (a post answering two counts once).
    pub answers: usize,
    pub other_posts: usize,
    /// Posts (answers or not) edited after they were first seen.
    pub edited: usize,
    /// Posts deleted by their authors: counted here, shown nowhere.
    pub deleted: usize,
    /// Participants with no post in an earlier run of this chat.
    pub first_timers: usize,
    pub returning: usize,
    pub per_question: Vec<QuestionCount>,
    /// The most answers first (at most [`text::TOP_CONTRIBUTORS`]); nobody without one.
    pub top_contributors: Vec<Contributor>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuestionCount {
    pub number: u32,
    pub answers: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contributor {
    pub account: String,
    pub display_name: String,
    pub answers: u32,
    pub posts: u32,
}
