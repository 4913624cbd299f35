//! Faults during a run, against the in-process fake server: crashes at
//! seeded points, dropped streams, throttling, a hanging server, a second
//! process, and shutdown. Each test fails when its protection is removed.

use std::collections::BTreeSet;
use std::future::Future;

use hashchat::clock::Clock;
use hashchat::network::html_to_text;
use hashchat::recap;
use hashchat::run::RunOptions;
use hashchat::store::PostState;
use rand::SeedableRng;
use tokio_util::sync::CancellationToken;

use crate::fake_server::Fault;
use crate::helpers::{assert_all_ok, within, TestApp};

/// Waits until the store holds a (live) status with this id: proof it was
/// recorded before the run's final reconciliation.
pub async fn recorded(app: &TestApp, status_id: &str) {
    within("the answer to be recorded", async {
        loop {
            if let Some(run) = app.store.latest_run(app.chat.id()).await.unwrap() {
                let rows = app.store.statuses(run.id).await.unwrap();
                if rows.iter().any(|r| r.status_id == status_id) {
                    return;
                }
            }
            tokio::task::yield_now().await;
        }
    })
    .await
}

fn bot_texts(app: &TestApp) -> Vec<String> {
    app.fake
        .statuses_by("chatbot")
        .iter()
        .map(|s| html_to_text(&s.content))
        .collect()
}

fn expected_bot_texts() -> Vec<String> {
    vec![
        "Welcome to #1QEdChat! Introduce yourself.".into(),
        "Q1: How do you build an online PLN? #1QEdChat".into(),
        "Q2: Which chats or groups help you most? #1QEdChat".into(),
        "Q3: What will you try next week? #1QEdChat".into(),
        "Thanks everyone! Recap soon. #1QEdChat".into(),
    ]
}

async fn answered_ids(app: &TestApp) -> BTreeSet<String> {
    let recap = recap::build(&app.store, &app.chat, app.run_id().await)
        .await
        .unwrap();
    recap
        .questions
        .iter()
        .flat_map(|q| q.answers.iter().map(|a| a.status_id.clone()))
        .collect()
}

/// The daemon, killed once when the server has seen `kill_at` requests
/// (dropping it at whatever await it is in, as `kill -9` would, with
/// SQLite rolling back what was not committed), then started again.
struct Crashing<'a> {
    app: &'a TestApp,
    daemon: tokio::task::JoinHandle<Vec<hashchat::run::ChatOutcome>>,
    kill_at: usize,
    killed: bool,
    /// Answers posted while the bot was down.
    posted_while_down: Vec<String>,
}

impl<'a> Crashing<'a> {
    fn start(app: &'a TestApp, kill_at: usize) -> Self {
        Self {
            app,
            daemon: app.spawn_once().0,
            kill_at,
            killed: false,
            posted_while_down: Vec::new(),
        }
    }

    async fn wait<T>(&mut self, what: &str, future: impl Future<Output = T>) -> T {
        tokio::pin!(future);
        let mut waiting = std::pin::pin!(within(what, &mut future));
        loop {
            if self.killed {
                return waiting.await;
            }
            tokio::select! {
                out = &mut waiting => return out,
                _ = self.app.fake.wait_for_requests(self.kill_at) => self.crash_and_restart().await,
            }
        }
    }

    /// Waits for the daemon to finish its run (it may still be killed).
    async fn finish(&mut self) -> Vec<hashchat::run::ChatOutcome> {
        loop {
            if self.killed {
                return within("the run to end", &mut self.daemon).await.unwrap();
            }
            tokio::select! {
                out = &mut self.daemon => return out.unwrap(),
                _ = self.app.fake.wait_for_requests(self.kill_at) => self.crash_and_restart().await,
                _ = tokio::time::sleep(crate::helpers::GUARD) => panic!("gave up waiting for the run to end"),
            }
        }
    }

