//! A season of chats, against the fake server: reminders before the start,
//! a dated session's questions on its date, no run on a skip date, and accounts that never
//! count.

use hashchat::clock::Clock;
use hashchat::network::html_to_text;
use hashchat::recap;

use crate::helpers::{assert_all_ok, start_time, within, TestApp};

fn texts(app: &TestApp) -> Vec<String> {
    app.fake
        .statuses_by("chatbot")
        .iter()
        .map(|s| html_to_text(&s.content))
        .collect()
}

#[tokio::test]
async fn reminders_go_out_at_their_times_before_the_start() {
    let mut app = TestApp::new().await;
    app.set_chat(&[("reminders", "[24h, 15m]")]);
    let (daemon, _) = app.spawn_once();
    app.clock.set(start_time() - chrono::Duration::hours(24));
    within("the 24-hour reminder", app.fake.wait_for_bot_posts(1)).await;
    app.clock.set(start_time() - chrono::Duration::minutes(16));
    assert_eq!(
        texts(&app).len(),
        1,
        "the 15-minute reminder is not due yet"
    );
    app.clock.set(start_time() - chrono::Duration::minutes(15));
    within("the 15-minute reminder", app.fake.wait_for_bot_posts(2)).await;
    for seq in 0..=4u32 {
        app.clock.set(app.post_time(seq));
        within(
            "the chat's posts",
            app.fake.wait_for_bot_posts(seq as usize + 3),
        )
        .await;
    }
    app.clock.set(app.end_time());
    assert_all_ok(&within("the run to end", daemon).await.unwrap());
    let texts = texts(&app);
    assert!(
        texts[0] == "#1QEdChat starts in 24 hours. Join us!",
        "{texts:?}"
    );
    assert!(
        texts[1] == "#1QEdChat starts in 15 minutes. Join us!",
        "{texts:?}"
    );
    assert!(texts[2].starts_with("Welcome to #1QEdChat!"), "{texts:?}");
    assert_eq!(texts.len(), 7);
}

#[tokio::test]
async fn a_sessions_questions_are_used_on_its_date() {
    let mut app = TestApp::new().await;
    app.set_chat(&[(
        "sessions",
        "\n  - date: \"2026-12-03\"\n    topic: Feedback\n    host: \"@guest@school.example\"\n    questions: [\"What feedback works?\", \"How fast?\"]",
    )]);
    let (daemon, _) = app.spawn_once();
    app.advance_to_post(0).await;
    app.advance_to_post(1).await;
    app.fake
        .post_as("alice", "A2: within a day #1QEdChat", None, "public");
    app.advance_to_post(2).await;
    // Two questions: the closing comes one interval after Q2.
    app.advance_to_post(3).await;
    app.clock
        .set(app.post_time(3) + chrono::Duration::minutes(10));
    assert_all_ok(&within("the run to end", daemon).await.unwrap());
    let texts = texts(&app);
    assert_eq!(texts[1], "Q1: What feedback works? #1QEdChat");
    assert_eq!(texts[2], "Q2: How fast? #1QEdChat");
    assert!(texts[3].starts_with("Thanks everyone!"));
    let recap = recap::build(&app.store, &app.chat, app.run_id().await)
        .await
        .unwrap();
    assert_eq!(recap.questions.len(), 2);
    assert_eq!(recap.questions[1].text, "How fast?");
    assert_eq!(recap.questions[1].answers.len(), 1);
}

#[tokio::test]
async fn ignored_and_muted_accounts_never_appear_among_the_answers() {
    let mut app = TestApp::new().await;
    app.set_chat(&[("ignore", "[spam.example]")]);
    app.fake.add_remote_account("bot@spam.example");
    app.fake.mute("bob");
    let (daemon, _) = app.spawn_once();
    app.advance_to_post(0).await;
    app.advance_to_post(1).await;
    app.fake
        .post_as("bot@spam.example", "A1: buy now #1QEdChat", None, "public");
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
    assert_eq!(ids, vec![kept.id.as_str()]);
    assert!(recap.other_posts.is_empty());
    assert_eq!(recap.participants.len(), 1);
}

#[tokio::test]
async fn opted_out_and_excluded_participants_are_hidden_in_recaps_but_still_counted() {
    let mut app = TestApp::new().await;
    app.set_chat(&[("exclude", "[\"@carol@remote.example\"]")]);
    app.fake.add_remote_account("carol@remote.example");
    let (daemon, _) = app.spawn_once();
    app.advance_to_post(0).await;
    app.advance_to_post(1).await;
    app.fake
        .post_as("alice", "A1: visible #1QEdChat", None, "public");
    app.fake
        .post_as("bob", "A1: bob's words #1QEdChat", None, "public");
    app.fake.post_as(
        "carol@remote.example",
        "A1: carol's words #1QEdChat",
        None,
        "public",
    );
    app.finish_run(daemon, 2).await;
    // Bob opts out after the chat: re-rendering the past run hides him too.
    let now = app.clock.now();
    app.store
        .set_opted_out("bob@fake.example", true, "1", now)
        .await
        .unwrap();
    let recap = recap::build(&app.store, &app.chat, app.run_id().await)
        .await
        .unwrap();
    let shown: Vec<(&str, &str, bool)> = recap.questions[0]
        .answers
        .iter()
        .map(|a| (a.account.as_str(), a.text.as_str(), a.hidden))
        .collect();
    assert_eq!(
        shown,
        vec![
            ("alice@fake.example", "A1: visible #1QEdChat", false),
            ("", recap::HIDDEN, true),
            ("", recap::HIDDEN, true),
        ]
    );
    assert_eq!(recap.participants.len(), 1);
    assert_eq!((recap.stats.participants, recap.stats.answers), (3, 3));
    for format in recap::Format::ALL {
        let rendered = recap.render(format);
        assert!(
            !rendered.contains("bob's words") && !rendered.contains("carol"),
            "{format:?}"
        );
    }
}

