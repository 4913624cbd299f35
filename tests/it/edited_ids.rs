//! Statuses whose id changes when they are edited, as snac2 does: the
//! answer is one, under its current id, wherever reconciliation meets it.

use std::collections::HashMap;
use std::sync::Arc;

use hashchat::chats::Hashtag;
use hashchat::network::{MastodonClient, Social, Token, Trust};
use hashchat::recap;
use hashchat::run::{ingest, Collector, RunWindow};

use crate::helpers::{within, TestApp};

#[tokio::test]
async fn an_answer_whose_id_changes_when_edited_counts_once_with_its_edited_text() {
    let app = TestApp::new().await;
    // snac2 gives an edited status a new id and keeps its uri.
    app.fake.reid_statuses_on_edit();
    let (daemon, _shutdown) = app.spawn_once();
    app.advance_to_post(0).await;
    within("the hashtag stream", app.fake.wait_for_streams(1)).await;
    app.advance_to_post(1).await;
    let first = app
        .fake
        .post_as("alice", "A1: blogs #1QEdChat", None, "public");
    let run = app.run_id().await;
    within("the answer stored under its first id", async {
        while !app
            .store
            .statuses(run)
            .await
            .unwrap()
            .iter()
            .any(|r| r.status_id == first.id)
        {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let edited = app
        .fake
        .edit_as("alice", &first.id, "A1: blogs and podcasts #1QEdChat");
    assert_ne!(edited.id, first.id, "the fake re-ids an edit");
    assert_eq!(edited.uri, first.uri);
    app.finish_run(daemon, 2).await;

    let recap = recap::build(&app.store, &app.chat, run).await.unwrap();
    let answers: Vec<(&str, &str, &str)> = recap.questions[0]
        .answers
        .iter()
        .map(|a| (a.account.as_str(), a.text.as_str(), a.status_id.as_str()))
        .collect();
    assert_eq!(
        answers,
        vec![(
            "alice@fake.example",
            "A1: blogs and podcasts #1QEdChat",
            edited.id.as_str()
        )]
    );
    assert_eq!(recap.participants[0].answers, 1);
}

#[tokio::test]
async fn reconciliation_that_rereads_an_answer_and_gets_it_under_a_new_id_keeps_one_answer() {
    let app = TestApp::new().await;
    app.clock.set(app.post_time(1));
    let run = app
        .store
        .open_run("reids", app.post_time(0), app.end_time())
        .await
        .unwrap()
        .id;
    let q1 = app
        .fake
        .post_as("chatbot", "Q1: blogs? #1QEdChat", None, "public");
    // An unlisted reply without the tag: only Q1's context shows it.
    let reply = app
        .fake
        .post_as("alice", "Blogs, mostly", Some(&q1.id), "unlisted");
    let window = RunWindow {
        run_id: run,
        hashtag: Hashtag::parse("1QEdChat").unwrap(),
        question_count: 3,
        opens: app.post_time(0),
        closes: app.end_time(),
        bot_account_id: app.fake.account_id("chatbot"),
        domain: "fake.example".into(),
        instance: None,
        ignore: Default::default(),
    };
    let posts = HashMap::from([(q1.id.clone(), Some(1))]);
    ingest(&app.store, &app.clock, &window, &posts, vec![reply.clone()])
        .await
        .unwrap();
    // snac2 re-ids the edit; Q1 is deleted, so its context no longer shows
    // the reply and reconciliation reads the reply alone, by its old id.
    app.fake.reid_statuses_on_edit();
    let edited = app
        .fake
        .edit_as("alice", &reply.id, "Blogs and podcasts, mostly");
    app.fake.delete(&q1.id);
    let social: Arc<dyn Social> = Arc::new(
        MastodonClient::new(
            &app.fake.url(),
            Token::new(app.fake.bot_token()),
            app.tuning.request_timeout,
            &Trust::system().unwrap(),
        )
        .unwrap(),
    );
    let (_posts_tx, posts_rx) = tokio::sync::watch::channel(posts);
    let collector = Collector::new(
        app.store.clone(),
        social,
        window,
        posts_rx,
        app.tuning.clone(),
        Arc::new(app.clock.clone()),
        false,
    );
    collector.final_reconcile().await.unwrap();
    let old_path = format!("/api/v1/statuses/{}", reply.id);
    assert!(
        app.fake
            .requests()
            .iter()
            .any(|r| r.method == "GET" && r.path == old_path),
        "the reply was read again by its old id"
    );

    let rows: Vec<(String, String, Vec<u32>)> = app
        .store
        .statuses(run)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.status_id, r.text, r.answers))
        .collect();
    assert_eq!(
        rows,
        vec![(edited.id, "Blogs and podcasts, mostly".to_string(), vec![1])]
    );
}