    async fn crash_and_restart(&mut self) {
        self.daemon.abort();
        let _ = (&mut self.daemon).await;
        self.killed = true;
        if self.app.clock.now() >= crate::helpers::start_time() {
            let gap = self.app.fake.post_as(
                "bob",
                "A2: posted while the bot was down #1QEdChat",
                None,
                "public",
            );
            self.posted_while_down.push(gap.id);
        }
        self.daemon = self.app.spawn_once().0;
    }
}

/// A whole run, killed when the server has seen `kill_at` requests (never
/// with `usize::MAX`); checks each post went out once and no answer was
/// lost, and returns how many requests the server saw.
async fn crash_once_during_a_run(kill_at: usize) -> usize {
    let app = TestApp::new().await;
    let mut run = Crashing::start(&app, kill_at);
    let mut answers = Vec::new();
    for seq in 0..=4u32 {
        app.clock.set(app.post_time(seq));
        let posts = run
            .wait(
                "the bot's post",
                app.fake.wait_for_bot_posts(seq as usize + 1),
            )
            .await;
        match seq {
            1 => answers.push(
                app.fake
                    .post_as("alice", "A1: my PLN #1QEdChat", None, "public")
                    .id,
            ),
            2 => {
                let q2 = posts[2].id.clone();
                answers.push(
                    app.fake
                        .post_as("bob", "Colleagues", Some(&q2), "unlisted")
                        .id,
                );
            }
            3 => answers.push(
                app.fake
                    .post_as("alice", "A3 a new tool #1QEdChat", None, "public")
                    .id,
            ),
            _ => {}
        }
    }
    app.clock.set(app.end_time());
    let outcomes = run.finish().await;
    assert_all_ok(&outcomes);

    // A point past the run's last request would pass as a clean run.
    assert_eq!(
        run.killed,
        kill_at != usize::MAX,
        "the kill at request {kill_at} never came"
    );
    assert_eq!(
        bot_texts(&app),
        expected_bot_texts(),
        "killed at request {kill_at}"
    );
    let found = answered_ids(&app).await;
    for id in answers.iter().chain(&run.posted_while_down) {
        assert!(
            found.contains(id),
            "killed at request {kill_at}: answer {id} lost"
        );
    }
    app.fake.request_count()
}

#[tokio::test]
async fn killed_at_any_of_twenty_seeded_points_each_post_goes_out_once_and_no_answer_is_lost() {
    let clean = crash_once_during_a_run(usize::MAX).await;
    // Twenty distinct points among a clean run's requests, from the second
    // to two before the last (a run's count varies by a request or so with
    // when its reads and stream connections interleave).
    let mut rng = rand::rngs::StdRng::seed_from_u64(20);
    let candidates = 2..clean - 1;
    assert!(candidates.len() >= 20, "a clean run made {clean} requests");
    let points: BTreeSet<usize> = rand::seq::index::sample(&mut rng, candidates.len(), 20)
        .into_iter()
        .map(|i| candidates.start + i)
        .collect();
    assert_eq!(points.len(), 20, "{points:?}");
    for kill_at in points {
        crash_once_during_a_run(kill_at).await;
    }
}

#[tokio::test]
async fn a_crash_between_sending_and_recording_a_post_does_not_post_it_twice() {
    let app = TestApp::new().await;
    let (daemon, _) = app.spawn_once();
    app.advance_to_post(0).await;
    // Q1 reaches the server but the answer never comes back; the process
    // dies while waiting, so SQLite says `sending` with no status id.
    app.fake
        .fail_next("POST", "/api/v1/statuses", Fault::AcceptThenHang);
    app.clock.set(app.post_time(1));
    within("Q1 on the server", app.fake.wait_for_bot_posts(2)).await;
    daemon.abort();
    let _ = daemon.await;
    let (daemon, _) = app.spawn_once();
    app.finish_run(daemon, 2).await;
    assert_eq!(bot_texts(&app), expected_bot_texts());
}

