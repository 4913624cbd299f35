//! Moderators steering a live chat by mention or direct message, against
//! the fake server: each command does what it says and is acknowledged;
//! the same words from anyone else do nothing.

use hashchat::network::html_to_text;
use hashchat::network::Status;

use crate::helpers::{assert_all_ok, within, TestApp};

async fn app_with_moderator() -> TestApp {
    let mut app = TestApp::new().await;
    app.set_chat(&[("moderators", "[\"@alice@fake.example\"]")]);
    app
}

/// The bot's reply to `command` (a direct message), as plain text.
pub async fn reply_to(app: &TestApp, command: &Status) -> String {
    let id: u64 = command.id.parse().unwrap();
    let html = within(
        "the bot's reply",
        app.fake.wait_until(|w| {
            w.statuses
                .values()
                .find(|s| s.in_reply_to_id == Some(id))
                .map(|s| s.content.clone())
        }),
    )
    .await;
    html_to_text(&html)
}

/// The bot's public posts (replies to moderators are direct).
pub fn public_posts(app: &TestApp) -> Vec<String> {
    app.fake
        .statuses_by("chatbot")
        .iter()
        .filter(|s| s.visibility != "direct")
        .map(|s| html_to_text(&s.content))
        .collect()
}

/// Waits until the bot has `n` public posts (the world is already locked
/// inside `wait_until`, so count there, not through `statuses_by`).
async fn wait_for_public_posts(app: &TestApp, n: usize) {
    const BOT: usize = 0;
    within(
        "the bot's public posts",
        app.fake.wait_until(|w| {
            let count = w
                .statuses
                .values()
                .filter(|s| s.account == BOT && s.visibility != "direct" && !s.deleted)
                .count();
            (count >= n).then_some(())
        }),
    )
    .await;
}

async fn command(app: &TestApp, who: &str, text: &str) -> String {
    let sent = app.fake.post_as(who, text, None, "direct");
    reply_to(app, &sent).await
}

#[tokio::test]
async fn pause_holds_the_next_question_across_a_restart_and_resume_shifts_the_rest() {
    let app = app_with_moderator().await;
    let (daemon, shutdown) = app.spawn_once();
    app.advance_to_post(0).await;
    app.advance_to_post(1).await;
    within("both streams", app.fake.wait_for_streams(2)).await;

    let reply = command(&app, "alice", "@chatbot pause").await;
    assert!(reply.starts_with("@alice Paused #1QEdChat"), "{reply}");
    app.clock.set(app.post_time(2));
    let reply = command(&app, "alice", "@chatbot status").await;
    assert!(reply.contains("Paused since 20:05 GMT"), "{reply}");
    assert_eq!(public_posts(&app).len(), 2, "Q2 must wait while paused");

    // A restart keeps the run paused.
    shutdown.cancel();
    assert_all_ok(&within("a clean stop", daemon).await.unwrap());
    within(
        "the old streams to close",
        app.fake
            .wait_until(|w| (w.stream_count() == 0).then_some(())),
    )
    .await;
    let (daemon, _) = app.spawn_once();
    within("the streams again", app.fake.wait_for_streams(2)).await;
    let reply = command(&app, "alice", "@chatbot status").await;
    assert!(reply.contains("Paused since"), "{reply}");
    assert_eq!(public_posts(&app).len(), 2);

    // Resumed at 20:20 after 15 minutes: Q2 (due 20:15) moves to 20:30.
    app.clock
        .set(app.post_time(2) + chrono::Duration::minutes(5));
    let reply = command(&app, "alice", "@chatbot resume").await;
    assert!(reply.contains("the rest moved 15m later"), "{reply}");
    assert!(reply.contains("Next: Q2 at 20:30 GMT"), "{reply}");
    app.clock
        .set(app.post_time(2) + chrono::Duration::minutes(15));
    wait_for_public_posts(&app, 3).await;
    app.clock
        .set(app.end_time() + chrono::Duration::minutes(15));
    assert_all_ok(&within("the run to end", daemon).await.unwrap());
    assert_eq!(public_posts(&app).len(), 5);
}

