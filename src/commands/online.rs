//! `hashchat check --online`: asks each chat's server whether the chat can
//! run, before 20:00: the token works, it has the scopes hashchat needs,
//! the account is marked as a bot, every post fits the instance's limit,
//! and the hashtag stream opens; and whether each watched instance
//! (`also_watch`) lets anyone read its tag timeline. One line per finding (`ok:`, `warning:`,
//! `unknown:`, `problem:`); exit 0 when nothing is a problem, 1 otherwise,
//! 2 when chats.yaml is invalid. Reads only; posts nothing.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use crate::chats::{post_length, Chat, TokenSource};
use crate::network::{oauth, MastodonClient, NetError, Page, Social, Token, Trust, WatchedServer};
use crate::schedule;

/// How one finding reads, and whether it fails the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Warning,
    Unknown,
    Problem,
}

impl Verdict {
    fn label(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Warning => "warning",
            Verdict::Unknown => "unknown",
            Verdict::Problem => "problem",
        }
    }
}

/// What `check --online` prints and how it exits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnlineOutcome {
    pub stdout: String,
    pub stderr: String,
    /// 0 no problem, 1 a problem, 2 invalid chats.yaml.
    pub code: u8,
}

/// Checks every chat of the file at `path` against its server; `timeout`
/// bounds each request.
pub async fn check(path: &Path, timeout: Duration) -> OnlineOutcome {
    let (offline, config) = super::check::checked(path, chrono::Utc::now());
    let Some(config) = config else {
        return OnlineOutcome {
            stdout: offline.stdout,
            stderr: offline.stderr,
            code: offline.code,
        };
    };
    let mut stdout = offline.stdout;
    let mut problems = 0;
    for chat in &config.chats {
        let mut findings = chat_findings(chat, timeout).await;
        for url in chat.account().also_watch() {
            findings.push(watched(url, chat, timeout).await);
        }
        let _ = writeln!(stdout, "{} on {}:", chat.id(), chat.account().server());
        for (verdict, line) in findings {
            problems += usize::from(verdict == Verdict::Problem);
            let _ = writeln!(stdout, "  {}: {line}", verdict.label());
        }
    }
    let code = u8::from(problems > 0);
    let stderr = match problems {
        0 => offline.stderr,
        n => format!(
            "{}error: {n} {} found online\n",
            offline.stderr,
            if n == 1 { "problem" } else { "problems" }
        ),
    };
    OnlineOutcome {
        stdout,
        stderr,
        code,
    }
}

/// The CLI's entry.
pub async fn run(path: &Path) -> ExitCode {
    let outcome = check(path, Duration::from_secs(15)).await;
    print!("{}", outcome.stdout);
    eprint!("{}", outcome.stderr);
    ExitCode::from(outcome.code)
}

type Findings = Vec<(Verdict, String)>;

async fn chat_findings(chat: &Chat, timeout: Duration) -> Findings {
    let mut out = Findings::new();
    let token = match Token::load(chat.account().token()) {
        Ok(token) => token,
        Err(e) => {
            out.push((Verdict::Problem, format!("{e:#}")));
            return out;
        }
    };
    let trust = match Trust::with_extra(chat.account().ca_certificates()) {
        Ok(trust) => trust,
        Err(e) => {
            out.push((Verdict::Problem, e.to_string()));
            return out;
        }
    };
    let client = match MastodonClient::new(chat.account().server(), token.clone(), timeout, &trust)
    {
        Ok(client) => client,
        Err(e) => {
            out.push((Verdict::Problem, e.to_string()));
            return out;
        }
    };
    let instance = client.instance().await;
    match client.me().await {
        Ok(me) => {
            let domain = instance.as_ref().map_or_else(
                |_| {
                    chat.account()
                        .server()
                        .host_str()
                        .unwrap_or_default()
                        .to_string()
                },
                |i| i.domain.clone(),
            );
            out.push((
                Verdict::Ok,
                format!("token accepted: the bot is @{}", me.handle(&domain)),
            ));
            out.push(scopes(chat.account().server(), &token, timeout, &trust).await);
            out.push(if me.bot {
                (Verdict::Ok, "the account is marked as a bot".into())
            } else {
                (Verdict::Warning, "the account is not marked as a bot: tick \"This is an automated account\" in its profile, so people know who posts".into())
            });
        }
        Err(e) => {
            out.push((Verdict::Problem, refused(chat, &e)));
            return out;
        }
    }
    out.push(match instance {
        Ok(i) => limit(chat, i.max_characters),
        Err(e) => (
            Verdict::Problem,
            format!("cannot read the instance's limits: {e}"),
        ),
    });
    out.push(stream(&client, chat, timeout).await);
    out
}

/// Whether `url`'s tag timeline reads without a token, as the run reads
/// it. An instance that refuses is a warning: the chat runs without its
/// answers.
async fn watched(url: &url::Url, chat: &Chat, timeout: Duration) -> (Verdict, String) {
    let tag = chat.content().hashtag().as_str();
    let trust = Trust::with_extra(chat.account().ca_certificates());
    let read = match trust.and_then(|trust| WatchedServer::new(url, timeout, &trust)) {
        Ok(server) => server.tag_timeline(tag, &Page::default()).await,
        Err(e) => Err(e),
    };
    match read {
        Ok(_) => (
            Verdict::Ok,
            format!("watched instance {url}: its #{tag} timeline is readable anonymously"),
        ),
        Err(NetError::Rejected {
            status: status @ (401 | 403),
            ..
        }) => (
            Verdict::Warning,
            format!("watched instance {url}: its tag timeline is closed to anonymous readers ({status}); answers posted there will be missed"),
        ),
        Err(e) => (
            Verdict::Warning,
            format!("watched instance {url}: cannot read its tag timeline: {e}"),
        ),
    }
}

