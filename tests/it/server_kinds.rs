//! Each server kind's quirk, played by the in-process fake server, and a
//! whole run that handles it (the README's "Server kinds" table). Servers
//! without any stream (snac2, Friendica) are `no_streaming`'s; GoToSocial's
//! 503 with `Retry-After` is `network`'s.

use hashchat::clock::Clock;

use crate::helpers::{within, TestApp};
use crate::reliability::recorded;

/// One polling interval later: every polling listener reads once more.
fn next_poll(app: &TestApp) {
    let interval = chrono::Duration::from_std(app.tuning.poll_interval).unwrap();
    app.clock.advance(interval);
}

/// GoToSocial versions without hashtag streams refuse one with 400 while
/// the user stream opens: the tag timeline is polled, the mentions stream.
#[tokio::test]
async fn gotosocial_a_hashtag_stream_refused_with_400_is_polled_and_answers_stay_live() {
    let app = TestApp::new().await;
    app.fake.refuse_hashtag_streams();
    let (daemon, _) = app.spawn_once();
    app.advance_to_post(0).await;
    app.advance_to_post(1).await;
    within("the user stream", app.fake.wait_for_streams(1)).await;
    let answer = app
        .fake
        .post_as("alice", "A1: refused stream #1QEdChat", None, "public");

    next_poll(&app);
    recorded(&app, &answer.id).await;
    assert!(app.clock.now() < app.post_time(2), "recorded too late");
    assert_eq!(app.fake.stream_count(), 1, "only the user stream is open");
    app.finish_run(daemon, 2).await;
}

/// megalodon's Firefish (Misskey) tag stream ignores the tag: it carries
/// every public status. Only the chat's own count.
#[tokio::test]
async fn firefish_posts_without_the_chats_tag_on_its_tag_stream_are_not_recorded() {
    let app = TestApp::new().await;
    app.fake.carry_everything_on_tag_streams();
    let (daemon, _) = app.spawn_once();
    app.advance_to_post(0).await;
    app.advance_to_post(1).await;
    within("both streams", app.fake.wait_for_streams(2)).await;

    let other_tag = app
        .fake
        .post_as("alice", "A1: for another chat #OtherChat", None, "public");
    let untagged = app.fake.post_as("bob", "A1: no tag at all", None, "public");
    // Streamed after the two others: once it is in, they were judged.
    let ours = app
        .fake
        .post_as("alice", "A1: for this chat #1QEdChat", None, "public");
    recorded(&app, &ours.id).await;

    let stored = |rows: Vec<hashchat::store::StatusRow>| -> Vec<String> {
        rows.into_iter().map(|r| r.status_id).collect()
    };
    let run_id = app.run_id().await;
    let live = stored(app.store.statuses(run_id).await.unwrap());
    assert!(live.contains(&ours.id), "{live:?}");
    for other in [&other_tag, &untagged] {
        assert!(!live.contains(&other.id), "{} recorded: {live:?}", other.id);
    }
    app.finish_run(daemon, 2).await;
    let end = stored(app.store.statuses(run_id).await.unwrap());
    assert_eq!(end, live, "nothing else came in");
}

/// Akkoma and Pleroma advertise where streams live (`urls.streaming_api`),
/// here another host name and port; the usual path answers 404 there.
#[tokio::test]
async fn akkoma_streams_open_at_the_streaming_api_on_another_host_and_port() {
    let app = TestApp::new().await;
    let port = app.fake.serve_streams_on_another_port().await;
    assert_ne!(port, app.fake.port());
    let (daemon, _) = app.spawn_once();
    app.advance_to_post(0).await;
    app.advance_to_post(1).await;
    within("both streams", app.fake.wait_for_streams(2)).await;

    // Streamed, not polled: recorded with the clock standing still.
    let answer = app.fake.post_as(
        "bob",
        "A1: over the streaming host #1QEdChat",
        None,
        "public",
    );
    recorded(&app, &answer.id).await;
    assert_eq!(app.clock.now(), app.post_time(1));
    app.finish_run(daemon, 2).await;
}
