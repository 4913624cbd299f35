//! End to end against the independent mastodon-mock server: first the harness itself (so a
//! failure here points at the environment, not at hashchat), then a whole `hashchat run`.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};

use crate::mock_server::{MockServer, ALICE_TOKEN, BOB_TOKEN, BOT_TOKEN};

#[tokio::test]
async fn mock_server_starts_and_names_its_domain() {
    let server = MockServer::start().await;

    let instance: Value = reqwest::get(format!("{}/api/v1/instance", server.url()))
        .await
        .expect("GET /api/v1/instance")
        .json()
        .await
        .expect("instance JSON");

    assert_eq!(instance["uri"], server.domain());
}

#[tokio::test]
async fn a_hashtag_post_appears_in_the_tag_timeline() {
    let server = MockServer::start().await;

    let post = server
        .post_as(ALICE_TOKEN, "#1QEdChat A1: hello", None, "public")
        .await;

    let timeline = server.tag_timeline("1QEdChat").await;
    assert_eq!(ids(&timeline), [post["id"].clone()]);
    assert_eq!(timeline[0]["account"]["username"], "alice");
    assert_eq!(timeline[0]["content"], "<p>#1QEdChat A1: hello</p>");
}

#[tokio::test]
async fn an_unlisted_reply_is_not_in_the_tag_timeline() {
    let server = MockServer::start().await;
    let question = server
        .post_as(BOT_TOKEN, "Q1: Why? #1QEdChat", None, "public")
        .await;

    let reply_to = question["id"].as_str();
    let reply = server
        .post_as(BOB_TOKEN, "#1QEdChat because", reply_to, "unlisted")
        .await;

    assert_eq!(
        ids(&server.tag_timeline("1QEdChat").await),
        [question["id"].clone()]
    );
    assert_eq!(ids(&server.statuses_by("bob").await), [reply["id"].clone()]);
    assert_eq!(reply["in_reply_to_id"], question["id"]);
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_same_status() {
    let server = MockServer::start().await;

    let first: Value = server
        .try_post(BOT_TOKEN, "Q1 #X", Some("q1"))
        .await
        .json()
        .await
        .unwrap();
    let again: Value = server
        .try_post(BOT_TOKEN, "Q1 #X", Some("q1"))
        .await
        .json()
        .await
        .unwrap();
    let other: Value = server
        .try_post(BOT_TOKEN, "Q1 #X", Some("q1b"))
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(first["id"], again["id"]);
    assert_ne!(first["id"], other["id"]);
    assert_eq!(server.statuses_by("chatbot").await.len(), 2);
}

#[tokio::test]
async fn an_injected_fault_answers_503_once() {
    let server = MockServer::start().await;
    server
        .fault(json!({
            "match": {"methods": ["POST"], "path": "/api/v1/statuses"},
            "effect": {"type": "status", "status": 503, "headers": {"Retry-After": "2"}},
            "count": 1
        }))
        .await;

    let faulted = server.try_post(ALICE_TOKEN, "#X first", None).await;
    let next = server.try_post(ALICE_TOKEN, "#X second", None).await;

    assert_eq!(faulted.status(), 503);
    assert_eq!(faulted.headers()["retry-after"], "2");
    assert_eq!(next.status(), 200);
}

#[tokio::test]
async fn edits_deletes_faults_and_reset_behave_as_the_tests_expect() {
    let server = MockServer::start().await;
    let post = server
        .post_as(BOB_TOKEN, "#X A1: draft", None, "public")
        .await;
    let id = post["id"].as_str().unwrap();

    let edited = server.edit_as(BOB_TOKEN, id, "#X A1: final").await;
    assert_eq!(edited["content"], "<p>#X A1: final</p>");
    assert!(edited["edited_at"].is_string());
    server.delete_as(BOB_TOKEN, id).await;
    assert!(server.statuses_by("bob").await.is_empty());

    let rule =
        json!({"match": {"path": "/api/v1/statuses"}, "effect": {"type": "status", "status": 500}});
    server.fault(rule).await;
    server.clear_faults().await;
    server
        .post_as(ALICE_TOKEN, "#X still works", None, "public")
        .await;
    server.reset().await;
    assert!(server.statuses_by("alice").await.is_empty());
}

fn ids(statuses: &[Value]) -> Vec<Value> {
    statuses.iter().map(|s| s["id"].clone()).collect()
}

// ---------------------------------------------------------------------------------------------
// A whole `hashchat run --once --now` against mastodon-mock, participants answering over HTTP.

/// Polls of the mock while the bot runs: 600 × 100 ms bounds each wait to about a minute. These
/// wait for an external process to act; no behaviour is timed.
const POLLS: u32 = 600;
const POLL_PAUSE: Duration = Duration::from_millis(100);
const QUESTIONS: [&str; 3] = [
    "What brought you here?",
    "Which tool do you use most?",
    "What will you try next week?",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_run_against_mastodon_mock() {
    let server = MockServer::start().await;
    let mut run = BotRun::start(&server);

    let posts = participate(&server, &mut run).await;
    let status = wait_for_exit(&mut run.child).await;
    assert!(
        status.success(),
        "hashchat run failed: {status}\n{}",
        run.log()
    );

    let posted = bot_posted_each_post_once(&server).await;
    let recap = run.recap_json();
    assert_eq!(recap["chat"], "e2e");
    assert_eq!(
        recap["hashtag"].as_str().unwrap().trim_start_matches('#'),
        "E2EChat"
    );
    assert!(recap["run"]["started_at"].is_string() && recap["run"]["ended_at"].is_string());
    let questions = recap["questions"].as_array().expect("questions");
    assert_eq!(questions.len(), 3);
    for (n, question) in questions.iter().enumerate() {
        assert_eq!(question["number"], n + 1);
        assert_eq!(question["text"], QUESTIONS[n]);
        assert_eq!(question["status_id"], posted[n + 1]["id"]);
        assert_eq!(question["url"], posted[n + 1]["url"]);
    }
    answers_are_as_posted(&server, questions, &posts);
    let mut participants: Vec<_> = recap["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .map(|p| {
            (
                p["account"].clone(),
                p["answers"].clone(),
                p["posts"].clone(),
            )
        })
        .collect();
    participants.sort_by_key(|p| p.0.to_string());
    let (alice, bob) = (json!(server.handle("alice")), json!(server.handle("bob")));
    assert_eq!(
        participants,
        [(alice, json!(2), json!(2)), (bob, json!(2), json!(2))]
    );
    assert_eq!(
        recap["other_posts"],
        json!([]),
        "deleted and bot posts are no other posts"
    );
}

/// The participants' statuses as they finally stand.
struct Posts {
    alice_a1: Value,
    bob_a1_edited: Value,
    bob_unlisted_reply_to_q2: Value,
    alice_a2_a3: Value,
}

/// Alice and Bob answer while the run is live, each step once the question it needs is up:
/// two A1s (Bob's edited later), an A2 posted then deleted, an unlisted reply to Q2 without
/// hashtag or label, and one post answering Q2 and Q3.
async fn participate(server: &MockServer, run: &mut BotRun) -> Posts {
    run.wait_for_question(server, 1).await;
    let alice_a1 = answer(server, ALICE_TOKEN, "#E2EChat A1: a colleague told me").await;
    let bob_a1 = answer(server, BOB_TOKEN, "#E2EChat A1: curiosity").await;
    let q2 = run.wait_for_question(server, 2).await;
    let edited = "#E2EChat A1: curiosity, edited";
    let bob_a1_edited = server.edit_as(BOB_TOKEN, id(&bob_a1), edited).await;
    let deleted = answer(server, ALICE_TOKEN, "#E2EChat A2: oops, wrong one").await;
    let reply = "A plain reply, no tag";
    let bob_unlisted_reply_to_q2 = server
        .post_as(BOB_TOKEN, reply, Some(id(&q2)), "unlisted")
        .await;
    run.wait_for_question(server, 3).await;
    server.delete_as(ALICE_TOKEN, id(&deleted)).await;
    let alice_a2_a3 = answer(server, ALICE_TOKEN, "#E2EChat A2: my editor A3: pairing").await;
    Posts {
        alice_a1,
        bob_a1_edited,
        bob_unlisted_reply_to_q2,
        alice_a2_a3,
    }
}

/// The bot's statuses, oldest first, after checking they are intro, Q1..Q3 and closing, once each.
async fn bot_posted_each_post_once(server: &MockServer) -> Vec<Value> {
    let mut posted = server.statuses_by("chatbot").await;
    posted.reverse();
    let texts: Vec<String> = posted.iter().map(plain).collect();
    assert_eq!(texts.len(), 5, "bot posts: {texts:#?}");
    let intro = &texts[0];
    assert!(
        intro.starts_with("Welcome") && intro.ends_with("#E2EChat"),
        "{texts:#?}"
    );
    for (n, question) in QUESTIONS.iter().enumerate() {
        assert_eq!(texts[n + 1], format!("Q{}: {question} #E2EChat", n + 1));
    }
    let closing = &texts[4];
    assert!(
        closing.starts_with("Thanks") && closing.ends_with("#E2EChat"),
        "{texts:#?}"
    );
    posted
}

/// Each question's answers, in time order: edited text, no deleted post, the unlisted reply.
fn answers_are_as_posted(server: &MockServer, questions: &[Value], posts: &Posts) {
    let (alice, bob) = (server.handle("alice"), server.handle("bob"));
    let expected = [
        vec![(&posts.alice_a1, &alice), (&posts.bob_a1_edited, &bob)],
        vec![
            (&posts.bob_unlisted_reply_to_q2, &bob),
            (&posts.alice_a2_a3, &alice),
        ],
        vec![(&posts.alice_a2_a3, &alice)],
    ];
    for (question, want) in questions.iter().zip(expected) {
        let answers = question["answers"].as_array().expect("answers");
        let got: Vec<_> = answers
            .iter()
            .map(|a| {
                (
                    a["status_id"].clone(),
                    a["account"].clone(),
                    a["text"].clone(),
                )
            })
            .collect();
        let want: Vec<_> = want
            .iter()
            .map(|(status, who)| (status["id"].clone(), json!(who), json!(plain(status))))
            .collect();
        assert_eq!(got, want, "answers to Q{}", question["number"]);
    }
    let q1 = questions[0]["answers"].as_array().unwrap();
    assert_eq!(q1[0]["display_name"], "Alice");
    assert_eq!(q1[0]["url"], posts.alice_a1["url"]);
    assert!(q1[0]["edited_at"].is_null());
    assert!(q1[1]["edited_at"].is_string(), "an edit keeps its time");
}

/// `hashchat run --chat e2e --once --now` on a fresh config and database in a temp dir.
struct BotRun {
    dir: tempfile::TempDir,
    child: tokio::process::Child,
}

impl BotRun {
    fn start(server: &MockServer) -> BotRun {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("chats.yaml"), chats_yaml(&server.url())).unwrap();
        let log = |name: &str| Stdio::from(std::fs::File::create(dir.path().join(name)).unwrap());
        let mut run = hashchat(dir.path());
        run.args(["run", "--chat", "e2e", "--once", "--now"]);
        run.stdout(log("run.out")).stderr(log("run.err"));
        let child = tokio::process::Command::from(run)
            .kill_on_drop(true)
            .spawn()
            .expect("start hashchat run");
        BotRun { dir, child }
    }

    /// Starts hashchat again in the same folder (same config and database).
    fn restart(&mut self, args: &[&str]) {
        let log = |name: &str| {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.path().join(name))
                .unwrap();
            Stdio::from(file)
        };
        let mut run = hashchat(self.dir.path());
        run.args(args);
        run.stdout(log("run.out")).stderr(log("run.err"));
        self.child = tokio::process::Command::from(run)
            .kill_on_drop(true)
            .spawn()
            .expect("start hashchat again");
    }

    /// Sends a signal (`TERM`, `KILL`) to the running bot.
    fn signal(&self, name: &str) {
        let pid = self.child.id().expect("the bot is running").to_string();
        let sent = std::process::Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{name} {pid} failed");
    }

    fn log(&self) -> String {
        let read = |name| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("stdout:\n{}\nstderr:\n{}", read("run.out"), read("run.err"))
    }

    /// The bot's status for question `n`, once it is up; fails at once if the bot has exited.
    async fn wait_for_question(&mut self, server: &MockServer, n: usize) -> Value {
        let prefix = format!("Q{n}: ");
        for _ in 0..POLLS {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("hashchat run exited ({status}) before Q{n}\n{}", self.log());
            }
            let posted = server.statuses_by("chatbot").await;
            if let Some(question) = posted.iter().find(|s| plain(s).starts_with(&prefix)) {
                return question.clone();
            }
            tokio::time::sleep(POLL_PAUSE).await;
        }
        panic!("Q{n} was never posted\n{}", self.log());
    }

    fn recap_json(&self) -> Value {
        let output = hashchat(self.dir.path())
            .args(["recap", "e2e", "--format", "json"])
            .output()
            .expect("run hashchat recap");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "hashchat recap failed: {stderr}");
        serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|err| panic!("recap is not JSON ({err}): {stderr}"))
    }
}