fn refused(chat: &Chat, e: &NetError) -> String {
    let source = match &chat.account().token() {
        TokenSource::Env(var) => format!("the environment variable {var}"),
        TokenSource::File(path) => format!("the file {}", path.display()),
    };
    match e {
        NetError::Unauthorized { .. } => format!(
            "{e}: the token in {source} is wrong, revoked or for another server; get a new one with `hashchat login --server {}`",
            chat.account().server()
        ),
        _ => format!("cannot verify the token: {e}"),
    }
}

async fn scopes(
    server: &url::Url,
    token: &Token,
    timeout: Duration,
    trust: &Trust,
) -> (Verdict, String) {
    let has = |scopes: &[String], want: &str| {
        scopes.iter().any(|s| s == want)
            || (want == "read" && scopes.iter().any(|s| s == "read:statuses"))
            || (want == "write" && scopes.iter().any(|s| s == "write:statuses"))
    };
    match oauth::app_scopes(server, token, timeout, trust).await {
        Ok(Some(scopes)) => {
            let shown = scopes.join(" ");
            let missing: Vec<&str> = oauth::SCOPES
                .iter()
                .copied()
                .filter(|want| !has(&scopes, want))
                .collect();
            if missing.is_empty() {
                (Verdict::Ok, format!("scopes: {shown}"))
            } else {
                (Verdict::Problem, format!("the token lacks the scope {} (it has: {shown}); run `hashchat login` for a token with `read write`", missing.join(" and ")))
            }
        }
        Ok(None) => (
            Verdict::Unknown,
            "scopes: the server does not say which scopes this token has".into(),
        ),
        Err(e) => (Verdict::Unknown, format!("scopes: cannot read them: {e}")),
    }
}

/// Whether the longest post the chat can make fits the instance.
fn limit(chat: &Chat, instance_max: usize) -> (Verdict, String) {
    let warning = chat.content().content_warning().map_or(0, post_length);
    let (longest, what) = longest_post(chat);
    let longest = longest + warning;
    if longest <= instance_max {
        return (
            Verdict::Ok,
            format!(
                "the instance allows {instance_max} characters; the longest post has {longest}"
            ),
        );
    }
    (
        Verdict::Problem,
        format!(
            "the instance allows {instance_max} characters, but {what} has {longest}; shorten it (chats.yaml says `max_characters: {}`)",
            chat.account().max_characters()
        ),
    )
}

/// The length and name of the longest post of any run of the chat.
fn longest_post(chat: &Chat) -> (usize, String) {
    let mut runs: Vec<schedule::RunContent<'_>> = Vec::new();
    if !chat.timing().require_session() {
        runs.push(schedule::content_of(chat, None));
    }
    runs.extend(
        chat.timing()
            .sessions()
            .iter()
            .map(|s| schedule::content_of(chat, Some(s))),
    );
    let mut best = (0, String::new());
    for run in runs {
        let on = run
            .session
            .map_or(String::new(), |s| format!(" of the session on {}", s.date));
        let mut posts = vec![
            (run.intro_text(chat), format!("the intro{on}")),
            (run.closing_text(chat), format!("the closing{on}")),
        ];
        for (i, q) in run.questions.iter().enumerate() {
            posts.push((
                schedule::question_text(i + 1, q, chat.content().hashtag()),
                format!("question {}{on}", i + 1),
            ));
        }
        for before in chat.timing().reminders() {
            posts.push((
                run.reminder_text(chat, *before),
                format!("the reminder {} before{on}", schedule::human(*before)),
            ));
        }
        for (text, what) in posts {
            let length = post_length(&text);
            if length > best.0 {
                best = (length, what);
            }
        }
    }
    best
}

/// Opens the stream as the daemon does: where the instance info (read
/// before) says streams live.
async fn stream(client: &MastodonClient, chat: &Chat, timeout: Duration) -> (Verdict, String) {
    let connect = client.hashtag_stream(chat.content().hashtag().as_str());
    match tokio::time::timeout(timeout, connect).await {
        // Dropping the stream closes the connection.
        Ok(Ok(_stream)) => (
            Verdict::Ok,
            format!("the {} stream opens", chat.content().hashtag()),
        ),
        // snac2, Friendica: the run polls instead and stays live.
        Ok(Err(e)) if crate::run::poll::no_streaming(&e) => (
            Verdict::Warning,
            format!(
                "the server serves no {} stream ({e}): hashchat polls the tag timeline and its mentions instead",
                chat.content().hashtag()
            ),
        ),
        Ok(Err(e)) => (
            Verdict::Problem,
            format!("the {} stream does not open: {e}", chat.content().hashtag()),
        ),
        Err(_) => (
            Verdict::Problem,
            format!(
                "the {} stream did not open within {timeout:?}",
                chat.content().hashtag()
            ),
        ),
    }
}
