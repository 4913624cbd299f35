//! In-process fake Mastodon server (axum on 127.0.0.1:0), stateful, for whole
//! runs and network tests over real HTTP and WebSocket.
//!
//! Tests drive it through methods, never sleeps: `post_as`/`edit_as`/`delete`
//! act as participants (and reach live hashtag streams like on Mastodon),
//! `fail_next` injects one fault, and `wait_until` (with helpers such as
//! `wait_for_bot_posts`) returns as soon as the server's state satisfies a
//! condition: every change bumps a `watch` version that waiters follow.
//! JSON carries every field megalodon's strict Mastodon entities require.
#![allow(dead_code)] // each test uses a different part of the API

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, Request, State as AxState};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use futures_util::{SinkExt, StreamExt};
use hashchat::clock::{SharedClock, SystemClock};
use hashchat::network::Status;
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

pub const DOMAIN: &str = "fake.example";
const FIRST_ID: u64 = 110_000_000_000_000_001;

/// A fault served instead of the next matching request.
#[derive(Debug, Clone)]
pub enum Fault {
    Status(u16, Vec<(&'static str, String)>),
    /// 429 with `Retry-After` and Mastodon-style `X-RateLimit-*` headers.
    RateLimit {
        retry_after_secs: u64,
    },
    /// Never answers (the client's timeout must fire).
    Hang,
    /// 200 with truncated JSON.
    Malformed,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoggedRequest {
    pub method: String,
    /// Path and query, with `access_token` redacted.
    pub path: String,
}

pub struct FakeServer {
    shared: Arc<Shared>,
    url: url::Url,
    task: tokio::task::JoinHandle<()>,
}

struct Shared {
    state: Mutex<World>,
    version: watch::Sender<u64>,
    clock: SharedClock,
    base: String,
}

/// Everything the server knows; tests read it through `wait_until`.
pub struct World {
    pub accounts: Vec<Acct>,
    pub statuses: BTreeMap<u64, Stored>,
    pub requests: Vec<LoggedRequest>,
    pub pongs: Vec<Vec<u8>>,
    pub max_characters: usize,
    next_id: u64,
    idempotency: HashMap<(usize, String), u64>,
    faults: Vec<(Method, String, Fault)>,
    streams: Vec<Sub>,
    next_sub: u64,
}

#[derive(Debug, Clone)]
pub struct Acct {
    pub id: String,
    pub username: String,
    /// `user` for local accounts, `user@domain` for remote ones.
    pub acct: String,
    pub bot: bool,
    pub token: String,
}

#[derive(Debug, Clone)]
pub struct Stored {
    pub id: u64,
    pub account: usize,
    pub content: String,
    pub tags: Vec<String>,
    pub visibility: String,
    pub in_reply_to_id: Option<u64>,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted: bool,
}

struct Sub {
    id: u64,
    tag: String,
    tx: mpsc::UnboundedSender<Out>,
}

enum Out {
    Frame(Message),
    /// Close with a close frame, like a restarting server.
    Close,
    /// Drop the TCP connection without a close frame.
    Cut,
}

impl FakeServer {
    pub async fn start() -> Self {
        Self::start_with_clock(Arc::new(SystemClock)).await
    }

    /// `created_at`/`edited_at` come from `clock`, so they agree with a
    /// test's manual clock.
    pub async fn start_with_clock(clock: SharedClock) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let mut world = World {
            accounts: vec![],
            statuses: BTreeMap::new(),
            requests: vec![],
            pongs: vec![],
            max_characters: 500,
            next_id: FIRST_ID,
            idempotency: HashMap::new(),
            faults: vec![],
            streams: vec![],
            next_sub: 0,
        };
        for (name, bot) in [("chatbot", true), ("alice", false), ("bob", false)] {
            world.add_account(name, bot);
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(world),
            version: watch::Sender::new(0),
            clock,
            base: base.clone(),
        });
        let app = routes(shared.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("fake server");
        });
        let url = format!("{base}/").parse().expect("url");
        Self { shared, url, task }
    }

    pub fn url(&self) -> url::Url {
        self.url.clone()
    }

    pub fn bot_token(&self) -> String {
        self.token_of("chatbot")
    }

    pub fn token_of(&self, user: &str) -> String {
        self.world().account(user).1.token.clone()
    }

    pub fn account_id(&self, user: &str) -> String {
        self.world().account(user).1.id.clone()
    }

