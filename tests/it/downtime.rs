//! What happens around downtime and bad credentials: late posts, missed
//! runs, a refused token, and changes made while the stream was away.

use std::sync::Arc;
use std::time::Duration;

use hashchat::chats::Chat;
use hashchat::network::html_to_text;
use hashchat::network::{MastodonClient, Social, Token, Trust};
use hashchat::recap;
use hashchat::run::{Connector, RunOptions};
use hashchat::store::PostState;
use tokio_util::sync::CancellationToken;

use crate::helpers::{assert_all_ok, start_time, within, TestApp};

#[tokio::test]
async fn a_post_due_while_the_bot_was_down_goes_out_once_on_return_and_later_posts_keep_their_times(
) {
    let app = TestApp::new().await;
    // Down at the intro and Q1; back three minutes after Q1 was due.
    app.clock
        .set(app.post_time(1) + chrono::Duration::minutes(3));
    let (daemon, _) = app.spawn_once();
    let posts = within("the late posts", app.fake.wait_for_bot_posts(2)).await;
    assert_eq!(
        html_to_text(&posts[1].content),
        "Q1: How do you build an online PLN? #1QEdChat"
    );
    // Q2 is not due yet on the (stopped) clock: no third post.
    assert_eq!(app.fake.statuses_by("chatbot").len(), 2);
    app.finish_run(daemon, 2).await;
    assert_eq!(app.fake.statuses_by("chatbot").len(), 5);
    let run = app.store.latest_run(app.chat.id()).await.unwrap().unwrap();
    let posts = app.store.posts(run.id).await.unwrap();
    assert!(posts.iter().all(|p| p.state == PostState::Sent));
    // The late ones were posted when the bot came back, the rest on time.
    assert_eq!(posts[2].posted_at, Some(app.post_time(2)));
}

#[tokio::test]
async fn a_post_later_than_its_late_limit_is_skipped_and_reported_not_posted() {
    let mut app = TestApp::new().await;
    app.set_chat(&[("late_limit", "1m")]);
    app.clock
        .set(app.post_time(1) + chrono::Duration::minutes(3));
    let (daemon, _) = app.spawn_once();
    for seq in 2..=4 {
        app.clock.set(app.post_time(seq));
        // Intro and Q1 are skipped, so the bot has seq - 1 posts by now.
        within(
            "the bot's post",
            app.fake.wait_for_bot_posts(seq as usize - 1),
        )
        .await;
    }
    app.clock.set(app.end_time());
    assert_all_ok(&within("the run to end", daemon).await.unwrap());
    let texts: Vec<String> = app
        .fake
        .statuses_by("chatbot")
        .iter()
        .map(|s| html_to_text(&s.content))
        .collect();
    assert_eq!(texts.len(), 3, "{texts:?}");
    let run = app.store.latest_run(app.chat.id()).await.unwrap().unwrap();
    let posts = app.store.posts(run.id).await.unwrap();
    assert_eq!(posts[0].state, PostState::Skipped);
    assert_eq!(posts[1].state, PostState::Skipped);
    assert!(posts[1]
        .last_error
        .as_deref()
        .unwrap_or("")
        .contains("late"));
}

