//! The listener's reading of missed mentions and the handling of each one,
//! against a scripted server: the first reading is history, later ones act,
//! and a mention seen twice or by several chats acts and answers once.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{TimeZone, Utc};

use super::*;
use crate::clock::ManualClock;
use crate::network::{Account, HashtagStream, Instance, Page};
use crate::run::daemon::{Connector, RunOptions, Tuning};
use crate::store::Store;

const DOMAIN: &str = "fake.example";
const SCOPE: &str = "user-stream test";

/// Two chats of one account, both moderated by alice.
const CHATS: &str = r#"
server: https://fake.example
token_env: HASHCHAT_TEST_UNUSED
chats:
  - id: first
    hashtag: FirstChat
    start: "2026-12-03T20:00:00Z"
    questions: [One?]
    moderators: ["@alice@fake.example"]
  - id: second
    hashtag: SecondChat
    start: "2026-12-03T21:00:00Z"
    questions: [Two?]
    moderators: ["@alice@fake.example"]
"#;

/// The bot's notifications, and every post it made (not deduplicated by
/// key, so a repeated answer shows).
#[derive(Default)]
struct Scripted {
    mentions: Mutex<Vec<(String, Status)>>,
    posted: Mutex<Vec<String>>,
}

impl Scripted {
    /// A new mention of the bot by `acct`, as notification `id`.
    fn mention(&self, id: u64, acct: &str, text: &str) -> Status {
        let status = mention(id, acct, text);
        let mut mentions = self.mentions.lock().unwrap();
        mentions.push((id.to_string(), status.clone()));
        status
    }

    fn posted(&self) -> Vec<String> {
        self.posted.lock().unwrap().clone()
    }
}

fn mention(id: u64, acct: &str, text: &str) -> Status {
    Status {
        id: format!("9{id}"),
        uri: String::new(),
        url: None,
        account: Account {
            id: acct.into(),
            acct: acct.into(),
            display_name: String::new(),
            url: None,
            bot: false,
        },
        content: format!("<p>{text}</p>"),
        created_at: Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap(),
        edited_at: None,
        in_reply_to_id: None,
        visibility: "direct".into(),
        reblog: None,
        tags: Vec::new(),
        favourites_count: 0,
        reblogs_count: 0,
    }
}

fn unscripted<T>() -> Result<T, NetError> {
    Err(NetError::Transport("not scripted".into()))
}

#[async_trait]
impl Social for Scripted {
    async fn instance(&self) -> Result<Instance, NetError> {
        unscripted()
    }
    async fn me(&self) -> Result<Account, NetError> {
        unscripted()
    }
    async fn post(&self, post: &NewPost) -> Result<Status, NetError> {
        self.posted.lock().unwrap().push(post.text.clone());
        Ok(mention(0, "chatbot", &post.text))
    }
    async fn status(&self, _: &str) -> Result<Option<Status>, NetError> {
        unscripted()
    }
    async fn tag_timeline(&self, _: &str, _: &Page) -> Result<Vec<Status>, NetError> {
        unscripted()
    }
    async fn replies(&self, _: &str) -> Result<Vec<Status>, NetError> {
        unscripted()
    }
    async fn account_statuses(&self, _: &str, _: &Page) -> Result<Vec<Status>, NetError> {
        unscripted()
    }
    async fn hashtag_stream(&self, _: &str) -> Result<HashtagStream, NetError> {
        unscripted()
    }
    async fn user_stream(&self) -> Result<HashtagStream, NetError> {
        unscripted()
    }
    async fn mentions(&self, since_id: Option<&str>) -> Result<Vec<(String, Status)>, NetError> {
        let since: u64 = since_id.map_or(0, |s| s.parse().unwrap());
        let mentions = self.mentions.lock().unwrap();
        Ok(mentions
            .iter()
            .filter(|(id, _)| id.parse::<u64>().unwrap() > since)
            .cloned()
            .collect())
    }
}

struct NoConnector;

impl Connector for NoConnector {
    fn connect(&self, _: &Chat) -> anyhow::Result<Arc<dyn Social>> {
        anyhow::bail!("these tests hand the server in directly")
    }
}

async fn daemon() -> Daemon {
    let config = crate::chats::parse(std::path::Path::new("chats.yaml"), CHATS)
        .unwrap_or_else(|e| panic!("{e:?}"));
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap());
    Daemon {
        config,
        store: Store::open_in_memory().await.unwrap(),
        clock: Arc::new(clock),
        connector: Arc::new(NoConnector),
        options: RunOptions::default(),
        tuning: Tuning::default(),
        shutdown: CancellationToken::new(),
        holder: "test".into(),
        controls: Default::default(),
        identities: Default::default(),
        metrics: Default::default(),
        liveness: Default::default(),
        replicas: Default::default(),
    }
}