fn chats_yaml(server: &str) -> String {
    let start = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let questions: String = QUESTIONS
        .iter()
        .map(|q| format!("      - \"{q}\"\n"))
        .collect();
    format!(
        "server: {server}\n\
         token_env: HASHCHAT_TOKEN\n\
         timezone: UTC\n\
         chats:\n  \
           - id: e2e\n    \
             hashtag: E2EChat\n    \
             start: \"{start}\"\n    \
             intro: \"Welcome to the end-to-end chat!\"\n    \
             first_question_after: 2s\n    \
             question_interval: 3s\n    \
             questions:\n{questions}    \
             closing: \"Thanks everyone!\"\n    \
             collect_after: 3s\n"
    )
}

/// The binary with `dir`'s config and database, run in `dir` (where a run's recap files land),
/// with the bot's token and no stray settings from the developer's environment.
fn hashchat(dir: &Path) -> std::process::Command {
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

async fn answer(server: &MockServer, token: &str, text: &str) -> Value {
    server.post_as(token, text, None, "public").await
}

async fn wait_for_exit(bot: &mut tokio::process::Child) -> std::process::ExitStatus {
    // Bounded like the polls: the run itself lasts ~14 s.
    let bound = POLL_PAUSE * POLLS;
    match tokio::time::timeout(bound, bot.wait()).await {
        Ok(status) => status.expect("wait for hashchat"),
        Err(_) => panic!("hashchat run did not exit within {bound:?}"),
    }
}

fn id(status: &Value) -> &str {
    status["id"].as_str().expect("status id")
}

/// The status text with the mock's `<p>` wrapping removed (the mock adds no other markup to
/// plain text without links or mentions).
fn plain(status: &Value) -> String {
    let content = status["content"].as_str().unwrap_or_default();
    content
        .trim_start_matches("<p>")
        .trim_end_matches("</p>")
        .to_string()
}

/// Every answer's status id in the recap, across questions.
fn answered(recap: &Value) -> Vec<String> {
    recap["questions"]
        .as_array()
        .expect("questions")
        .iter()
        .flat_map(|q| q["answers"].as_array().cloned().unwrap_or_default())
        .map(|a| a["status_id"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn sigterm_mid_run_exits_cleanly_and_the_next_start_finishes_the_run() {
    let server = MockServer::start().await;
    let mut run = BotRun::start(&server);
    run.wait_for_question(&server, 1).await;
    let before = answer(&server, ALICE_TOKEN, "#E2EChat A1: before the stop").await;
    run.signal("TERM");
    let stopped = tokio::time::timeout(Duration::from_secs(10), run.child.wait())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "hashchat did not stop within 10 s of SIGTERM\n{}",
                run.log()
            )
        })
        .expect("wait for hashchat");
    assert!(
        stopped.success(),
        "exit after SIGTERM: {stopped}\n{}",
        run.log()
    );
    let during = answer(&server, BOB_TOKEN, "#E2EChat A2: while the bot was stopped").await;
    // The next start resumes the unfinished run (no --now).
    run.restart(&["run", "--chat", "e2e", "--once"]);
    let status = wait_for_exit(&mut run.child).await;
    assert!(status.success(), "resumed run: {status}\n{}", run.log());
    bot_posted_each_post_once(&server).await;
    let found = answered(&run.recap_json());
    for post in [&before, &during] {
        assert!(
            found.contains(&id(post).to_string()),
            "{} missing from {found:?}",
            id(post)
        );
    }
}

#[tokio::test]
async fn kill_9_mid_run_then_a_restart_posts_each_post_once_and_keeps_every_answer() {
    let server = MockServer::start().await;
    let mut run = BotRun::start(&server);
    run.wait_for_question(&server, 2).await;
    let before = answer(&server, ALICE_TOKEN, "#E2EChat A2: before the crash").await;
    run.signal("KILL");
    let _ = run.child.wait().await;
    let during = answer(&server, BOB_TOKEN, "#E2EChat A2: while the bot was down").await;
    run.restart(&["run", "--chat", "e2e", "--once"]);
    let status = wait_for_exit(&mut run.child).await;
    assert!(status.success(), "restarted run: {status}\n{}", run.log());
    bot_posted_each_post_once(&server).await;
    let found = answered(&run.recap_json());
    for post in [&before, &during] {
        assert!(
            found.contains(&id(post).to_string()),
            "{} missing from {found:?}",
            id(post)
        );
    }
}