    /// Adds a remote account such as `carol@remote.example`.
    pub fn add_remote_account(&self, handle: &str) -> String {
        self.shared.change(|w| w.add_account(handle, false))
    }

    pub fn set_max_characters(&self, max: usize) {
        self.shared.change(|w| w.max_characters = max);
    }

    /// Posts as `user` (plain text is rendered like Mastodon; text starting
    /// with `<` is taken as HTML) and broadcasts it to matching streams.
    pub fn post_as(
        &self,
        user: &str,
        text: &str,
        in_reply_to: Option<&str>,
        visibility: &str,
    ) -> Status {
        let reply = in_reply_to.map(|id| id.parse().expect("numeric id"));
        self.shared.change(|w| {
            let account = w.account(user).0;
            let id = w.create(account, text, reply, visibility, self.shared.clock.now());
            self.shared.broadcast(w, id, "update");
            self.shared.decode(w, id)
        })
    }

    pub fn edit_as(&self, user: &str, id: &str, text: &str) -> Status {
        let id: u64 = id.parse().expect("numeric id");
        self.shared.change(|w| {
            let account = w.account(user).0;
            let status = w.statuses.get_mut(&id).expect("status exists");
            assert_eq!(status.account, account, "{user} does not own {id}");
            (status.content, status.tags) = render(text);
            status.edited_at = Some(self.shared.clock.now());
            self.shared.broadcast(w, id, "status.update");
            self.shared.decode(w, id)
        })
    }

    pub fn delete(&self, id: &str) {
        let id: u64 = id.parse().expect("numeric id");
        self.shared.change(|w| {
            w.statuses.get_mut(&id).expect("status exists").deleted = true;
            self.shared.broadcast(w, id, "delete");
        });
    }

    /// The user's statuses that still exist, oldest first.
    pub fn statuses_by(&self, user: &str) -> Vec<Status> {
        let w = self.world();
        let account = w.account(user).0;
        let ids: Vec<u64> = w
            .live()
            .filter(|s| s.account == account)
            .map(|s| s.id)
            .collect();
        ids.into_iter()
            .map(|id| self.shared.decode(&w, id))
            .collect()
    }

    /// Closes every WebSocket with a close frame.
    pub fn drop_streams(&self) {
        self.shared
            .change(|w| w.streams.drain(..).for_each(|s| _ = s.tx.send(Out::Close)));
    }

    /// Drops every WebSocket's connection without a close frame.
    pub fn cut_streams(&self) {
        self.shared
            .change(|w| w.streams.drain(..).for_each(|s| _ = s.tx.send(Out::Cut)));
    }

    pub fn stream_count(&self) -> usize {
        self.world().streams.len()
    }

    /// Sends `text` as a frame on every stream (for undecodable input).
    pub fn send_raw_frame(&self, text: &str) {
        for sub in &self.world().streams {
            _ = sub.tx.send(Out::Frame(Message::Text(text.into())));
        }
    }

    /// Pings every stream; the pongs received are in `World::pongs`.
    pub fn ping_streams(&self, payload: &[u8]) {
        for sub in &self.world().streams {
            _ = sub
                .tx
                .send(Out::Frame(Message::Ping(payload.to_vec().into())));
        }
    }

    /// The next request whose method is `method` and whose path starts with
    /// `path_prefix` gets `fault` instead of an answer.
    pub fn fail_next(&self, method: &str, path_prefix: &str, fault: Fault) {
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        self.shared
            .change(|w| w.faults.push((method, path_prefix.to_owned(), fault)));
    }

