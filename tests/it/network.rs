//! The real client against the in-process fake server, over real HTTP and
//! WebSocket: posting, paging, error mapping, timeouts and streaming.
//! Nothing here sleeps; waits are on the server's state or on the client's
//! own timeouts, each bounded by `within`.

mod private_ca;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hashchat::chats::{Platform, Visibility};
use hashchat::network::nodeinfo::check_platform;
use hashchat::network::{
    redact, retry, Backoff, Budget, MastodonClient, NetError, NewPost, Page, Social, Software,
    StreamEnd, StreamEvent, Token, Trust,
};
use hashchat::recap;

use crate::fake_server::{FakeServer, Fault, STREAMING_ELSEWHERE};
use crate::helpers::TestApp;

const TAG: &str = "EdChat";

fn client(server: &FakeServer) -> MastodonClient {
    client_with(server, &server.bot_token(), Duration::from_secs(5))
}

fn client_with(server: &FakeServer, token: &str, timeout: Duration) -> MastodonClient {
    MastodonClient::new(
        &server.url(),
        Token::new(token),
        timeout,
        &Trust::system().unwrap(),
    )
    .expect("client")
}

/// Fails the test instead of hanging it.
async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not happen within 10 s"))
}

fn new_post(text: &str, key: &str) -> NewPost {
    NewPost {
        text: text.into(),
        visibility: Visibility::Public,
        idempotency_key: key.into(),
        in_reply_to_id: None,
        language: None,
        spoiler_text: None,
        media_ids: Vec::new(),
    }
}

#[tokio::test]
async fn the_instance_gives_its_domain_and_post_limit_and_me_is_the_bot() {
    let server = FakeServer::start().await;
    server.set_max_characters(640);
    let client = client(&server);

    let instance = client.instance().await.unwrap();
    let me = client.me().await.unwrap();

    assert_eq!(
        (instance.domain.as_str(), instance.max_characters),
        ("fake.example", 640)
    );
    assert_eq!((me.acct.as_str(), me.bot), ("chatbot", true));
}

/// snac2 ignores `since_id` on the notifications: every poll listed every
/// mention again, and each was handled (and logged) again at every read.
#[tokio::test]
async fn mentions_since_a_cursor_are_only_newer_ones_even_where_the_server_ignores_it() {
    let server = FakeServer::start().await;
    server.ignore_since_id_on_notifications();
    let client = client(&server);
    server.post_as("alice", "@chatbot extend 5m", None, "direct");
    let first = client.mentions(None).await.unwrap();
    assert_eq!(first.len(), 1);
    let cursor = first[0].0.clone();
    let newer = server.post_as("bob", "@chatbot optout", None, "direct");

    let since = client.mentions(Some(&cursor)).await.unwrap();

    let ids: Vec<&str> = since.iter().map(|(_, s)| s.id.as_str()).collect();
    assert_eq!(ids, vec![newer.id.as_str()]);
}

#[tokio::test]
async fn posting_twice_with_the_same_idempotency_key_creates_one_status() {
    let server = FakeServer::start().await;
    let client = client(&server);
    let post = new_post("Q1: What do you teach? #EdChat", "chat-1/run-1/q1");

    let first = client.post(&post).await.unwrap();
    let again = client.post(&post).await.unwrap();
    let other = client
        .post(&new_post("Q2: Why? #EdChat", "chat-1/run-1/q2"))
        .await
        .unwrap();

    assert_eq!(first.id, again.id);
    assert_ne!(first.id, other.id);
    assert_eq!(server.statuses_by("chatbot").len(), 2);
    let sent = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(sent, 3, "both sends reached the server");
}

#[tokio::test]
async fn a_server_that_forgets_idempotency_keys_creates_a_repeated_post_again() {
    let server = FakeServer::start().await;
    server.forget_idempotency_keys();
    let client = client(&server);
    let post = new_post("Q1: What do you teach? #EdChat", "chat-1/run-1/q1");

    let first = client.post(&post).await.unwrap();
    let again = client.post(&post).await.unwrap();

    assert_ne!(first.id, again.id, "the key is ignored, as snac2 does");
    assert_eq!(server.statuses_by("chatbot").len(), 2);
}

