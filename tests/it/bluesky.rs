//! The Bluesky client against the in-repo fake (`fake_bluesky`): sessions,
//! facets, threads, exactly-once posts, public reads and Jetstream.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use hashchat::chats::Hashtag;
use hashchat::network::bluesky::{
    record_key, Account, AppPassword, BlueskyClient, Filter, JetEvent, Jetstream,
    MemorySessionStore, NewPost, ReplyRef, SessionStore, StrongRef,
};
use serde_json::json;

use crate::fake_bluesky::{FakeBluesky, BOT, BOT_PASSWORD};

fn start() -> DateTime<Utc> {
    "2026-12-07T20:00:00Z".parse().unwrap()
}

fn client(fake: &FakeBluesky, store: Arc<dyn SessionStore>) -> BlueskyClient {
    let account = Account {
        pds: fake.url().parse().unwrap(),
        appview: fake.url().parse().unwrap(),
        identifier: BOT.into(),
        password: AppPassword::new(BOT_PASSWORD),
    };
    BlueskyClient::new(account, store).unwrap()
}

fn fresh(fake: &FakeBluesky) -> BlueskyClient {
    client(fake, Arc::new(MemorySessionStore::default()))
}

fn post(text: &str, seq: u32, reply: Option<ReplyRef>) -> NewPost {
    NewPost {
        text: text.into(),
        langs: vec!["en".into()],
        reply,
        images: Vec::new(),
        rkey: record_key("eduskychat", start(), seq),
        created_at: start(),
    }
}

fn reply(root: &StrongRef, parent: &StrongRef) -> Option<ReplyRef> {
    Some(ReplyRef {
        root: root.clone(),
        parent: parent.clone(),
    })
}

#[tokio::test]
async fn facets_cover_the_exact_bytes_of_tags_links_and_mentions_in_multibyte_text() {
    let fake = FakeBluesky::start().await;
    let bot = fresh(&fake);
    let text =
        "Q1 🎓 Schüler·innen? #EduSkyChat – ask @alice.test, not @nobody.test: https://ex.test/ä";
    bot.publish(&post(text, 1, None)).await.unwrap();

    let (_, record) = fake.bot_posts().pop().unwrap();
    let covered: Vec<(&str, serde_json::Value)> = record["facets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let (s, e) = (
                f["index"]["byteStart"].as_u64().unwrap(),
                f["index"]["byteEnd"].as_u64().unwrap(),
            );
            (&text[s as usize..e as usize], f["features"][0].clone())
        })
        .collect();
    assert_eq!(
        covered,
        vec![
            (
                "#EduSkyChat",
                json!({"$type": "app.bsky.richtext.facet#tag", "tag": "EduSkyChat"})
            ),
            (
                "@alice.test",
                json!({"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:alice"})
            ),
            (
                "https://ex.test/ä",
                json!({"$type": "app.bsky.richtext.facet#link", "uri": "https://ex.test/ä"})
            ),
        ],
        "an unresolvable handle gets no facet"
    );
    assert_eq!(record["langs"], json!(["en"]));
}

#[tokio::test]
async fn questions_thread_under_the_intro_and_read_back_through_the_thread() {
    let fake = FakeBluesky::start().await;
    let bot = fresh(&fake);
    let intro = bot
        .publish(&post("Welcome to #EduSkyChat", 0, None))
        .await
        .unwrap();
    let q1 = bot
        .publish(&post("Q1 #EduSkyChat", 1, reply(&intro, &intro)))
        .await
        .unwrap();
    let q2 = bot
        .publish(&post("Q2 #EduSkyChat", 2, reply(&intro, &q1)))
        .await
        .unwrap();
    let (answer, _) = fake.post_as(
        "alice",
        "3alice0000001",
        "A1 yes",
        Some(((&intro.uri, &intro.cid), (&q1.uri, &q1.cid))),
        json!([]),
    );

    let thread = bot.post_thread(&intro.uri).await.unwrap().unwrap();
    // Parents come before their replies; siblings in the server's order.
    let mut chain: Vec<(&str, Option<&str>)> = thread
        .iter()
        .map(|p| (p.uri.as_str(), p.parent_uri.as_deref()))
        .collect();
    assert_eq!(chain[0], (intro.uri.as_str(), None));
    chain.sort();
    let mut want = vec![
        (intro.uri.as_str(), None),
        (q1.uri.as_str(), Some(intro.uri.as_str())),
        (q2.uri.as_str(), Some(q1.uri.as_str())),
        (answer.as_str(), Some(q1.uri.as_str())),
    ];
    want.sort();
    assert_eq!(chain, want);
    let q2_record = &thread.iter().find(|p| p.uri == q2.uri).unwrap().record;
    assert_eq!(q2_record.reply, reply(&intro, &q1));
    assert_eq!(
        bot.post_thread(&format!("{}x", q2.uri))
            .await
            .unwrap()
            .map(|t| t.len()),
        None
    );
}

