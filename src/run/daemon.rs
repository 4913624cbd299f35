//! What every task of the daemon shares: the [`Daemon`] with its
//! dependencies (settings, store, a connector for the server, the clock, a
//! shutdown token), the timing knobs, who each account is, the wake-up a
//! moderator's steer sends the drivers, and [`TaskGuard`] for helper tasks.
//! Starting the tasks is `supervise`'s; this file runs nothing.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use anyhow::Context;

use super::lease::{LeaseTtl, Replicas};
use crate::chats::{Chat, Config, Platform};
use crate::clock::SharedClock;
use crate::metrics::Metrics;
use crate::network::{Account, Budget, Instance, MastodonClient, Social, Token, Trust};
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
    /// How long a lease in a shared database lasts unless renewed
    /// (`--lease-ttl`); unused on SQLite.
    pub lease_ttl: LeaseTtl,
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

/// Connects with the chat's server, token and TLS trust (`ca_file:`).
/// Chats of one account (same server and token) share one client: one
/// connection pool, and one request budget, which is per account.
pub struct RealConnector {
    timeout: Duration,
    clients: std::sync::Mutex<std::collections::HashMap<String, Arc<dyn Social>>>,
    /// Where each account's requests and rate-limit waits are counted.
    metrics: Option<Arc<Metrics>>,
    /// Where Bluesky sessions are kept between runs; without it they last
    /// as long as the process.
    store: Option<Store>,
}

impl RealConnector {
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            clients: Default::default(),
            metrics: None,
            store: None,
        }
    }

    /// Keeps Bluesky sessions in `store`: a restart reuses the tokens of
    /// the first login (logins are limited per account).
    pub fn with_store(mut self, store: Store) -> Self {
        self.store = Some(store);
        self
    }

    /// Counts every request of the clients it makes, per account.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
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
        let token = Token::load(chat.account().token())?;
        if chat.account().platform() == Platform::Bluesky {
            let client = bluesky_platform(chat, token, self.store.clone())?;
            clients.insert(key, Arc::clone(&client));
            return Ok(client);
        }
        let trust = Trust::with_extra(chat.account().ca_certificates())?;
        let mut client = MastodonClient::new(chat.account().server(), token, self.timeout, &trust)?;
        if let Some(metrics) = &self.metrics {
            let budget = Budget::default().counted(Arc::clone(metrics), account_label(chat));
            client = client.with_budget(Arc::new(budget));
        }
        let client: Arc<dyn Social> = Arc::new(client);
        clients.insert(key, Arc::clone(&client));
        Ok(client)
    }
}

/// The Bluesky platform of `chat`'s account, its app password `token`,
/// its session and Jetstream cursors kept in `store` (in memory without
/// one).
pub fn bluesky_platform(
    chat: &Chat,
    token: Token,
    store: Option<Store>,
) -> anyhow::Result<Arc<dyn Social>> {
    use crate::network::bluesky::{self, AppPassword, BlueskyClient, BlueskyPlatform};
    let keys = chat
        .account()
        .bluesky()
        .context("a Bluesky chat without its Bluesky keys")?;
    let kept = store.map(|store| Arc::new(super::sessions::StoreSessions::for_chat(store, chat)));
    let sessions: Arc<dyn bluesky::SessionStore> = match &kept {
        Some(kept) => Arc::clone(kept) as _,
        None => Arc::new(bluesky::MemorySessionStore::default()),
    };
    let account = bluesky::Account {
        pds: chat.account().server().clone(),
        appview: keys.appview().clone(),
        identifier: keys.handle().to_string(),
        password: AppPassword::new(token.expose()),
    };
    let trust = crate::network::Trust::with_extra(chat.account().ca_certificates())?;
    let client = Arc::new(BlueskyClient::with_trust(account, sessions, trust)?);
    let mut platform = BlueskyPlatform::new(client, keys.jetstream().clone(), keys.handle());
    if let Some(kept) = kept {
        platform = platform.with_cursors(kept);
    }
    Ok(Arc::new(platform))
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
    pub controls: Controls,
    /// Who each account is, asked once (see [`Identities`]).
    pub identities: Identities,
    /// The process's counters (posts, answers, reconnects); the web
    /// server renders the same value at `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Which chat tasks are running, for `/healthz` (`crate::web`).
    pub liveness: Liveness,
    /// Where chat leases live when other replicas share the database
    /// (default: SQLite's lease files, no other replica); see `lease`.
    pub replicas: Replicas,
}

