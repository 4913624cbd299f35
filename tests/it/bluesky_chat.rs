//! A whole chat on Bluesky against the in-repo fake (`fake_bluesky`): the
//! daemon posts a threaded 3-question chat with exact facets, takes answers
//! from Jetstream (through a socket drop), finds a reply only the thread
//! read sees, drops a deleted answer, obeys a moderator's mention, logs in
//! once for two daemons on one database, and writes a recap that links to
//! bsky.app.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use hashchat::chats::Chat;
use hashchat::clock::ManualClock;
use hashchat::network::{Social, StreamEvent, Token};
use hashchat::run::{ChatOutcome, Connector, Daemon};
use hashchat::store::Store;
use serde_json::{json, Value};

use crate::fake_bluesky::{FakeBluesky, BOT, BOT_PASSWORD};
use crate::helpers::{assert_all_ok, once_daemon, stored_statuses, within};

const TAG: &str = "EduSkyChat";

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 7, 20, 0, 0).unwrap()
}

/// Post `seq`'s time: intro at the start, Q1 5 min later, 10 min apart.
fn post_time(seq: u32) -> DateTime<Utc> {
    let minutes = match seq {
        0 => 0,
        n => 5 + 10 * (i64::from(n) - 1),
    };
    start() + chrono::Duration::minutes(minutes)
}

fn end_time() -> DateTime<Utc> {
    post_time(4) + chrono::Duration::minutes(10)
}

/// Hands out the Bluesky platform of the chat's account, one per
/// connector (as `RealConnector` does per account), its session kept in
/// the store.
struct BlueskyConnector {
    store: Store,
    client: Mutex<Option<Arc<dyn Social>>>,
}

impl Connector for BlueskyConnector {
    fn connect(&self, chat: &Chat) -> anyhow::Result<Arc<dyn Social>> {
        let mut shared = self.client.lock().unwrap();
        if let Some(client) = shared.as_ref() {
            return Ok(Arc::clone(client));
        }
        let client = hashchat::run::bluesky_platform(
            chat,
            Token::new(BOT_PASSWORD),
            Some(self.store.clone()),
        )?;
        *shared = Some(Arc::clone(&client));
        Ok(client)
    }
}

struct App {
    dir: tempfile::TempDir,
    store: Store,
    clock: ManualClock,
    fake: FakeBluesky,
    chat: Arc<Chat>,
}

