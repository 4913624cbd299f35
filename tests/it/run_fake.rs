//! Whole runs against the in-process fake server, time driven by a manual
//! clock: what a moderator and the participants see.

use hashchat::network::html_to_text;
use hashchat::recap;

use crate::helpers::{assert_all_ok, within, TestApp};

#[tokio::test]
async fn a_whole_run_posts_each_post_once_at_its_time_and_records_every_answer() {
    let app = TestApp::new().await;
    let (daemon, _shutdown) = app.spawn_once();

    // Nothing before the start.
    within("the daemon to connect", app.fake.wait_for_requests(2)).await;
    assert!(app.fake.statuses_by("chatbot").is_empty());

    let posts = app.advance_to_post(0).await;
    assert!(html_to_text(&posts[0].content).starts_with("Welcome to #1QEdChat!"));
    within("the hashtag stream", app.fake.wait_for_streams(1)).await;

    let posts = app.advance_to_post(1).await;
    assert_eq!(
        html_to_text(&posts[1].content),
        "Q1: How do you build an online PLN? #1QEdChat"
    );
    let carol = app.fake.add_remote_account("carol@remote.example");
    assert!(!carol.is_empty());
    app.fake.post_as(
        "alice",
        "#1QEdChat A1: Twitter chats, now Mastodon",
        None,
        "public",
    );
    let bob_a1 = app
        .fake
        .post_as("bob", "A1 - blogs #1qedchat", None, "public");
    app.fake.post_as(
        "carol@remote.example",
        "Hello from Leeds! #1QEdChat",
        None,
        "public",
    );

    let posts = app.advance_to_post(2).await;
    let q2 = posts[2].id.clone();
    app.fake.post_as(
        "bob",
        "Local teachmeets, every time.",
        Some(&q2),
        "unlisted",
    );
    app.fake.post_as(
        "alice",
        "A2: reading groups. A3: try a new tool #1QEdChat",
        None,
        "public",
    );
    let oops = app
        .fake
        .post_as("alice", "A2 wrong thread #1QEdChat", None, "public");
    app.fake.delete(&oops.id);
    app.fake
        .edit_as("bob", &bob_a1.id, "A1 - blogs and podcasts #1qedchat");
    app.fake
        .post_as("alice", "Not about this chat at all", None, "public");

    app.advance_to_post(3).await;
    let posts = app.advance_to_post(4).await;
    assert_eq!(
        html_to_text(&posts[4].content),
        "Thanks everyone! Recap soon. #1QEdChat"
    );
    app.clock.set(app.end_time());
    let outcomes = within("the run to end", daemon).await.unwrap();
    assert_all_ok(&outcomes);

    // Each post exactly once, in order.
    let bot = app.fake.statuses_by("chatbot");
    assert_eq!(bot.len(), 5, "{bot:#?}");
    let recap = recap::build(&app.store, &app.chat, app.run_id().await)
        .await
        .unwrap();
    let answers = |n: usize| -> Vec<(String, String)> {
        recap.questions[n - 1]
            .answers
            .iter()
            .map(|a| (a.account.clone(), a.text.clone()))
            .collect()
    };
    assert_eq!(
        answers(1),
        vec![
            (
                "alice@fake.example".into(),
                "#1QEdChat A1: Twitter chats, now Mastodon".into()
            ),
            (
                "bob@fake.example".into(),
                "A1 - blogs and podcasts #1qedchat".into()
            ),
        ]
    );
    assert_eq!(
        answers(2),
        vec![
            (
                "bob@fake.example".into(),
                "Local teachmeets, every time.".into()
            ),
            (
                "alice@fake.example".into(),
                "A2: reading groups. A3: try a new tool #1QEdChat".into()
            ),
        ]
    );
    assert_eq!(
        answers(3),
        vec![(
            "alice@fake.example".into(),
            "A2: reading groups. A3: try a new tool #1QEdChat".into()
        )]
    );
    assert!(recap.questions[0].answers[1].edited_at.is_some());
    let others: Vec<&str> = recap
        .other_posts
        .iter()
        .map(|p| p.account.as_str())
        .collect();
    assert_eq!(others, vec!["carol@remote.example"]);
    let participants: Vec<(&str, u32, u32)> = recap
        .participants
        .iter()
        .map(|p| (p.account.as_str(), p.answers, p.posts))
        .collect();
    assert_eq!(
        participants,
        vec![
            ("alice@fake.example", 2, 2),
            ("bob@fake.example", 2, 2),
            ("carol@remote.example", 0, 1),
        ]
    );
    assert_eq!(recap.run.started_at, Some(app.post_time(0)));
    // The recap files were written in every format.
    let dir = app.chat.policy().recap_dir().join("1qedchat");
    for ext in ["md", "html", "json", "csv"] {
        assert!(
            dir.join(format!("2026-12-03.{ext}")).exists(),
            "{ext} recap missing"
        );
    }
}

#[tokio::test]
async fn chats_of_one_account_ask_the_server_who_the_bot_is_once() {
    let app = TestApp::new().await;
    let mut daemon = app.daemon(
        hashchat::run::RunOptions {
            once: true,
            ..Default::default()
        },
        tokio_util::sync::CancellationToken::new(),
    );
    for (id, tag) in [("second", "SecondChat"), ("third", "ThirdChat")] {
        let chat = app.chat_with(&[("id", id), ("hashtag", tag)]);
        daemon.config.chats.push(chat);
    }
    let task = tokio::spawn(async move { daemon.run(&[]).await.unwrap() });
    app.clock.set(app.post_time(0));
    // Each chat's welcome is out: every chat knows who it posts as.
    within("three welcomes", app.fake.wait_for_bot_posts(3)).await;
    let asked = |path: &str| {
        app.fake
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.starts_with(path))
            .count()
    };
    assert_eq!(asked("/api/v1/accounts/verify_credentials"), 1);
    // Once for the chats, once for the account's mention listener.
    assert_eq!(asked("/api/v1/instance"), 2);
    for seq in 1..=4 {
        app.clock.set(app.post_time(seq));
        within(
            "every chat's post",
            app.fake.wait_for_bot_posts(3 * (seq as usize + 1)),
        )
        .await;
    }
    app.clock.set(app.end_time());
    assert_all_ok(&within("the runs to end", task).await.unwrap());
}
