//! `TestApp`: a temp SQLite file, the in-process fake server and the daemon
//! wired with a manual clock, so a test moves time and watches the effects.
#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use hashchat::chats::{Chat, Config};
use hashchat::clock::ManualClock;
use hashchat::network::{MastodonClient, Social, Token, Trust};
use hashchat::run::{ChatOutcome, Connector, Daemon, RunOptions, Tuning};
use hashchat::store::Store;
use tokio_util::sync::CancellationToken;

use crate::fake_server::FakeServer;

/// Upper bound for anything a test awaits; reaching it is a failure, not a
/// timing assumption (each wait returns as soon as its condition holds).
pub const GUARD: Duration = Duration::from_secs(30);

pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(GUARD, future)
        .await
        .unwrap_or_else(|_| panic!("gave up waiting for {what}"))
}

/// `entry` with `keys` set or replaced (see [`TestApp::chat_with`]).
fn merged(entry: &[(String, String)], keys: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut entry = entry.to_vec();
    for (key, value) in keys {
        let rival = match *key {
            "schedule" => "start",
            "start" => "schedule",
            "token_file" => "token_env",
            "token_env" => "token_file",
            _ => "",
        };
        entry.retain(|(k, _)| k != key && k != rival);
        entry.push((key.to_string(), value.to_string()));
    }
    entry
}

/// A chat from its chats.yaml keys, through validation like any chat.
fn chat_from_keys(keys: &[(String, String)]) -> Arc<Chat> {
    let entry: String = keys.iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
    Arc::new(
        Chat::from_yaml(&entry)
            .unwrap_or_else(|e| panic!("the test chat is invalid: {e:?}\n{entry}")),
    )
}

pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 3, 20, 0, 0).unwrap()
}

pub struct TestApp {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
    pub store: Store,
    pub clock: ManualClock,
    pub fake: FakeServer,
    /// The test chat, built from [`TestApp::chat_keys`]; change it with
    /// [`TestApp::set_chat`] (a `Chat` is only ever built by validation).
    pub chat: Arc<Chat>,
    /// The test chat's chats.yaml entry, one `(key, YAML value)` a key.
    pub chat_keys: Vec<(String, String)>,
    pub tuning: Tuning,
}

/// Hands out clients for the fake server (no environment variables). Like
/// `RealConnector`, every chat gets the same client (all of a test's chats
/// are one account), so they share one request budget.
pub struct FakeConnector {
    pub server: url::Url,
    pub token: String,
    pub timeout: Duration,
    pub client: std::sync::Mutex<Option<Arc<dyn Social>>>,
}

impl Connector for FakeConnector {
    fn connect(&self, chat: &Chat) -> anyhow::Result<Arc<dyn Social>> {
        let mut shared = self.client.lock().unwrap();
        if let Some(client) = shared.as_ref() {
            return Ok(Arc::clone(client));
        }
        let client: Arc<dyn Social> = Arc::new(MastodonClient::new(
            &self.server,
            Token::new(self.token.clone()),
            self.timeout,
            &Trust::with_extra(chat.account().ca_certificates())?,
        )?);
        *shared = Some(Arc::clone(&client));
        Ok(client)
    }
}

