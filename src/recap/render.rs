//! A recap in the format asked for: each renderer is its own file
//! (`markdown`, `html`, `csv`); JSON is the `Recap`'s serde form.

use super::{csv, html, markdown, Recap};

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
