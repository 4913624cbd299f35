//! `hashchat recap CHAT`: a run's recap (the latest by default) in one
//! format, on stdout or into a file. Rendering is `crate::recap`'s.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::common::{find_chat, open_existing, print_out, UsageError};
use crate::chats::Config;
use crate::recap::{self, Format};
use crate::store::DbLocation;

pub async fn run(
    db: &DbLocation,
    config: &Config,
    chat_id: &str,
    run: &str,
    format: Format,
    output: Option<&PathBuf>,
) -> anyhow::Result<ExitCode> {
    let chat = find_chat(config, chat_id)?;
    let wanted =
        match run {
            "latest" => None,
            id => Some(id.parse::<i64>().map_err(|_| {
                UsageError(format!("--run takes `latest` or a run id, not `{run}`"))
            })?),
        };
    let store = open_existing(db).await?;
    let run_id = match wanted {
        Some(id) => id,
        None => {
            store
                .latest_run(chat_id)
                .await?
                .with_context(|| format!("chat `{chat_id}` has no run yet"))?
                .id
        }
    };
    let text = recap::build(&store, chat, run_id).await?.render(format);
    match output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => print_out(&text)?,
    }
    Ok(ExitCode::SUCCESS)
}