    pub fn request_count(&self) -> usize {
        self.world().requests.len()
    }

    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.world().requests.clone()
    }

    /// Waits until `check` returns `Some`; wrap it in a timeout in tests.
    pub async fn wait_until<T>(&self, mut check: impl FnMut(&World) -> Option<T>) -> T {
        let mut version = self.shared.version.subscribe();
        loop {
            if let Some(found) = check(&self.world()) {
                return found;
            }
            version.changed().await.expect("server alive");
        }
    }

    /// Waits until the bot has at least `n` live statuses; returns them all.
    pub async fn wait_for_bot_posts(&self, n: usize) -> Vec<Status> {
        let bot = self.world().account("chatbot").0;
        self.wait_until(|w| (w.live().filter(|s| s.account == bot).count() >= n).then_some(()))
            .await;
        self.statuses_by("chatbot")
    }

    pub async fn wait_for_requests(&self, n: usize) {
        self.wait_until(|w| (w.requests.len() >= n).then_some(()))
            .await
    }

    pub async fn wait_for_streams(&self, n: usize) {
        self.wait_until(|w| (w.streams.len() >= n).then_some(()))
            .await
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.shared.world()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Shared {
    fn world(&self) -> MutexGuard<'_, World> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies a change and wakes every `wait_until`.
    fn change<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        let out = f(&mut self.world());
        self.version.send_modify(|v| *v += 1);
        out
    }

    fn decode(&self, w: &World, id: u64) -> Status {
        Status::from_json(&self.status_json(w, id).to_string()).expect("fake status decodes")
    }

    fn account_json(&self, a: &Acct) -> Value {
        let url = format!("https://{}/@{}", DOMAIN, a.username);
        json!({
            "id": a.id, "username": a.username, "acct": a.acct, "display_name": a.username.to_uppercase(),
            "locked": false, "bot": a.bot, "created_at": "2024-01-01T00:00:00.000Z", "note": "",
            "url": url, "avatar": "", "avatar_static": "", "header": "", "header_static": "",
            "followers_count": 0, "following_count": 0, "statuses_count": 0, "emojis": [], "fields": [],
        })
    }

    fn status_json(&self, w: &World, id: u64) -> Value {
        let s = &w.statuses[&id];
        let a = &w.accounts[s.account];
        let reply_account = s
            .in_reply_to_id
            .and_then(|r| w.statuses.get(&r))
            .map(|r| &w.accounts[r.account].id);
        let tags: Vec<Value> = s
            .tags
            .iter()
            .map(|t| json!({"name": t, "url": format!("https://{DOMAIN}/tags/{t}"), "history": []}))
            .collect();
        json!({
            "id": id.to_string(), "uri": format!("https://{DOMAIN}/users/{}/statuses/{id}", a.username),
            "url": format!("https://{DOMAIN}/@{}/{id}", a.username), "account": self.account_json(a),
            "in_reply_to_id": s.in_reply_to_id.map(|r| r.to_string()), "in_reply_to_account_id": reply_account,
            "reblog": null, "content": s.content, "created_at": s.created_at.to_rfc3339(),
            "edited_at": s.edited_at.map(|t| t.to_rfc3339()), "emojis": [], "replies_count": 0,
            "reblogs_count": 0, "favourites_count": 0, "sensitive": false, "spoiler_text": "",
            "visibility": s.visibility, "media_attachments": [], "mentions": [], "tags": tags,
            "card": null, "poll": null, "application": null, "language": "en",
        })
    }

    /// Sends `event` for status `id` to the streams of its hashtags; like
    /// Mastodon, unlisted statuses reach hashtag streams too.
    fn broadcast(&self, w: &World, id: u64, event: &str) {
        let s = &w.statuses[&id];
        if !matches!(s.visibility.as_str(), "public" | "unlisted") {
            return;
        }
        let payload = if event == "delete" {
            id.to_string()
        } else {
            self.status_json(w, id).to_string()
        };
        for sub in w.streams.iter().filter(|sub| s.tags.contains(&sub.tag)) {
            let frame = json!({"stream": ["hashtag", sub.tag], "event": event, "payload": payload});
            _ = sub
                .tx
                .send(Out::Frame(Message::Text(frame.to_string().into())));
        }
    }
}

impl World {
    fn add_account(&mut self, handle: &str, bot: bool) -> String {
        let id = (self.accounts.len() + 1).to_string();
        let username = handle.split('@').next().unwrap_or(handle).to_owned();
        let token = format!("{}_token", handle.replace(['@', '.'], "_"));
        let acct = handle
            .strip_suffix(&format!("@{DOMAIN}"))
            .unwrap_or(handle)
            .to_owned();
        self.accounts.push(Acct {
            id: id.clone(),
            username,
            acct,
            bot,
            token,
        });
        id
    }

    fn account(&self, user: &str) -> (usize, &Acct) {
        self.accounts
            .iter()
            .enumerate()
            .find(|(_, a)| a.acct == user || a.username == user)
            .unwrap_or_else(|| panic!("no account {user}"))
    }