async fn read_missed(daemon: &Daemon, server: &Scripted) {
    let chats = daemon.config.chats.clone();
    reconcile(daemon, &chats, SCOPE, server, DOMAIN)
        .await
        .unwrap();
}

async fn offer_to_both(daemon: &Daemon, server: &Scripted, status: &Status) {
    let chats = daemon.config.chats.clone();
    offer(daemon, &chats, server, DOMAIN, status).await;
}

async fn logged(daemon: &Daemon, scope: &str) -> Vec<String> {
    let commands = daemon.store.steer_log(scope).await.unwrap();
    commands.into_iter().map(|(_, what, _)| what).collect()
}

#[tokio::test]
async fn the_first_reading_takes_the_position_and_later_ones_act_on_what_was_missed() {
    let daemon = daemon().await;
    let server = Scripted::default();
    server.mention(1, "alice", "@chatbot cancel #FirstChat");

    read_missed(&daemon, &server).await;
    assert!(server.posted().is_empty(), "old commands are history");
    assert!(logged(&daemon, "first").await.is_empty());
    let cursor = daemon.store.mention_cursor(SCOPE).await.unwrap();
    assert_eq!(cursor.as_deref(), Some("1"));

    // Sent while the stream was away: acted on at the next reading.
    server.mention(2, "alice", "@chatbot cancel #FirstChat");
    server.mention(3, "bob", "@chatbot optout");
    read_missed(&daemon, &server).await;
    let posted = server.posted();
    assert_eq!(posted.len(), 2, "{posted:?}");
    assert!(posted[0].starts_with("@alice Called off the #FirstChat run"));
    assert!(posted[1].starts_with("@bob Done"));
    assert_eq!(logged(&daemon, "first").await, ["cancel"]);
    let cursor = daemon.store.mention_cursor(SCOPE).await.unwrap();
    assert_eq!(cursor.as_deref(), Some("3"));

    // Nothing new: nothing done, the position kept.
    read_missed(&daemon, &server).await;
    assert_eq!(server.posted().len(), 2);
    let cursor = daemon.store.mention_cursor(SCOPE).await.unwrap();
    assert_eq!(cursor.as_deref(), Some("3"));
}

#[tokio::test]
async fn a_mention_seen_on_the_stream_and_again_in_the_reading_acts_once() {
    let daemon = daemon().await;
    let server = Scripted::default();
    read_missed(&daemon, &server).await;

    let status = server.mention(1, "alice", "@chatbot cancel #FirstChat");
    offer_to_both(&daemon, &server, &status).await;
    read_missed(&daemon, &server).await;
    offer_to_both(&daemon, &server, &status).await;

    assert_eq!(server.posted().len(), 1, "{:?}", server.posted());
    assert_eq!(logged(&daemon, "first").await, ["cancel"]);
    let runs = daemon.store.recent_runs("first", 5).await.unwrap();
    assert_eq!(runs.len(), 1, "one cancelled run: {runs:?}");
}

#[tokio::test]
async fn a_mention_offered_to_two_chats_of_one_account_acts_once() {
    let daemon = daemon().await;
    let server = Scripted::default();
    let cases: &[(&str, &str, &str)] = &[
        ("bob", "@chatbot optout", "@bob Done"),
        ("alice", "@chatbot status", "@alice Which chat?"),
        (
            "alice",
            "@chatbot cancel #SecondChat",
            "@alice Called off the #SecondChat run",
        ),
    ];
    for (n, (who, text, reply)) in cases.iter().enumerate() {
        let status = server.mention(n as u64 + 1, who, text);
        offer_to_both(&daemon, &server, &status).await;
        let posted = server.posted();
        assert_eq!(posted.len(), n + 1, "{text}: {posted:?}");
        assert!(posted[n].starts_with(reply), "{text}: {}", posted[n]);
    }
    assert_eq!(logged(&daemon, "*").await, ["optout"]);
    assert_eq!(logged(&daemon, "first").await, ["status"]);
    assert_eq!(logged(&daemon, "second").await, ["cancel"]);
    assert!(daemon
        .store
        .recent_runs("first", 5)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn commands_from_others_and_lookalikes_do_nothing_and_get_no_answer() {
    let daemon = daemon().await;
    let server = Scripted::default();
    for (n, who) in ["bob", "alice@evil.example"].into_iter().enumerate() {
        let status = server.mention(n as u64 + 1, who, "@chatbot cancel #FirstChat");
        offer_to_both(&daemon, &server, &status).await;
    }
    assert!(server.posted().is_empty(), "{:?}", server.posted());
    assert!(logged(&daemon, "first").await.is_empty());
    assert!(daemon
        .store
        .recent_runs("first", 5)
        .await
        .unwrap()
        .is_empty());
}
