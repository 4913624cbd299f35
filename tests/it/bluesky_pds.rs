//! Hashchat against a real Bluesky PDS (`@atproto/pds` 0.5 with an in-memory PLC directory),
//! run offline on loopback, one per test process (`bluesky_pds/pds.rs`); a Jetstream bridge and
//! a small appview fed by the PDS's repositories (`bluesky_pds/jetstream_bridge.rs`,
//! `bluesky_pds/appview.rs`) stand in for the services the offline PDS lacks.
//!
//! By hand: `cargo test --test it bluesky_pds:: -- --nocapture`.

mod appview;
mod chat_app;
mod jetstream_bridge;
mod pds;

use std::fs;
use std::sync::Arc;
use std::time::Duration;

use chat_app::ChatApp;
use chrono::{DateTime, Utc};
use hashchat::chats::Hashtag;
use hashchat::network::bluesky::{
    record_key, Account, AppPassword, BlueskyClient, Filter, JetEvent, Jetstream,
    MemorySessionStore, NewPost, ReplyRef, POST, PROFILE, REWIND,
};
use jetstream_bridge::JetstreamBridge;
use pds::{Pds, READY_WITHIN};
use serde_json::{json, Value};

/// A valid 1×1 PNG: the PDS sniffs an upload's type from its bytes.
const PNG_1X1: &[u8] = b"\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90\x77\x53\xde\x00\x00\x00\x0c\x49\x44\x41\x54\x78\x9c\x63\xf8\xdf\xc0\x00\x00\x04\x01\x01\x80\xc5\x2a\x18\x5d\x00\x00\x00\x00\x49\x45\x4e\x44\xae\x42\x60\x82";

fn start() -> DateTime<Utc> {
    "2026-12-07T20:00:00Z".parse().unwrap()
}