    fn by_token(&self, headers: &HeaderMap, query_token: Option<&str>) -> Option<usize> {
        let bearer = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok()?.strip_prefix("Bearer "));
        let token = bearer.or(query_token)?;
        self.accounts.iter().position(|a| a.token == token)
    }

    fn live(&self) -> impl Iterator<Item = &Stored> {
        self.statuses.values().filter(|s| !s.deleted)
    }

    fn create(
        &mut self,
        account: usize,
        text: &str,
        reply: Option<u64>,
        visibility: &str,
        now: DateTime<Utc>,
    ) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let (content, tags) = render(text);
        let visibility = visibility.to_owned();
        let stored = Stored {
            id,
            account,
            content,
            tags,
            visibility,
            in_reply_to_id: reply,
            created_at: now,
            edited_at: None,
            deleted: false,
        };
        self.statuses.insert(id, stored);
        id
    }

    /// Mastodon paging over `candidates` (ascending ids): newest first, or
    /// with `min_id` the oldest ones after it, still returned newest first.
    fn page(&self, candidates: impl Iterator<Item = u64>, q: &HashMap<String, String>) -> Vec<u64> {
        let id = |k: &str| q.get(k).and_then(|v| v.parse::<u64>().ok());
        let limit = id("limit").unwrap_or(20).clamp(1, 40) as usize;
        let lower = id("min_id").max(id("since_id")).unwrap_or(0);
        let upper = id("max_id").unwrap_or(u64::MAX);
        let within = candidates.filter(|i| *i > lower && *i < upper);
        if id("min_id").is_some() {
            let mut oldest: Vec<u64> = within.take(limit).collect();
            oldest.reverse();
            oldest
        } else {
            let mut all: Vec<u64> = within.collect();
            all.reverse();
            all.truncate(limit);
            all
        }
    }
}

/// Mastodon-like HTML for plain text (hashtags linked, lines kept) and the
/// lower-cased hashtags; text starting with `<` is already HTML.
fn render(text: &str) -> (String, Vec<String>) {
    let plain = if text.starts_with('<') {
        strip_tags(text)
    } else {
        text.to_owned()
    };
    let mut tags: Vec<String> = vec![];
    for (i, _) in plain.match_indices('#') {
        let before = plain[..i].chars().last();
        let name: String = plain[i + 1..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty()
            && !before.is_some_and(|c| c.is_alphanumeric())
            && !tags.contains(&name.to_lowercase())
        {
            tags.push(name.to_lowercase());
        }
    }
    if text.starts_with('<') {
        return (text.to_owned(), tags);
    }
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    let linked = escaped.split(' ').map(|word| match word.strip_prefix('#') {
        Some(name) if !name.is_empty() => format!(r#"<a href="https://{DOMAIN}/tags/{0}" class="mention hashtag" rel="tag">#<span>{name}</span></a>"#, name.to_lowercase()),
        _ => word.to_owned(),
    });
    let html = linked.collect::<Vec<_>>().join(" ").replace('\n', "<br />");
    (format!("<p>{html}</p>"), tags)
}

fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

type S = AxState<Arc<Shared>>;
type Q = Query<HashMap<String, String>>;

fn routes(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/v1/instance", get(instance))
        .route(
            "/api/v1/accounts/verify_credentials",
            get(verify_credentials),
        )
        .route("/api/v1/accounts/{id}/statuses", get(account_statuses))
        .route("/api/v1/statuses", post(create_status))
        .route("/api/v1/statuses/{id}", get(one_status))
        .route("/api/v1/statuses/{id}/context", get(context))
        .route("/api/v1/timelines/tag/{tag}", get(tag_timeline))
        .route("/api/v1/streaming", get(streaming))
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            log_and_fault,
        ))
        .with_state(shared)
}