#[tokio::test]
async fn a_lost_post_is_found_among_the_bots_own_statuses_when_the_server_ignores_its_key() {
    let app = TestApp::new().await;
    // Like snac2 (or Mastodon after an hour): a resent key makes a new post,
    // so only the look-up of the bot's own recent statuses can prevent it.
    app.fake.forget_idempotency_keys();
    let (daemon, _) = app.spawn_once();
    app.advance_to_post(0).await;
    app.fake
        .fail_next("POST", "/api/v1/statuses", Fault::AcceptThenHang);
    app.clock.set(app.post_time(1));
    within("Q1 on the server", app.fake.wait_for_bot_posts(2)).await;
    daemon.abort();
    let _ = daemon.await;
    let (daemon, _) = app.spawn_once();
    app.finish_run(daemon, 2).await;
    assert_eq!(bot_texts(&app), expected_bot_texts());
    let q1_posts = app
        .fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/api/v1/statuses")
        .count();
    assert_eq!(q1_posts, 5, "Q1 was found, not sent again");
}

#[tokio::test]
async fn answers_posted_while_the_stream_was_down_are_recorded_on_reconnection() {
    let app = TestApp::new().await;
    let (daemon, _) = app.spawn_once();
    app.advance_to_post(0).await;
    within("the stream", app.fake.wait_for_streams(1)).await;
    let mut gap_answers = Vec::new();
    for (seq, cut) in [(1, false), (2, true), (3, false)] {
        app.advance_to_post(seq).await;
        // Drop the stream (a close frame, or a cut connection) and answer
        // before the bot can reconnect.
        if cut {
            app.fake.cut_streams();
        } else {
            app.fake.drop_streams();
        }
        let text = format!("A{seq}: said during gap {seq} #1QEdChat");
        let id = app.fake.post_as("alice", &text, None, "public").id;
        // Recorded by the reconciliation that follows reconnection, well
        // before the end-of-run reconciliation.
        recorded(&app, &id).await;
        gap_answers.push(id);
    }
    app.advance_to_post(4).await;
    app.clock.set(app.end_time());
    assert_all_ok(&within("the run to end", daemon).await.unwrap());
    let found = answered_ids(&app).await;
    for id in &gap_answers {
        assert!(found.contains(id));
    }
}

#[tokio::test]
async fn a_429_on_posting_and_on_timeline_reads_is_waited_out_then_succeeds() {
    let app = TestApp::new().await;
    let (daemon, _) = app.spawn_once();
    app.advance_to_post(0).await;
    within("the stream", app.fake.wait_for_streams(1)).await;
    app.fake.fail_next(
        "POST",
        "/api/v1/statuses",
        Fault::RateLimit {
            retry_after_secs: 1,
        },
    );
    let before = app.fake.request_count();
    let posts = app.advance_to_post(1).await;
    let posts_tried = app.fake.requests()[before..]
        .iter()
        .filter(|r| r.method == "POST" && r.path.starts_with("/api/v1/statuses"))
        .count();
    assert_eq!(posts_tried, 2, "one throttled attempt, one that succeeded");
    assert_eq!(html_to_text(&posts[1].content), expected_bot_texts()[1]);

    // The reconciliation after a reconnection is throttled once too.
    app.fake.fail_next(
        "GET",
        "/api/v1/timelines/tag",
        Fault::RateLimit {
            retry_after_secs: 1,
        },
    );
    app.fake.drop_streams();
    let id = app
        .fake
        .post_as("bob", "A1: throttled but kept #1QEdChat", None, "public")
        .id;
    recorded(&app, &id).await;
    app.finish_run(daemon, 2).await;
    assert_eq!(bot_texts(&app), expected_bot_texts());
}

#[tokio::test]
async fn a_hanging_server_times_out_and_the_post_is_retried() {
    let mut app = TestApp::new().await;
    app.tuning.request_timeout = std::time::Duration::from_millis(300);
    let (daemon, _) = app.spawn_once();
    app.advance_to_post(0).await;
    app.fake.fail_next("POST", "/api/v1/statuses", Fault::Hang);
    app.advance_to_post(1).await;
    app.finish_run(daemon, 2).await;
    assert_eq!(bot_texts(&app), expected_bot_texts());
}

