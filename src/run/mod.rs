//! The daemon: one supervised task per selected chat, each sleeping until
//! its next run and then driving it (`driver`): posts at their times
//! (`post`), answers collected from the stream and reconciled from the
//! server (`collect`, `ingest`), the recap written at the end.
//!
//! It takes every dependency as an argument (settings, store, a connector
//! for the server, the clock, a shutdown token) so tests can drive whole
//! runs against a fake server with a manual clock.

mod chat;
mod collect;
pub mod commands;
mod driver;
mod dry;
mod finish;
pub(crate) mod ingest;
mod poll;
mod post;
mod replies;
mod steer;
mod welcome;

pub use chat::{process_holder, Identities};
pub use collect::{Collector, Consumed, EventSource, MOST_PER_COMMIT};
pub use dry::DryRun;
pub use ingest::{ingest, judge, record, Ignore, Judged, Outcome, RunPosts, RunWindow};

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::chats::{Chat, Config};
use crate::clock::SharedClock;
use crate::network::{MastodonClient, Social, Token};
use crate::store::Store;

/// What `hashchat run` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Process one run per chat (resuming an unfinished one first), then stop.
    pub once: bool,
    /// Start that run now instead of at its scheduled time.
    pub now: bool,
    /// No network writes: print each post at its time.
    pub dry_run: bool,
}

/// Timing knobs; tests shorten them.
#[derive(Debug, Clone)]
pub struct Tuning {
    pub request_timeout: Duration,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// Attempts per post before it is reported as not posted.
    pub post_attempts: u32,
    /// How often a listener reads its cursor where the server serves no
    /// stream (see `poll`).
    pub poll_interval: Duration,
    /// How often a polling listener tries the stream again.
    pub stream_retry: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(20),
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(60),
            post_attempts: 8,
            poll_interval: Duration::from_secs(20),
            stream_retry: Duration::from_secs(300),
        }
    }
}

/// Builds the server client for a chat. The real one reads the token;
/// tests hand out clients for their fake server.
pub trait Connector: Send + Sync {
    fn connect(&self, chat: &Chat) -> anyhow::Result<Arc<dyn Social>>;
}

/// Connects with megalodon/reqwest using the chat's server and token.
/// Chats of one account (same server and token) share one client: one
/// connection pool, and one request budget, which is per account.
pub struct RealConnector {
    timeout: Duration,
    clients: std::sync::Mutex<std::collections::HashMap<String, Arc<dyn Social>>>,
}

impl RealConnector {
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            clients: Default::default(),
        }
    }
}

impl Connector for RealConnector {
    fn connect(&self, chat: &Chat) -> anyhow::Result<Arc<dyn Social>> {
        let key = account_key(chat);
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(client) = clients.get(&key) {
            return Ok(Arc::clone(client));
        }
        let token = Token::load(&chat.token)?;
        let client: Arc<dyn Social> = Arc::new(MastodonClient::new(
            &chat.server,
            chat.platform,
            token,
            self.timeout,
        )?);
        clients.insert(key, Arc::clone(&client));
        Ok(client)
    }
}

/// Everything a chat task needs, shared.
pub struct Daemon {
    pub config: Config,
    pub store: Store,
    pub clock: SharedClock,
    pub connector: Arc<dyn Connector>,
    pub options: RunOptions,
    pub tuning: Tuning,
    pub shutdown: CancellationToken,
    /// This process's name in chat leases (see [`process_holder`]).
    pub holder: String,
    /// Wakes the drivers when a moderator command changed a run.
    pub controls: commands::Controls,
    /// Who each account is, asked once (see [`Identities`]).
    pub identities: Identities,
}

/// The chats grouped by the account that runs them (server and token).
fn by_account(chats: &[Chat]) -> Vec<Vec<Chat>> {
    let mut groups: Vec<(String, Vec<Chat>)> = Vec::new();
    for chat in chats {
        let key = account_key(chat);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, group)) => group.push(chat.clone()),
            None => groups.push((key, vec![chat.clone()])),
        }
    }
    groups.into_iter().map(|(_, group)| group).collect()
}

/// Identifies the account a chat posts as: its server, platform and where
/// its token comes from (never the token itself).
pub(crate) fn account_key(chat: &Chat) -> String {
    format!("{:?} {} {:?}", chat.platform, chat.server, chat.token)
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
        let chats: Vec<Chat> = if selected.is_empty() {
            self.config.chats.clone()
        } else {
            let mut chats = Vec::new();
            for id in selected {
                let chat = self.config.chat(id).ok_or_else(|| {
                    anyhow::anyhow!(crate::commands::plan::unknown_chat(&self.config, id))
                })?;
                chats.push(chat.clone());
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
                let id = chat.id.clone();
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

/// A spawned task that is aborted when its owner is dropped, so a helper
/// task (a stream listener) never outlives the run or chat it serves, even
/// when that future is cancelled mid-way.
pub(crate) struct TaskGuard<T>(tokio::task::JoinHandle<T>);

impl<T> TaskGuard<T> {
    pub(crate) fn spawn(task: impl std::future::Future<Output = T> + Send + 'static) -> Self
    where
        T: Send + 'static,
    {
        Self(tokio::spawn(task))
    }

    /// Waits for the task's result (after asking it to stop).
    pub(crate) async fn join(mut self) -> Result<T, tokio::task::JoinError> {
        // Aborting a finished task in `drop` afterwards is a no-op.
        (&mut self.0).await
    }
}

impl<T> Drop for TaskGuard<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