fn covered<'a>(text: &'a str, record: &Value) -> Vec<(&'a str, Value)> {
    record["facets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            let s = f["index"]["byteStart"].as_u64().unwrap() as usize;
            let e = f["index"]["byteEnd"].as_u64().unwrap() as usize;
            (&text[s..e], f["features"][0].clone())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_thread_with_facets_posts_to_the_real_pds_and_reads_back() {
    let Some(pds) = Pds::start().await else {
        return;
    };
    let (bot_did, app_password) = pds.account("hashchatbot").await;
    let (alice_did, _) = pds.account("alice").await;
    let account = Account {
        pds: pds.url.parse().unwrap(),
        appview: pds.url.parse().unwrap(),
        identifier: "hashchatbot.test".into(),
        password: AppPassword::new(app_password),
    };
    let bot = BlueskyClient::new(account, Arc::new(MemorySessionStore::default())).unwrap();
    let new = |text: &str, seq, reply| NewPost {
        text: text.into(),
        langs: vec!["de".into()],
        reply,
        images: Vec::new(),
        rkey: record_key("eduskychat", start(), seq),
        created_at: start(),
    };

    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("intro.png");
    fs::write(&png, PNG_1X1).unwrap();
    let image = bot.upload_image(&png, "One orange pixel").await.unwrap();
    let mut intro_post = new("Willkommen 👋 zum #EduSkyChat!", 0, None);
    intro_post.images = vec![image];
    // The refresh the real PDS takes is a POST without any body.
    bot.renew_now().await.unwrap();
    let intro = bot.publish(&intro_post).await.unwrap();
    let q1_text = "Q1 🎓 Was lernen Schüler·innen? #EduSkyChat @alice.test https://ex.test/ä";
    let q1_post = new(
        q1_text,
        1,
        Some(ReplyRef {
            root: intro.clone(),
            parent: intro.clone(),
        }),
    );
    let q1 = bot.publish(&q1_post).await.unwrap();
    let q2 = bot
        .publish(&new(
            "Q2 und? #EduSkyChat",
            2,
            Some(ReplyRef {
                root: intro.clone(),
                parent: q1.clone(),
            }),
        ))
        .await
        .unwrap();
    assert_eq!(
        bot.publish(&q1_post).await.unwrap(),
        q1,
        "a resend is the same post"
    );
    bot.label_as_bot().await.unwrap();

    let read = bot
        .get_record(&bot_did, POST, &record_key("eduskychat", start(), 1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.cid.as_deref(), Some(q1.cid.as_str()));
    assert_eq!(
        covered(q1_text, &read.value),
        vec![
            (
                "#EduSkyChat",
                json!({"$type": "app.bsky.richtext.facet#tag", "tag": "EduSkyChat"})
            ),
            (
                "@alice.test",
                json!({"$type": "app.bsky.richtext.facet#mention", "did": alice_did})
            ),
            (
                "https://ex.test/ä",
                json!({"$type": "app.bsky.richtext.facet#link", "uri": "https://ex.test/ä"})
            ),
        ]
    );
    assert_eq!(
        read.value["reply"]["root"],
        json!({"uri": intro.uri, "cid": intro.cid})
    );
    let q2_read = bot
        .get_record(&bot_did, POST, &record_key("eduskychat", start(), 2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        q2_read.value["reply"]["parent"],
        json!({"uri": q1.uri, "cid": q1.cid})
    );
    assert_eq!(q2_read.uri, q2.uri);
    let intro_read = bot
        .get_record(&bot_did, POST, &record_key("eduskychat", start(), 0))
        .await
        .unwrap()
        .unwrap();
    let image = &intro_read.value["embed"]["images"][0];
    assert_eq!(image["alt"], "One orange pixel");
    assert_eq!(image["image"]["mimeType"], "image/png");
    let page = bot.list_records(POST, None).await.unwrap();
    assert_eq!(
        page.records.len(),
        3,
        "three posts, the resend not among them"
    );
    let profile = bot
        .get_record(&bot_did, PROFILE, "self")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(profile.value["labels"]["values"], json!([{"val": "bot"}]));

    bot.delete_post(&q2.uri).await.unwrap();
    assert!(bot
        .get_record(&bot_did, POST, &record_key("eduskychat", start(), 2))
        .await
        .unwrap()
        .is_none());
}

/// A post record as a participant's app writes it; a `#tag` in `text` gets its facet.
fn post_record(text: &str, reply: Option<&(String, String)>) -> Value {
    let mut record = json!({"$type": POST, "text": text, "createdAt": Utc::now().to_rfc3339(),
        "langs": ["en"]});
    if let Some(at) = text.find('#') {
        let tag: String = text[at + 1..]
            .chars()
            .take_while(|c| c.is_alphanumeric())
            .collect();
        record["facets"] = json!([{"index": {"byteStart": at, "byteEnd": at + 1 + tag.len()},
            "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": tag}]}]);
    }
    if let Some((uri, cid)) = reply {
        let strong = json!({"uri": uri, "cid": cid});
        record["reply"] = json!({"root": strong, "parent": strong});
    }
    record
}

/// What a test needs of an event: its kind, author's handle-free key and text.
fn seen(event: &JetEvent) -> String {
    match event {
        JetEvent::Created(p) => format!("create {}", p.record.text),
        JetEvent::Updated(p) => format!("update {}", p.record.text),
        JetEvent::Deleted { uri, .. } => format!("delete {uri}"),
    }
}

/// Bounds a wait on the other processes (the PDS, the bridge); it times no behaviour.
async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(READY_WITHIN, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within {READY_WITHIN:?}"))
}

type Received = tokio::sync::mpsc::UnboundedReceiver<(String, Option<u64>)>;

/// The listener's next event and its cursor then.
async fn next(received: &mut Received) -> (String, Option<u64>) {
    within("an event", received.recv())
        .await
        .expect("listener alive")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_on_the_real_pds_reach_hashchat_through_jetstream() {
    let Some(pds) = Pds::start().await else {
        return;
    };
    // The PDS is shared with the other tests of the process, whose posts the bridge sends
    // too, as a firehose would: a tag of its own keeps them out of this chat.
    let bridge = JetstreamBridge::start(&pds.url).await;
    let bot = pds.participant("jetbot").await;
    let (alice, bob, carol) = (
        pds.participant("jetalice").await,
        pds.participant("jetbob").await,
        pds.participant("jetcarol").await,
    );
    let question = pds
        .write_post(&bot, None, post_record("Q1 what changes first?", None))
        .await;
    bridge.sync().await;

    // hashchat's client, as a run's listener holds it: watching the question's thread.
    let mut filter = Filter::new(Hashtag::parse("JetTestChat").unwrap());
    filter.watch_thread(question.0.clone());
    let mut jet = Jetstream::new(bridge.url().parse().unwrap(), filter, None);
    let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
    let listener = tokio::spawn(async move {
        loop {
            let event = jet.next().await.expect("a usable Jetstream URL");
            if events.send((seen(&event), jet.cursor())).is_err() {
                return;
            }
        }
    });
    within(
        "the first connection",
        bridge.wait_until(|s| s.subscriptions.len() == 1),
    )
    .await;

    let tagged = pds
        .write_post(
            &alice,
            None,
            post_record("A1 small groups #JetTestChat", None),
        )
        .await;
    pds.write_post(&carol, None, post_record("lunch, anyone?", None))
        .await;
    let untagged = pds
        .write_post(&bob, None, post_record("A1 every week", Some(&question)))
        .await;
    bridge.sync().await;
    assert_eq!(
        next(&mut received).await.0,
        "create A1 small groups #JetTestChat"
    );
    assert_eq!(
        next(&mut received).await.0,
        "create A1 every week",
        "a reply without the tag"
    );

    let rkey = tagged.0.rsplit('/').next().unwrap();
    let edited = post_record("A1 small groups, weekly #JetTestChat", None);
    pds.write_post(&alice, Some(rkey), edited).await;
    bridge.sync().await;
    assert_eq!(
        next(&mut received).await.0,
        "update A1 small groups, weekly #JetTestChat"
    );
    // The thread read at the end of collection, through the test appview (same PDS reads).
    let reader = BlueskyClient::new(
        Account {
            pds: pds.url.parse().unwrap(),
            appview: bridge.appview().parse().unwrap(),
            identifier: "jetbot.test".into(),
            password: AppPassword::new("unused: public reads send no token"),
        },
        Arc::new(MemorySessionStore::default()),
    )
    .unwrap();
    let thread = reader.post_thread(&question.0).await.unwrap().unwrap();
    let read: Vec<_> = thread
        .iter()
        .map(|p| {
            (
                p.uri.as_str(),
                p.author_handle.as_str(),
                p.parent_uri.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        read,
        vec![
            (question.0.as_str(), "jetbot.test", None),
            (
                untagged.0.as_str(),
                "jetbob.test",
                Some(question.0.as_str())
            ),
        ]
    );
    pds.delete_post(&bob, &untagged.0).await;
    bridge.sync().await;
    let (deleted, _) = next(&mut received).await;
    assert_eq!(deleted, format!("delete {}", untagged.0));
    // Every frame sent before the drop reaches the client before the close does.
    let last_before_drop = bridge.state().events.last().expect("frames").0;

    // A drop: the client reconnects from its cursor; what came meanwhile arrives once, and
    // what it had already (inside the rewind) not again.
    bridge.pause();
    bridge.drop_sockets();
    within(
        "the reconnection",
        bridge.wait_until(|s| s.subscriptions.len() == 2),
    )
    .await;
    pds.write_post(
        &alice,
        None,
        post_record("A2 while it was away #JetTestChat", None),
    )
    .await;
    bridge.sync().await;
    bridge.resume();
    assert_eq!(
        next(&mut received).await.0,
        "create A2 while it was away #JetTestChat"
    );
    pds.write_post(
        &alice,
        None,
        post_record("A3 live again #JetTestChat", None),
    )
    .await;
    bridge.sync().await;
    assert_eq!(
        next(&mut received).await.0,
        "create A3 live again #JetTestChat",
        "nothing replayed twice before it"
    );
    let rewound = last_before_drop - REWIND.as_micros() as u64;
    assert_eq!(bridge.state().subscriptions, vec![None, Some(rewound)]);
    assert!(
        bridge.state().events.len() >= 7,
        "every post, the chat's or not, went out on the bridge"
    );
    drop(received);
    listener.abort();
}

/// The bot's posts as the bridge last read them: (uri, cid, record), in posting order.
fn bot_posts(bridge: &JetstreamBridge, bot: &str) -> Vec<(String, String, Value)> {
    let prefix = format!("at://{bot}/{POST}/");
    let state = bridge.state();
    let mut posts: Vec<_> = state
        .posts
        .iter()
        .filter(|(uri, _)| uri.starts_with(&prefix))
        .map(|(uri, (cid, record))| (uri.clone(), cid.clone(), record.clone()))
        .collect();
    posts.sort_by(|a, b| a.0.rsplit('/').next().cmp(&b.0.rsplit('/').next()));
    posts
}

/// Moves the chat's clock to post `seq` and waits until the bridge has read `count` posts of
/// the bot from the PDS.
async fn bot_posts_at(
    app: &ChatApp,
    bridge: &JetstreamBridge,
    bot: &str,
    seq: u32,
    count: usize,
) -> Vec<(String, String, Value)> {
    app.clock.set(chat_app::post_time(seq));
    let prefix = format!("at://{bot}/{POST}/");
    within(
        "the bot's posts on the PDS",
        bridge.wait_until(|s| s.posts.keys().filter(|u| u.starts_with(&prefix)).count() >= count),
    )
    .await;
    bot_posts(bridge, bot)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_chat_runs_on_the_real_pds() {
    let Some(pds) = Pds::start().await else {
        return;
    };
    let bridge = Arc::new(JetstreamBridge::start(&pds.url).await);
    // The daemon posts on its own: the bridge reads the PDS in the background as well.
    bridge.poll_every(Duration::from_millis(50));
    let (bot, password) = pds.account("chatbot").await;
    let (alice, bob) = (
        pds.participant("chatalice").await,
        pds.participant("chatbob").await,
    );
    let app = ChatApp::new(&pds.url, &bridge, "chatbot.test", &password).await;
    let clock = app.clock.clone();
    bridge.set_clock(move || hashchat::clock::Clock::now(&clock).timestamp_micros() as u64);
    let daemon = app.spawn();
    // Answers are dated by their records' `createdAt`: the chat's (manual) time, not the wall's.
    let post_record = |text: &str, reply: Option<&(String, String)>| {
        let mut record = post_record(text, reply);
        record["createdAt"] = json!(hashchat::clock::Clock::now(&app.clock).to_rfc3339());
        record
    };

    let posts = bot_posts_at(&app, &bridge, &bot, 0, 1).await;
    let intro = (posts[0].0.clone(), posts[0].1.clone());
    assert_eq!(
        covered(posts[0].2["text"].as_str().unwrap(), &posts[0].2),
        vec![(
            "#PdsWholeChat",
            json!({"$type": "app.bsky.richtext.facet#tag", "tag": chat_app::TAG})
        )]
    );
    within(
        "the socket of the tag and mention streams",
        bridge.wait_until(|s| !s.subscriptions.is_empty()),
    )
    .await;

    let posts = bot_posts_at(&app, &bridge, &bot, 1, 2).await;
    let q1 = (posts[1].0.clone(), posts[1].1.clone());
    let strong = |r: &(String, String)| json!({"uri": r.0, "cid": r.1});
    assert_eq!(posts[1].2["reply"]["root"], strong(&intro));
    assert_eq!(posts[1].2["reply"]["parent"], strong(&intro));
    let a1 = pds
        .write_post(
            &alice,
            None,
            post_record("A1 Mastodon and a blog #PdsWholeChat", None),
        )
        .await;
    pds.write_post(&alice, None, post_record("Unrelated post", None))
        .await;
    let bob_a1 = pds
        .write_post(&bob, None, post_record("Local meetups, always", Some(&q1)))
        .await;
    app.stored(2).await;

    let posts = bot_posts_at(&app, &bridge, &bot, 2, 3).await;
    assert_eq!(posts[2].2["reply"]["parent"], strong(&q1));
    let a2 = pds
        .write_post(
            &alice,
            None,
            post_record("A2 a shared notebook #PdsWholeChat", None),
        )
        .await;
    let oops = pds
        .write_post(
            &bob,
            None,
            post_record("A2 wrong answer #PdsWholeChat", None),
        )
        .await;
    app.stored(4).await;
    pds.delete_post(&bob, &oops.0).await;

    let posts = bot_posts_at(&app, &bridge, &bot, 3, 4).await;
    let q3 = (posts[3].0.clone(), posts[3].1.clone());
    // An answer the socket never carries: only the thread read at the end finds it.
    let quiet = record_key("quiet", chat_app::start(), 3);
    bridge.never_send(&format!("at://{}/{POST}/{quiet}", bob.0));
    let bob_a3 = pds
        .write_post(
            &bob,
            Some(&quiet),
            post_record("A3 pair up with a colleague", Some(&q3)),
        )
        .await;
    let posts = bot_posts_at(&app, &bridge, &bot, 4, 5).await;
    assert!(posts[4].2["text"]
        .as_str()
        .unwrap()
        .starts_with("Thanks, everyone!"));
    app.clock.set(chat_app::end_time());
    crate::helpers::assert_all_ok(&within("the run to end", daemon).await.unwrap());

    let run = app.store.latest_run("pdschat").await.unwrap().unwrap();
    let rows = app.store.statuses(run.id).await.unwrap();
    assert_eq!(rows.len(), 5, "every answer once: {rows:#?}");
    assert!(rows
        .iter()
        .any(|r| r.status_id == oops.0 && r.deleted_at.is_some()));
    assert!(!rows.iter().any(|r| r.text.contains("Unrelated")));
    let recap = hashchat::recap::build(&app.store, &app.chat, run.id)
        .await
        .unwrap();
    let json = serde_json::to_value(&recap).unwrap();
    // Answers made at the same chat time: their order in the recap is not this test's concern.
    let answers = |n: usize| {
        json["questions"][n]["answers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["url"].as_str().unwrap().to_string())
            .collect::<std::collections::BTreeSet<_>>()
    };
    let link = |handle: &str, uri: &str| {
        let rkey = uri.rsplit('/').next().unwrap();
        format!("https://bsky.app/profile/{handle}/post/{rkey}")
    };
    assert_eq!(
        answers(0),
        [
            link("chatalice.test", &a1.0),
            link("chatbob.test", &bob_a1.0)
        ]
        .into()
    );
    assert_eq!(answers(1), [link("chatalice.test", &a2.0)].into());
    assert_eq!(answers(2), [link("chatbob.test", &bob_a3.0)].into());
}
