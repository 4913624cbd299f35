//! Recaps: the data of one run (`Recap`, whose JSON form is a public
//! contract) and its renderings. `build` reads it from the store; the
//! renderers (`markdown`, `html`, `csv`, JSON via serde) are pure functions
//! of a `Recap` and never touch the database or the network.

mod build;
pub(crate) mod charts;
mod csv;
pub(crate) mod html;
mod markdown;
mod sanitize;
mod summary;
mod text;

pub use build::{build, write_files, HIDDEN};
pub use summary::summary_posts;
pub(crate) use text::escape_html;
pub use text::{stats, Contributor, QuestionCount, Stats};

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
}

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

/// The formats `hashchat recap --format` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Md,
    Html,
    Json,
    Csv,
}

impl Format {
    pub const ALL: [Format; 4] = [Format::Md, Format::Html, Format::Json, Format::Csv];

    pub fn extension(self) -> &'static str {
        match self {
            Format::Md => "md",
            Format::Html => "html",
            Format::Json => "json",
            Format::Csv => "csv",
        }
    }
}

impl Recap {
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Md => markdown::render(self),
            Format::Html => html::render(self),
            Format::Json => {
                let mut out = serde_json::to_string_pretty(self)
                    .expect("a Recap is plain data and always serialises");
                out.push('\n');
                out
            }
            Format::Csv => csv::render(self),
        }
    }
}
