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
    // Recorded from home before its copy exists on B: the fake's copy is
    // posted by a local `alice` of B (the fakes cannot federate), so were
    // B's poll to see it first, the row would name alice@b.example, a name
    // a real federated copy would not carry. The merge by uri is what is
    // tested here, not which instance's poll wins the race.
    crate::reliability::recorded(&app, &at_home.id).await;
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

// ---------------------------------------------------------------------------------------------
// Several mastodon-mock instances side by side, each its own process and in-memory database: the
// bot on A, alice answering on B (which A never sees), one instance answering 503, one 401, one
// down, and bob's post on A shown on B too (a federated copy under B's own id, one `uri`).

mod mock {
    use std::process::Stdio;
    use std::time::Duration;

    use serde_json::{json, Value};

    use crate::mock_server::{MockServer, ALICE_TOKEN, BOB_TOKEN, BOT_TOKEN};

    const TAG: &str = "WatchChat";

    /// Every request to the tag timeline of `server` answers `status`.
    async fn always(server: &MockServer, status: u16) {
        let path = format!("/api/v1/timelines/tag/{TAG}");
        let rule = json!({"match": {"methods": ["GET"], "path": path},
                          "effect": {"type": "status", "status": status}});
        server.fault(rule).await;
    }

    /// Makes `server` show `status`, posted on `origin`, as a federated copy: its own local id,
    /// the author as `user@origin`, the original `uri`. mastodon-mock cannot federate, so its
    /// tag timeline and the copy's status read answer with crafted bodies.
    async fn federate(server: &MockServer, status: &Value, origin: &str) {
        let mut copy = status.clone();
        let user = copy["account"]["username"].as_str().unwrap().to_string();
        copy["id"] = json!("900000");
        copy["account"]["id"] = json!("900000");
        copy["account"]["acct"] = json!(format!("{user}@{origin}"));
        let mut timeline = server.tag_timeline(TAG).await;
        timeline.insert(0, copy.clone());
        let reads = [
            (format!("/api/v1/timelines/tag/{TAG}"), json!(timeline)),
            ("/api/v1/statuses/900000".to_string(), copy),
        ];
        for (path, body) in reads {
            let rule = json!({"match": {"methods": ["GET"], "path": path},
                              "effect": {"type": "status", "status": 200, "body": body}});
            server.fault(rule).await;
        }
    }

    fn chats_yaml(home: &str, watched: &[String]) -> String {
        let start = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let watched: Vec<String> = watched.iter().map(|w| format!("\"{w}\"")).collect();
        format!(
            "server: {home}\ntoken_env: HASHCHAT_TOKEN\ntimezone: UTC\n\
             also_watch: [{}]\n\
             chats:\n  - id: w\n    hashtag: {TAG}\n    start: \"{start}\"\n    \
             first_question_after: 2s\n    question_interval: 3s\n    \
             questions: [\"One?\", \"Two?\"]\n    collect_after: 3s\n",
            watched.join(", ")
        )
    }

