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

mod mastodon;
mod routes;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::ws::Message;
use axum::http::{HeaderMap, Method};
use chrono::{DateTime, Utc};
use hashchat::clock::{SharedClock, SystemClock};
use hashchat::network::Status;
use mastodon::render;
use serde_json::json;
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
    /// Handles the request (a post is created and streamed) but never
    /// answers: a crash between sending and recording the result.
    AcceptThenHang,
    /// Handles the request (a post is created and streamed), then drops
    /// the connection without an answer: a reset after sending.
    AcceptThenCut,
    /// Handles the request (a post is created and streamed), then answers
    /// this status: a proxy that lost the server's answer (502, 504).
    AcceptThenStatus(u16),
    /// 200 with truncated JSON.
    Malformed,
    /// The real answer (a JSON array) with one status inserted first that
    /// no client can decode: no account, no date.
    UndecodableStatus,
    /// Answers only once the token is cancelled: a request that hangs for
    /// as long as a test needs, however long the client waits.
    HoldUntil(tokio_util::sync::CancellationToken),
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoggedRequest {
    pub method: String,
    /// Path and query, with `access_token` redacted.
    pub path: String,
    /// Whether the request carried an `Authorization` header.
    pub authorized: bool,
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
    /// Uploaded media: id → (file name, size in bytes, description).
    pub uploads: BTreeMap<String, (String, usize, String)>,
    /// Account ids the bot has muted (served as its mutes).
    pub muted: Vec<String>,
    /// Mention notifications: (notification id, notified account, status id).
    pub notifications: Vec<(u64, usize, u64)>,
    /// Streams are served under [`STREAMING_ELSEWHERE`]; the usual path
    /// answers 301 there, as Mastodon's web host does when its streaming
    /// server has a host of its own.
    pub streaming_elsewhere: bool,
    /// The instance's `uri` when a test sets one (else [`DOMAIN`]).
    pub instance_uri: Option<String>,
    /// Streams are served only under [`STREAMING_ELSEWHERE`], which the
    /// instance info advertises; the usual path answers 404 (no redirect).
    pub streaming_advertised_elsewhere: bool,
    /// The instance info advertises `wss://` at the server's own plain
    /// HTTP host and port, as snac2 does with `"protocol": "http"`.
    pub streaming_advertised_as_tls: bool,
    /// `GET /api/v1/notifications` ignores `since_id` and lists every
    /// notification, as snac2 does (it honours it on timelines only).
    pub notifications_ignore_since_id: bool,
    /// What nodeinfo names: (software name, version).
    pub software: (String, String),
    /// Idempotency-Keys are not kept: like snac2, which ignores them, or
    /// Mastodon once its hour has passed. A repeated post is created again.
    pub forget_idempotency_keys: bool,
    /// An edit gives the status a new id, as snac2 does; its `uri` stays.
    pub reid_on_edit: bool,
    /// Old id → the id a status re-identified by an edit has now: the old
    /// id still answers `GET /api/v1/statuses/:id`, under the new id.
    pub moved: HashMap<u64, u64>,
    /// Every streaming path answers 404, as on snac2 and Friendica.
    pub no_streaming: bool,
    /// A hashtag stream is refused with 400 "stream type not allowed"
    /// (user streams open), as on GoToSocial versions without them.
    pub refuse_hashtag_streams: bool,
    /// A hashtag stream carries every public status, whatever its tags:
    /// megalodon's Firefish (Misskey) flavour ignores the tag it is given.
    pub tag_streams_carry_everything: bool,
    /// Where the instance info says streams live, when set: another
    /// listener of this server, named by another host and port (Akkoma
    /// and Pleroma give their own `urls.streaming_api`).
    pub streaming_api: Option<String>,
    next_sub: u64,
}

/// Where streams live once [`FakeServer::move_streaming_elsewhere`] is called.
pub const STREAMING_ELSEWHERE: &str = "/streaming-host/api/v1/streaming";

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
    /// The id its `uri` was made from: its first id.
    pub uri_id: u64,
    pub account: usize,
    pub content: String,
    pub tags: Vec<String>,
    pub visibility: String,
    pub in_reply_to_id: Option<u64>,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted: bool,
    pub spoiler_text: String,
    pub language: Option<String>,
    /// Attached media: (media id, description).
    pub media: Vec<(String, String)>,
}

