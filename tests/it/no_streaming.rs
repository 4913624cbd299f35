//! A server that serves no stream (snac2, Friendica, some GoToSocial
//! versions answer 404 on `/api/v1/streaming`): the chat is still live,
//! from the tag timeline and the notifications read at an interval.

use hashchat::clock::Clock;

use crate::helpers::{assert_all_ok, within, TestApp};
use crate::reliability::recorded;
use crate::steer::{public_posts, reply_to};

/// A moderator (alice), on a server whose streaming paths answer 404.
async fn app_without_streaming() -> TestApp {
    let mut app = TestApp::new().await;
    app.set_chat(&[("moderators", "[\"@alice@fake.example\"]")]);
    app.fake.set_streaming(false);
    app
}

/// One polling interval later: every polling listener reads once more.
fn next_poll(app: &TestApp) {
    let interval = chrono::Duration::from_std(app.tuning.poll_interval).unwrap();
    app.clock.advance(interval);
}

/// Waits until the server has answered `n` reads of `path`.
async fn reads_of(app: &TestApp, path: &'static str, n: usize) {
    within(
        path,
        app.fake.wait_until(|w| {
            let reads = w
                .requests
                .iter()
                .filter(|r| r.method == "GET" && r.path.starts_with(path))
                .count();
            (reads >= n).then_some(())
        }),
    )
    .await;
}

#[tokio::test]
async fn an_answer_on_a_server_without_streaming_is_recorded_while_the_chat_runs() {
    let app = app_without_streaming().await;
    let (daemon, _) = app.spawn_once();
    app.advance_to_post(0).await;
    app.advance_to_post(1).await;
    let answer = app
        .fake
        .post_as("alice", "A1: my PLN is here #1QEdChat", None, "public");

    next_poll(&app);
    recorded(&app, &answer.id).await;
    // Recorded live: Q2 and the closing are still to come.
    assert!(app.clock.now() < app.post_time(2), "recorded too late");
    assert_eq!(public_posts(&app).len(), 2);
    assert_eq!(app.fake.stream_count(), 0, "no stream was ever served");

    // Polling reads only newer statuses: an edit of one already read is
    // caught by the final reconciliation, as after a gap in a stream.
    app.fake
        .edit_as("alice", &answer.id, "A2: I meant Q2 #1QEdChat");
    app.finish_run(daemon, 2).await;
    let rows = app.store.statuses(app.run_id().await).await.unwrap();
    let row = rows.iter().find(|r| r.status_id == answer.id).unwrap();
    assert_eq!(row.answers, vec![2]);
    assert_eq!(row.text, "A2: I meant Q2 #1QEdChat");
}

/// snac2 served over plain HTTP still advertises `wss://` at its own host
/// and port. Trusting it, every stream opening failed in the TLS handshake,
/// a fault that is retried rather than a missing stream, so nothing was
/// polled and answers and commands waited for the end of the run.
#[tokio::test]
async fn a_tls_stream_advertised_on_a_plain_servers_own_port_does_not_stop_polling() {
    let app = app_without_streaming().await;
    app.fake.advertise_tls_streaming();
    let (daemon, _) = app.spawn_once();
    app.advance_to_post(0).await;
    app.advance_to_post(1).await;
    let answer = app
        .fake
        .post_as("alice", "A1: over plain HTTP #1QEdChat", None, "public");

    next_poll(&app);
    recorded(&app, &answer.id).await;
    assert!(app.clock.now() < app.post_time(2), "recorded too late");
    app.finish_run(daemon, 2).await;
}

#[tokio::test]
async fn optout_and_moderator_commands_are_acted_on_without_streaming() {
    let app = app_without_streaming().await;
    let (daemon, _) = app.spawn_once();
    app.advance_to_post(0).await;
    app.advance_to_post(1).await;
    // The first read only takes the position in the notifications: what
    // came before it is history, not commands.
    reads_of(&app, "/api/v1/notifications", 1).await;

    let optout = app.fake.post_as("bob", "@chatbot optout", None, "direct");
    next_poll(&app);
    let reply = reply_to(&app, &optout).await;
    assert!(reply.contains("left out of every recap"), "{reply}");
    assert!(app
        .store
        .opted_out()
        .await
        .unwrap()
        .contains("bob@fake.example"));

    let extend = app
        .fake
        .post_as("alice", "@chatbot extend 10m", None, "direct");
    next_poll(&app);
    let reply = reply_to(&app, &extend).await;
    assert!(
        reply.contains("Extended #1QEdChat by 10m. Next: Q2 at 20:25 GMT"),
        "{reply}"
    );
    assert!(app.clock.now() < app.post_time(2), "acted on too late");

    // Everything moved 10 minutes later, the end of collection too.
    app.clock
        .set(app.end_time() + chrono::Duration::minutes(10));
    assert_all_ok(&within("the run to end", daemon).await.unwrap());
    assert_eq!(public_posts(&app).len(), 5);
}

#[tokio::test]
async fn polling_listeners_go_back_to_streaming_when_the_server_serves_streams_again() {
    let app = app_without_streaming().await;
    let (daemon, _) = app.spawn_once();
    app.advance_to_post(0).await;
    reads_of(&app, "/api/v1/notifications", 1).await;
    reads_of(&app, "/api/v1/timelines/tag/", 1).await;

    app.fake.set_streaming(true);
    let retry = chrono::Duration::from_std(app.tuning.stream_retry).unwrap();
    app.clock.advance(retry + chrono::Duration::seconds(1));
    // Both the hashtag stream and the user stream.
    within("both streams", app.fake.wait_for_streams(2)).await;

    // Live again: an answer arrives by the stream, with no more polling.
    let answer = app
        .fake
        .post_as("bob", "A1: streamed again #1QEdChat", None, "public");
    recorded(&app, &answer.id).await;
    app.finish_run(daemon, 1).await;
}

/// `check --online` on a server without streams (snac2): the chat runs
/// fully live by polling, so a 404 on the stream is a warning that says
/// so, not a problem that fails the check.
#[tokio::test]
async fn check_online_warns_that_a_server_without_streams_is_polled() {
    let server = crate::fake_server::FakeServer::start().await;
    server.set_streaming(false);
    let dir = tempfile::tempdir().expect("temp dir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, server.bot_token()).unwrap();
    let path = dir.path().join("chats.yaml");
    let source = format!(
        "server: {}\ntoken_file: {}\nchats:\n  - id: snac\n    hashtag: SnacChat\n    schedule: \"0 20 * * 4\"\n    questions: [Ready?]\n",
        server.url(),
        token_file.display()
    );
    std::fs::write(&path, source).unwrap();

    let outcome =
        hashchat::commands::online::check(&path, std::time::Duration::from_secs(10)).await;

    assert_eq!(outcome.code, 0, "{}{}", outcome.stdout, outcome.stderr);
    let line = outcome
        .stdout
        .lines()
        .find(|l| l.contains("#SnacChat stream"))
        .unwrap_or_else(|| panic!("{}", outcome.stdout));
    assert!(line.starts_with("  warning: "), "{line}");
    assert!(line.contains("polls"), "{line}");
}