impl Daemon {
    /// This daemon as one chat task sees it while it holds the chat's
    /// lease: `stop` is its shutdown (cancelled at shutdown and when the
    /// lease is lost), `replicas` fences its posts.
    pub(crate) fn acting(
        &self,
        stop: tokio_util::sync::CancellationToken,
        replicas: Replicas,
    ) -> Daemon {
        Daemon {
            config: self.config.clone(),
            store: self.store.clone(),
            clock: Arc::clone(&self.clock),
            connector: Arc::clone(&self.connector),
            options: self.options.clone(),
            tuning: self.tuning.clone(),
            shutdown: stop,
            holder: self.holder.clone(),
            controls: self.controls.clone(),
            identities: self.identities.clone(),
            metrics: Arc::clone(&self.metrics),
            liveness: self.liveness.clone(),
            replicas,
        }
    }
}

/// Which chat tasks of the daemon are running now, by chat id: `true` from
/// the task's start until it ends, however it ends (a panic included).
#[derive(Debug, Clone, Default)]
pub struct Liveness(Arc<std::sync::Mutex<std::collections::BTreeMap<String, bool>>>);

impl Liveness {
    /// Every chat task started so far, and whether it still runs.
    pub fn tasks(&self) -> Vec<(String, bool)> {
        let tasks = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tasks
            .iter()
            .map(|(chat, alive)| (chat.clone(), *alive))
            .collect()
    }

    /// Marks `chat`'s task alive until the guard is dropped.
    pub fn alive(&self, chat: &str) -> AliveGuard {
        self.set(chat, true);
        AliveGuard(self.clone(), chat.to_string())
    }

    fn set(&self, chat: &str, alive: bool) {
        let mut tasks = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tasks.insert(chat.to_string(), alive);
    }
}

/// Held by a chat task: dropping it (the task ended, or unwound) marks the
/// chat's task dead.
pub struct AliveGuard(Liveness, String);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.set(&self.1, false);
    }
}

/// Identifies the account a chat posts as: its server, platform and where
/// its token comes from (never the token itself).
pub(crate) fn account_key(chat: &Chat) -> String {
    format!(
        "{:?} {} {:?} {:?}",
        chat.account().platform(),
        chat.account().server(),
        chat.account().token(),
        chat.account().ca_file().map(|c| &c.path)
    )
}

/// The `account` label of an account's request counts: its server's host
/// and where its token comes from (an environment variable's name or a
/// file's path, never the token).
pub(crate) fn account_label(chat: &Chat) -> String {
    let host = chat.account().server().host_str().unwrap_or("?");
    match chat.account().token() {
        crate::chats::TokenSource::Env(name) => format!("{host} ${name}"),
        crate::chats::TokenSource::File(path) => format!("{host} {}", path.display()),
    }
}

/// Who each account is and what its instance allows, by account key.
/// Clones share one table: a chat task's view of the daemon asks the same.
#[derive(Debug, Default, Clone)]
pub struct Identities(Arc<std::sync::Mutex<std::collections::HashMap<String, Identity>>>);

/// Set by the first chat of the account to get an answer; the others
/// wait for it.
type Identity = Arc<tokio::sync::OnceCell<(Account, Instance)>>;

impl Identities {
    pub(super) fn of(&self, account: &str) -> Identity {
        let mut known = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(known.entry(account.to_string()).or_default())
    }
}

/// Wakes drivers when a command changed a run (a new version per change).
#[derive(Debug, Clone)]
pub struct Controls(watch::Sender<u64>);

impl Default for Controls {
    fn default() -> Self {
        Self(watch::Sender::new(0))
    }
}

impl Controls {
    pub fn changed(&self) {
        self.0.send_modify(|v| *v += 1);
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}

/// A spawned task that is aborted when its owner is dropped, so a helper
/// task (a stream listener, a reply reader) never outlives the run or chat
/// it serves, even when that future is cancelled mid-way.
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
