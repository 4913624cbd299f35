//! A whole chat on a real snac2 server (a C server with a Mastodon API),
//! which has no streaming, gives an edited status a new id, ignores
//! Idempotency-Keys and names itself `host:port`. Opt-in: snac2's source is
//! not part of this repository, so the test runs where `HASHCHAT_SNAC`
//! names a built `snac` binary (see the README), and says so otherwise.

use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
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

const TAG: &str = "SnacChat";
const QUESTIONS: [&str; 3] = [
    "What brought you here?",
    "Which tool do you use most?",
    "What will you try next week?",
];
/// Bounds every wait on snac2 (its queue delivers a local mention within
/// about ten seconds); reaching it is a failure.
const BOUND: Duration = Duration::from_secs(90);
/// Pause between two looks at snac2 while waiting for it to act.
const LOOK_PAUSE: Duration = Duration::from_millis(250);

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
    let chat = snac.chat(&bot, &alice);
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
        },
        tuning,
        shutdown: CancellationToken::new(),
        holder: "snac-test".into(),
        controls: Default::default(),
        identities: Default::default(),
    }
}

async fn recorded(store: &Store, chat: &Chat, status_id: &str) -> Option<()> {
    let run = store.latest_run(chat.id()).await.unwrap()?;
    let rows = store.statuses(run.id).await.unwrap();
    rows.iter().any(|r| r.status_id == status_id).then_some(())
}

/// A snac2 server on a free loopback port, in a temp dir, over plain HTTP.
struct Snac {
    dir: tempfile::TempDir,
    port: u16,
    http: reqwest::Client,
    _server: tokio::process::Child,
    /// Passwords from `snac adduser`, by user name.
    passwords: std::collections::HashMap<String, String>,
}

/// An account on snac2 and its token.
struct User {
    name: String,
    id: String,
    token: String,
}

impl Snac {
    async fn start(binary: &Path) -> Snac {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let port = free_port();
        // `snac init` asks: address, port, host name, URL prefix, admin email.
        let answers = format!("127.0.0.1\n{port}\n127.0.0.1:{port}\n\n\n");
        snac_command(binary, &["init", path_str(&data)], Some(&answers));
        let config = data.join("server.json");
        let mut server: Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
        server["protocol"] = "http".into();
        std::fs::write(&config, server.to_string()).unwrap();
        let passwords = ["chatbot", "alice", "bob"]
            .into_iter()
            .map(|name| {
                let out = snac_command(binary, &["adduser", path_str(&data), name], None);
                let password = out
                    .lines()
                    .find_map(|l| l.strip_prefix("User password is "))
                    .unwrap_or_else(|| panic!("no password from snac adduser: {out}"));
                (name.to_string(), password.trim().to_string())
            })
            .collect();
        let log = std::fs::File::create(dir.path().join("snac.log")).unwrap();
        let server = tokio::process::Command::new(binary)
            .args(["httpd", path_str(&data)])
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .expect("start snac httpd");
        let snac = Snac {
            dir,
            port,
            http: reqwest::Client::new(),
            _server: server,
            passwords,
        };
        eventually("snac2 to answer", || async {
            snac.http
                .get(snac.url("/api/v1/instance"))
                .send()
                .await
                .ok()
                .map(|_| ())
        })
        .await;
        snac
    }