#[tokio::test]
async fn posting_again_with_the_same_key_returns_the_first_post_instead_of_a_second() {
    let fake = FakeBluesky::start().await;
    let store: Arc<dyn SessionStore> = Arc::new(MemorySessionStore::default());
    let first = client(&fake, Arc::clone(&store))
        .publish(&post("Q1 #EduSkyChat", 1, None))
        .await
        .unwrap();
    // A restarted process: a new client, the session from the store.
    let mut resent = post("Q1 #EduSkyChat", 1, None);
    resent.created_at = Utc::now();
    let again = client(&fake, store).publish(&resent).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(fake.bot_posts().len(), 1);
    assert_eq!(fake.world().events.len(), 1, "no second commit");
}

#[tokio::test]
async fn many_calls_log_in_once_and_an_expired_token_is_refreshed_with_no_body() {
    let fake = FakeBluesky::start().await;
    let store: Arc<dyn SessionStore> = Arc::new(MemorySessionStore::default());
    let bot = Arc::new(client(&fake, Arc::clone(&store)));
    let posts = (1..=5).map(|seq| {
        let bot = Arc::clone(&bot);
        tokio::spawn(async move { bot.publish(&post(&format!("Q{seq}"), seq, None)).await })
    });
    for task in posts.collect::<Vec<_>>() {
        task.await.unwrap().unwrap();
    }
    fake.expire_access_tokens();
    bot.publish(&post("Q6", 6, None)).await.unwrap();
    bot.delete_post(&format!(
        "at://did:plc:chatbot/app.bsky.feed.post/{}",
        record_key("eduskychat", start(), 6)
    ))
    .await
    .unwrap();
    // A second client of the same process and store does not log in either.
    client(&fake, store)
        .publish(&post("Q7", 7, None))
        .await
        .unwrap();
    // Nor does one that lost the tokens: it is refused before asking the server.
    let err = fresh(&fake).did().await.unwrap_err();
    assert!(err.to_string().contains("already logged"), "{err}");

    let world = fake.world();
    assert_eq!((world.logins, world.refreshes), (1, 1));
    assert_eq!(fake_posts(&world), 6);
}

fn fake_posts(world: &crate::fake_bluesky::World) -> usize {
    world
        .records
        .keys()
        .filter(|(_, c, _)| c == "app.bsky.feed.post")
        .count()
}

#[tokio::test]
async fn public_reads_never_carry_the_session_token() {
    let fake = FakeBluesky::start().await;
    let bot = fresh(&fake);
    let q1 = bot
        .publish(&post("Q1 with @alice.test", 1, None))
        .await
        .unwrap();
    bot.post_thread(&q1.uri).await.unwrap();
    let world = fake.world();
    let public = ["getPostThread", "getRecord", "resolveHandle"];
    let leaked: Vec<_> = world
        .requests
        .iter()
        .filter(|r| public.iter().any(|p| r.path.ends_with(p)) && r.authorized)
        .collect();
    assert!(leaked.is_empty(), "{leaked:?}");
    assert!(world
        .requests
        .iter()
        .any(|r| r.path.ends_with("putRecord") && r.authorized));
}

#[tokio::test]
async fn a_throttled_write_is_retried_after_the_ratelimit_reset() {
    let fake = FakeBluesky::start().await;
    let bot = fresh(&fake);
    fake.world().throttle_next_write = Some(Utc::now().timestamp() as u64);
    bot.publish(&post("Q1", 1, None)).await.unwrap();
    let world = fake.world();
    let puts = world
        .requests
        .iter()
        .filter(|r| r.path.ends_with("putRecord"))
        .count();
    assert_eq!((puts, fake_posts(&world)), (2, 1));
}

#[tokio::test]
async fn images_go_up_as_blobs_with_their_alt_text_and_the_profile_is_labelled_a_bot() {
    let fake = FakeBluesky::start().await;
    let bot = fresh(&fake);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q1.png");
    std::fs::write(&path, b"\x89PNG fake").unwrap();
    let mut q1 = post("Q1 #EduSkyChat", 1, None);
    q1.images = vec![bot.upload_image(&path, "A chart of answers").await.unwrap()];
    bot.publish(&q1).await.unwrap();
    bot.label_as_bot().await.unwrap();
    bot.label_as_bot().await.unwrap();

    let (_, record) = fake.bot_posts().pop().unwrap();
    assert_eq!(record["embed"]["images"][0]["alt"], "A chart of answers");
    assert_eq!(
        record["embed"]["images"][0]["image"]["mimeType"],
        "image/png"
    );
    let world = fake.world();
    let profile = &world.records[&(
        "did:plc:chatbot".into(),
        "app.bsky.actor.profile".into(),
        "self".into(),
    )];
    assert_eq!(profile.value["labels"]["values"], json!([{"val": "bot"}]));
}