#[tokio::test]
async fn next_skip_extend_and_stop_change_the_timeline_as_they_say() {
    let app = app_with_moderator().await;
    let (daemon, _) = app.spawn_once();
    app.advance_to_post(0).await;
    app.advance_to_post(1).await;
    within("both streams", app.fake.wait_for_streams(2)).await;

    // next: Q2 now (20:05) instead of 20:15; Q3 moves to 20:15.
    let reply = command(&app, "alice", "@chatbot next").await;
    assert!(
        reply.contains("Posting Q2 now; the rest moved 10m earlier"),
        "{reply}"
    );
    assert!(reply.contains("Next: Q2 at 20:05 GMT"), "{reply}");
    wait_for_public_posts(&app, 3).await;

    // extend 10m: Q3 from 20:15 to 20:25.
    let reply = command(&app, "alice", "@chatbot extend 10m").await;
    assert!(
        reply.contains("Extended #1QEdChat by 10m. Next: Q3 at 20:25 GMT"),
        "{reply}"
    );

    // skip: Q3 dropped; the closing keeps its (shifted) time, 20:35.
    let reply = command(&app, "alice", "@chatbot skip").await;
    assert!(
        reply.contains("Dropped Q3. Next: the closing at 20:35 GMT"),
        "{reply}"
    );

    // stop: the closing now.
    let reply = command(&app, "alice", "@chatbot stop").await;
    assert!(
        reply.contains("Posting the closing of #1QEdChat now"),
        "{reply}"
    );
    wait_for_public_posts(&app, 4).await;
    let posts = public_posts(&app);
    assert!(posts[2].starts_with("Q2:"), "{posts:?}");
    assert!(posts[3].starts_with("Thanks everyone!"), "{posts:?}");
    app.clock
        .set(app.post_time(1) + chrono::Duration::minutes(10));
    assert_all_ok(&within("the run to end", daemon).await.unwrap());
    let run = app.store.latest_run(app.chat.id()).await.unwrap().unwrap();
    let logged: Vec<String> = app
        .store
        .steer_log(app.chat.id())
        .await
        .unwrap()
        .into_iter()
        .map(|(who, what, _)| format!("{who} {what}"))
        .collect();
    assert_eq!(
        logged,
        [
            "alice@fake.example next",
            "alice@fake.example extend",
            "alice@fake.example skip",
            "alice@fake.example stop"
        ]
    );
    let posts = app.store.posts(run.id).await.unwrap();
    assert!(posts[3]
        .last_error
        .as_deref()
        .unwrap()
        .contains("skipped by @alice@fake.example"));
}

#[tokio::test]
async fn cancel_calls_off_the_next_run_before_it_starts() {
    let app = app_with_moderator().await;
    let (daemon, _) = app.spawn_once();
    within("the user stream", app.fake.wait_for_streams(1)).await;
    let reply = command(&app, "alice", "@chatbot cancel").await;
    assert!(
        reply.contains("Called off the #1QEdChat run of Thu 3 Dec 20:00 GMT"),
        "{reply}"
    );
    app.clock.set(app.end_time());
    assert_all_ok(&within("the daemon to finish", daemon).await.unwrap());
    assert!(public_posts(&app).is_empty());
}

#[tokio::test]
async fn commands_from_non_moderators_and_lookalikes_on_other_instances_do_nothing() {
    let app = app_with_moderator().await;
    app.fake.add_remote_account("alice@evil.example");
    let (daemon, _) = app.spawn_once();
    app.advance_to_post(0).await;
    app.advance_to_post(1).await;
    within("both streams", app.fake.wait_for_streams(2)).await;
    app.fake.post_as("bob", "@chatbot pause", None, "direct");
    app.fake
        .post_as("alice@evil.example", "@chatbot stop", None, "direct");
    // A real moderator's command afterwards is answered; the others were not.
    let reply = command(&app, "alice", "@chatbot status").await;
    assert!(reply.contains("Next: Q2 at 20:15 GMT"), "{reply}");
    let replies = app
        .fake
        .statuses_by("chatbot")
        .iter()
        .filter(|s| s.visibility == "direct")
        .count();
    assert_eq!(replies, 1, "only the moderator got an answer");
    app.finish_run(daemon, 2).await;
    assert_eq!(public_posts(&app).len(), 5);
    let logged = app.store.steer_log(app.chat.id()).await.unwrap();
    assert_eq!(logged.len(), 1, "{logged:?}");
}

