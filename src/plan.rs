//! PLACEHOLDER by the lead so the crate builds; the config helper replaces
//! this file entirely. The CLI calls `plan(config, chat, runs, now, format)`
//! and uses `PlanFormat` (clap::ValueEnum with Text, Json).
use chrono::{DateTime, Utc};

use crate::chats::Config;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
}

pub fn plan(
    _config: &Config,
    _chat: Option<&str>,
    _runs: usize,
    _now: DateTime<Utc>,
    _format: PlanFormat,
) -> anyhow::Result<String> {
    anyhow::bail!("plan: not wired yet")
}
