//! Starting the daemon: one supervised task per selected chat (`chat`),
//! each sleeping until its next run and then driving it, and one mention
//! listener per account (`steer`); [`Daemon::run`] waits for every one.

use std::sync::Arc;

use tokio::task::JoinSet;

use super::chat;
use super::daemon::{account_key, Daemon};
use super::steer;
use crate::chats::Chat;

/// The chats grouped by the account that runs them (server and token).
fn by_account(chats: &[Arc<Chat>]) -> Vec<Vec<Arc<Chat>>> {
    let mut groups: Vec<(String, Vec<Arc<Chat>>)> = Vec::new();
    for chat in chats {
        let key = account_key(chat);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, group)) => group.push(Arc::clone(chat)),
            None => groups.push((key, vec![Arc::clone(chat)])),
        }
    }
    groups.into_iter().map(|(_, group)| group).collect()
}

/// How a chat task ended.
#[derive(Debug)]
pub struct ChatOutcome {
    pub chat: String,
    pub result: anyhow::Result<()>,
}

impl Daemon {
    /// Runs every chat in `selected` (all when empty) until shutdown, or
    /// until each has done one run with `--once`. One chat failing (a bad
    /// token, say) does not stop the others.
    pub async fn run(self, selected: &[String]) -> anyhow::Result<Vec<ChatOutcome>> {
        let chats: Vec<Arc<Chat>> = if selected.is_empty() {
            self.config.chats.clone()
        } else {
            let mut chats = Vec::new();
            for id in selected {
                let chat = self
                    .config
                    .shared(id)
                    .ok_or_else(|| anyhow::anyhow!(self.config.unknown_chat_message(id)))?;
                chats.push(Arc::clone(chat));
            }
            chats
        };
        let shared = Arc::new(self);
        // One mention listener per account (server + token), however many
        // chats it runs: moderator commands and opt-outs for all of them.
        let listeners_stop = shared.shutdown.child_token();
        let mut listeners = JoinSet::new();
        if !shared.options.dry_run {
            for group in by_account(&chats) {
                let daemon = Arc::clone(&shared);
                let stop = listeners_stop.clone();
                listeners.spawn(async move { steer::listen_account(&daemon, &group, stop).await });
            }
        }
        let mut tasks = JoinSet::new();
        for chat in chats {
            let daemon = Arc::clone(&shared);
            tasks.spawn(async move {
                let id = chat.id().to_string();
                let _alive = daemon.liveness.alive(&id);
                let result = chat::chat_loop(&daemon, chat).await;
                ChatOutcome { chat: id, result }
            });
        }
        // Why a JoinSet: every chat task is awaited, so shutdown waits for
        // each to flush its answers, and a task that ends is reported.
        let mut outcomes = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let outcome = joined.unwrap_or_else(|e| ChatOutcome {
                chat: "?".into(),
                result: Err(anyhow::anyhow!("chat task panicked: {e}")),
            });
            match &outcome.result {
                Ok(()) => tracing::info!(chat = %outcome.chat, "chat task finished"),
                Err(e) => tracing::error!(chat = %outcome.chat, "chat stopped: {e:#}"),
            }
            outcomes.push(outcome);
        }
        listeners_stop.cancel();
        while listeners.join_next().await.is_some() {}
        Ok(outcomes)
    }
}