#[tokio::test]
async fn an_unknown_command_gets_help_by_direct_message_but_a_public_answer_does_not() {
    let app = app_with_moderator().await;
    let (daemon, _) = app.spawn_once();
    app.advance_to_post(0).await;
    within("both streams", app.fake.wait_for_streams(2)).await;
    app.fake.post_as(
        "alice",
        "@chatbot #1QEdChat A1: moderators answer too",
        None,
        "public",
    );
    let reply = command(&app, "alice", "@chatbot dance").await;
    assert!(reply.contains("I understand: status, pause"), "{reply}");
    let replies = app
        .fake
        .statuses_by("chatbot")
        .iter()
        .filter(|s| s.visibility == "direct")
        .count();
    assert_eq!(replies, 1);
    app.finish_run(daemon, 1).await;
}

#[tokio::test]
async fn a_participant_can_opt_out_and_back_in_and_gets_a_confirmation() {
    let app = app_with_moderator().await;
    let (daemon, _) = app.spawn_once();
    // The run has begun before anything else happens (moving the clock past
    // the whole run first would, rightly, skip it).
    app.advance_to_post(0).await;
    within("the user stream", app.fake.wait_for_streams(2)).await;
    let reply = command(&app, "bob", "@chatbot optout").await;
    assert!(reply.contains("left out of every recap"), "{reply}");
    assert!(app
        .store
        .opted_out()
        .await
        .unwrap()
        .contains("bob@fake.example"));
    let reply = command(&app, "bob", "@chatbot optin").await;
    assert!(reply.contains("included in recaps again"), "{reply}");
    assert!(app.store.opted_out().await.unwrap().is_empty());
    for seq in 1..=4 {
        app.clock.set(app.post_time(seq));
        wait_for_public_posts(&app, seq as usize + 1).await;
    }
    app.clock.set(app.end_time());
    assert_all_ok(&within("the run to end", daemon).await.unwrap());
}

/// The bot's direct messages (its replies to commands), as plain text.
fn direct_replies(app: &TestApp) -> Vec<String> {
    app.fake
        .statuses_by("chatbot")
        .iter()
        .filter(|s| s.visibility == "direct")
        .map(|s| html_to_text(&s.content))
        .collect()
}

#[tokio::test]
async fn a_command_sent_while_the_user_stream_was_down_is_applied_after_it_reconnects() {
    let app = app_with_moderator().await;
    let (daemon, _) = app.spawn_once();
    app.advance_to_post(0).await;
    app.advance_to_post(1).await;
    within("both streams", app.fake.wait_for_streams(2)).await;
    // A first command, answered from the stream: the listener has taken its
    // position in the notifications, so later ones are commands, not history.
    command(&app, "alice", "@chatbot status").await;

    app.fake.drop_user_streams();
    // Nothing runs between these lines (one-threaded test runtime): the
    // mention is made while no user stream exists, so no frame carries it.
    assert_eq!(
        app.fake.wait_until(|w| Some(w.user_stream_count())).await,
        0
    );
    let sent = app
        .fake
        .post_as("alice", "@chatbot extend 10m", None, "direct");

    // Only the notifications read after reconnection can bring it.
    let reply = reply_to(&app, &sent).await;
    assert!(
        reply.contains("Extended #1QEdChat by 10m. Next: Q2 at 20:25 GMT"),
        "{reply}"
    );
    // Everything moved 10 minutes later, the end of collection too.
    app.clock
        .set(app.end_time() + chrono::Duration::minutes(10));
    assert_all_ok(&within("the run to end", daemon).await.unwrap());
    assert_eq!(public_posts(&app).len(), 5);
    let logged = app.store.steer_log(app.chat.id()).await.unwrap();
    assert_eq!(logged.len(), 2, "{logged:?}");
}