struct Sub {
    id: u64,
    tag: String,
    /// `Some(account)` for a user stream (its notifications), `None` for a
    /// hashtag stream.
    user: Option<usize>,
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
            notifications: vec![],
            muted: vec![],
            uploads: BTreeMap::new(),
            streaming_elsewhere: false,
            instance_uri: None,
            streaming_advertised_elsewhere: false,
            streaming_advertised_as_tls: false,
            notifications_ignore_since_id: false,
            software: ("mastodon".into(), "4.3.0".into()),
            forget_idempotency_keys: false,
            reid_on_edit: false,
            moved: HashMap::new(),
            no_streaming: false,
            refuse_hashtag_streams: false,
            tag_streams_carry_everything: false,
            streaming_api: None,
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
        let app = routes::routes(shared.clone());
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

    /// The bot mutes `user` on its server.
    pub fn mute(&self, user: &str) {
        self.shared.change(|w| {
            let id = w.account(user).1.id.clone();
            w.muted.push(id);
        });
    }

    pub fn set_max_characters(&self, max: usize) {
        self.shared.change(|w| w.max_characters = max);
    }

    /// From now on, keeps no Idempotency-Key (see
    /// [`World::forget_idempotency_keys`]).
    pub fn forget_idempotency_keys(&self) {
        self.shared.change(|w| {
            w.forget_idempotency_keys = true;
            w.idempotency.clear();
        });
    }

    /// Serves streams only at [`STREAMING_ELSEWHERE`], redirecting there.
    pub fn move_streaming_elsewhere(&self) {
        self.shared.change(|w| w.streaming_elsewhere = true);
    }

    /// The instance info gives `uri` as its `uri` (snac: `localhost:8001`).
    pub fn set_instance_uri(&self, uri: &str) {
        self.shared
            .change(|w| w.instance_uri = Some(uri.to_owned()));
    }

    /// The instance info advertises [`STREAMING_ELSEWHERE`] (without its
    /// `/api/v1/streaming` tail) as `urls.streaming_api`, and the usual
    /// streaming path answers 404, as on a server whose web host serves no
    /// streams and redirects nowhere.
    pub fn advertise_streaming_elsewhere(&self) {
        self.shared
            .change(|w| w.streaming_advertised_elsewhere = true);
    }

    /// The instance info advertises `wss://` at this plain HTTP server's
    /// own host and port, where no TLS handshake can succeed: snac2 served
    /// with `"protocol": "http"` does.
    pub fn advertise_tls_streaming(&self) {
        self.shared.change(|w| w.streaming_advertised_as_tls = true);
    }

    /// The notifications ignore `since_id`, as on snac2.
    pub fn ignore_since_id_on_notifications(&self) {
        self.shared
            .change(|w| w.notifications_ignore_since_id = true);
    }

    /// Serves no streams (`false`) or serves them again (`true`): while
    /// off, every streaming path answers 404, as snac2 and Friendica do.
    pub fn set_streaming(&self, on: bool) {
        self.shared.change(|w| w.no_streaming = !on);
    }

    /// Refuses hashtag streams with 400 (see
    /// [`World::refuse_hashtag_streams`]).
    pub fn refuse_hashtag_streams(&self) {
        self.shared.change(|w| w.refuse_hashtag_streams = true);
    }

    /// Hashtag streams carry every public status (see
    /// [`World::tag_streams_carry_everything`]).
    pub fn carry_everything_on_tag_streams(&self) {
        self.shared
            .change(|w| w.tag_streams_carry_everything = true);
    }

