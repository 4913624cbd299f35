//! The harness for `snac`: a real snac2 server run from a built binary in
//! a temp dir, its accounts, and what participants do there over HTTP.

use std::future::Future;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use hashchat::network::html_to_text;
use serde_json::Value;

/// Bounds every wait on snac2 (its queue delivers a local mention within
/// about ten seconds); reaching it is a failure.
pub const BOUND: Duration = Duration::from_secs(90);
/// Pause between two looks at snac2 while waiting for it to act.
const LOOK_PAUSE: Duration = Duration::from_millis(250);

/// A snac2 server on a free loopback port, in a temp dir, over plain HTTP.
pub struct Snac {
    pub dir: tempfile::TempDir,
    port: u16,
    http: reqwest::Client,
    _server: tokio::process::Child,
    /// Passwords from `snac adduser`, by user name.
    passwords: std::collections::HashMap<String, String>,
}

/// An account on snac2 and its token.
pub struct User {
    pub name: String,
    pub id: String,
    pub token: String,
}

impl Snac {
    pub async fn start(binary: &Path) -> Snac {
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

    pub fn domain(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.domain())
    }

    /// Logs `name` in through snac2's own token endpoint.
    pub async fn user(&self, name: &str) -> User {
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

    /// Posts as `user`. snac2 now and then resets a connection after
    /// reading the request: the status is looked for before it is sent
    /// again (a direct message may not be listed, and is then sent twice).
    pub async fn post(&self, user: &User, text: &str, visibility: &str) -> Value {
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

    pub async fn edit(&self, user: &User, id: &str, text: &str) -> Value {
        let request = self.http.put(self.url(&format!("/api/v1/statuses/{id}")));
        json(request.form(&[("status", text)]).bearer_auth(&user.token)).await
    }

    /// `user`'s public statuses as plain text, oldest first.
    pub async fn posts_of(&self, user: &User) -> Vec<String> {
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
    pub async fn wait_for_post(&self, user: &User, prefix: &str) -> Value {
        eventually(&format!("a post \"{prefix}…\""), || async {
            let statuses = self.statuses_of(user).await;
            statuses.into_iter().find(|s| {
                html_to_text(s["content"].as_str().unwrap_or_default()).starts_with(prefix)
            })
        })
        .await
    }

    /// The bot's reply to `command`, found among its author's mentions.
    pub async fn reply_to(&self, author: &User, command: &Value) -> String {
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

    pub fn log(&self) -> String {
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

fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temp path")
}

/// Looks at snac2 until `look` finds something; snac2 is another process,
/// so this waits for it to act, bounded by [`BOUND`]. No behaviour is timed.
pub async fn eventually<T, F, Fut>(what: &str, mut look: F) -> T
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