/// Logs every request, then serves the first matching fault instead, if any.
async fn log_and_fault(AxState(shared): S, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let mut shown = request.uri().to_string();
    if let Some(at) = shown.find("access_token=") {
        let end = shown[at..].find('&').map_or(shown.len(), |e| at + e);
        shown.replace_range(at..end, "access_token=REDACTED");
    }
    let fault = shared.change(|w| {
        w.requests.push(LoggedRequest {
            method: method.to_string(),
            path: shown,
        });
        let at = w
            .faults
            .iter()
            .position(|(m, p, _)| *m == method && path.starts_with(p.as_str()))?;
        Some(w.faults.remove(at).2)
    });
    match fault {
        None => next.run(request).await,
        Some(Fault::Hang) => std::future::pending().await,
        Some(Fault::Malformed) => (
            StatusCode::OK,
            [("content-type", "application/json")],
            r#"{"id":"1","#,
        )
            .into_response(),
        Some(Fault::RateLimit { retry_after_secs }) => {
            let reset =
                (Utc::now() + chrono::Duration::seconds(retry_after_secs as i64)).to_rfc3339();
            let headers = [
                ("retry-after", retry_after_secs.to_string()),
                ("x-ratelimit-limit", "300".into()),
                ("x-ratelimit-remaining", "0".into()),
                ("x-ratelimit-reset", reset),
            ];
            (
                StatusCode::TOO_MANY_REQUESTS,
                headers,
                error_body("Too many requests"),
            )
                .into_response()
        }
        Some(Fault::Status(code, headers)) => {
            let mut response = (
                StatusCode::from_u16(code).expect("status code"),
                error_body("injected fault"),
            )
                .into_response();
            for (name, value) in headers {
                response
                    .headers_mut()
                    .insert(name, value.parse().expect("header value"));
            }
            response
        }
    }
}

fn error_body(message: &str) -> Json<Value> {
    Json(json!({ "error": message }))
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, error_body("Record not found")).into_response()
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        error_body("The access token is invalid"),
    )
        .into_response()
}

async fn instance(AxState(shared): S) -> Json<Value> {
    let w = shared.world();
    let contact = shared.account_json(&w.accounts[0]);
    Json(json!({
        "uri": DOMAIN, "title": "Fake", "description": "", "email": "admin@fake.example", "version": "4.3.0",
        "urls": {"streaming_api": shared.base.replace("http", "ws")}, "thumbnail": null,
        "stats": {"user_count": w.accounts.len(), "status_count": w.statuses.len(), "domain_count": 1},
        "languages": ["en"], "registrations": false, "approval_required": false, "invites_enabled": false,
        "configuration": {
            "statuses": {"max_characters": w.max_characters, "max_media_attachments": 4, "characters_reserved_per_url": 23},
            "media_attachments": {"supported_mime_types": [], "image_size_limit": 0, "image_matrix_limit": 0,
                "video_size_limit": 0, "video_frame_rate_limit": 0, "video_matrix_limit": 0},
            "polls": {"max_options": 4, "max_characters_per_option": 50, "min_expiration": 300, "max_expiration": 2629746},
        },
        "contact_account": contact, "rules": [],
    }))
}

async fn verify_credentials(AxState(shared): S, headers: HeaderMap) -> Response {
    let w = shared.world();
    match w.by_token(&headers, None) {
        Some(a) => Json(shared.account_json(&w.accounts[a])).into_response(),
        None => unauthorized(),
    }
}

async fn create_status(
    AxState(shared): S,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let is_json = headers
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let fields: HashMap<String, String> = if is_json {
        let v: Value = serde_json::from_slice(&body).unwrap_or_default();
        v.as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect()
    } else {
        url::form_urlencoded::parse(&body).into_owned().collect()
    };
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let now = shared.clock.now();
    shared.change(|w| {
        let Some(account) = w.by_token(&headers, None) else {
            return unauthorized();
        };
        if let Some(id) = key
            .as_ref()
            .and_then(|k| w.idempotency.get(&(account, k.clone())))
        {
            return Json(shared.status_json(w, *id)).into_response();
        }
        let text = fields.get("status").map(String::as_str).unwrap_or_default();
        if text.trim().is_empty() || text.chars().count() > w.max_characters {
            let message = format!(
                "Validation failed: Text character limit of {} exceeded or empty",
                w.max_characters
            );
            return (StatusCode::UNPROCESSABLE_ENTITY, error_body(&message)).into_response();
        }
        let reply = fields
            .get("in_reply_to_id")
            .and_then(|r| r.parse::<u64>().ok());
        if reply.is_some_and(|r| w.statuses.get(&r).is_none_or(|s| s.deleted)) {
            return not_found();
        }
        let visibility = fields
            .get("visibility")
            .map(String::as_str)
            .unwrap_or("public");
        let id = w.create(account, text, reply, visibility, now);
        if let Some(key) = key {
            w.idempotency.insert((account, key), id);
        }
        shared.broadcast(w, id, "update");
        Json(shared.status_json(w, id)).into_response()
    })
}