#[tokio::test]
async fn an_unlisted_tagged_reply_reaches_neither_the_hashtag_stream_nor_the_tag_timeline() {
    let server = FakeServer::start().await;
    let client = client(&server);
    let question = client
        .post(&new_post("Q1: Hello? #EdChat", "q1"))
        .await
        .unwrap();
    let mut stream = client.hashtag_stream("#EdChat").await.unwrap();
    within("the stream to register", server.wait_for_streams(1)).await;

    let unlisted = server.post_as("alice", "A1: quiet #EdChat", Some(&question.id), "unlisted");
    let public = server.post_as("bob", "A1: loud #EdChat", None, "public");

    // The stream's first event is the public post: the unlisted one, sent
    // before it, was never streamed (as on Mastodon).
    let first = within("the public post", stream.next()).await;
    assert!(
        matches!(&first, Some(StreamEvent::Update(s)) if s.id == public.id),
        "{first:?}"
    );
    let timeline = client.tag_timeline(TAG, &Page::default()).await.unwrap();
    let ids: Vec<_> = timeline.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, [public.id.as_str(), question.id.as_str()]);
    // It is an answer all the same, found as a reply to its question.
    let replies = client.replies(&question.id).await.unwrap();
    assert_eq!(replies[0].id, unlisted.id);
}

#[tokio::test]
async fn a_reply_is_posted_below_its_question_and_listed_in_replies() {
    let server = FakeServer::start().await;
    let client = client(&server);
    let question = client
        .post(&new_post("Q1: Hello? #EdChat", "q1"))
        .await
        .unwrap();
    let answer = server.post_as("alice", "A1: hi", Some(&question.id), "unlisted");
    server.add_remote_account("carol@remote.example");
    let nested = server.post_as(
        "carol@remote.example",
        "@alice agreed",
        Some(&answer.id),
        "public",
    );

    let replies = client.replies(&question.id).await.unwrap();

    let ids: Vec<_> = replies.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, [answer.id.as_str(), nested.id.as_str()]);
    assert_eq!(
        replies[1].account.handle("fake.example"),
        "carol@remote.example"
    );
    assert_eq!(
        replies[0].account.handle("fake.example"),
        "alice@fake.example"
    );
}

#[tokio::test]
async fn tag_timeline_pages_forward_from_min_id_newest_first() {
    let server = FakeServer::start().await;
    let client = client(&server);
    let ids: Vec<String> = (1..=5)
        .map(|n| {
            server
                .post_as("alice", &format!("A{n}: yes #EdChat"), None, "public")
                .id
        })
        .collect();
    server.post_as("bob", "hidden #EdChat", None, "unlisted");
    server.post_as("bob", "other topic #Elsewhere", None, "public");

    let page = |min_id: &str| Page {
        min_id: Some(min_id.into()),
        limit: 2,
        ..Page::default()
    };
    let first = client.tag_timeline(TAG, &page(&ids[0])).await.unwrap();
    let newest = client
        .tag_timeline(
            "#edchat",
            &Page {
                limit: 40,
                ..Page::default()
            },
        )
        .await
        .unwrap();

    let got = |statuses: &[hashchat::network::Status]| {
        statuses.iter().map(|s| s.id.clone()).collect::<Vec<_>>()
    };
    assert_eq!(
        got(&first),
        [ids[2].clone(), ids[1].clone()],
        "the two after min_id, newest first"
    );
    let mut all = ids.clone();
    all.reverse();
    assert_eq!(got(&newest), all, "unlisted and other tags excluded");
}

#[tokio::test]
async fn a_deleted_status_reads_as_none() {
    let server = FakeServer::start().await;
    let client = client(&server);
    let status = server.post_as("alice", "A1: soon gone #EdChat", None, "public");

    assert_eq!(
        client.status(&status.id).await.unwrap().map(|s| s.id),
        Some(status.id.clone())
    );
    server.delete(&status.id);
    assert_eq!(client.status(&status.id).await.unwrap(), None);
}

