//! Answers from other instances (`also_watch`, issue 13): the bot's server
//! (the in-process fake A) never sees them; hashchat reads each watched
//! instance's public tag timeline anonymously, during the run and once
//! after it, and every answer counts once.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use hashchat::store::StatusRow;

use crate::fake_server::FakeServer;
use crate::helpers::{within, TestApp};

/// A server answering every request with `status`, recording whether each
/// carried an `Authorization` header.
struct Refusing {
    url: url::Url,
    authorized: Arc<Mutex<Vec<bool>>>,
}

impl Refusing {
    async fn start(status: StatusCode) -> Self {
        let authorized = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&authorized);
        let app = axum::Router::new().fallback(move |headers: HeaderMap| {
            let seen = Arc::clone(&seen);
            async move {
                seen.lock()
                    .unwrap()
                    .push(headers.contains_key("authorization"));
                (status, "{\"error\":\"no\"}")
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url: url.parse().unwrap(),
            authorized,
        }
    }

    fn requests(&self) -> Vec<bool> {
        self.authorized.lock().unwrap().clone()
    }
}

/// An address where nothing listens: an instance that is down.
fn down() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

/// Waits until `server` has answered `n` tag-timeline reads.
async fn tag_reads(server: &FakeServer, n: usize) {
    within(
        "the watched instance to be read",
        server.wait_until(|w| {
            let reads = w
                .requests
                .iter()
                .filter(|r| r.path.starts_with("/api/v1/timelines/tag/"))
                .count();
            (reads >= n).then_some(())
        }),
    )
    .await;
}

fn next_poll(app: &TestApp) {
    let interval = chrono::Duration::from_std(app.tuning.poll_interval).unwrap();
    app.clock.advance(interval);
}

/// Posts untagged statuses on `server` until its next id is `id`: the
/// fakes make a status's uri from its author's name and first id, so the
/// next post by the same name there is the same post (one `uri`), as a
/// federated copy would be.
fn align_next_id(server: &FakeServer, id: &str) {
    let target: u64 = id.parse().unwrap();
    loop {
        let filler = server.post_as("bob", "filler", None, "public");
        let next = filler.id.parse::<u64>().unwrap() + 1;
        assert!(next <= target, "the watched fake is already past id {id}");
        if next == target {
            return;
        }
    }
}

fn live(rows: &[StatusRow]) -> Vec<&StatusRow> {
    rows.iter().filter(|r| r.deleted_at.is_none()).collect()
}

#[tokio::test]
async fn answers_from_watched_instances_count_once_and_a_failing_instance_does_not_stop_the_run() {
    let mut app = TestApp::new().await;
    let b = FakeServer::start_with_clock(Arc::new(app.clock.clone())).await;
    b.set_instance_uri("b.example");
    let (unavailable, refusing) = (
        Refusing::start(StatusCode::SERVICE_UNAVAILABLE).await,
        Refusing::start(StatusCode::UNAUTHORIZED).await,
    );
    let watched = format!(
        "[\"{}\", \"{}\", \"{}\", \"{}\"]",
        b.url(),
        unavailable.url,
        refusing.url,
        down()
    );
    app.set_chat(&[("also_watch", &watched)]);
    let (daemon, _) = app.spawn_once();
    app.advance_to_post(0).await;
    app.advance_to_post(1).await;

    // alice on A; the same post on B (one uri); bob's answers only on B.
    let at_home = app
        .fake
        .post_as("alice", "A1: at home #1QEdChat", None, "public");
    align_next_id(&b, &at_home.id);
    let copy = b.post_as("alice", "A1: at home #1QEdChat", None, "public");
    assert_eq!(copy.uri, at_home.uri, "one post on two instances");
    let kept = b.post_as("bob", "A1: only on B #1QEdChat", None, "public");
    // Another post at home under the same local id as bob's on B.
    let same_id = app
        .fake
        .post_as("alice", "A2: also at home #1QEdChat", None, "public");
    assert_eq!(same_id.id, kept.id, "ids of two instances collide");
    let gone = b.post_as("bob", "A2: deleted on B later #1QEdChat", None, "public");
    let b_name = format!("127.0.0.1:{}", b.port());
    let kept_key = format!("{b_name}/{}", kept.id);
    next_poll(&app);
    // Recorded live, before Q2.
    crate::reliability::recorded(&app, &kept_key).await;
    tag_reads(&b, 2).await;

    // After the last poll: an edit and a delete on B.
    app.advance_to_post(2).await;
    b.edit_as("bob", &kept.id, "A3: edited on B #1QEdChat");
    b.delete(&gone.id);
    app.finish_run(daemon, 3).await;

    let rows = app.store.statuses(app.run_id().await).await.unwrap();
    let answers: Vec<(&str, Option<&str>, &str, Vec<u32>)> = live(&rows)
        .iter()
        .map(|r| {
            let key = r.status_id.as_str();
            (
                r.account.as_str(),
                r.instance.as_deref(),
                key,
                r.answers.clone(),
            )
        })
        .collect();
    assert_eq!(
        answers,
        [
            ("alice@fake.example", None, at_home.id.as_str(), vec![1]),
            ("alice@fake.example", None, same_id.id.as_str(), vec![2]),
            (
                "bob@b.example",
                Some(b_name.as_str()),
                kept_key.as_str(),
                vec![3]
            ),
        ],
        "every answer once, bob as user@domain, the edit kept, the delete caught"
    );
    let deleted: Vec<_> = rows.iter().filter(|r| r.deleted_at.is_some()).collect();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].status_id, format!("{b_name}/{}", gone.id));

    // Never a token to another server.
    assert!(
        b.requests().iter().all(|r| !r.authorized),
        "B got an Authorization header"
    );
    for failing in [&unavailable, &refusing] {
        let requests = failing.requests();
        assert!(
            requests.len() >= 2,
            "read again after failing: {requests:?}"
        );
        assert!(
            requests.iter().all(|a| !a),
            "a watched server got an Authorization header"
        );
    }
}
