//! `hashchat status`: what the database says about each chat: whether a
//! process is running it, its recent runs, and every post that did not go
//! out (failed after retries, or skipped as too late), with the reason.

use crate::store::DbLocation;
use std::fmt::Write as _;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::common::{find_chat, open_existing, print_out};
use crate::chats::Config;
use crate::store::{PostState, RunState, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusFormat {
    Text,
    Json,
}

#[derive(Debug, Serialize)]
pub struct ChatStatus {
    pub chat: String,
    /// The process holding the chat's lease, when one is running it.
    pub running_in: Option<String>,
    /// When that lease runs out unless renewed (leases in PostgreSQL; a
    /// lease file beside SQLite is held until its process ends).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<DateTime<Utc>>,
    pub runs: Vec<RunStatus>,
}

#[derive(Debug, Serialize)]
pub struct RunStatus {
    pub id: i64,
    pub planned_start: DateTime<Utc>,
    pub state: &'static str,
    pub posts: u32,
    pub answers: u32,
    pub not_posted: Vec<NotPosted>,
}

#[derive(Debug, Serialize)]
pub struct NotPosted {
    pub seq: u32,
    pub text: String,
    pub state: &'static str,
    pub reason: String,
}

/// The status of the chats in `config` (or only `chat`), newest runs first.
pub async fn status(
    config: &Config,
    store: &Store,
    chat: Option<&str>,
    runs: u32,
) -> anyhow::Result<Vec<ChatStatus>> {
    let mut out = Vec::new();
    for c in config
        .chats
        .iter()
        .filter(|c| chat.is_none_or(|id| c.id() == id))
    {
        let mut run_statuses = Vec::new();
        for run in store.recent_runs(c.id(), runs).await? {
            let (posts, answers) = store.run_counts(run.id).await?;
            let not_posted = store
                .posts(run.id)
                .await?
                .into_iter()
                .filter(|p| matches!(p.state, PostState::Failed | PostState::Skipped))
                .map(|p| NotPosted {
                    seq: p.seq,
                    text: p.text,
                    state: p.state.as_str(),
                    reason: p.last_error.unwrap_or_default(),
                })
                .collect();
            run_statuses.push(RunStatus {
                id: run.id,
                planned_start: run.planned_start,
                state: match run.state {
                    RunState::Running => "running",
                    RunState::Done => "done",
                    RunState::Missed => "missed",
                },
                posts,
                answers,
                not_posted,
            });
        }
        let (running_in, lease_until) = holder(store, c.id()).await?;
        out.push(ChatStatus {
            chat: c.id().to_string(),
            running_in,
            lease_until,
            runs: run_statuses,
        });
    }
    if let Some(id) = chat {
        anyhow::ensure!(
            !out.is_empty(),
            "no chat `{id}` in {}",
            config.path.display()
        );
    }
    Ok(out)
}

/// Who runs `chat_id` now: the holder of its lease file beside SQLite, or
/// of its unexpired lease in PostgreSQL, with when that runs out.
async fn holder(
    store: &Store,
    chat_id: &str,
) -> anyhow::Result<(Option<String>, Option<DateTime<Utc>>)> {
    if let Some(pool) = store.postgres_pool() {
        let leases = crate::store::postgres::Leases::new(pool.clone());
        let grant = leases.holder_of(chat_id, Utc::now()).await?;
        return Ok(grant.map_or((None, None), |g| (Some(g.holder), Some(g.expires_at))));
    }
    Ok((store.lease_of(chat_id)?.map(|l| l.holder), None))
}

pub fn render(statuses: &[ChatStatus], format: StatusFormat, config: &Config) -> String {
    match format {
        StatusFormat::Json => {
            let mut s = serde_json::to_string_pretty(statuses)
                .expect("status is plain data and always serialises");
            s.push('\n');
            s
        }
        StatusFormat::Text => render_text(statuses, config),
    }
}

fn render_text(statuses: &[ChatStatus], config: &Config) -> String {
    let mut out = String::new();
    for chat in statuses {
        let zone = config
            .chat(&chat.chat)
            .map_or(chrono_tz::UTC, |c| c.timing().timezone());
        let running = match (&chat.running_in, chat.lease_until) {
            (None, _) => "not running".to_string(),
            (Some(h), None) => format!("running in {h}"),
            (Some(h), Some(until)) => format!(
                "running in {h}, lease until {}",
                until.with_timezone(&zone).format("%H:%M:%S %Z")
            ),
        };
        let _ = writeln!(out, "{} ({running})", chat.chat);
        if chat.runs.is_empty() {
            let _ = writeln!(out, "  no runs yet");
        }
        for run in &chat.runs {
            let local = run.planned_start.with_timezone(&zone);
            let _ = writeln!(
                out,
                "  run {:<4} {}  {:<7}  {} {}, {} answering",
                run.id,
                local.format("%a %Y-%m-%d %H:%M %Z"),
                run.state,
                run.posts,
                if run.posts == 1 { "post" } else { "posts" },
                run.answers
            );
            for post in &run.not_posted {
                let _ = writeln!(
                    out,
                    "    NOT POSTED ({}): post {}: {}\n      reason: {}",
                    post.state, post.seq, post.text, post.reason
                );
            }
        }
    }
    out
}

/// The command: checks `--chat` before it opens the database.
pub async fn run(
    db: &DbLocation,
    config: &Config,
    chat: Option<&str>,
    runs: u32,
    format: StatusFormat,
) -> anyhow::Result<ExitCode> {
    if let Some(id) = chat {
        find_chat(config, id)?;
    }
    let store = open_existing(db).await?;
    let statuses = status(config, &store, chat, runs).await?;
    print_out(&render(&statuses, format, config))?;
    Ok(ExitCode::SUCCESS)
}