#[tokio::test]
async fn a_429_is_rate_limited_for_the_servers_retry_after() {
    let server = FakeServer::start().await;
    server.fail_next(
        "GET",
        "/api/v1/timelines/tag/",
        Fault::RateLimit {
            retry_after_secs: 42,
        },
    );
    server.fail_next(
        "POST",
        "/api/v1/statuses",
        Fault::RateLimit {
            retry_after_secs: 7,
        },
    );

    // Two clients: each one's budget now holds back its next request.
    let read = client(&server).tag_timeline(TAG, &Page::default()).await;
    let post = client(&server).post(&new_post("Q1 #EdChat", "k")).await;

    assert!(
        matches!(read, Err(NetError::RateLimited { retry_after }) if retry_after.as_secs() == 42),
        "{read:?}"
    );
    assert!(
        matches!(post, Err(NetError::RateLimited { retry_after }) if retry_after.as_secs() == 7),
        "{post:?}"
    );
}

#[tokio::test]
async fn error_statuses_map_to_what_the_caller_should_do() {
    let server = FakeServer::start().await;
    let client = client(&server);
    let cases = [
        (503, "Server"),
        (500, "Server"),
        (422, "Rejected"),
        (403, "Unauthorized"),
    ];
    for (code, want) in cases {
        server.fail_next(
            "GET",
            "/api/v1/accounts/verify_credentials",
            Fault::Status(code, vec![]),
        );
        let got = format!("{:?}", client.me().await);
        assert!(got.starts_with(&format!("Err({want}")), "{code}: {got}");
    }
    let bad_token = client_with(&server, "wrong", Duration::from_secs(5));
    assert!(matches!(
        bad_token.me().await,
        Err(NetError::Unauthorized { status: 401, .. })
    ));
}

#[tokio::test]
async fn a_hanging_server_times_out() {
    let server = FakeServer::start().await;
    let client = client_with(&server, &server.bot_token(), Duration::from_millis(200));
    server.fail_next("GET", "/api/v1/statuses/", Fault::Hang);
    server.fail_next("POST", "/api/v1/statuses", Fault::Hang);

    let read = within("the read timeout", client.status("110000000000000001")).await;
    let post = within(
        "the post timeout",
        client.post(&new_post("Q1 #EdChat", "k")),
    )
    .await;

    assert!(
        matches!(read, Err(NetError::Timeout(d)) if d == Duration::from_millis(200)),
        "{read:?}"
    );
    assert!(matches!(post, Err(NetError::Timeout(_))), "{post:?}");
    assert!(read.unwrap_err().is_retryable());
}

#[tokio::test]
async fn a_post_whose_answer_was_lost_is_found_again_by_its_idempotency_key() {
    let server = FakeServer::start().await;
    let client = client_with(&server, &server.bot_token(), Duration::from_millis(200));
    server.fail_next("POST", "/api/v1/statuses", Fault::AcceptThenHang);
    let post = new_post("Q1: Lost answer? #EdChat", "chat/run/q1");

    let lost = within("the post timeout", client.post(&post)).await;
    let resent = client.post(&post).await.unwrap();

    assert!(matches!(lost, Err(NetError::Timeout(_))), "{lost:?}");
    let posted = server.statuses_by("chatbot");
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].id, resent.id);
}

#[tokio::test]
async fn a_tag_timeline_page_with_an_undecodable_status_costs_one_request_and_keeps_the_others() {
    let server = FakeServer::start().await;
    let client = client(&server);
    let first = server.post_as("alice", "A1: ok #EdChat", None, "public");
    let second = server.post_as("bob", "A1: me too #EdChat", None, "public");
    server.fail_next("GET", "/api/v1/timelines/tag/", Fault::UndecodableStatus);

    let page = client.tag_timeline(TAG, &Page::default()).await.unwrap();

    let mut ids: Vec<_> = page.into_iter().map(|s| s.id).collect();
    ids.sort();
    let mut want = vec![first.id, second.id];
    want.sort();
    assert_eq!(ids, want);
    assert_eq!(server.request_count(), 1, "{:?}", server.requests());
}

#[tokio::test]
async fn a_truncated_page_is_a_retryable_decode_error_after_one_request() {
    let server = FakeServer::start().await;
    let client = client(&server);
    server.post_as("alice", "A1: ok #EdChat", None, "public");
    server.fail_next("GET", "/api/v1/timelines/tag/", Fault::Malformed);

    let error = client
        .tag_timeline(TAG, &Page::default())
        .await
        .unwrap_err();

    assert!(matches!(error, NetError::Decode(_)), "{error:?}");
    assert!(error.is_retryable());
    assert_eq!(server.request_count(), 1, "{:?}", server.requests());
}

