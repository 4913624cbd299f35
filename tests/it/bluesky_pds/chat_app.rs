//! The daemon wired to the real PDS for a whole chat: the chat's account on the PDS, Jetstream
//! and the appview from the bridge, a manual clock, a temp SQLite store.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use hashchat::chats::Chat;
use hashchat::clock::ManualClock;
use hashchat::network::{Social, Token};
use hashchat::run::{ChatOutcome, Connector};
use hashchat::store::{StatusRow, Store};

use super::jetstream_bridge::JetstreamBridge;
use crate::helpers::{once_daemon, stored_statuses};

pub const TAG: &str = "PdsWholeChat";

pub fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 7, 20, 0, 0).unwrap()
}

/// Post `seq`'s time: intro at the start, Q1 5 min later, 10 min apart.
pub fn post_time(seq: u32) -> DateTime<Utc> {
    let minutes = match seq {
        0 => 0,
        n => 5 + 10 * (i64::from(n) - 1),
    };
    start() + chrono::Duration::minutes(minutes)
}

pub fn end_time() -> DateTime<Utc> {
    post_time(4) + chrono::Duration::minutes(10)
}

/// The chat account's platform, one per connector, its session kept in the store.
struct PdsConnector {
    store: Store,
    password: String,
    client: Mutex<Option<Arc<dyn Social>>>,
}

impl Connector for PdsConnector {
    fn connect(&self, chat: &Chat) -> anyhow::Result<Arc<dyn Social>> {
        let mut shared = self.client.lock().unwrap();
        if let Some(client) = shared.as_ref() {
            return Ok(Arc::clone(client));
        }
        let token = Token::new(self.password.clone());
        let client = hashchat::run::bluesky_platform(chat, token, Some(self.store.clone()))?;
        *shared = Some(Arc::clone(&client));
        Ok(client)
    }
}

pub struct ChatApp {
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub clock: ManualClock,
    pub chat: Arc<Chat>,
    password: String,
}

impl ChatApp {
    /// A 3-question chat of `handle` (app password `password`) on `pds`, through `bridge`.
    pub async fn new(pds: &str, bridge: &JetstreamBridge, handle: &str, password: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("hashchat.db")).await.unwrap();
        let clock = ManualClock::new(start() - chrono::Duration::hours(1));
        let yaml = format!(
            "id: pdschat\nhashtag: {TAG}\nplatform: bluesky\nserver: {pds}\nhandle: {handle}\n\
             jetstream: {jet}\nappview: {appview}\nstart: \"{start}\"\nlanguage: en\n\
             intro: \"Welcome to #{TAG}! 👋\"\n\
             first_question_after: 5m\nquestion_interval: 10m\n\
             questions:\n  - How do you find colleagues online?\n  - Which tools help you most?\n  - What will you try next?\n\
             closing: \"Thanks, everyone! Recap soon.\"\ncollect_after: 10m\n\
             token_env: HASHCHAT_TEST_UNUSED\nrecap_dir: \"{recaps}\"\n",
            jet = bridge.url(),
            appview = bridge.appview(),
            start = start().to_rfc3339(),
            recaps = dir.path().join("recaps").display(),
        );
        let chat = Arc::new(Chat::from_yaml(&yaml).unwrap_or_else(|e| panic!("{e:?}\n{yaml}")));
        ChatApp {
            dir,
            store,
            clock,
            chat,
            password: password.to_string(),
        }
    }

    pub fn spawn(&self) -> tokio::task::JoinHandle<Vec<ChatOutcome>> {
        let connector = Arc::new(PdsConnector {
            store: self.store.clone(),
            password: self.password.clone(),
            client: Mutex::default(),
        });
        let daemon = once_daemon(
            self.dir.path().join("chats.yaml"),
            Arc::clone(&self.chat),
            self.store.clone(),
            self.clock.clone(),
            connector,
            Duration::from_secs(10),
        );
        tokio::spawn(async move { daemon.run(&[]).await.expect("daemon") })
    }

    /// Waits until the run has stored `count` statuses (deleted included).
    pub async fn stored(&self, count: usize) -> Vec<StatusRow> {
        stored_statuses(&self.store, "pdschat", count).await
    }
}