async fn one_status(AxState(shared): S, Path(id): Path<String>) -> Response {
    let w = shared.world();
    match id
        .parse::<u64>()
        .ok()
        .filter(|i| w.statuses.get(i).is_some_and(|s| !s.deleted))
    {
        Some(id) => Json(shared.status_json(&w, id)).into_response(),
        None => not_found(),
    }
}

async fn context(AxState(shared): S, Path(id): Path<String>) -> Response {
    let w = shared.world();
    let Some(root) = id
        .parse::<u64>()
        .ok()
        .filter(|i| w.statuses.get(i).is_some_and(|s| !s.deleted))
    else {
        return not_found();
    };
    // Ids ascend with time, so one pass in id order finds every descendant.
    let mut family = vec![root];
    for s in w.live() {
        if s.in_reply_to_id.is_some_and(|r| family.contains(&r)) {
            family.push(s.id);
        }
    }
    let descendants: Vec<Value> = family[1..]
        .iter()
        .map(|i| shared.status_json(&w, *i))
        .collect();
    let mut ancestors = vec![];
    let mut up = w.statuses[&root].in_reply_to_id;
    while let Some(parent) = up.and_then(|p| w.statuses.get(&p)).filter(|p| !p.deleted) {
        ancestors.insert(0, shared.status_json(&w, parent.id));
        up = parent.in_reply_to_id;
    }
    Json(json!({ "ancestors": ancestors, "descendants": descendants })).into_response()
}

async fn tag_timeline(
    AxState(shared): S,
    Path(tag): Path<String>,
    Query(q): Q,
) -> Json<Vec<Value>> {
    let w = shared.world();
    let tag = tag.to_lowercase();
    // Like Mastodon: unlisted statuses are not in the tag timeline.
    let candidates = w
        .live()
        .filter(|s| s.visibility == "public" && s.tags.contains(&tag))
        .map(|s| s.id);
    Json(
        w.page(candidates, &q)
            .into_iter()
            .map(|i| shared.status_json(&w, i))
            .collect(),
    )
}

async fn account_statuses(AxState(shared): S, Path(id): Path<String>, Query(q): Q) -> Response {
    let w = shared.world();
    let Some(account) = w.accounts.iter().position(|a| a.id == id) else {
        return not_found();
    };
    let candidates = w
        .live()
        .filter(|s| s.account == account && s.visibility != "direct")
        .map(|s| s.id);
    Json(
        w.page(candidates, &q)
            .into_iter()
            .map(|i| shared.status_json(&w, i))
            .collect::<Vec<_>>(),
    )
    .into_response()
}

async fn streaming(
    AxState(shared): S,
    headers: HeaderMap,
    Query(q): Q,
    upgrade: WebSocketUpgrade,
) -> Response {
    let token = q.get("access_token").map(String::as_str);
    if shared.world().by_token(&headers, token).is_none() {
        return unauthorized();
    }
    let tag = q
        .get("tag")
        .map(|t| t.trim_start_matches('#').to_lowercase())
        .unwrap_or_default();
    let (tx, rx) = mpsc::unbounded_channel();
    let sub = shared.change(|w| {
        w.next_sub += 1;
        w.streams.push(Sub {
            id: w.next_sub,
            tag,
            tx,
        });
        w.next_sub
    });
    upgrade.on_upgrade(move |socket| serve_stream(shared, sub, socket, rx))
}

/// Forwards frames queued for this subscriber and records pongs, until the
/// client leaves or a test drops the stream.
async fn serve_stream(
    shared: Arc<Shared>,
    sub: u64,
    socket: WebSocket,
    mut rx: mpsc::UnboundedReceiver<Out>,
) {
    let (mut sink, mut source) = socket.split();
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(Out::Frame(frame)) => if sink.send(frame).await.is_err() { break },
                Some(Out::Close) | None => {
                    let frame = CloseFrame { code: 1012, reason: "restarting".into() };
                    _ = sink.send(Message::Close(Some(frame))).await;
                    break;
                }
                Some(Out::Cut) => break,
            },
            incoming = source.next() => match incoming {
                Some(Ok(Message::Pong(payload))) => shared.change(|w| w.pongs.push(payload.to_vec())),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    shared.change(|w| w.streams.retain(|s| s.id != sub));
}