#[tokio::test]
async fn every_read_is_one_request_decoded_once_and_drawn_from_the_budget() {
    let server = FakeServer::start().await;
    let budget = Arc::new(Budget::new(10, Duration::from_secs(3600)));
    let client = client(&server).with_budget(budget.clone());
    let question = server.post_as("chatbot", "Q1: Why? #EdChat", None, "public");
    server.post_as("alice", "A1: because #EdChat", Some(&question.id), "public");
    let bot_id = server.account_id("chatbot");
    let page = Page {
        limit: 40,
        ..Page::default()
    };

    client.instance().await.unwrap();
    client.me().await.unwrap();
    assert!(client.status(&question.id).await.unwrap().is_some());
    assert_eq!(client.tag_timeline(TAG, &page).await.unwrap().len(), 2);
    assert_eq!(client.replies(&question.id).await.unwrap().len(), 1);
    assert_eq!(
        client.account_statuses(&bot_id, &page).await.unwrap().len(),
        1
    );

    assert!(client.mentions(None).await.unwrap().is_empty());
    assert!(client.muted_and_blocked().await.unwrap().is_empty());

    // Mutes and blocks are two lists; any second read would show here.
    assert_eq!(server.request_count(), 9, "{:?}", server.requests());
    assert_eq!(budget.available(), 1);
}

#[tokio::test]
async fn the_stream_yields_updates_edits_and_deletes_then_ends_when_dropped() {
    let server = FakeServer::start().await;
    let client = client(&server);
    let mut stream = client.hashtag_stream("#EdChat").await.unwrap();
    within("the stream to register", server.wait_for_streams(1)).await;

    let posted = server.post_as("alice", "A1: streaming #edchat", None, "public");
    server.edit_as("alice", &posted.id, "A1: edited #EdChat");
    server.delete(&posted.id);
    server.drop_streams();

    let update = within("update", stream.next()).await;
    assert!(
        matches!(&update, Some(StreamEvent::Update(s)) if s.id == posted.id),
        "{update:?}"
    );
    let edit = within("edit", stream.next()).await;
    assert!(
        matches!(&edit, Some(StreamEvent::Edit(s)) if s.id == posted.id && s.content.contains("edited") && s.edited_at.is_some()),
        "{edit:?}"
    );
    assert_eq!(
        within("delete", stream.next()).await,
        Some(StreamEvent::Delete(posted.id))
    );
    assert_eq!(within("the end", stream.next()).await, None);
    assert!(
        matches!(stream.ended(), Some(StreamEnd::Closed(Some((1012, _))))),
        "{:?}",
        stream.ended()
    );
    assert_eq!(within("the end, again", stream.next()).await, None);
}

#[tokio::test]
async fn a_connection_cut_without_a_close_frame_ends_the_stream() {
    let server = FakeServer::start().await;
    let mut stream = client(&server).hashtag_stream(TAG).await.unwrap();
    within("the stream to register", server.wait_for_streams(1)).await;

    server.cut_streams();

    assert_eq!(within("the end", stream.next()).await, None);
    assert!(
        matches!(stream.ended(), Some(StreamEnd::Error(_))),
        "{:?}",
        stream.ended()
    );
}

#[tokio::test]
async fn a_silent_stream_ends_after_the_idle_limit() {
    let server = FakeServer::start().await;
    let client = client(&server).with_stream_idle_limit(Duration::from_millis(300));
    let mut stream = client.hashtag_stream(TAG).await.unwrap();

    assert_eq!(within("the idle end", stream.next()).await, None);
    assert_eq!(
        stream.ended(),
        Some(&StreamEnd::Idle(Duration::from_millis(300)))
    );
}

