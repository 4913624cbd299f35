//! The process's counters after a whole run against the fake server: what
//! `/metrics` would show a host.

use std::sync::Arc;
use std::time::Duration;

use hashchat::metrics::{Counter, Metrics};
use hashchat::run::{RealConnector, RunOptions};
use tokio_util::sync::CancellationToken;

use crate::helpers::{within, TestApp};

#[tokio::test]
async fn after_a_run_the_counters_show_posts_answers_reconnects_and_requests() {
    let mut app = TestApp::new().await;
    let token = app.dir.path().join("chatbot.token");
    std::fs::write(&token, app.fake.token_of("chatbot")).unwrap();
    app.set_chat(&[("token_file", &format!("\"{}\"", token.display()))]);
    let metrics = Arc::new(Metrics::new());
    let mut daemon = app.daemon(
        RunOptions {
            once: true,
            ..RunOptions::default()
        },
        CancellationToken::new(),
    );
    daemon.connector =
        Arc::new(RealConnector::new(Duration::from_secs(5)).with_metrics(Arc::clone(&metrics)));
    daemon.metrics = Arc::clone(&metrics);
    let handle = tokio::spawn(async move { daemon.run(&[]).await.expect("daemon") });

    app.advance_to_post(0).await;
    within("the streams", app.fake.wait_for_streams(2)).await;
    app.advance_to_post(1).await;
    app.fake
        .post_as("alice", "A1: Mastodon #1QEdChat", None, "public");
    app.fake
        .post_as("bob", "A1 blogs, A2 books #1QEdChat", None, "public");
    app.fake
        .post_as("bob", "Hello, not an answer #1QEdChat", None, "public");
    // One drop: the hashtag stream comes back once.
    app.fake.drop_streams();
    within("the streams again", app.fake.wait_for_streams(2)).await;
    app.finish_run(handle, 2).await;

    let chat = "1qedchat";
    assert_eq!(metrics.value(Counter::PostsSent, chat), 5.0);
    assert_eq!(metrics.value(Counter::PostsLate, chat), 0.0);
    assert_eq!(metrics.value(Counter::PostsFailed, chat), 0.0);
    // Two posts answering; a post answering two questions is one capture.
    assert_eq!(metrics.value(Counter::AnswersCaptured, chat), 2.0);
    assert_eq!(metrics.value(Counter::StreamReconnects, chat), 1.0);
    let account = format!("127.0.0.1 {}", token.display());
    let requests = metrics.value(Counter::ApiRequests, &account);
    assert!(requests >= 5.0, "at least the five posts: {requests}");
    let text = metrics.render();
    assert!(
        text.contains("hashchat_posts_sent_total{chat=\"1qedchat\"} 5\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "hashchat_api_requests_total{{account=\"{account}\"}} {requests}\n"
        )),
        "{text}"
    );
}