fn consumer(fake: &FakeBluesky) -> Jetstream {
    let filter = Filter::new(Hashtag::parse("EduSkyChat").unwrap());
    Jetstream::new(fake.jetstream().parse().unwrap(), filter, None)
}

/// Opens the socket: the first `next()` connects; the fake records it.
async fn connected(fake: &FakeBluesky, jet: &mut Jetstream) {
    // A throwaway post nobody watches wakes the first read.
    let waiting = fake.world().subscriptions.len();
    let (_, _) = tokio::join!(
        async {
            fake.wait_until(|w| w.subscriptions.len() > waiting).await;
            fake.post_as(
                "bob",
                "3bob000000000",
                "#EduSkyChat warm-up",
                None,
                json!([]),
            );
        },
        async { jet.next().await.unwrap() }
    );
}

fn text(event: &JetEvent) -> String {
    match event {
        JetEvent::Created(p) => format!("create {}", p.record.text),
        JetEvent::Updated(p) => format!("update {}", p.record.text),
        JetEvent::Deleted { rkey, .. } => format!("delete {rkey}"),
    }
}

#[tokio::test]
async fn jetstream_yields_the_chats_creates_edits_and_deletes_and_nothing_else() {
    let fake = FakeBluesky::start().await;
    let bot = fresh(&fake);
    let q1 = bot.publish(&post("Q1 #EduSkyChat", 1, None)).await.unwrap();
    let mut jet = consumer(&fake);
    jet.filter_mut().watch_thread(q1.uri.clone());
    connected(&fake, &mut jet).await;

    let tag = json!([{"index": {"byteStart": 3, "byteEnd": 14},
        "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "eduskychat"}]}]);
    fake.post_as("alice", "3alice0000001", "A1 #eduskychat", None, tag);
    fake.post_as("bob", "3bob000000001", "lunch?", None, json!([]));
    fake.post_as(
        "bob",
        "3bob000000002",
        "A1 in the thread",
        Some(((&q1.uri, &q1.cid), (&q1.uri, &q1.cid))),
        json!([]),
    );
    fake.edit_as("alice", "3alice0000001", "A1 #eduskychat edited");
    fake.delete_as("bob", "3bob000000001");
    fake.delete_as("bob", "3bob000000002");

    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(text(&jet.next().await.unwrap()));
    }
    assert_eq!(
        got,
        [
            "create A1 #eduskychat",
            "create A1 in the thread",
            "update A1 #eduskychat edited",
            "delete 3bob000000002",
        ]
    );
    assert_eq!(jet.cursor(), fake.world().events.last().map(|(t, _)| *t));
}

#[tokio::test]
async fn a_dropped_jetstream_resumes_from_the_rewound_cursor_without_duplicates() {
    let fake = FakeBluesky::start().await;
    let mut jet = consumer(&fake);
    connected(&fake, &mut jet).await;
    fake.post_as("alice", "3alice0000001", "A1 #EduSkyChat", None, json!([]));
    fake.post_as("alice", "3alice0000002", "A2 #EduSkyChat", None, json!([]));
    assert_eq!(text(&jet.next().await.unwrap()), "create A1 #EduSkyChat");
    assert_eq!(text(&jet.next().await.unwrap()), "create A2 #EduSkyChat");
    let cursor = jet.cursor().unwrap();

    fake.drop_jetstream();
    // Missed while disconnected; the replay brings it, and A1/A2 again.
    fake.post_as("bob", "3bob000000001", "A3 #EduSkyChat", None, json!([]));
    assert_eq!(text(&jet.next().await.unwrap()), "create A3 #EduSkyChat");
    fake.post_as("bob", "3bob000000002", "A4 #EduSkyChat", None, json!([]));
    assert_eq!(text(&jet.next().await.unwrap()), "create A4 #EduSkyChat");

    assert_eq!(jet.connections(), 2);
    assert_eq!(
        fake.world().subscriptions,
        vec![None, Some(cursor - 5_000_000)]
    );
}

#[tokio::test]
async fn the_record_keys_are_accepted_where_a_tid_is_required_and_others_are_refused() {
    let fake = FakeBluesky::start().await;
    let bot = fresh(&fake);
    let mut bad = post("Q1", 1, None);
    bad.rkey = "q1-of-run-7".into();
    let err = bot.publish(&bad).await.unwrap_err();
    assert!(err.to_string().contains("TID"), "{err}");
    bot.publish(&post("Q1", 1, None)).await.unwrap();
}