#[tokio::test]
async fn an_undecodable_frame_is_reported_and_the_stream_goes_on() {
    let server = FakeServer::start().await;
    let mut stream = client(&server).hashtag_stream(TAG).await.unwrap();
    within("the stream to register", server.wait_for_streams(1)).await;

    server.send_raw_frame(
        r#"{"event":"update","payload":"{\"id\":\"1\",\"content\":\"no account\"}"}"#,
    );
    server.send_raw_frame("not json at all");
    let later = server.post_as("bob", "A2: still here #EdChat", None, "public");

    let first = within("the bad frame", stream.next()).await;
    assert!(
        matches!(&first, Some(StreamEvent::Undecodable { event, .. }) if event == "update"),
        "{first:?}"
    );
    let second = within("the garbage", stream.next()).await;
    assert!(
        matches!(second, Some(StreamEvent::Undecodable { .. })),
        "{second:?}"
    );
    let third = within("the good frame", stream.next()).await;
    assert!(
        matches!(&third, Some(StreamEvent::Update(s)) if s.id == later.id),
        "{third:?}"
    );
}

#[tokio::test]
async fn pings_are_answered_with_their_own_payload() {
    let server = FakeServer::start().await;
    let mut stream = client(&server).hashtag_stream(TAG).await.unwrap();
    within("the stream to register", server.wait_for_streams(1)).await;

    server.ping_streams(b"heartbeat-17");

    // The client answers while it reads; the server records the pong.
    let pongs = tokio::select! {
        pongs = server.wait_until(|w| (!w.pongs.is_empty()).then(|| w.pongs.clone())) => pongs,
        event = within("the pong", stream.next()) => panic!("unexpected {event:?}"),
    };
    assert_eq!(pongs, [b"heartbeat-17".to_vec()]);
}

#[tokio::test]
async fn a_stream_redirected_to_the_streaming_host_is_followed_there() {
    let server = FakeServer::start().await;
    // As mastodon.social answers /api/v1/streaming: a 301 to its
    // streaming host, same path and query.
    server.move_streaming_elsewhere();
    let client = client(&server);
    let mut stream = client.hashtag_stream(TAG).await.unwrap();
    within("the stream to register", server.wait_for_streams(1)).await;
    let posted = server.post_as("alice", "A1: through the redirect #EdChat", None, "public");
    let update = within("update", stream.next()).await;
    assert!(
        matches!(&update, Some(StreamEvent::Update(s)) if s.id == posted.id),
        "{update:?}"
    );
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert!(
        paths.iter().any(|p| p.starts_with("/api/v1/streaming?"))
            && paths.iter().any(|p| p.starts_with(STREAMING_ELSEWHERE)),
        "{paths:?}"
    );
}

#[tokio::test]
async fn a_refused_token_on_the_stream_is_unauthorized() {
    let server = FakeServer::start().await;
    let client = client_with(&server, "wrong", Duration::from_secs(5));

    let result = client.hashtag_stream(TAG).await;

    assert!(
        matches!(result, Err(NetError::Unauthorized { status: 401, .. })),
        "{result:?}"
    );
    assert_eq!(server.stream_count(), 0);
}

#[tokio::test]
async fn the_token_never_appears_in_debug_output_or_logged_urls() {
    let server = FakeServer::start().await;
    let secret = server.bot_token();
    let client = client(&server);
    let stream = client.hashtag_stream(TAG).await.unwrap();
    let url = hashchat::network::stream_url(&server.url(), TAG, &secret).unwrap();

    let shown = [
        format!("{client:?}"),
        format!("{stream:?}"),
        redact(&url),
        format!("{:?}", server.requests()),
    ];

    assert!(
        url.as_str().contains(&secret),
        "the real URL carries the token"
    );
    for text in shown {
        assert!(!text.contains(&secret), "token leaked in {text}");
    }
}

// Issue 13: the Mastodon family, as real servers behave.

#[tokio::test]
async fn a_503_with_retry_after_is_throttling_and_does_not_use_up_the_retries() {
    let server = FakeServer::start().await;
    let client = client(&server);
    let answer = server.post_as("alice", "A1: under load #EdChat", None, "public");
    // GoToSocial under load: 503 with the time to come back.
    for _ in 0..3 {
        server.fail_next(
            "GET",
            "/api/v1/timelines/tag/",
            Fault::Status(503, vec![("retry-after", "0".into())]),
        );
    }
    let mut backoff = Backoff::new(Duration::from_millis(1), Duration::from_millis(1));
    let newest = Page::default();

    let page = within(
        "the throttled read",
        retry("tag timeline", &mut backoff, 3, || {
            client.tag_timeline(TAG, &newest)
        }),
    )
    .await;

    let ids: Vec<String> = page.unwrap().into_iter().map(|s| s.id).collect();
    assert_eq!(ids, [answer.id]);
    // Without `Retry-After`, a 503 stays a failing server.
    server.fail_next("GET", "/api/v1/timelines/tag/", Fault::Status(503, vec![]));
    let plain = client.tag_timeline(TAG, &Page::default()).await;
    assert!(
        matches!(plain, Err(NetError::Server { status: 503, .. })),
        "{plain:?}"
    );
}