#[tokio::test]
async fn a_command_seen_on_the_stream_and_again_in_the_notifications_acts_once() {
    let app = app_with_moderator().await;
    // Every acknowledgment shows as its own status, even a repeated one.
    app.fake.forget_idempotency_keys();
    let (daemon, _) = app.spawn_once();
    app.advance_to_post(0).await;
    app.advance_to_post(1).await;
    within("both streams", app.fake.wait_for_streams(2)).await;
    let reply = command(&app, "alice", "@chatbot extend 10m").await;
    assert!(reply.contains("Next: Q2 at 20:25 GMT"), "{reply}");

    // On reconnection the notifications since the stored cursor are read:
    // the extend, already handled from the stream, comes back.
    app.fake.drop_user_streams();
    within("the user stream again", app.fake.wait_for_streams(2)).await;
    // Events on the new stream are read only after that reconciliation.
    let reply = command(&app, "alice", "@chatbot status").await;
    assert!(
        reply.contains("Next: Q2 at 20:25 GMT"),
        "extended once: {reply}"
    );
    assert_eq!(direct_replies(&app).len(), 2, "{:?}", direct_replies(&app));
    let logged: Vec<String> = app
        .store
        .steer_log(app.chat.id())
        .await
        .unwrap()
        .into_iter()
        .map(|(_, what, _)| what)
        .collect();
    assert_eq!(logged, ["extend", "status"]);
    app.clock
        .set(app.end_time() + chrono::Duration::minutes(10));
    assert_all_ok(&within("the run to end", daemon).await.unwrap());
    assert_eq!(public_posts(&app).len(), 5);
}

#[tokio::test]
async fn a_command_offered_to_two_chats_of_one_account_acts_once() {
    let app = app_with_moderator().await;
    app.fake.forget_idempotency_keys();
    let recaps = format!("\"{}\"", app.dir.path().join("recaps-2").display());
    let second = app.chat_with(&[
        ("id", "2qedchat"),
        ("hashtag", "2QEdChat"),
        ("recap_dir", &recaps),
    ]);
    let mut daemon = app.daemon(
        hashchat::run::RunOptions {
            once: true,
            ..Default::default()
        },
        tokio_util::sync::CancellationToken::new(),
    );
    daemon.config.chats.push(second);
    let daemon = tokio::spawn(async move { daemon.run(&[]).await.expect("daemon") });
    // Both chats post their intro; one listener serves the account.
    app.clock.set(app.post_time(0));
    wait_for_public_posts(&app, 2).await;
    within("three streams", app.fake.wait_for_streams(3)).await;

    // A participant's opt-out concerns every chat: recorded and answered once.
    let reply = command(&app, "bob", "@chatbot optout").await;
    assert!(reply.contains("left out of every recap"), "{reply}");
    // A moderator of both chats who names none is asked which, once.
    let reply = command(&app, "alice", "@chatbot extend 10m").await;
    assert!(reply.contains("Which chat?"), "{reply}");
    // Naming one changes that chat only, once.
    let reply = command(&app, "alice", "@chatbot extend 10m #2QEdChat").await;
    assert!(
        reply.contains("Extended #2QEdChat by 10m. Next: Q1 at 20:15 GMT"),
        "{reply}"
    );
    let reply = command(&app, "alice", "@chatbot status #1QEdChat").await;
    assert!(reply.contains("Next: Q1 at 20:05 GMT"), "{reply}");
    assert_eq!(direct_replies(&app).len(), 4, "{:?}", direct_replies(&app));
    assert_eq!(app.store.steer_log("*").await.unwrap().len(), 1);
    let first: Vec<String> = app
        .store
        .steer_log("1qedchat")
        .await
        .unwrap()
        .into_iter()
        .map(|(_, what, _)| what)
        .collect();
    assert_eq!(first, ["extend", "status"]);
    assert_eq!(app.store.steer_log("2qedchat").await.unwrap().len(), 1);

    app.clock
        .set(app.end_time() + chrono::Duration::minutes(10));
    assert_all_ok(&within("both runs to end", daemon).await.unwrap());
}