    fn domain(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.domain())
    }

    /// Logs `name` in through snac2's own token endpoint.
    async fn user(&self, name: &str) -> User {
        let form = [("login", name), ("passwd", &self.passwords[name])];
        let response = self
            .http
            .post(self.url("/oauth/x-snac-get-token"))
            .form(&form);
        let token = response.send().await.unwrap().text().await.unwrap();
        assert!(
            !token.contains('<'),
            "snac2 refused the login of {name}: {token}"
        );
        let me = self
            .http
            .get(self.url("/api/v1/accounts/verify_credentials"));
        let me = json(me.bearer_auth(&token)).await;
        User {
            name: name.into(),
            id: me["id"].as_str().unwrap().into(),
            token,
        }
    }

    /// chats.yaml's entry for a short chat, `alice` moderating.
    fn chat(&self, bot: &User, moderator: &User) -> Arc<Chat> {
        let token_file = self.dir.path().join("token");
        std::fs::write(&token_file, &bot.token).unwrap();
        let start = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let questions: String = QUESTIONS.iter().map(|q| format!("  - \"{q}\"\n")).collect();
        let entry = format!(
            "id: snac\nhashtag: {TAG}\nstart: \"{start}\"\ntimezone: UTC\n\
             intro: \"Welcome!\"\nfirst_question_after: 3s\nquestion_interval: 20s\n\
             questions:\n{questions}closing: \"Thanks everyone!\"\ncollect_after: 5s\n\
             server: {}\ntoken_file: \"{}\"\nrecap_dir: \"{}\"\nmoderators: [\"@{}@{}\"]\n",
            self.url(""),
            token_file.display(),
            self.dir.path().join("recaps").display(),
            moderator.name,
            self.domain()
        );
        Arc::new(Chat::from_yaml(&entry).unwrap_or_else(|e| panic!("{e:?}\n{entry}")))
    }

    /// Posts as `user`. snac2 now and then resets a connection after
    /// reading the request: the status is looked for before it is sent
    /// again (a direct message may not be listed, and is then sent twice).
    async fn post(&self, user: &User, text: &str, visibility: &str) -> Value {
        let form = [("status", text), ("visibility", visibility)];
        for _ in 0..5 {
            let request = self.http.post(self.url("/api/v1/statuses")).form(&form);
            match request.bearer_auth(&user.token).send().await {
                Ok(response) => return decode(response).await,
                Err(e) => eprintln!("posting as {}: {e}; looking for it", user.name),
            }
            let listed = self
                .statuses_of(user)
                .await
                .into_iter()
                .find(|s| html_to_text(s["content"].as_str().unwrap_or_default()) == text);
            if let Some(status) = listed {
                return status;
            }
        }
        panic!("snac2 never took \"{text}\" from {}", user.name)
    }

    async fn edit(&self, user: &User, id: &str, text: &str) -> Value {
        let request = self.http.put(self.url(&format!("/api/v1/statuses/{id}")));
        json(request.form(&[("status", text)]).bearer_auth(&user.token)).await
    }

    /// `user`'s public statuses as plain text, oldest first.
    async fn posts_of(&self, user: &User) -> Vec<String> {
        let mut statuses = self.statuses_of(user).await;
        statuses.reverse();
        statuses
            .iter()
            .map(|s| html_to_text(s["content"].as_str().unwrap_or_default()))
            .collect()
    }

    async fn statuses_of(&self, user: &User) -> Vec<Value> {
        let path = format!("/api/v1/accounts/{}/statuses?limit=40", user.id);
        let all: Value = json(self.http.get(self.url(&path)).bearer_auth(&user.token)).await;
        let all = all.as_array().cloned().unwrap_or_default();
        all.into_iter()
            .filter(|s| s["visibility"] != "direct")
            .collect()
    }

    /// `user`'s public status starting with `prefix`, once it is up.
    async fn wait_for_post(&self, user: &User, prefix: &str) -> Value {
        eventually(&format!("a post \"{prefix}…\""), || async {
            let statuses = self.statuses_of(user).await;
            statuses.into_iter().find(|s| {
                html_to_text(s["content"].as_str().unwrap_or_default()).starts_with(prefix)
            })
        })
        .await
    }

    /// The bot's reply to `command`, found among its author's mentions.
    async fn reply_to(&self, author: &User, command: &Value) -> String {
        eventually("the bot's reply", || async {
            let request = self.http.get(self.url("/api/v1/notifications"));
            let all: Value = json(request.bearer_auth(&author.token)).await;
            all.as_array()?.iter().find_map(|n| {
                let status = &n["status"];
                (status["in_reply_to_id"] == command["id"])
                    .then(|| html_to_text(status["content"].as_str().unwrap_or_default()))
            })
        })
        .await
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("snac.log")).unwrap_or_default()
    }
}

/// Runs `snac ARGS` to completion, `input` on its standard input; its output.
fn snac_command(binary: &Path, args: &[&str], input: Option<&str>) -> String {
    let mut child = std::process::Command::new(binary)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(input.unwrap_or_default().as_bytes())
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "snac {args:?} failed: {text}");
    text
}

async fn json(request: reqwest::RequestBuilder) -> Value {
    decode(send(request).await).await
}

async fn decode(response: reqwest::Response) -> Value {
    let status = response.status();
    let body = response.text().await.unwrap();
    assert!(status.is_success(), "snac2 answered {status}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Sends `request`; a read or an edit that snac2 reset is sent again (it
/// resets a connection now and then); a post is [`Snac::post`]'s to retry.
async fn send(request: reqwest::RequestBuilder) -> reqwest::Response {
    let idempotent = request
        .try_clone()
        .and_then(|r| r.build().ok())
        .is_some_and(|r| [reqwest::Method::GET, reqwest::Method::PUT].contains(r.method()));
    let mut attempts = if idempotent { 5 } else { 1 };
    loop {
        attempts -= 1;
        let again = request
            .try_clone()
            .expect("a request without a stream body");
        match again.send().await {
            Ok(response) => return response,
            Err(e) if attempts > 0 && e.is_request() => continue,
            Err(e) => panic!("request to snac2: {e}"),
        }
    }
}

/// A port that was free a moment ago (snac2 binds it itself).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn path_str(path: &PathBuf) -> &str {
    path.to_str().expect("a UTF-8 temp path")
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

/// Looks at snac2 until `look` finds something; snac2 is another process,
/// so this waits for it to act, bounded by [`BOUND`]. No behaviour is timed.
async fn eventually<T, F, Fut>(what: &str, mut look: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = std::time::Instant::now();
    loop {
        if let Some(found) = look().await {
            return found;
        }
        assert!(started.elapsed() < BOUND, "gave up waiting for {what}");
        tokio::time::sleep(LOOK_PAUSE).await;
    }
}

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, future)
        .await
        .unwrap_or_else(|_| panic!("gave up waiting for {what}"))
}