#[tokio::test]
async fn a_failed_first_read_of_the_mutes_is_retried_and_the_mute_honoured() {
    let app = TestApp::new().await;
    app.fake.mute("bob");
    // snac closes connections without saying so: the first read fails.
    app.fake
        .fail_next("GET", "/api/v1/mutes", Fault::Status(500, vec![]));
    let (daemon, _) = app.spawn_once();
    app.advance_to_post(0).await;
    app.advance_to_post(1).await;
    app.fake
        .post_as("bob", "A1: muted words #1QEdChat", None, "public");
    let kept = app
        .fake
        .post_as("alice", "A1: kept #1QEdChat", None, "public");
    app.finish_run(daemon, 2).await;

    let recap = recap::build(&app.store, &app.chat, app.run_id().await)
        .await
        .unwrap();
    let ids: Vec<&str> = recap.questions[0]
        .answers
        .iter()
        .map(|a| a.status_id.as_str())
        .collect();
    assert_eq!(ids, [kept.id.as_str()]);
    let mutes_read = app
        .fake
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/api/v1/mutes"))
        .count();
    assert_eq!(mutes_read, 2, "the failed read and its retry");
}

#[tokio::test]
async fn local_accounts_of_a_host_port_instance_get_that_domain() {
    let mut app = TestApp::new().await;
    // snac's instance `uri`: no scheme, a port.
    let domain = format!("localhost:{}", app.fake.port());
    app.fake.set_instance_uri(&domain);
    app.set_chat(&[("exclude", &format!("[\"@Bob@{domain}\"]"))]);
    let (daemon, _) = app.spawn_once();
    app.advance_to_post(0).await;
    app.advance_to_post(1).await;
    app.fake.post_as(
        "alice",
        "A1: from a local account #1QEdChat",
        None,
        "public",
    );
    app.fake
        .post_as("bob", "A1: leave me out #1QEdChat", None, "public");
    app.finish_run(daemon, 2).await;

    let recap = recap::build(&app.store, &app.chat, app.run_id().await)
        .await
        .unwrap();
    let shown: Vec<(&str, bool)> = recap.questions[0]
        .answers
        .iter()
        .map(|a| (a.account.as_str(), a.hidden))
        .collect();
    // Bob's full handle matched `exclude:`, so his answer is hidden (its
    // author left out too).
    let alice = format!("alice@{domain}");
    assert_eq!(shown, [(alice.as_str(), false), ("", true)]);
}

#[tokio::test]
async fn streams_open_where_the_instance_says_streams_live() {
    let server = FakeServer::start().await;
    // The guessed path answers 404; only the advertised one streams.
    server.advertise_streaming_elsewhere();
    let client = client(&server);

    // As the daemon does: who the server is first, then its streams.
    client.instance().await.unwrap();
    let mut stream = client.hashtag_stream(TAG).await.unwrap();
    let _user = client.user_stream().await.unwrap();
    within("the streams to register", server.wait_for_streams(2)).await;
    let posted = server.post_as("alice", "A1: advertised #EdChat", None, "public");

    let update = within("update", stream.next()).await;
    assert!(
        matches!(&update, Some(StreamEvent::Update(s)) if s.id == posted.id),
        "{update:?}"
    );
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert!(
        !paths.iter().any(|p| p.starts_with("/api/v1/streaming")),
        "{paths:?}"
    );
}

#[tokio::test]
async fn the_servers_software_is_read_from_its_nodeinfo() {
    let server = FakeServer::start().await;
    server.set_software("GoToSocial", "0.17.3");
    let client = client(&server);

    let software = client.software().await.unwrap();

    let want = Software {
        name: "gotosocial".into(),
        version: "0.17.3".into(),
    };
    assert_eq!(software.as_ref(), Some(&want));
    assert!(!check_platform(&server.url(), Platform::Mastodon, &want));
    assert!(check_platform(&server.url(), Platform::Gotosocial, &want));
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/.well-known/nodeinfo", "/nodeinfo/2.0"]);
}