#[tokio::test]
async fn the_chats_language_and_content_warning_go_on_every_post() {
    let mut app = TestApp::new().await;
    app.set_chat(&[("language", "de"), ("content_warning", "Bildungschat")]);
    let (daemon, _) = app.spawn_once();
    app.finish_run(daemon, 0).await;
    let posts = app
        .fake
        .wait_until(|w| {
            Some(
                w.statuses
                    .values()
                    .map(|s| (s.language.clone(), s.spoiler_text.clone()))
                    .collect::<Vec<_>>(),
            )
        })
        .await;
    assert_eq!(posts.len(), 5);
    for post in posts {
        assert_eq!(post, (Some("de".to_string()), "Bildungschat".to_string()));
    }
}

#[tokio::test]
async fn a_first_time_participant_is_welcomed_once_on_their_first_answer() {
    let mut app = TestApp::new().await;
    app.set_chat(&[("welcome_newcomers", "true")]);
    let (daemon, _) = app.spawn_once();
    app.advance_to_post(0).await;
    within("the stream", app.fake.wait_for_streams(1)).await;
    app.advance_to_post(1).await;
    app.fake
        .post_as("bob", "Hello all #1QEdChat", None, "public");
    let first = app
        .fake
        .post_as("alice", "A1: my first answer #1QEdChat", None, "public");
    let first_id: u64 = first.id.parse().unwrap();
    let welcome = within(
        "the welcome",
        app.fake.wait_until(|w| {
            w.statuses
                .values()
                .find(|s| s.in_reply_to_id == Some(first_id))
                .map(|s| (s.content.clone(), s.visibility.clone()))
        }),
    )
    .await;
    assert_eq!(
        html_to_text(&welcome.0),
        "@alice Welcome to #1QEdChat, and thanks for joining in!"
    );
    assert_eq!(welcome.1, "public");
    app.fake
        .post_as("alice", "A2: my second answer #1QEdChat", None, "public");
    for seq in 2..=4 {
        app.clock.set(app.post_time(seq));
        // Five chat posts plus the one welcome.
        within(
            "the chat's posts",
            app.fake.wait_for_bot_posts(seq as usize + 2),
        )
        .await;
    }
    app.clock.set(app.end_time());
    assert_all_ok(&within("the run to end", daemon).await.unwrap());
    let welcomes = texts(&app)
        .iter()
        .filter(|t| t.contains("Welcome to #1QEdChat, and"))
        .count();
    assert_eq!(welcomes, 1, "one welcome, for alice's first answer only");
}

#[tokio::test]
async fn a_questions_image_is_uploaded_with_its_alt_text_and_attached() {
    let mut app = TestApp::new().await;
    let image = app.dir.path().join("pln-map.png");
    std::fs::write(&image, b"\x89PNG\r\n\x1a\n fake image bytes").unwrap();
    let questions = format!(
        "\n  - How do you build an online PLN?\n  - text: Which chats or groups help you most?\n    image: \"{}\"\n    alt: \"A map of a teacher's learning network\"\n  - What will you try next week?",
        image.display()
    );
    app.set_chat(&[("questions", &questions)]);
    let (daemon, _) = app.spawn_once();
    app.finish_run(daemon, 0).await;
    let media = app
        .fake
        .wait_until(|w| {
            Some(
                w.statuses
                    .values()
                    .map(|s| s.media.iter().map(|m| m.1.clone()).collect::<Vec<_>>())
                    .collect::<Vec<_>>(),
            )
        })
        .await;
    let expected: Vec<Vec<String>> = vec![
        vec![],
        vec![],
        vec!["A map of a teacher's learning network".into()],
        vec![],
        vec![],
    ];
    assert_eq!(media, expected);
}

#[tokio::test]
async fn with_recap_post_the_bot_posts_a_summary_with_the_recap_link_when_the_run_ends() {
    let mut app = TestApp::new().await;
    app.set_chat(&[
        ("recap_post", "true"),
        ("recap_url", "\"https://school.example/recaps/{date}.html\""),
    ]);
    let (daemon, _) = app.spawn_once();
    app.advance_to_post(0).await;
    app.advance_to_post(1).await;
    app.fake
        .post_as("alice", "A1: summaries help #1QEdChat", None, "public");
    app.finish_run(daemon, 2).await;
    let texts = texts(&app);
    assert_eq!(texts.len(), 6, "{texts:?}");
    assert_eq!(
        texts[5],
        "Thank you for joining #1QEdChat! 1 participant, 1 answer.\nQ1: 1 answer\nQ2: 0 answers\n\
         Q3: 0 answers\nThe recap: https://school.example/recaps/2026-12-03.html"
    );
}

#[tokio::test]
async fn a_chat_on_a_skip_date_does_not_run() {
    let mut app = TestApp::new().await;
    // A one-off chat on 3 December, a holiday: nothing is left to run, so the daemon ends at
    // once (without the skip it would wait for 20:00, and `within` would give up).
    app.set_chat(&[("skip_dates", "[\"2026-12-03\"]")]);
    let (daemon, _) = app.spawn_once();
    assert_all_ok(&within("the daemon to end", daemon).await.unwrap());
    assert!(texts(&app).is_empty());
    let runs = app.store.recent_runs(app.chat.id(), 10).await.unwrap();
    assert!(runs.is_empty(), "{runs:?}");
}