    /// Serves streams from a second listener and advertises it as
    /// `ws://localhost:PORT` (another host name and port) in the instance
    /// info; the usual streaming path here answers 404. Returns the port.
    pub async fn serve_streams_on_another_port(&self) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let app = routes::routes(self.shared.clone());
        // Ends with the test's runtime, like the main listener's task.
        tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("streaming listener");
        });
        self.shared
            .change(|w| w.streaming_api = Some(format!("ws://localhost:{port}")));
        port
    }

    /// Nodeinfo names this software and version.
    pub fn set_software(&self, name: &str, version: &str) {
        self.shared
            .change(|w| w.software = (name.to_owned(), version.to_owned()));
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.url.port().expect("the fake listens on a port")
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
            self.shared.notify_mentions(w, id);
            self.shared.decode(w, id)
        })
    }

    /// Every later edit gives the status a new id (see [`World::reid_on_edit`]).
    pub fn reid_statuses_on_edit(&self) {
        self.shared.change(|w| w.reid_on_edit = true);
    }

    /// Edits a status; returns it as it is now (under a new id when
    /// [`FakeServer::reid_statuses_on_edit`] was called).
    pub fn edit_as(&self, user: &str, id: &str, text: &str) -> Status {
        let mut id: u64 = id.parse().expect("numeric id");
        self.shared.change(|w| {
            let account = w.account(user).0;
            if w.reid_on_edit {
                id = w.reid(id);
            }
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

    /// A server restarted without its data: every status so far is gone
    /// (404) and every stream is cut, with no delete events.
    pub fn forget_everything(&self) {
        self.shared.change(|w| {
            w.statuses.values_mut().for_each(|s| s.deleted = true);
            w.streams.drain(..).for_each(|s| _ = s.tx.send(Out::Cut));
        });
    }

    /// Closes every WebSocket with a close frame.
    pub fn drop_streams(&self) {
        self.shared
            .change(|w| w.streams.drain(..).for_each(|s| _ = s.tx.send(Out::Close)));
    }

    /// Closes the user streams (notifications) only, with a close frame;
    /// hashtag streams stay up.
    pub fn drop_user_streams(&self) {
        self.shared.change(|w| {
            let (user, hashtag): (Vec<Sub>, Vec<Sub>) =
                w.streams.drain(..).partition(|s| s.user.is_some());
            w.streams = hashtag;
            user.into_iter().for_each(|s| _ = s.tx.send(Out::Close));
        });
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

    /// Sends `event` for status `id` to the streams of its hashtags. Like
    /// Mastodon (`FanOutOnWriteService` streams to hashtags only what is
    /// public), an unlisted status reaches no hashtag stream and no tag
    /// timeline: an unlisted answer is found only through its question's
    /// context, as a reply.
    fn broadcast(&self, w: &World, id: u64, event: &str) {
        let s = &w.statuses[&id];
        if s.visibility != "public" {
            return;
        }
        let payload = if event == "delete" {
            id.to_string()
        } else {
            self.status_json(w, id).to_string()
        };
        for sub in w.streams.iter().filter(|sub| {
            sub.user.is_none() && (w.tag_streams_carry_everything || s.tags.contains(&sub.tag))
        }) {
            let frame = json!({"stream": ["hashtag", sub.tag], "event": event, "payload": payload});
            _ = sub
                .tx
                .send(Out::Frame(Message::Text(frame.to_string().into())));
        }
    }
}

impl Shared {
    /// Like Mastodon: every account named `@username` in the text (other
    /// than the author) gets a mention notification, on its user streams
    /// too. Direct messages are mentions as well.
    pub(crate) fn notify_mentions(&self, w: &mut World, id: u64) {
        let status = w.statuses[&id].clone();
        let text = mastodon::strip_tags(&status.content);
        let mentioned: Vec<usize> = (0..w.accounts.len())
            .filter(|&a| a != status.account)
            .filter(|&a| {
                let name = format!("@{}", w.accounts[a].username);
                text.split(|c: char| c.is_whitespace() || c == ',')
                    .any(|word| word == name || word.starts_with(&format!("{name}@")))
            })
            .collect();
        for account in mentioned {
            let notification = w.notifications.len() as u64 + 1;
            w.notifications.push((notification, account, id));
            let payload = self.notification_json(w, notification);
            for sub in w.streams.iter().filter(|sub| sub.user == Some(account)) {
                let frame = json!({"stream": ["user"], "event": "notification", "payload": payload.to_string()});
                _ = sub
                    .tx
                    .send(Out::Frame(Message::Text(frame.to_string().into())));
            }
        }
    }

    pub(crate) fn notification_json(&self, w: &World, notification: u64) -> serde_json::Value {
        let (id, _, status_id) = w.notifications[notification as usize - 1];
        let status = self.status_json(w, status_id);
        json!({
            "id": id.to_string(),
            "type": "mention",
            "created_at": status["created_at"],
            "account": status["account"],
            "status": status,
        })
    }
}

impl World {
    /// Open streams (hashtag and user).
    pub fn stream_count(&self) -> usize {
        self.streams.len()
    }

    /// Open user streams, which carry the notifications.
    pub fn user_stream_count(&self) -> usize {
        self.streams.iter().filter(|s| s.user.is_some()).count()
    }

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

    /// Gives status `old` the next id; returns it.
    fn reid(&mut self, old: u64) -> u64 {
        let new = self.next_id;
        self.next_id += 1;
        let mut status = self.statuses.remove(&old).expect("status exists");
        status.id = new;
        self.statuses.insert(new, status);
        for to in self.moved.values_mut().filter(|to| **to == old) {
            *to = new;
        }
        self.moved.insert(old, new);
        new
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
            uri_id: id,
            account,
            content,
            tags,
            visibility,
            in_reply_to_id: reply,
            created_at: now,
            edited_at: None,
            deleted: false,
            spoiler_text: String::new(),
            language: None,
            media: Vec::new(),
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
