//! `TestApp`: a temp SQLite file, the in-process fake server and the daemon
//! wired with a manual clock, so a test moves time and watches the effects.
#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use hashchat::chats::{Chat, Config, Hashtag, Platform, TokenSource, Visibility, When};
use hashchat::clock::ManualClock;
use hashchat::network::{MastodonClient, Social, Token};
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

pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 3, 20, 0, 0).unwrap()
}

pub struct TestApp {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
    pub store: Store,
    pub clock: ManualClock,
    pub fake: FakeServer,
    pub chat: Chat,
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
    fn connect(&self, _chat: &Chat) -> anyhow::Result<Arc<dyn Social>> {
        let mut shared = self.client.lock().unwrap();
        if let Some(client) = shared.as_ref() {
            return Ok(Arc::clone(client));
        }
        let client: Arc<dyn Social> = Arc::new(MastodonClient::new(
            &self.server,
            Platform::Mastodon,
            Token::new(self.token.clone()),
            self.timeout,
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
        let chat = Chat {
            id: "1qedchat".into(),
            hashtag: Hashtag::parse("1QEdChat").unwrap(),
            when: When::Once(start_time()),
            timezone: chrono_tz::Europe::London,
            intro: "Welcome to #1QEdChat! Introduce yourself.".into(),
            first_question_after: Duration::from_secs(300),
            question_interval: Duration::from_secs(600),
            questions: vec![
                "How do you build an online PLN?".into(),
                "Which chats or groups help you most?".into(),
                "What will you try next week?".into(),
            ],
            closing: "Thanks everyone! Recap soon.".into(),
            collect_after: Duration::from_secs(600),
            visibility: Visibility::Public,
            late_limit: None,
            server: fake.url(),
            platform: Platform::Mastodon,
            token: TokenSource::Env("HASHCHAT_TEST_UNUSED".into()),
            max_characters: 500,
            recap_dir: dir.path().join("recaps"),
            moderators: vec![],
            question_images: vec![None; 3],
            sessions: vec![],
            require_session: false,
            reminders: vec![],
            reminder_text: None,
            ignore: vec![],
            exclude: vec![],
            welcome_newcomers: false,
            language: None,
            content_warning: None,
            recap_post: false,
            recap_url: None,
        };
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
            tuning,
        }
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
            .latest_run(&self.chat.id)
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