impl TestApp {
    /// A chat `1qedchat` (#1QEdChat, 3 questions) starting at `start_time()`,
    /// Q1 5 min later, 10 min apart, collecting 10 min after the closing;
    /// the clock stands a day before the start.
    pub async fn new() -> Self {
        // Logs show in a failing test's output (RUST_LOG to adjust).
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "hashchat=info".into()),
            )
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("hashchat.db");
        let store = Store::open(&db).await.expect("store");
        // A day ahead of the start, so 24-hour reminders are still to come.
        let clock = ManualClock::new(start_time() - chrono::Duration::days(1));
        let fake = FakeServer::start_with_clock(Arc::new(clock.clone())).await;
        let chat_keys: Vec<(String, String)> = [
            ("id", "1qedchat".to_string()),
            ("hashtag", "1QEdChat".into()),
            ("start", format!("\"{}\"", start_time().to_rfc3339())),
            ("timezone", "Europe/London".into()),
            ("intro", "\"Welcome to #1QEdChat! Introduce yourself.\"".into()),
            ("first_question_after", "5m".into()),
            ("question_interval", "10m".into()),
            (
                "questions",
                "\n  - How do you build an online PLN?\n  - Which chats or groups help you most?\n  - What will you try next week?".into(),
            ),
            ("closing", "\"Thanks everyone! Recap soon.\"".into()),
            ("collect_after", "10m".into()),
            ("server", fake.url().to_string()),
            ("token_env", "HASHCHAT_TEST_UNUSED".into()),
            ("recap_dir", format!("\"{}\"", dir.path().join("recaps").display())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let chat = chat_from_keys(&chat_keys);
        let tuning = Tuning {
            request_timeout: Duration::from_secs(5),
            backoff_base: Duration::from_millis(10),
            backoff_cap: Duration::from_millis(100),
            post_attempts: 5,
            ..Tuning::default()
        };
        Self {
            dir,
            db,
            store,
            clock,
            fake,
            chat,
            chat_keys,
            tuning,
        }
    }

    /// The test chat with `keys` (`(key, YAML value)`) set or replaced,
    /// validated as chats.yaml is; `app.chat` is unchanged. Setting
    /// `schedule` drops `start` (and the reverse), `token_file` drops
    /// `token_env` (and the reverse), so that a chat has one of each.
    pub fn chat_with(&self, keys: &[(&str, &str)]) -> Arc<Chat> {
        chat_from_keys(&merged(&self.chat_keys, keys))
    }

    /// Changes the test chat: [`TestApp::chat_with`], kept.
    pub fn set_chat(&mut self, keys: &[(&str, &str)]) {
        self.chat_keys = merged(&self.chat_keys, keys);
        self.chat = chat_from_keys(&self.chat_keys);
    }

    /// The time of post `seq` (0 intro, 1..=3 questions, 4 closing).
    pub fn post_time(&self, seq: u32) -> DateTime<Utc> {
        let minutes = match seq {
            0 => 0,
            n => 5 + 10 * (i64::from(n) - 1),
        };
        start_time() + chrono::Duration::minutes(minutes)
    }

    pub fn end_time(&self) -> DateTime<Utc> {
        self.post_time(4) + chrono::Duration::minutes(10)
    }

    pub fn daemon(&self, options: RunOptions, shutdown: CancellationToken) -> Daemon {
        Daemon {
            config: Config {
                path: self.dir.path().join("chats.yaml"),
                chats: vec![self.chat.clone()],
            },
            store: self.store.clone(),
            clock: Arc::new(self.clock.clone()),
            connector: Arc::new(FakeConnector {
                server: self.fake.url(),
                token: self.fake.bot_token(),
                timeout: self.tuning.request_timeout,
                client: Default::default(),
            }),
            options,
            tuning: self.tuning.clone(),
            shutdown,
            holder: "test-process".into(),
            controls: Default::default(),
            identities: Default::default(),
            metrics: Default::default(),
            liveness: Default::default(),
            replicas: Default::default(),
        }
    }

    /// Starts the daemon for one run of the chat.
    pub fn spawn_once(&self) -> (tokio::task::JoinHandle<Vec<ChatOutcome>>, CancellationToken) {
        let shutdown = CancellationToken::new();
        let daemon = self.daemon(
            RunOptions {
                once: true,
                ..RunOptions::default()
            },
            shutdown.clone(),
        );
        let handle = tokio::spawn(async move { daemon.run(&[]).await.expect("daemon") });
        (handle, shutdown)
    }

    /// Moves the clock to post `seq`'s time and waits until the bot has
    /// `seq + 1` posts; returns the bot's posts.
    pub async fn advance_to_post(&self, seq: u32) -> Vec<hashchat::network::Status> {
        self.clock.set(self.post_time(seq));
        within(
            "the bot's post",
            self.fake.wait_for_bot_posts(seq as usize + 1),
        )
        .await
    }

    /// Posts `from..=4` at their times, ends collection, and checks that
    /// the daemon finished its run cleanly.
    pub async fn finish_run(&self, daemon: tokio::task::JoinHandle<Vec<ChatOutcome>>, from: u32) {
        for seq in from..=4 {
            self.advance_to_post(seq).await;
        }
        self.clock.set(self.end_time());
        assert_all_ok(&within("the run to end", daemon).await.unwrap());
    }

    pub async fn run_id(&self) -> i64 {
        self.store
            .latest_run(self.chat.id())
            .await
            .unwrap()
            .expect("a run")
            .id
    }
}

pub fn assert_all_ok(outcomes: &[ChatOutcome]) {
    for outcome in outcomes {
        if let Err(e) = &outcome.result {
            panic!("chat {} failed: {e:#}", outcome.chat);
        }
    }
}

/// A daemon that runs `chat` once through `connector`, on `store` and
/// `clock`, with quick retries: the Bluesky harnesses (fake and real PDS)
/// build theirs with it. `request_timeout` is the only tuning they differ in.
pub fn once_daemon(
    config_path: PathBuf,
    chat: Arc<Chat>,
    store: Store,
    clock: ManualClock,
    connector: Arc<dyn Connector>,
    request_timeout: Duration,
) -> Daemon {
    Daemon {
        config: Config {
            path: config_path,
            chats: vec![chat],
        },
        store,
        clock: Arc::new(clock),
        connector,
        options: RunOptions {
            once: true,
            ..RunOptions::default()
        },
        tuning: Tuning {
            request_timeout,
            backoff_base: Duration::from_millis(10),
            backoff_cap: Duration::from_millis(100),
            post_attempts: 5,
            ..Tuning::default()
        },
        shutdown: CancellationToken::new(),
        holder: "test-process".into(),
        controls: Default::default(),
        identities: Default::default(),
        metrics: Default::default(),
        liveness: Default::default(),
        replicas: Default::default(),
    }
}

/// Waits until the latest run of `chat_id` has stored `count` statuses
/// (deleted included), woken by the store's change signal.
pub async fn stored_statuses(
    store: &Store,
    chat_id: &str,
    count: usize,
) -> Vec<hashchat::store::StatusRow> {
    let mut changes = store.watch_changes();
    within("the answers to be stored", async {
        loop {
            if let Some(run) = store.latest_run(chat_id).await.unwrap() {
                let rows = store.statuses(run.id).await.unwrap();
                if rows.len() >= count {
                    return rows;
                }
            }
            changes.changed().await.unwrap();
        }
    })
    .await
}