#[tokio::test]
async fn a_run_missed_entirely_is_recorded_as_missed_and_nothing_is_posted_late() {
    let mut app = TestApp::new().await;
    app.set_chat(&[("schedule", "\"0 20 * * 4\"")]);
    // A run a week earlier is in the history; the bot comes back a week
    // and a day later, so the run of 3 December passed entirely.
    let week = chrono::Duration::days(7);
    let earlier = start_time() - week;
    app.store
        .open_run(
            app.chat.id(),
            earlier,
            earlier + chrono::Duration::minutes(45),
        )
        .await
        .unwrap();
    let last = app.store.latest_run(app.chat.id()).await.unwrap().unwrap();
    app.store
        .finish_run(last.id, earlier + chrono::Duration::minutes(45))
        .await
        .unwrap();
    app.clock.set(start_time() + chrono::Duration::days(1));
    let shutdown = CancellationToken::new();
    let daemon = app.daemon(RunOptions::default(), shutdown.clone());
    let task = tokio::spawn(async move { daemon.run(&[]).await.unwrap() });
    // The daemon records the missed run, then sleeps until the next one.
    within("the missed run", async {
        loop {
            if app.store.last_planned_start(app.chat.id()).await.unwrap() == Some(start_time()) {
                return;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    shutdown.cancel();
    assert_all_ok(&within("a clean stop", task).await.unwrap());
    assert!(app.fake.statuses_by("chatbot").is_empty());
    // The missed run is not the latest real run.
    assert_eq!(
        app.store
            .latest_run(app.chat.id())
            .await
            .unwrap()
            .unwrap()
            .planned_start,
        earlier
    );
}

/// Gives chat `broken` a token the server refuses.
struct TwoTokens {
    server: url::Url,
    good: String,
}

impl Connector for TwoTokens {
    fn connect(&self, chat: &Chat) -> anyhow::Result<Arc<dyn Social>> {
        let token = if chat.id() == "broken" {
            "revoked".to_string()
        } else {
            self.good.clone()
        };
        Ok(Arc::new(MastodonClient::new(
            &self.server,
            Token::new(token),
            Duration::from_secs(5),
            &Trust::with_extra(chat.account().ca_certificates())?,
        )?))
    }
}

#[tokio::test]
async fn a_refused_token_stops_that_chat_with_a_clear_message_and_the_others_go_on() {
    let app = TestApp::new().await;
    let mut daemon = app.daemon(
        RunOptions {
            once: true,
            ..RunOptions::default()
        },
        CancellationToken::new(),
    );
    // Its own token, so its own account: chats of one account share who
    // the bot is, asked once.
    let broken = app.chat_with(&[("id", "broken"), ("token_env", "REVOKED_TOKEN")]);
    daemon.config.chats.push(broken);
    daemon.connector = Arc::new(TwoTokens {
        server: app.fake.url(),
        good: app.fake.bot_token(),
    });
    let task = tokio::spawn(async move { daemon.run(&[]).await.unwrap() });
    for seq in 0..=4 {
        app.advance_to_post(seq).await;
    }
    app.clock.set(app.end_time());
    let outcomes = within("both chats to end", task).await.unwrap();
    let broken = outcomes.iter().find(|o| o.chat == "broken").unwrap();
    let message = format!("{:#}", broken.result.as_ref().unwrap_err());
    assert!(message.contains("refused the access token"), "{message}");
    assert!(message.contains("read write"), "{message}");
    let good = outcomes.iter().find(|o| o.chat == "1qedchat").unwrap();
    assert!(good.result.is_ok());
    assert_eq!(app.fake.statuses_by("chatbot").len(), 5);
}

#[tokio::test]
async fn edits_and_deletes_made_while_the_stream_was_away_are_caught_at_the_end() {
    let app = TestApp::new().await;
    let (daemon, _) = app.spawn_once();
    app.advance_to_post(0).await;
    within("the stream", app.fake.wait_for_streams(1)).await;
    app.advance_to_post(1).await;
    let kept = app
        .fake
        .post_as("alice", "A1: first version #1QEdChat", None, "public");
    let gone = app
        .fake
        .post_as("bob", "A1: soon deleted #1QEdChat", None, "public");
    crate::reliability::recorded(&app, &gone.id).await;
    crate::reliability::recorded(&app, &kept.id).await;
    // Cut the stream and change both posts before the bot can reconnect
    // (these calls do not yield to the runtime): the stream never carries
    // the edit or the delete, and a reconnection reads only newer posts.
    app.fake.cut_streams();
    app.fake
        .edit_as("alice", &kept.id, "A1: second version #1QEdChat");
    app.fake.delete(&gone.id);
    app.finish_run(daemon, 2).await;
    let recap = recap::build(&app.store, &app.chat, app.run_id().await)
        .await
        .unwrap();
    let q1: Vec<&str> = recap.questions[0]
        .answers
        .iter()
        .map(|a| a.text.as_str())
        .collect();
    assert_eq!(q1, vec!["A1: second version #1QEdChat"]);
}

#[tokio::test]
async fn garbage_on_the_stream_is_skipped_and_the_next_answer_still_counts() {
    let app = TestApp::new().await;
    let (daemon, _) = app.spawn_once();
    app.advance_to_post(0).await;
    within("the stream", app.fake.wait_for_streams(1)).await;
    app.advance_to_post(1).await;
    for junk in [
        "not json at all",
        r#"{"event":"update","payload":"{\"id\":\"1\"}"}"#,
        r#"{"event":"update","payload":"{\"id\":\"9\",\"account\":{\"id\":\"5\"},\"created_at\":\"yesterday\"}"}"#,
        r#"{"event":"mystery","payload":42}"#,
        r#"{"event":"delete","payload":null}"#,
    ] {
        app.fake.send_raw_frame(junk);
    }
    let huge = format!("A1: {} #1QEdChat", "\u{202e}ع😀\u{200b}<b>".repeat(5000));
    let id = app.fake.post_as("alice", &huge, None, "public").id;
    crate::reliability::recorded(&app, &id).await;
    app.finish_run(daemon, 2).await;
}

#[tokio::test]
async fn a_server_that_lost_its_data_does_not_make_answers_look_deleted() {
    let app = TestApp::new().await;
    let (daemon, _) = app.spawn_once();
    app.advance_to_post(0).await;
    app.advance_to_post(1).await;
    let kept = app.fake.post_as(
        "alice",
        "A1: said before the outage #1QEdChat",
        None,
        "public",
    );
    crate::reliability::recorded(&app, &kept.id).await;
    // The server comes back empty: the bot's own intro and Q1 are gone too.
    app.fake.forget_everything();
    for seq in 2..=4u32 {
        app.clock.set(app.post_time(seq));
        within(
            "the bot's post",
            app.fake.wait_for_bot_posts(seq as usize - 1),
        )
        .await;
    }
    app.clock.set(app.end_time());
    assert_all_ok(&within("the run to end", daemon).await.unwrap());
    let recap = recap::build(&app.store, &app.chat, app.run_id().await)
        .await
        .unwrap();
    let q1: Vec<&str> = recap.questions[0]
        .answers
        .iter()
        .map(|a| a.status_id.as_str())
        .collect();
    assert_eq!(q1, vec![kept.id.as_str()]);
}

#[tokio::test]
async fn a_deleted_reply_holding_a_longer_tag_is_caught_at_the_end() {
    let app = TestApp::new().await;
    let (daemon, _) = app.spawn_once();
    app.advance_to_post(0).await;
    within("the stream", app.fake.wait_for_streams(1)).await;
    let posts = app.advance_to_post(1).await;
    // Not tagged #1QEdChat (another tag), so neither the stream nor the
    // tag timeline carries it: only Q1's context does, and its delete.
    let reply = app.fake.post_as(
        "alice",
        "A1: as said in #1QEdChatter",
        Some(&posts[1].id),
        "public",
    );
    app.advance_to_post(2).await;
    crate::reliability::recorded(&app, &reply.id).await;
    app.fake.delete(&reply.id);
    app.finish_run(daemon, 3).await;
    let rows = app.store.statuses(app.run_id().await).await.unwrap();
    let row = rows.iter().find(|r| r.status_id == reply.id).unwrap();
    assert!(
        row.deleted_at.is_some(),
        "the stream never had the reply, so the end of the run must check it"
    );
}