#[tokio::test]
async fn a_failed_look_for_a_post_already_sent_is_retried_and_the_post_not_sent_twice() {
    let app = TestApp::new().await;
    let (daemon, _) = app.spawn_once();
    app.advance_to_post(0).await;
    // Q1 reaches the server, the process dies before recording it…
    app.fake
        .fail_next("POST", "/api/v1/statuses", Fault::AcceptThenHang);
    app.clock.set(app.post_time(1));
    within("Q1 on the server", app.fake.wait_for_bot_posts(2)).await;
    daemon.abort();
    let _ = daemon.await;
    // …and on restart the first look among the bot's statuses fails.
    let own = format!(
        "/api/v1/accounts/{}/statuses",
        app.fake.account_id("chatbot")
    );
    app.fake.fail_next("GET", &own, Fault::Status(500, vec![]));
    let (daemon, _) = app.spawn_once();
    app.finish_run(daemon, 2).await;

    let texts: Vec<String> = app
        .fake
        .statuses_by("chatbot")
        .iter()
        .map(|s| hashchat::network::html_to_text(&s.content))
        .collect();
    assert_eq!(texts.len(), 5, "intro, three questions, closing: {texts:?}");
    let q1 = texts.iter().filter(|t| t.starts_with("Q1:")).count();
    assert_eq!(q1, 1, "{texts:?}");
}

#[tokio::test]
async fn a_post_throttled_by_503s_with_retry_after_still_goes_out() {
    let app = TestApp::new().await;
    let (daemon, _) = app.spawn_once();
    app.advance_to_post(0).await;
    // GoToSocial under load, as many times as a post may fail.
    for _ in 0..app.tuning.post_attempts {
        app.fake.fail_next(
            "POST",
            "/api/v1/statuses",
            Fault::Status(503, vec![("retry-after", "0".into())]),
        );
    }

    let posts = app.advance_to_post(1).await;

    assert!(
        hashchat::network::html_to_text(&posts[1].content).starts_with("Q1:"),
        "{posts:?}"
    );
    app.finish_run(daemon, 2).await;
}

#[tokio::test]
async fn two_chats_on_one_account_draw_from_one_request_budget() {
    use hashchat::run::{Connector, RealConnector};

    let app = crate::helpers::TestApp::new().await;
    let token_file = |user: &str| {
        let path = app.dir.path().join(format!("{user}.token"));
        std::fs::write(&path, app.fake.token_of(user)).unwrap();
        format!("\"{}\"", path.display())
    };
    let (bot, alice) = (token_file("chatbot"), token_file("alice"));
    let first = app.chat_with(&[("token_file", &bot)]);
    let second = app.chat_with(&[
        ("token_file", &bot),
        ("id", "2qedchat"),
        ("hashtag", "2QEdChat"),
    ]);
    let elsewhere = app.chat_with(&[("token_file", &alice), ("id", "alices")]);
    let connector = RealConnector::new(Duration::from_secs(5));
    let [first, second, elsewhere] =
        [&first, &second, &elsewhere].map(|chat| connector.connect(chat).unwrap());

    // The server tells the first chat the account's limit is used up.
    app.fake.fail_next(
        "GET",
        "/api/v1/instance",
        Fault::RateLimit {
            retry_after_secs: 2,
        },
    );
    let throttled = first.instance().await;
    assert!(
        matches!(throttled, Err(NetError::RateLimited { .. })),
        "{throttled:?}"
    );
    let before = app.fake.request_count();
    let started = tokio::time::Instant::now();
    let waiting = tokio::spawn(async move { second.instance().await });
    // Another account's chat is not held back; the second chat's request
    // has not left meanwhile.
    elsewhere.instance().await.unwrap();
    assert_eq!(app.fake.request_count(), before + 1);

    within("the second chat's read", waiting)
        .await
        .unwrap()
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "the second chat waited out the first one's 429: {:?}",
        started.elapsed()
    );
    assert_eq!(app.fake.request_count(), before + 2);
}
