//! `hashchat login` and `hashchat check --online` against mastodon-mock:
//! the binary registers an app, the test authorizes it the way a moderator
//! would in a browser (mastodon-mock's account picker at `/oauth/authorize`
//! answers a POST with `Authorization code: mockcode_<user>`), pastes the
//! code on stdin, and the token that comes back works.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::mock_server::{MockServer, BOT_TOKEN};

/// Bounds each wait on the binary; it talks to a local server only.
const LIMIT: Duration = Duration::from_secs(60);

struct Login {
    status: std::process::ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs `hashchat login --server <mock> [extra]`, authorizes as `user`
/// (or pastes `code` as given) and waits for the end.
async fn login(server: &MockServer, extra: &[&str], user: &str, code: Option<&str>) -> Login {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hashchat"))
        .args(["login", "--server", &server.url()])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn hashchat login");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut talk = String::new();
    let url = tokio::time::timeout(LIMIT, async {
        loop {
            let mut line = String::new();
            if stderr.read_line(&mut line).await.expect("read stderr") == 0 {
                panic!("hashchat login ended before showing an address:\n{talk}");
            }
            talk.push_str(&line);
            if let Some(url) = line.trim().strip_prefix("http") {
                return format!("http{url}");
            }
        }
    })
    .await
    .expect("the authorize address in time");
    let code = match code {
        Some(code) => code.to_string(),
        None => authorize(&url, user).await,
    };
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(format!("{code}\n").as_bytes())
        .await
        .expect("paste the code");
    drop(stdin);
    let output = tokio::time::timeout(LIMIT, child.wait_with_output())
        .await
        .expect("hashchat login ends in time")
        .expect("hashchat login output");
    let mut rest = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut rest)
        .await
        .expect("rest of stderr");
    Login {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: talk + &rest,
    }
}

/// What the moderator does in the browser: open the address, pick the
/// account, read the code off the page.
async fn authorize(address: &str, user: &str) -> String {
    let url = url::Url::parse(address).expect("authorize URL");
    assert_eq!(url.path(), "/oauth/authorize");
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(query.get("response_type").map(String::as_str), Some("code"));
    assert_eq!(query.get("scope").map(String::as_str), Some("read write"));
    let http = reqwest::Client::new();
    let picker = http.get(url.clone()).send().await.expect("open the page");
    assert!(picker.status().is_success(), "{}", picker.status());
    let page = http
        .post(url.join("/oauth/authorize").expect("form action"))
        .form(&[
            ("username", user),
            ("client_id", &query["client_id"]),
            ("redirect_uri", &query["redirect_uri"]),
            ("scope", &query["scope"]),
        ])
        .send()
        .await
        .expect("pick the account")
        .text()
        .await
        .expect("the code page");
    let code = page
        .split("Authorization code: ")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap_or_else(|| panic!("no code on the page: {page}"));
    code.trim().to_string()
}

/// The account a token belongs to, asked of the server directly.
async fn whose(server: &MockServer, token: &str) -> String {
    let me: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/accounts/verify_credentials",
            server.url()
        ))
        .bearer_auth(token)
        .send()
        .await
        .expect("verify_credentials")
        .json()
        .await
        .expect("account JSON");
    me["username"].as_str().unwrap_or_default().to_string()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn login_saves_a_working_token_readable_only_by_its_owner() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("secrets/hashchat/token");
    let done = login(
        &server,
        &["--token-file", file.to_str().expect("utf-8")],
        "chatbot",
        None,
    )
    .await;
    assert!(done.status.success(), "{}", done.stderr);
    let token = std::fs::read_to_string(&file).expect("token file");
    let token = token.trim();
    assert_eq!(whose(&server, token).await, "chatbot");
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600);
    assert!(
        done.stderr.contains("Logged in as @chatbot@"),
        "{}",
        done.stderr
    );
    assert!(done.stderr.contains("token_file: "), "{}", done.stderr);
    assert!(
        !done.stderr.contains(token) && !done.stdout.contains(token),
        "the token was printed"
    );
}

