//! Harness for the independent `mastodon-mock` server (PyPI): installs it on first use, starts one
//! in-memory instance per test on a free port, and performs the participants' side over HTTP.
//!
//! It deliberately shares no code with hashchat's own network layer: it is the other side of the
//! end-to-end tests, so a bug in hashchat's client cannot hide itself here.
//!
//! Which server runs: `$HASHCHAT_MASTODON_MOCK` (path to a `mastodon_mock` executable) if set,
//! else `<repo>/target/mastodon-mock-venv`, created on first use with `python3 -m venv` and
//! `pip install mastodon-mock==0.6.1`, so plain `cargo test` works on a fresh machine.

// A shared harness: helpers exist for every participant action, whether or not a test uses it yet.
#![allow(dead_code)]

use std::fs::{self, File};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};

pub const BOT_TOKEN: &str = "bot_token";
pub const ALICE_TOKEN: &str = "alice_token";
pub const BOB_TOKEN: &str = "bob_token";

const VERSION: &str = "0.6.1";
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mastodon-mock");
/// Readiness: up to 300 polls 100 ms apart (about 30 s, what a cold Python start on a busy CI
/// machine can take). This waits for an external process; it does not time any behaviour.
const READY_POLLS: u32 = 300;
const READY_PAUSE: Duration = Duration::from_millis(100);
/// The free port is found by binding port 0 and closing it again, so another process can take it
/// before the server binds; then the server exits at once and we retry on a new port.
const START_ATTEMPTS: u32 = 3;

/// One running `mastodon_mock serve --in-memory`, killed on drop.
pub struct MockServer {
    child: Child,
    port: u16,
    http: reqwest::Client,
    dir: tempfile::TempDir,
}

impl MockServer {
    /// Starts a fresh server seeded with `chatbot`, `alice` and `bob`; panics with the server's
    /// output when it cannot be installed or does not answer.
    pub async fn start() -> MockServer {
        let exe = tokio::task::spawn_blocking(executable)
            .await
            .expect("mastodon-mock install task panicked")
            .unwrap_or_else(|err| panic!("{err}"));
        let mut last = String::new();
        for _ in 0..START_ATTEMPTS {
            match Self::spawn(&exe).await {
                Ok(server) => return server,
                Err(Start::Exited(output)) => last = output,
                Err(Start::NeverReady(output)) => {
                    panic!("mastodon-mock did not answer within ~30 s; its output:\n{output}")
                }
            }
        }
        panic!(
            "mastodon-mock exited before answering, {START_ATTEMPTS} times; last output:\n{last}"
        )
    }