impl App {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("hashchat.db")).await.unwrap();
        let clock = ManualClock::new(start() - chrono::Duration::hours(1));
        let fake = FakeBluesky::start().await;
        // The relay's clock is the chat's, as the participants' apps' are.
        let relay = clock.clone();
        fake.world().clock = Some(Arc::new(move || {
            hashchat::clock::Clock::now(&relay).timestamp_micros() as u64
        }));
        let yaml = format!(
            "id: eduskychat\nhashtag: {TAG}\nplatform: bluesky\nserver: {pds}\nhandle: {BOT}\n\
             jetstream: {jet}\nappview: {pds}\nstart: \"{start}\"\nlanguage: en\n\
             intro: \"Welcome to #{TAG}! Say hi to @alice.test 👋\"\n\
             first_question_after: 5m\nquestion_interval: 10m\n\
             questions:\n  - How do you find colleagues online?\n  - Which tools help you most?\n  - What will you try next?\n\
             closing: \"Thanks, everyone! Recap soon.\"\ncollect_after: 10m\n\
             moderators: [\"@alice.test\"]\ntoken_env: HASHCHAT_TEST_UNUSED\nrecap_dir: \"{recaps}\"\n",
            pds = fake.url(),
            jet = fake.jetstream(),
            start = start().to_rfc3339(),
            recaps = dir.path().join("recaps").display(),
        );
        let chat = Arc::new(Chat::from_yaml(&yaml).unwrap_or_else(|e| panic!("{e:?}\n{yaml}")));
        App {
            dir,
            store,
            clock,
            fake,
            chat,
        }
    }

    fn daemon(&self) -> Daemon {
        let connector = Arc::new(BlueskyConnector {
            store: self.store.clone(),
            client: Mutex::default(),
        });
        once_daemon(
            self.dir.path().join("chats.yaml"),
            Arc::clone(&self.chat),
            self.store.clone(),
            self.clock.clone(),
            connector,
            Duration::from_secs(5),
        )
    }

    fn spawn(&self) -> tokio::task::JoinHandle<Vec<ChatOutcome>> {
        let daemon = self.daemon();
        tokio::spawn(async move { daemon.run(&[]).await.expect("daemon") })
    }

    /// Moves the clock to post `seq` and waits until the bot has `count`
    /// posts; returns them as (uri, cid, record), in key order.
    async fn advance_to(&self, seq: u32, count: usize) -> Vec<(String, String, Value)> {
        self.clock.set(post_time(seq));
        self.bot_posts(count).await
    }

    async fn bot_posts(&self, count: usize) -> Vec<(String, String, Value)> {
        within(
            "the bot's posts",
            self.fake.wait_until(|w| {
                w.records
                    .keys()
                    .filter(|(did, col, _)| did == "did:plc:chatbot" && col == "app.bsky.feed.post")
                    .count()
                    >= count
            }),
        )
        .await;
        let world = self.fake.world();
        world
            .records
            .iter()
            .filter(|((did, col, _), _)| did == "did:plc:chatbot" && col == "app.bsky.feed.post")
            .map(|((did, col, rkey), s)| {
                (
                    format!("at://{did}/{col}/{rkey}"),
                    s.cid.clone(),
                    s.value.clone(),
                )
            })
            .collect()
    }

    /// Waits until the run has stored `count` statuses (deleted included).
    async fn stored(&self, count: usize) -> Vec<hashchat::store::StatusRow> {
        stored_statuses(&self.store, "eduskychat", count).await
    }
}

/// A participant's tag facet over `#EduSkyChat` in `text`.
fn tag_facet(text: &str) -> Value {
    let start = text.find(&format!("#{TAG}")).unwrap();
    json!([{"index": {"byteStart": start, "byteEnd": start + TAG.len() + 1},
            "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": TAG}]}])
}

/// A mention facet of the bot over `@chatbot.test` in `text`.
fn bot_mention(text: &str) -> Value {
    let start = text.find(&format!("@{BOT}")).unwrap();
    json!([{"index": {"byteStart": start, "byteEnd": start + BOT.len() + 1},
            "features": [{"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:chatbot"}]}])
}