#[tokio::test]
async fn login_without_a_file_prints_the_export_line_only_on_stdout() {
    let server = MockServer::start().await;
    let done = login(&server, &[], "alice", None).await;
    assert!(done.status.success(), "{}", done.stderr);
    let token = done
        .stdout
        .trim()
        .strip_prefix("export HASHCHAT_TOKEN=")
        .unwrap_or_else(|| panic!("stdout: {}", done.stdout));
    assert_eq!(done.stdout.lines().count(), 1);
    assert_eq!(whose(&server, token).await, "alice");
    assert!(!done.stderr.contains(token));
}

#[cfg(unix)]
#[tokio::test]
async fn login_replaces_a_token_file_others_could_read_with_a_private_one() {
    use std::os::unix::fs::PermissionsExt;
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("token");
    std::fs::write(&file, "old-token\n").expect("write");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let done = login(
        &server,
        &["--token-file", file.to_str().expect("utf-8")],
        "chatbot",
        None,
    )
    .await;
    assert!(done.status.success(), "{}", done.stderr);
    assert_eq!(mode(&file), 0o600);
    assert_ne!(
        std::fs::read_to_string(&file).expect("read").trim(),
        "old-token"
    );
    assert!(
        done.stderr.contains("was readable by others (mode 644)"),
        "{}",
        done.stderr
    );
}

#[tokio::test]
async fn a_wrong_code_fails_clearly_and_writes_nothing() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("token");
    let done = login(
        &server,
        &["--token-file", file.to_str().expect("utf-8")],
        "chatbot",
        Some("not-a-code"),
    )
    .await;
    assert_eq!(done.status.code(), Some(1), "{}", done.stderr);
    assert!(
        done.stderr
            .contains("error: exchanging the code for a token"),
        "{}",
        done.stderr
    );
    assert!(!file.exists());
}

/// A chats.yaml for the mock, its token read from `token_file`.
fn online_config(dir: &Path, server: &MockServer, token: &str) -> std::path::PathBuf {
    let token_file = dir.join("token");
    std::fs::write(&token_file, format!("{token}\n")).expect("token file");
    let path = dir.join("chats.yaml");
    let source = format!(
        "server: {}\ntoken_file: {}\nchats:\n  - id: online\n    hashtag: OnlineChat\n    schedule: \"0 20 * * 4\"\n    questions: [Ready?]\n",
        server.url(),
        token_file.display()
    );
    std::fs::write(&path, source).expect("chats.yaml");
    path
}

#[tokio::test]
async fn check_online_reports_a_good_token_as_ok() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = online_config(dir.path(), &server, BOT_TOKEN);
    let outcome = hashchat::commands::online::check(&path, LIMIT).await;
    assert_eq!(outcome.code, 0, "{}{}", outcome.stdout, outcome.stderr);
    let lines: Vec<&str> = outcome.stdout.lines().skip(3).collect();
    // The seeded token has no app behind it, so its scopes are unknown.
    let expected = [
        format!(
            "  ok: token accepted: the bot is @chatbot@{}",
            server.domain()
        ),
        "  unknown: scopes: the server does not say which scopes this token has".to_string(),
        "  ok: the account is marked as a bot".to_string(),
    ];
    assert_eq!(lines[..3], expected, "{}", outcome.stdout);
    assert!(
        lines[3].starts_with("  ok: the instance allows "),
        "{}",
        outcome.stdout
    );
    assert_eq!(lines[4], "  ok: the #OnlineChat stream opens");
}

#[tokio::test]
async fn check_online_reports_a_bad_token_clearly_and_exits_1() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = online_config(dir.path(), &server, "revoked-token");
    let outcome = hashchat::commands::online::check(&path, LIMIT).await;
    assert_eq!(outcome.code, 1, "{}", outcome.stdout);
    let problem = outcome
        .stdout
        .lines()
        .find(|l| l.starts_with("  problem: "))
        .unwrap_or_else(|| panic!("{}", outcome.stdout));
    assert!(
        problem.contains("the server refused the access token (401)"),
        "{problem}"
    );
    assert!(problem.contains("hashchat login --server"), "{problem}");
    assert!(!outcome.stdout.contains("revoked-token"));
    assert_eq!(outcome.stderr, "error: 1 problem found online\n");
}
