//! `hashchat stats`: a chat's runs side by side, one row per run (date in
//! the chat's zone, participants, answers, first-timers, returning), as
//! text, JSON or an HTML page with a chart of participation over time.
//! Reads the store; writes nothing.

use crate::store::DbLocation;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::process::ExitCode;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::common::{find_chat, open_existing, print_out};
use crate::chats::{Chat, Config};
use crate::recap::charts::{self, RunBar};
use crate::recap::html::STYLE;
use crate::store::Store;

/// The formats `hashchat stats --format` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatsFormat {
    Text,
    Json,
    Html,
}

/// One run of a chat. `new` and `returning` split `participants`: new
/// means no (undeleted) post in any earlier run of this chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunStats {
    pub run_id: i64,
    /// The day the run was planned for, in the chat's zone.
    pub date: NaiveDate,
    pub started_at: Option<DateTime<Utc>>,
    pub participants: usize,
    /// Posts answering at least one question.
    pub answers: u32,
    pub new: usize,
    pub returning: usize,
}

/// Every run of `chat` that took place, oldest first.
pub async fn history(store: &Store, chat: &Chat) -> anyhow::Result<Vec<RunStats>> {
    let runs = store.run_activity(chat.id()).await?;
    let mut seen: HashSet<String> = HashSet::new();
    let mut rows = Vec::with_capacity(runs.len());
    for run in runs {
        let new = run.accounts.keys().filter(|a| !seen.contains(*a)).count();
        rows.push(RunStats {
            run_id: run.run_id,
            date: run
                .planned_start
                .with_timezone(&chat.timing().timezone())
                .date_naive(),
            started_at: run.started_at,
            participants: run.accounts.len(),
            answers: run.accounts.values().sum(),
            new,
            returning: run.accounts.len() - new,
        });
        seen.extend(run.accounts.into_keys());
    }
    Ok(rows)
}

pub fn render(chat: &Chat, runs: &[RunStats], format: StatsFormat) -> String {
    match format {
        StatsFormat::Text => text(chat, runs),
        StatsFormat::Json => {
            let mut out = serde_json::to_string_pretty(runs)
                .expect("run stats are plain data and always serialise");
            out.push('\n');
            out
        }
        StatsFormat::Html => html(chat, runs),
    }
}

const COLUMNS: [&str; 6] = ["date", "run", "participants", "answers", "new", "returning"];

fn cells(run: &RunStats) -> [String; 6] {
    [
        run.date.to_string(),
        run.run_id.to_string(),
        run.participants.to_string(),
        run.answers.to_string(),
        run.new.to_string(),
        run.returning.to_string(),
    ]
}

fn text(chat: &Chat, runs: &[RunStats]) -> String {
    let mut out = format!(
        "#{} ({}): {} {}\n",
        chat.content().hashtag().as_str(),
        chat.id(),
        runs.len(),
        if runs.len() == 1 { "run" } else { "runs" }
    );
    if runs.is_empty() {
        return out;
    }
    let rows: Vec<[String; 6]> = runs.iter().map(cells).collect();
    let widths: Vec<usize> = (0..COLUMNS.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].len())
                .chain([COLUMNS[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let header = COLUMNS.map(String::from);
    for row in std::iter::once(&header).chain(&rows) {
        // The date left-aligned, the numbers right-aligned.
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, w))| {
                if i == 0 {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        let _ = writeln!(out, "{}", line.join("  "));
    }
    out
}

fn html(chat: &Chat, runs: &[RunStats]) -> String {
    let esc = crate::recap::escape_html;
    let title = format!("#{} participation", chat.content().hashtag().as_str());
    let mut out = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'\">\n\
         <meta name=\"color-scheme\" content=\"light dark\">\n<meta name=\"generator\" content=\"hashchat\">\n\
         <title>{0}</title>\n<style>\n{STYLE}.runs text{{font-size:9px}}\n</style>\n</head>\n<body>\n\
         <header>\n<h1>{0}</h1>\n<p class=\"when\">{1} {2} ({3})</p>\n</header>\n<main>\n",
        esc(&title),
        runs.len(),
        if runs.len() == 1 { "run" } else { "runs" },
        esc(chat.timing().timezone().name()),
    );
    let bars: Vec<RunBar> = runs
        .iter()
        .map(|r| RunBar {
            label: r.date.format("%-d %b %y").to_string(),
            first: r.new,
            returning: r.returning,
        })
        .collect();
    charts::participation(&mut out, &bars);
    if runs.is_empty() {
        out.push_str("<p class=\"none\">No runs yet.</p>\n");
    } else {
        out.push_str("<table>\n<thead><tr>");
        for column in COLUMNS {
            let _ = write!(out, "<th scope=\"col\">{column}</th>");
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        for run in runs {
            let [date, rest @ ..] = cells(run);
            let _ = write!(
                out,
                "<tr><th scope=\"row\"><time datetime=\"{date}\">{date}</time></th>"
            );
            for cell in rest {
                let _ = write!(out, "<td>{cell}</td>");
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody>\n</table>\n");
    }
    out.push_str("</main>\n<footer><p>Made by hashchat.</p></footer>\n</body>\n</html>\n");
    out
}

/// The command: checks the chat id before it opens the database.
pub async fn run(
    db: &DbLocation,
    config: &Config,
    chat_id: &str,
    format: StatsFormat,
) -> anyhow::Result<ExitCode> {
    let chat = find_chat(config, chat_id)?;
    let store = open_existing(db).await?;
    let runs = history(&store, chat).await?;
    print_out(&render(chat, &runs, format))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests;