/// The text each facet of `record` covers, with its feature.
fn covered(record: &Value) -> Vec<(String, Value)> {
    let text = record["text"].as_str().unwrap().as_bytes();
    record["facets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            let s = f["index"]["byteStart"].as_u64().unwrap() as usize;
            let e = f["index"]["byteEnd"].as_u64().unwrap() as usize;
            (
                String::from_utf8(text[s..e].to_vec()).unwrap(),
                f["features"][0].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_whole_chat_runs_on_bluesky_threaded_with_exact_facets_and_every_answer_once() {
    let app = App::new().await;
    let daemon = app.spawn();

    // The intro: tag and mention facets over their exact bytes (the text
    // holds an emoji before the mention), language, the bot self-label.
    let posts = app.advance_to(0, 1).await;
    let (intro_uri, intro_cid, intro) = posts[0].clone();
    assert_eq!(
        covered(&intro),
        vec![
            (
                format!("#{TAG}"),
                json!({"$type": "app.bsky.richtext.facet#tag", "tag": TAG})
            ),
            (
                "@alice.test".to_string(),
                json!({"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:alice"})
            ),
        ]
    );
    assert_eq!(intro["langs"], json!(["en"]));
    assert!(intro.get("reply").is_none());
    let profile = app.fake.world().records[&(
        "did:plc:chatbot".into(),
        "app.bsky.actor.profile".into(),
        "self".into(),
    )]
        .value
        .clone();
    assert_eq!(profile["labels"]["values"], json!([{"val": "bot"}]));
    // The hashtag stream and the mention stream share one Jetstream socket.
    within(
        "the Jetstream socket",
        app.fake.wait_until(|w| !w.subscriptions.is_empty()),
    )
    .await;

    // Q1, threaded under the intro.
    let posts = app.advance_to(1, 2).await;
    let (q1_uri, q1_cid, q1) = posts[1].clone();
    assert_eq!(
        q1["reply"]["root"],
        json!({"uri": intro_uri, "cid": intro_cid})
    );
    assert_eq!(
        q1["reply"]["parent"],
        json!({"uri": intro_uri, "cid": intro_cid})
    );
    let a1 = format!("A1 Mastodon and a blog #{TAG}");
    app.fake
        .post_as("alice", "3alice0000001", &a1, None, tag_facet(&a1));
    app.fake
        .post_as("alice", "3alice0000002", "Unrelated post", None, json!([]));
    // No facets, no hashtag: a reply to the question.
    let q1_ref = (q1_uri.as_str(), q1_cid.as_str());
    let (bob_a1, _) = app.fake.post_as(
        "bob",
        "3bob00000001a",
        "Local meetups, always",
        Some(((intro_uri.as_str(), intro_cid.as_str()), q1_ref)),
        json!([]),
    );
    // Stored: the socket has read every event so far (bob's is the last).
    let rows = app.stored(2).await;
    assert!(rows.iter().any(|r| r.status_id == bob_a1));

    // A socket drop: the consumer reconnects with its cursor rewound.
    let last_before_drop = app.fake.world().events.last().unwrap().0;
    app.fake.drop_jetstream();
    within(
        "the Jetstream reconnection",
        app.fake.wait_until(|w| w.subscriptions.len() >= 2),
    )
    .await;
    let cursors = app.fake.subscriptions();
    let rewound = last_before_drop - 5_000_000;
    assert!(
        cursors[1..].contains(&Some(rewound)),
        "reconnected with the cursor rewound 5 s: {cursors:?}"
    );

    // Q2: the hashtag in the text only (no facets), and a deleted answer.
    let posts = app.advance_to(2, 3).await;
    let (q2_uri, q2_cid, q2) = posts[2].clone();
    assert_eq!(
        q2["reply"]["root"],
        json!({"uri": intro_uri, "cid": intro_cid})
    );
    assert_eq!(q2["reply"]["parent"], json!({"uri": q1_uri, "cid": q1_cid}));
    let (alice_a2, _) = app.fake.post_as(
        "alice",
        "3alice0000003",
        &format!("A2 a shared notebook #{TAG}"),
        None,
        json!([]),
    );
    let (oops, _) = app.fake.post_as(
        "bob",
        "3bob00000002a",
        &format!("A2 wrong answer #{TAG}"),
        None,
        json!([]),
    );
    let (gone_quietly, _) = app.fake.post_as(
        "bob",
        "3bob00000002b",
        "Podcasts too",
        Some((
            (intro_uri.as_str(), intro_cid.as_str()),
            (q2_uri.as_str(), q2_cid.as_str()),
        )),
        json!([]),
    );
    app.stored(5).await;
    app.fake.delete_as("bob", "3bob00000002a");
    // A delete the socket never carries: found when the post is read alone.
    app.fake.delete_quietly_as("bob", "3bob00000002b");
    // An edit (an `update` commit) replaces the stored text.
    let edited = format!("A2 a shared notebook, and a wiki #{TAG}");
    app.fake.edit_as("alice", "3alice0000003", &edited);
    let mut changes = app.store.watch_changes();
    within("the edit to be stored", async {
        loop {
            let rows = app
                .store
                .statuses(
                    app.store
                        .latest_run("eduskychat")
                        .await
                        .unwrap()
                        .unwrap()
                        .id,
                )
                .await
                .unwrap();
            if rows
                .iter()
                .any(|r| r.text == edited && r.edited_at.is_some())
            {
                return;
            }
            changes.changed().await.unwrap();
        }
    })
    .await;

    // Q3: an answer the socket never carries (found by the thread read).
    let posts = app.advance_to(3, 4).await;
    let (q3_uri, q3_cid, q3) = posts[3].clone();
    assert_eq!(q3["reply"]["parent"], json!({"uri": q2_uri, "cid": q2_cid}));
    let (quiet, _) = app.fake.post_quietly_as(
        "bob",
        "3bob00000003a",
        "A3 pair up with a colleague",
        Some((
            (intro_uri.as_str(), intro_cid.as_str()),
            (q3_uri.as_str(), q3_cid.as_str()),
        )),
    );

    // The moderator ends the chat by mention: the closing goes out now,
    // before its time, and the moderator is answered by a mention reply.
    let command = format!("@{BOT} stop");
    let (mention, _) = app.fake.post_as(
        "alice",
        "3alice0000004",
        &command,
        None,
        bot_mention(&command),
    );
    let posts = app.bot_posts(6).await;
    let reply = posts
        .iter()
        .find(|(_, _, r)| r["reply"]["parent"]["uri"] == mention.as_str())
        .expect("the moderator is answered");
    assert!(reply.2["text"]
        .as_str()
        .unwrap()
        .starts_with("@alice.test "));
    let closing = posts
        .iter()
        .find(|(_, _, r)| r["text"].as_str().unwrap().starts_with("Thanks, everyone!"))
        .expect("the closing is posted on the moderator's stop");
    assert_eq!(closing.2["reply"]["root"]["uri"], intro_uri.as_str());

    app.clock.set(end_time());
    assert_all_ok(&within("the run to end", daemon).await.unwrap());

    // Every answer once; the deleted one marked; the quiet one found.
    let run = app.store.latest_run("eduskychat").await.unwrap().unwrap();
    let rows = app.store.statuses(run.id).await.unwrap();
    let mut ids: Vec<&str> = rows.iter().map(|r| r.status_id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), rows.len(), "nothing stored twice: {rows:#?}");
    assert!(rows.iter().any(|r| r.status_id == quiet), "{rows:#?}");
    for deleted in [&oops, &gone_quietly] {
        assert!(
            rows.iter()
                .any(|r| r.status_id == *deleted && r.deleted_at.is_some()),
            "{deleted} is marked deleted: {rows:#?}"
        );
    }
    assert!(!rows.iter().any(|r| r.text.contains("Unrelated")));

    // The recap JSON: answers per question with bsky.app links.
    let recap = hashchat::recap::build(&app.store, &app.chat, run.id)
        .await
        .unwrap();
    let json = serde_json::to_value(&recap).unwrap();
    let answers = |n: usize| -> Vec<(String, String)> {
        json["questions"][n]["answers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["account"].as_str().unwrap().to_string(),
                    a["url"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let link = |handle: &str, rkey: &str| {
        (
            handle.to_string(),
            format!("https://bsky.app/profile/{handle}/post/{rkey}"),
        )
    };
    assert_eq!(
        answers(0),
        vec![
            link("alice.test", "3alice0000001"),
            link("bob.test", "3bob00000001a")
        ]
    );
    assert_eq!(answers(1), vec![link("alice.test", "3alice0000003")]);
    assert_eq!(json["questions"][1]["answers"][0]["text"], edited.as_str());
    assert_eq!(answers(2), vec![link("bob.test", "3bob00000003a")]);
    assert!(json["questions"][0]["url"]
        .as_str()
        .unwrap()
        .starts_with("https://bsky.app/profile/chatbot.test/post/"));
    assert!(rows
        .iter()
        .any(|r| r.status_id == alice_a2 && r.text == edited));

    // One login for the whole run, and none for a second daemon on the
    // same database: it uses the stored session.
    assert_eq!(app.fake.world().logins, 1);
    let second = BlueskyConnector {
        store: app.store.clone(),
        client: Mutex::default(),
    };
    let social = second.connect(&app.chat).unwrap();
    let me = social.me().await.unwrap();
    assert_eq!((me.id.as_str(), me.acct.as_str()), ("did:plc:chatbot", BOT));
    assert_eq!(app.fake.world().logins, 1);
}

#[tokio::test]
async fn a_restarted_process_resumes_jetstream_from_the_stored_cursor() {
    let app = App::new().await;
    let connect = || {
        BlueskyConnector {
            store: app.store.clone(),
            client: Mutex::default(),
        }
        .connect(&app.chat)
        .unwrap()
    };
    let first = connect();
    let mut stream = first.hashtag_stream(TAG).await.unwrap();
    within(
        "the Jetstream socket",
        app.fake.wait_until(|w| !w.subscriptions.is_empty()),
    )
    .await;
    let before = format!("Before the restart #{TAG}");
    let (seen, _) = app
        .fake
        .post_as("alice", "3alice0000001", &before, None, json!([]));
    match within("the first answer", stream.next()).await {
        Some(hashchat::network::StreamEvent::Update(status)) => assert_eq!(status.id, seen),
        other => panic!("{other:?}"),
    }
    let read_up_to = app.fake.world().events.last().unwrap().0;
    drop((stream, first));

    // Posted while no process reads: the next one must still see it.
    let during = format!("During the restart #{TAG}");
    let (missed, _) = app
        .fake
        .post_as("bob", "3bob00000001a", &during, None, json!([]));
    let mut stream = connect().hashtag_stream(TAG).await.unwrap();
    within("the answer posted while down", async {
        loop {
            match stream.next().await {
                Some(hashchat::network::StreamEvent::Update(s)) if s.id == missed => return,
                Some(_) => continue,
                None => panic!("the stream ended"),
            }
        }
    })
    .await;
    assert_eq!(
        app.fake.subscriptions().last(),
        Some(&Some(read_up_to - 5_000_000)),
        "resumed from the stored cursor, rewound"
    );
    assert_eq!(app.fake.world().logins, 1);
}

/// The next event of `stream`, within the test's patience.
async fn next_event(stream: &mut hashchat::network::HashtagStream) -> StreamEvent {
    within("a stream event", stream.next())
        .await
        .expect("the stream ended")
}

#[tokio::test]
async fn a_chats_stream_and_the_mention_stream_share_one_jetstream_socket() {
    let app = App::new().await;
    let social = BlueskyConnector {
        store: app.store.clone(),
        client: Mutex::default(),
    }
    .connect(&app.chat)
    .unwrap();
    let mut answers = social.hashtag_stream(TAG).await.unwrap();
    let mut mentions = social.user_stream().await.unwrap();
    within(
        "the Jetstream socket",
        app.fake.wait_until(|w| !w.subscriptions.is_empty()),
    )
    .await;

    let answer = format!("A1 blogs #{TAG}");
    let (answer_uri, _) =
        app.fake
            .post_as("alice", "3alice0000001", &answer, None, tag_facet(&answer));
    let command = format!("@{BOT} pause");
    let (command_uri, _) = app.fake.post_as(
        "bob",
        "3bob00000001a",
        &command,
        None,
        bot_mention(&command),
    );
    match next_event(&mut answers).await {
        StreamEvent::Update(status) => assert_eq!(status.id, answer_uri),
        other => panic!("the chat's stream got {other:?}"),
    }
    match next_event(&mut mentions).await {
        StreamEvent::Mention(status) => assert_eq!(status.id, command_uri),
        other => panic!("the mention stream got {other:?}"),
    }

    // The chat's stream goes; the mentions still arrive on the same socket.
    drop(answers);
    let again = format!("@{BOT} resume #{TAG}");
    let (again_uri, _) =
        app.fake
            .post_as("bob", "3bob00000002a", &again, None, bot_mention(&again));
    match next_event(&mut mentions).await {
        StreamEvent::Mention(status) => assert_eq!(status.id, again_uri),
        other => panic!("the mention stream got {other:?}"),
    }
    assert_eq!(app.fake.subscriptions().len(), 1, "one socket for both");
}
