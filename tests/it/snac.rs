//! A whole chat on a real snac2 server (a C server with a Mastodon API),
//! which has no streaming, gives an edited status a new id, ignores
//! Idempotency-Keys and names itself `host:port`. Opt-in: snac2's source is
//! not part of this repository, so the test runs where `HASHCHAT_SNAC`
//! names a built `snac` binary (see the README), and says so otherwise.

use std::future::Future;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hashchat::chats::{Chat, Config};
use hashchat::clock::SystemClock;
use hashchat::network::html_to_text;
use hashchat::recap::{self, Format};
use hashchat::run::{Daemon, RealConnector, RunOptions, Tuning};
use hashchat::store::Store;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::helpers::assert_all_ok;

mod server;
use server::{eventually, Snac, User, BOUND};

const TAG: &str = "SnacChat";
const QUESTIONS: [&str; 3] = [
    "What brought you here?",
    "Which tool do you use most?",
    "What will you try next week?",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_chat_on_a_real_snac2_is_live_without_streaming() {
    let Some(binary) = std::env::var_os("HASHCHAT_SNAC") else {
        // Straight to stderr: the test harness would hide an eprintln! of a passing test.
        let _ = writeln!(
            std::io::stderr(),
            "snac::a_whole_chat_on_a_real_snac2_is_live_without_streaming: not run; set HASHCHAT_SNAC to a built snac2 binary to run it (README, \"Run the whole test suite\")"
        );
        return;
    };
    // hashchat's log shows in a failing test's output (RUST_LOG to adjust).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "hashchat=info".into()),
        )
        .with_test_writer()
        .try_init();
    let snac = Snac::start(Path::new(&binary)).await;
    let [bot, alice, bob] = ["chatbot", "alice", "bob"].map(|name| snac.user(name));
    let (bot, alice, bob) = (bot.await, alice.await, bob.await);
    let chat = chat(&snac, &bot, &alice);
    let store = Store::open(&snac.dir.path().join("h.db")).await.unwrap();
    let daemon = daemon(&snac, chat.clone(), store.clone());
    let daemon = tokio::spawn(async move { daemon.run(&[]).await.expect("daemon") });

    let q1 = snac.wait_for_post(&bot, "Q1: ").await;
    let a1 = snac
        .post(&alice, &format!("A1: a colleague #{TAG}"), "public")
        .await;
    let bob_a1 = snac
        .post(&bob, &format!("A1: curiosity #{TAG}"), "public")
        .await;
    let optout = snac.post(&bob, "@chatbot optout", "direct").await;
    let extend = snac.post(&alice, "@chatbot extend 5s", "direct").await;

    // Live: recorded and acted on while Q1 is the open question.
    eventually("alice's A1 recorded", || recorded(&store, &chat, id(&a1))).await;
    let reply = snac.reply_to(&bob, &optout).await;
    assert!(reply.contains("left out of every recap"), "{reply}");
    let reply = snac.reply_to(&alice, &extend).await;
    assert!(reply.contains(&format!("Extended #{TAG} by 5s")), "{reply}");
    assert!(snac
        .posts_of(&bot)
        .await
        .iter()
        .all(|p| !p.starts_with("Q2")));
    // An edit after capture: snac2 gives it a new id.
    let edited = snac
        .edit(&alice, id(&a1), &format!("A1: a colleague, edited #{TAG}"))
        .await;

    let outcomes = within("the run to end", daemon).await.expect("daemon");
    if outcomes.iter().any(|o| o.result.is_err()) {
        eprintln!("snac2's log:\n{}", snac.log());
    }
    assert_all_ok(&outcomes);
    let posts = snac.posts_of(&bot).await;
    let mut expected = vec![format!("Welcome! #{TAG}")];
    expected.extend(
        QUESTIONS
            .iter()
            .enumerate()
            .map(|(n, q)| format!("Q{}: {q} #{TAG}", n + 1)),
    );
    expected.push(format!("Thanks everyone! #{TAG}"));
    assert_eq!(posts, expected, "each post once, in order");
    let q2 = snac.wait_for_post(&bot, "Q2: ").await;
    assert!(
        seconds_between(&q1, &q2) >= 20 + 5,
        "extend moved Q2: {q1} {q2}"
    );

    let run_id = store.latest_run(chat.id()).await.unwrap().unwrap().id;
    let recap: Value = serde_json::from_str(
        &recap::build(&store, &chat, run_id)
            .await
            .unwrap()
            .render(Format::Json),
    )
    .unwrap();
    let mut answers: Vec<(String, String)> = recap["questions"][0]["answers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (text(&a["account"]), text(&a["text"])))
        .collect();
    answers.sort();
    // Bob's answer stays counted but hidden: he opted out.
    let hidden = (String::new(), recap::HIDDEN.to_string());
    let alice_edited = (
        format!("alice@{}", snac.domain()),
        html_to_text(text(&edited["content"]).as_str()),
    );
    assert_eq!(
        answers,
        [hidden, alice_edited],
        "alice's A1 once, edited (id {} then {}), bob's ({}) hidden",
        id(&a1),
        id(&edited),
        id(&bob_a1)
    );
    assert!(store
        .opted_out()
        .await
        .unwrap()
        .contains(&format!("bob@{}", snac.domain())));
}

/// chats.yaml's entry for a short chat, `alice` moderating.
fn chat(snac: &Snac, bot: &User, moderator: &User) -> Arc<Chat> {
    let token_file = snac.dir.path().join("token");
    std::fs::write(&token_file, &bot.token).unwrap();
    let start = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let questions: String = QUESTIONS.iter().map(|q| format!("  - \"{q}\"\n")).collect();
    let entry = format!(
        "id: snac\nhashtag: {TAG}\nstart: \"{start}\"\ntimezone: UTC\n\
         intro: \"Welcome!\"\nfirst_question_after: 3s\nquestion_interval: 20s\n\
         questions:\n{questions}closing: \"Thanks everyone!\"\ncollect_after: 5s\n\
         server: {}\ntoken_file: \"{}\"\nrecap_dir: \"{}\"\nmoderators: [\"@{}@{}\"]\n",
        snac.url(""),
        token_file.display(),
        snac.dir.path().join("recaps").display(),
        moderator.name,
        snac.domain()
    );
    Arc::new(Chat::from_yaml(&entry).unwrap_or_else(|e| panic!("{e:?}\n{entry}")))
}

/// The daemon for one run of `chat`, now, polling every second.
fn daemon(snac: &Snac, chat: Arc<Chat>, store: Store) -> Daemon {
    let tuning = Tuning {
        request_timeout: Duration::from_secs(10),
        backoff_base: Duration::from_millis(200),
        backoff_cap: Duration::from_secs(2),
        poll_interval: Duration::from_secs(1),
        ..Tuning::default()
    };
    Daemon {
        config: Config {
            path: snac.dir.path().join("chats.yaml"),
            chats: vec![chat],
        },
        store,
        clock: Arc::new(SystemClock),
        connector: Arc::new(RealConnector::new(tuning.request_timeout)),
        options: RunOptions {
            once: true,
            now: true,
            dry_run: false,
            ..RunOptions::default()
        },
        tuning,
        shutdown: CancellationToken::new(),
        holder: "snac-test".into(),
        controls: Default::default(),
        identities: Default::default(),
        metrics: Default::default(),
        liveness: Default::default(),
        replicas: Default::default(),
    }
}

async fn recorded(store: &Store, chat: &Chat, status_id: &str) -> Option<()> {
    let run = store.latest_run(chat.id()).await.unwrap()?;
    let rows = store.statuses(run.id).await.unwrap();
    rows.iter().any(|r| r.status_id == status_id).then_some(())
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_string()
}

fn id(status: &Value) -> &str {
    status["id"].as_str().expect("status id")
}

fn seconds_between(earlier: &Value, later: &Value) -> i64 {
    let at = |s: &Value| {
        chrono::DateTime::parse_from_rfc3339(s["created_at"].as_str().unwrap()).unwrap()
    };
    (at(later) - at(earlier)).num_seconds()
}

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, future)
        .await
        .unwrap_or_else(|_| panic!("gave up waiting for {what}"))
}