#[tokio::test]
async fn a_second_process_on_the_same_database_refuses_a_chat_that_is_running() {
    let app = TestApp::new().await;
    let (first, _) = app.spawn_once();
    app.advance_to_post(0).await;
    let mut second = app.daemon(
        RunOptions {
            once: true,
            ..RunOptions::default()
        },
        CancellationToken::new(),
    );
    second.holder = "another-process".into();
    let outcomes = within("the second daemon", second.run(&[])).await.unwrap();
    let error = format!("{:#}", outcomes[0].result.as_ref().unwrap_err());
    assert!(
        error.contains("already being run by another hashchat process"),
        "{error}"
    );
    for seq in 1..=4 {
        app.advance_to_post(seq).await;
    }
    app.clock.set(app.end_time());
    assert_all_ok(&within("the run to end", first).await.unwrap());
    assert_eq!(bot_texts(&app), expected_bot_texts());
}

/// Starts the daemon and, once its chat holds the lease and sleeps until
/// the run, removes the lease folder as a cleaner of old files would.
async fn start_then_remove_the_lease_folder(
    app: &TestApp,
) -> tokio::task::JoinHandle<Vec<hashchat::run::ChatOutcome>> {
    let (daemon, _) = app.spawn_once();
    within("the chat's lease", async {
        while app.store.lease_of(app.chat.id()).unwrap().is_none() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    std::fs::remove_dir_all(app.dir.path().join("hashchat.db-leases")).unwrap();
    daemon
}

#[tokio::test]
async fn a_lease_file_removed_while_the_chat_slept_is_taken_again_before_the_run() {
    let app = TestApp::new().await;
    let daemon = start_then_remove_the_lease_folder(&app).await;
    assert_eq!(app.store.lease_of(app.chat.id()).unwrap(), None);
    app.advance_to_post(0).await;
    assert_eq!(
        app.store.lease_of(app.chat.id()).unwrap().map(|l| l.holder),
        Some("test-process".to_string())
    );
    app.finish_run(daemon, 1).await;
    assert_eq!(bot_texts(&app), expected_bot_texts());
}

#[tokio::test]
async fn a_chat_whose_removed_lease_another_process_took_does_not_post() {
    let app = TestApp::new().await;
    let daemon = start_then_remove_the_lease_folder(&app).await;
    // Another process on the same database locks a new lease file.
    let other = hashchat::store::Store::open(&app.db).await.unwrap();
    let _theirs = other
        .take_lease(app.chat.id(), "another-process", app.clock.now())
        .await
        .unwrap()
        .unwrap();
    app.clock.set(app.post_time(0));
    let outcomes = within("the chat to stop", daemon).await.unwrap();
    let error = format!("{:#}", outcomes[0].result.as_ref().unwrap_err());
    assert!(
        error.contains("already being run by another hashchat process (another-process"),
        "{error}"
    );
    assert!(app.fake.statuses_by("chatbot").is_empty());
}

#[tokio::test]
async fn shutdown_mid_run_exits_cleanly_and_the_next_start_resumes_the_run() {
    let app = TestApp::new().await;
    let (daemon, shutdown) = app.spawn_once();
    app.advance_to_post(1).await;
    shutdown.cancel();
    let outcomes = within("a clean stop", daemon).await.unwrap();
    assert_all_ok(&outcomes);
    // Answered while stopped; the resumed run still records it.
    let id = app
        .fake
        .post_as(
            "alice",
            "A1: while it was stopped #1QEdChat",
            None,
            "public",
        )
        .id;
    let (daemon, _) = app.spawn_once();
    app.finish_run(daemon, 2).await;
    assert_eq!(bot_texts(&app), expected_bot_texts());
    assert!(answered_ids(&app).await.contains(&id));
}

/// Waits until the server has been asked `method path` (a hung request is
/// logged when it arrives).
async fn requested(app: &TestApp, method: &str, path: &str) {
    within(
        "the request",
        app.fake.wait_until(|w| {
            w.requests
                .iter()
                .any(|r| r.method == method && r.path.starts_with(path))
                .then_some(())
        }),
    )
    .await
}

/// The defect of issue 12: the server hung on a question's context read
/// while the closing was due, the driver waited for the read, then found
/// the closing late and skipped it. Reads now run beside the timeline.
#[tokio::test]
async fn a_reply_read_hanging_across_the_closings_time_does_not_hold_the_closing_back() {
    let mut app = TestApp::new().await;
    // The read hangs for as long as the test lasts: only the run's end
    // ends it.
    app.tuning.request_timeout = std::time::Duration::from_secs(600);
    app.set_chat(&[("late_limit", "1m")]);
    let (daemon, _) = app.spawn_once();
    for seq in 0..2 {
        app.advance_to_post(seq).await;
    }
    let q2 = app.advance_to_post(2).await[2].id.clone();
    // Q2's replies are read once Q3 is out.
    let context = format!("/api/v1/statuses/{q2}/context");
    app.fake.fail_next("GET", &context, Fault::Hang);
    app.advance_to_post(3).await;
    requested(&app, "GET", &context).await;

    app.clock.set(app.post_time(4));
    let posts = within(
        "the closing while the read still hangs",
        app.fake.wait_for_bot_posts(5),
    )
    .await;
    assert_eq!(html_to_text(&posts[4].content), expected_bot_texts()[4]);
    assert_eq!(posts[4].created_at, app.post_time(4), "on time");

    app.clock.set(app.end_time());
    assert_all_ok(&within("the run to end", daemon).await.unwrap());
    assert_eq!(bot_texts(&app), expected_bot_texts(), "each post once");
    let posts = app.store.posts(app.run_id().await).await.unwrap();
    assert!(
        posts.iter().all(|p| p.state == PostState::Sent),
        "{posts:#?}"
    );
}

/// A question held up by its own image upload (the bot's work, not
/// downtime) makes the closing late; the late limit, which is about posts
/// missed while hashchat was down, does not skip it.
#[tokio::test]
async fn a_closing_made_late_by_the_bots_own_work_is_posted_not_skipped() {
    let mut app = TestApp::new().await;
    // The upload waits for the test, however long the client would wait.
    app.tuning.request_timeout = std::time::Duration::from_secs(600);
    app.set_chat(&[("late_limit", "1m")]);
    let image = app.dir.path().join("q3.png");
    std::fs::write(&image, b"\x89PNG\r\n\x1a\n fake image bytes").unwrap();
    let questions = format!(
        "\n  - How do you build an online PLN?\n  - Which chats or groups help you most?\n  - text: What will you try next week?\n    image: \"{}\"\n    alt: \"A to-do list\"",
        image.display()
    );
    app.set_chat(&[("questions", &questions)]);
    let (daemon, _) = app.spawn_once();
    for seq in 0..=2 {
        app.advance_to_post(seq).await;
    }
    let release = CancellationToken::new();
    app.fake
        .fail_next("POST", "/api/v2/media", Fault::HoldUntil(release.clone()));
    app.clock.set(app.post_time(3));
    requested(&app, "POST", "/api/v2/media").await;
    // While the upload hangs, time runs past the closing's late limit.
    app.clock
        .set(app.post_time(4) + chrono::Duration::seconds(66));
    release.cancel();
    within("Q3 and the closing", app.fake.wait_for_bot_posts(5)).await;

    app.clock.set(app.end_time() + chrono::Duration::minutes(2));
    assert_all_ok(&within("the run to end", daemon).await.unwrap());
    assert_eq!(bot_texts(&app), expected_bot_texts(), "each post once");
    let posts = app.store.posts(app.run_id().await).await.unwrap();
    assert!(
        posts.iter().all(|p| p.state == PostState::Sent),
        "{posts:#?}"
    );
}

/// Against a server that ignores Idempotency-Keys (snac2), Q1 is created
/// but its answer is lost to `fault`: the bot must find Q1 among its own
/// statuses before sending it again, and record it as sent.
async fn a_post_whose_outcome_is_unknown_is_looked_for_before_it_is_sent_again(fault: Fault) {
    let mut app = TestApp::new().await;
    // The client stops waiting for the lost answer soon.
    app.tuning.request_timeout = std::time::Duration::from_millis(300);
    app.fake.forget_idempotency_keys();
    let (daemon, _) = app.spawn_once();
    app.advance_to_post(0).await;
    app.fake.fail_next("POST", "/api/v1/statuses", fault);
    let q1 = app.advance_to_post(1).await[1].clone();
    app.finish_run(daemon, 2).await;

    assert_eq!(bot_texts(&app), expected_bot_texts(), "each post once");
    let posts_sent = app
        .fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/api/v1/statuses")
        .count();
    assert_eq!(posts_sent, 5, "Q1 was found, not sent again");
    let posts = app.store.posts(app.run_id().await).await.unwrap();
    let row = posts.iter().find(|p| p.seq == 1).expect("Q1's row");
    assert_eq!(row.state, PostState::Sent, "{row:#?}");
    assert_eq!(row.status_id.as_deref(), Some(q1.id.as_str()), "{row:#?}");
}

#[tokio::test]
async fn a_post_whose_answer_times_out_is_found_not_sent_twice_when_the_server_ignores_its_key() {
    a_post_whose_outcome_is_unknown_is_looked_for_before_it_is_sent_again(Fault::AcceptThenHang)
        .await;
}

#[tokio::test]
async fn a_post_whose_connection_is_cut_is_found_not_sent_twice_when_the_server_ignores_its_key() {
    a_post_whose_outcome_is_unknown_is_looked_for_before_it_is_sent_again(Fault::AcceptThenCut)
        .await;
}

#[tokio::test]
async fn a_post_whose_answer_a_proxy_lost_is_found_not_sent_twice_when_the_server_ignores_its_key()
{
    // A 504 from the proxy in front of the server: it gave up waiting, but
    // the server behind it went on and created the post.
    a_post_whose_outcome_is_unknown_is_looked_for_before_it_is_sent_again(Fault::AcceptThenStatus(
        504,
    ))
    .await;
}

/// A post whose outcome is unknown, and the bot's own statuses unreadable
/// for as long as the look-up retries: sending again could post it twice,
/// so it is given up on with both errors, and the run goes on.
#[tokio::test]
async fn a_post_whose_outcome_cannot_be_checked_is_not_sent_again_and_the_run_goes_on() {
    let mut app = TestApp::new().await;
    app.tuning.request_timeout = std::time::Duration::from_millis(300);
    app.fake.forget_idempotency_keys();
    let (daemon, _) = app.spawn_once();
    app.advance_to_post(0).await;
    app.fake
        .fail_next("POST", "/api/v1/statuses", Fault::AcceptThenCut);
    let own_statuses = format!(
        "/api/v1/accounts/{}/statuses",
        app.fake.account_id("chatbot")
    );
    for _ in 0..app.tuning.post_attempts {
        app.fake
            .fail_next("GET", &own_statuses, Fault::Status(500, Vec::new()));
    }
    app.advance_to_post(1).await;
    app.finish_run(daemon, 2).await;

    assert_eq!(bot_texts(&app), expected_bot_texts(), "each post once");
    let posts = app.store.posts(app.run_id().await).await.unwrap();
    let row = posts.iter().find(|p| p.seq == 1).expect("Q1's row");
    assert_eq!(row.state, PostState::Failed, "{row:#?}");
    let reason = row.last_error.as_deref().unwrap_or_default();
    assert!(
        reason.contains("connection closed") && reason.contains("500"),
        "both errors: {reason}"
    );
    assert!(
        posts
            .iter()
            .filter(|p| p.seq != 1)
            .all(|p| p.state == PostState::Sent),
        "{posts:#?}"
    );
}
