//! A daemon wired to the in-process fake Mastodon server with the real
//! clock, and a tracing layer that notes when each answer is committed
//! (`ingest` logs "recorded a post" right after its transaction commits).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hashchat::chats::{Chat, Config};
use hashchat::clock::SystemClock;
use hashchat::network::{MastodonClient, Social, Token, Trust};
use hashchat::run::{Connector, Daemon, RunOptions, Tuning};
use hashchat::store::Store;
use tokio_util::sync::CancellationToken;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

pub struct FakeConnector {
    pub server: url::Url,
    pub token: String,
}

impl Connector for FakeConnector {
    fn connect(&self, _chat: &Chat) -> anyhow::Result<Arc<dyn Social>> {
        let client = MastodonClient::new(
            &self.server,
            Token::new(self.token.clone()),
            Duration::from_secs(5),
            &Trust::system()?,
        )?;
        Ok(Arc::new(client))
    }
}

/// One run of `chat` (`--once`) against `server` with the system clock.
pub fn daemon(chat: Arc<Chat>, store: Store, server: url::Url, token: String) -> Daemon {
    Daemon {
        config: Config {
            path: "chats.yaml".into(),
            chats: vec![chat],
        },
        store,
        clock: Arc::new(SystemClock),
        connector: Arc::new(FakeConnector { server, token }),
        options: RunOptions {
            once: true,
            ..RunOptions::default()
        },
        tuning: Tuning::default(),
        shutdown: CancellationToken::new(),
        holder: "bench".into(),
        controls: Default::default(),
        identities: Default::default(),
        metrics: Default::default(),
        liveness: Default::default(),
        replicas: Default::default(),
    }
}

/// When each status id was first recorded.
#[derive(Clone, Default)]
pub struct Commits(Arc<Mutex<HashMap<String, Instant>>>);

impl Commits {
    /// Installs the layer as the global subscriber (once per process).
    pub fn install() -> Self {
        let commits = Self::default();
        tracing_subscriber::registry().with(commits.clone()).init();
        commits
    }

    pub fn take(&self) -> HashMap<String, Instant> {
        std::mem::take(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[derive(Default)]
struct Recorded {
    message: bool,
    status_id: Option<String>,
}

impl Visit for Recorded {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}") == "recorded a post",
            "status_id" => self.status_id = Some(format!("{value:?}")),
            _ => {}
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "status_id" {
            self.status_id = Some(value.to_owned());
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for Commits {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let at = Instant::now();
        if event.metadata().level() != &tracing::Level::INFO {
            return;
        }
        let mut seen = Recorded::default();
        event.record(&mut seen);
        if let (true, Some(id)) = (seen.message, seen.status_id) {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(id)
                .or_insert(at);
        }
    }
}