    fn hashchat(dir: &std::path::Path) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_hashchat"));
        command
            .current_dir(dir)
            .arg("--config")
            .arg(dir.join("chats.yaml"))
            .arg("--db")
            .arg(dir.join("h.db"))
            .env("HASHCHAT_TOKEN", BOT_TOKEN)
            .env_remove("HASHCHAT_CONFIG")
            .env_remove("HASHCHAT_DB");
        command
    }

    /// Waits (for an external process, bounded) until the bot has posted Q1 on `home`.
    async fn wait_for_q1(home: &MockServer, bot: &mut tokio::process::Child) {
        for _ in 0..600 {
            assert!(bot.try_wait().unwrap().is_none(), "hashchat exited early");
            let posted = home.statuses_by("chatbot").await;
            if posted
                .iter()
                .any(|s| s["content"].as_str().unwrap_or("").contains("Q1"))
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("Q1 was never posted");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_chat_on_a_records_answers_from_b_once_and_warns_once_per_failing_instance() {
        let (home, b, unavailable, refusing) = tokio::join!(
            MockServer::start(),
            MockServer::start(),
            MockServer::start(),
            MockServer::start()
        );
        always(&unavailable, 503).await;
        always(&refusing, 401).await;
        let down = super::down();
        let watched = [b.url(), unavailable.url(), refusing.url(), down.clone()];
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("chats.yaml"),
            chats_yaml(&home.url(), &watched),
        )
        .unwrap();
        let log = |name: &str| Stdio::from(std::fs::File::create(dir.path().join(name)).unwrap());
        let mut run = hashchat(dir.path());
        run.args(["run", "--chat", "w", "--once", "--now"]);
        run.stdout(log("run.out")).stderr(log("run.err"));
        let mut bot = tokio::process::Command::from(run)
            .kill_on_drop(true)
            .spawn()
            .unwrap();

        wait_for_q1(&home, &mut bot).await;
        let on_b = b
            .post_as(ALICE_TOKEN, &format!("A1: from B #{TAG}"), None, "public")
            .await;
        let on_a = home
            .post_as(BOB_TOKEN, &format!("A1: from A #{TAG}"), None, "public")
            .await;
        federate(&b, &on_a, &home.domain()).await;
        let status = tokio::time::timeout(Duration::from_secs(60), bot.wait())
            .await
            .expect("hashchat run ends")
            .unwrap();
        let read = |name| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
        let logs = format!("{}{}", read("run.out"), read("run.err"));
        assert!(status.success(), "{logs}");

        let output = hashchat(dir.path())
            .args(["recap", "w", "--format", "json"])
            .output()
            .unwrap();
        let recap: Value = serde_json::from_slice(&output.stdout).expect("recap JSON");
        let mut answers: Vec<(String, String)> = recap["questions"][0]["answers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["account"].as_str().unwrap().into(),
                    a["text"].as_str().unwrap().into(),
                )
            })
            .collect();
        answers.sort();
        let mut want = [
            (home.handle("bob"), format!("A1: from A #{TAG}")),
            (b.handle("alice"), format!("A1: from B #{TAG}")),
        ];
        want.sort();
        assert_eq!(
            answers, want,
            "every answer once (bob's copy on B too), B's as user@B\n{logs}"
        );
        assert!(on_a["id"].is_string() && on_b["id"].is_string());

        for failing in [&unavailable.url(), &refusing.url(), &down] {
            let name = failing.trim_start_matches("http://").trim_end_matches('/');
            let warning = format!("cannot read the tag timeline of the watched instance {name}:");
            let warnings = logs.lines().filter(|l| l.contains(&warning)).count();
            assert_eq!(warnings, 1, "one warning for {name}\n{logs}");
        }
        let b_name = b
            .url()
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        assert!(
            !logs.contains(&format!("watched instance {b_name}:")),
            "{logs}"
        );
    }

    #[tokio::test]
    async fn check_online_tells_which_watched_tag_timelines_are_readable() {
        let (home, b, refusing) = tokio::join!(
            MockServer::start(),
            MockServer::start(),
            MockServer::start()
        );
        always(&refusing, 403).await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chats.yaml");
        let watched = [b.url(), refusing.url()];
        let token = dir.path().join("token");
        std::fs::write(&token, BOT_TOKEN).unwrap();
        let source = chats_yaml(&home.url(), &watched).replace(
            "token_env: HASHCHAT_TOKEN",
            &format!("token_file: {}", token.display()),
        );
        std::fs::write(&path, source).unwrap();
        let outcome = hashchat::commands::online::check(&path, Duration::from_secs(10)).await;
        let lines: Vec<&str> = outcome.stdout.lines().rev().take(2).collect();
        assert_eq!(
            lines,
            [
                format!("  warning: watched instance {}/: its tag timeline is closed to anonymous readers (403); answers posted there will be missed", refusing.url()),
                format!("  ok: watched instance {}/: its #{TAG} timeline is readable anonymously", b.url()),
            ],
            "{}",
            outcome.stdout
        );
    }
}