    async fn spawn(exe: &Path) -> Result<MockServer, Start> {
        let port = free_port();
        let dir = tempfile::tempdir().expect("temp dir for mastodon-mock");
        let config = dir.path().join("accounts.toml");
        fs::write(&config, config_for(port)).expect("write mastodon-mock config");
        let log = dir.path().join("server.log");
        let log_file = File::create(&log).expect("create mastodon-mock log");
        let child = Command::new(exe)
            .args(["serve", "--config"])
            .arg(&config)
            .args([
                "--in-memory",
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
            ])
            .args(["--log-level", "warning"])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("clone log handle"))
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", exe.display()));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("HTTP client");
        let mut server = MockServer {
            child,
            port,
            http,
            dir,
        };
        server.wait_until_ready().await?;
        Ok(server)
    }

    async fn wait_until_ready(&mut self) -> Result<(), Start> {
        let instance = format!("{}/api/v1/instance", self.url());
        for _ in 0..READY_POLLS {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Err(Start::Exited(self.output()));
            }
            let answer = self
                .http
                .get(&instance)
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if answer.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            tokio::time::sleep(READY_PAUSE).await;
        }
        Err(Start::NeverReady(self.output()))
    }

    /// Everything the server printed so far (for failure messages).
    pub fn output(&self) -> String {
        fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`: the `server:` of a chat.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The instance's domain, which local accounts' handles end with.
    pub fn domain(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `alice` → `alice@127.0.0.1:41234`, as the recap names participants.
    pub fn handle(&self, username: &str) -> String {
        format!("{username}@{}", self.domain())
    }

    /// Posts as the token's account; `visibility` is `public`, `unlisted`, `private` or `direct`.
    pub async fn post_as(
        &self,
        token: &str,
        text: &str,
        in_reply_to: Option<&str>,
        visibility: &str,
    ) -> Value {
        let body = json!({"status": text, "in_reply_to_id": in_reply_to, "visibility": visibility});
        self.expect_ok(
            self.request(Method::POST, "/api/v1/statuses", token)
                .json(&body),
        )
        .await
    }

    /// POST /api/v1/statuses with an optional `Idempotency-Key`, returning the raw response so
    /// tests can look at failures (injected faults) too.
    pub async fn try_post(&self, token: &str, text: &str, key: Option<&str>) -> reqwest::Response {
        let mut request = self.request(Method::POST, "/api/v1/statuses", token);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let body = json!({"status": text, "visibility": "public"});
        request
            .json(&body)
            .send()
            .await
            .expect("POST /api/v1/statuses")
    }

    pub async fn edit_as(&self, token: &str, id: &str, text: &str) -> Value {
        let path = format!("/api/v1/statuses/{id}");
        let body = json!({"status": text});
        self.expect_ok(self.request(Method::PUT, &path, token).json(&body))
            .await
    }

    pub async fn delete_as(&self, token: &str, id: &str) -> Value {
        let path = format!("/api/v1/statuses/{id}");
        self.expect_ok(self.request(Method::DELETE, &path, token))
            .await
    }

    /// Every status of a local account, newest first (all pages).
    pub async fn statuses_by(&self, username: &str) -> Vec<Value> {
        let lookup = format!("/api/v1/accounts/lookup?acct={username}");
        let account = self
            .expect_ok(self.request(Method::GET, &lookup, BOT_TOKEN))
            .await;
        let id = account["id"].as_str().expect("account id");
        self.all_pages(&format!("/api/v1/accounts/{id}/statuses"))
            .await
    }

    /// The public tag timeline (tag without `#`), newest first (all pages). Unlisted posts are
    /// not in it, as on Mastodon.
    pub async fn tag_timeline(&self, tag: &str) -> Vec<Value> {
        self.all_pages(&format!("/api/v1/timelines/tag/{tag}"))
            .await
    }

    /// Adds a fault rule, e.g. `{"match":{"methods":["POST"],"path":"/api/v1/statuses"},
    /// "effect":{"type":"status","status":503},"count":1}` (see NOTES.md for the effects).
    pub async fn fault(&self, rule: Value) -> Value {
        self.expect_ok(
            self.request(Method::POST, "/api/v1/_mock/faults", BOT_TOKEN)
                .json(&rule),
        )
        .await
    }

    pub async fn clear_faults(&self) {
        self.expect_ok(self.request(Method::DELETE, "/api/v1/_mock/faults", BOT_TOKEN))
            .await;
    }

    /// Forgets every status and re-seeds the accounts (same tokens).
    pub async fn reset(&self) {
        self.expect_ok(self.request(Method::POST, "/api/v1/_mock/reset", BOT_TOKEN))
            .await;
    }

    async fn all_pages(&self, path: &str) -> Vec<Value> {
        let mut all: Vec<Value> = Vec::new();
        loop {
            let mut page_path = format!("{path}?limit=40");
            if let Some(last) = all.last() {
                page_path += &format!("&max_id={}", last["id"].as_str().expect("status id"));
            }
            let page = self
                .expect_ok(self.request(Method::GET, &page_path, BOT_TOKEN))
                .await;
            let page = page.as_array().cloned().expect("a page is a JSON array");
            if page.is_empty() {
                return all;
            }
            all.extend(page);
        }
    }

    fn request(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.url()))
            .bearer_auth(token)
    }

    async fn expect_ok(&self, request: RequestBuilder) -> Value {
        let response = request.send().await.expect("request to mastodon-mock");
        let (status, url) = (response.status(), response.url().clone());
        let text = response.text().await.expect("mastodon-mock response body");
        assert!(status == StatusCode::OK, "{url}: {status}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|err| panic!("{url}: not JSON ({err}): {text}"))
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        // SIGKILL: after a WebSocket client has left, SIGINT can hang (NOTES.md), and the
        // in-memory database needs no clean shutdown.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

enum Start {
    /// The process ended before answering (typically: the port was taken meanwhile).
    Exited(String),
    NeverReady(String),
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// The fixture config with `domain` and `[server] port` set to `port`.
fn config_for(port: u16) -> String {
    let template = fs::read_to_string(Path::new(FIXTURES).join("accounts.toml"))
        .expect("read tests/fixtures/mastodon-mock/accounts.toml");
    let lines = template.lines().map(|line| {
        if line.starts_with("domain =") {
            format!("domain = \"127.0.0.1:{port}\"")
        } else if line.starts_with("port =") {
            format!("port = {port}")
        } else {
            line.to_string()
        }
    });
    lines.collect::<Vec<_>>().join("\n") + "\n"
}

/// The `mastodon_mock` executable, installed once per machine (and computed once per process).
fn executable() -> Result<PathBuf, String> {
    static EXE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    EXE.get_or_init(|| match std::env::var_os("HASHCHAT_MASTODON_MOCK") {
        Some(path) => Ok(PathBuf::from(path)),
        None => {
            let constraints = Path::new(FIXTURES).join("constraints.txt");
            crate::venv::install("mastodon-mock-venv", "mastodon-mock", VERSION, &constraints)
                .map(|venv| venv.join("bin/mastodon_mock"))
        }
    })
    .clone()
}
