//! A Jetstream for the real PDS, which has none offline: a loopback WebSocket server speaking
//! Jetstream's JSON (`/subscribe?wantedCollections=app.bsky.feed.post&cursor=…`), fed by reading
//! the PDS's repositories: `com.atproto.sync.listRepos`, then `com.atproto.repo.listRecords` of
//! `app.bsky.feed.post` in each. A post seen for the first time is a `create`, one whose cid
//! changed an `update`, one gone a `delete`; each gets a `time_us` (wall clock, always above the
//! last) and its repository's `rev`, in Jetstream's key order.
//!
//! `sync()` reads the PDS once and sends what changed: tests call it after acting, so nothing
//! waits on a poll. `poll_every` does the same in the background for a daemon that acts on its
//! own. A connection with `cursor` replays the log from there, then goes live; `pause` holds new
//! connections before their replay and `drop_sockets` cuts the open ones, for resume tests.
#![allow(dead_code)] // each test uses a different part

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::{broadcast, watch};

const POST: &str = "app.bsky.feed.post";

/// What the bridge has seen and sent; tests read it through `state()`.
#[derive(Default)]
pub struct BridgeState {
    /// uri → (cid, record) of every post at the last sync.
    pub posts: BTreeMap<String, (String, Value)>,
    /// did → handle of every repository seen.
    pub handles: BTreeMap<String, String>,
    /// Every event sent, in order: (time_us, frame).
    pub events: Vec<(u64, String)>,
    /// The `cursor` of each connection (`None`: live only).
    pub subscriptions: Vec<Option<u64>>,
    /// Posts whose commits never go out (a socket that missed them); the appview has them.
    pub unsent: BTreeSet<String>,
}

pub(super) struct Shared {
    pds: String,
    http: reqwest::Client,
    /// One sync at a time: two would both see a new post as new.
    syncing: tokio::sync::Mutex<()>,
    state: Mutex<BridgeState>,
    /// Bumped on every change, for `wait_until`.
    version: watch::Sender<u64>,
    /// Live frames for open sockets; `None` closes them all.
    live: broadcast::Sender<Option<(u64, String)>>,
    /// `true` while new connections are held before their replay.
    paused: watch::Sender<bool>,
    /// The relay's clock for `time_us` (microseconds); the wall's unless set.
    clock: Mutex<Option<Arc<dyn Fn() -> u64 + Send + Sync>>>,
}

impl Shared {
    pub(super) fn state(&self) -> MutexGuard<'_, BridgeState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct JetstreamBridge {
    shared: Arc<Shared>,
    url: String,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Drop for JetstreamBridge {
    fn drop(&mut self) {
        let tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        tasks.iter().for_each(|task| task.abort());
    }
}

impl JetstreamBridge {
    /// Stamps `time_us` by `now` (microseconds since 1970) instead of the
    /// wall clock: a chat's manual clock, so that `time_us` and the posts'
    /// `createdAt` agree as a real relay's and app's do.
    pub fn set_clock(&self, now: impl Fn() -> u64 + Send + Sync + 'static) {
        *self.shared.clock.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(now));
    }

    /// A bridge for the PDS at `pds` (`http://…`); it has sent nothing yet.
    pub async fn start(pds: &str) -> JetstreamBridge {
        let shared = Arc::new(Shared {
            pds: pds.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
            syncing: tokio::sync::Mutex::new(()),
            state: Mutex::new(BridgeState::default()),
            version: watch::channel(0).0,
            live: broadcast::channel(1024).0,
            paused: watch::channel(false).0,
            clock: Mutex::default(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("ws://{}", listener.local_addr().expect("address"));
        let app = Router::new()
            .route("/subscribe", get(subscribe))
            .merge(super::appview::routes())
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("jetstream bridge");
        });
        JetstreamBridge {
            shared,
            url,
            tasks: Mutex::new(vec![server]),
        }
    }

    /// `ws://127.0.0.1:<port>`: the Jetstream base URL.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// `http://127.0.0.1:<port>`: the appview (`getPostThread`, `getProfile`) on the same
    /// reads of the PDS (tests/it/bluesky_pds/appview.rs).
    pub fn appview(&self) -> String {
        self.url.replace("ws://", "http://")
    }

    pub fn state(&self) -> MutexGuard<'_, BridgeState> {
        self.shared.state()
    }

    /// Waits until `done` holds for the bridge's state.
    pub async fn wait_until(&self, mut done: impl FnMut(&BridgeState) -> bool) {
        let mut version = self.shared.version.subscribe();
        loop {
            if done(&self.state()) {
                return;
            }
            version.changed().await.expect("bridge alive");
        }
    }

    /// Closes every open socket (a drop on Jetstream's side).
    pub fn drop_sockets(&self) {
        let _ = self.shared.live.send(None);
    }

    /// `uri`'s commits (a post not made yet, by its at-uri) never go out on the socket.
    pub fn never_send(&self, uri: &str) {
        self.state().unsent.insert(uri.to_string());
    }

    /// Holds new connections (after they are counted in `subscriptions`) until `resume`.
    pub fn pause(&self) {
        self.shared.paused.send_replace(true);
    }

    pub fn resume(&self) {
        self.shared.paused.send_replace(false);
    }

    /// Reads every repository's posts once and sends what changed since the last read;
    /// returns how many events that made.
    pub async fn sync(&self) -> usize {
        self.shared.sync().await
    }

    /// Syncs every `period` in the background, for a daemon that posts on its own clock.
    pub fn poll_every(self: &Arc<Self>, period: Duration) {
        // A weak handle: the task must not keep the bridge alive (drop aborts it).
        let bridge = Arc::downgrade(self);
        let task = tokio::spawn(async move {
            while let Some(bridge) = bridge.upgrade() {
                bridge.sync().await;
                drop(bridge);
                tokio::time::sleep(period).await;
            }
        });
        self.tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(task);
    }
}

impl Shared {
    /// Reads every repository's posts once and sends what changed since the last read;
    /// returns how many events that made.
    pub async fn sync(&self) -> usize {
        let _one_at_a_time = self.syncing.lock().await;
        let mut now: BTreeMap<String, (String, Value)> = BTreeMap::new();
        let repos = self.repos().await;
        let mut revs = BTreeMap::new();
        for (did, rev) in repos {
            for (uri, cid, value) in self.posts_of(&did).await {
                now.insert(uri, (cid, value));
            }
            if !self.state().handles.contains_key(&did) {
                let handle = self.handle_of(&did).await;
                self.state().handles.insert(did.clone(), handle);
            }
            revs.insert(did, rev);
        }
        let mut state = self.state();
        let mut commits = Vec::new();
        for (uri, (cid, value)) in &now {
            let operation = match state.posts.get(uri) {
                None => "create",
                Some((old, _)) if old != cid => "update",
                Some(_) => continue,
            };
            let rev = &revs[did_of(uri)];
            commits.push((
                uri.clone(),
                json!({"rev": rev, "operation": operation,
                "collection": POST, "rkey": rkey_of(uri), "record": value, "cid": cid}),
            ));
        }
        for uri in state.posts.keys().filter(|uri| !now.contains_key(*uri)) {
            // A repository that went has no rev any more.
            let rev = revs.get(did_of(uri)).cloned().unwrap_or_default();
            commits.push((
                uri.clone(),
                json!({"rev": rev, "operation": "delete",
                "collection": POST, "rkey": rkey_of(uri)}),
            ));
        }
        // In the order they were written: a post's key is a TID, its creation time.
        commits.sort_by(|(a, _), (b, _)| rkey_of(a).cmp(rkey_of(b)));
        state.posts = now;
        let sent = commits
            .iter()
            .filter(|(uri, _)| !state.unsent.contains(uri))
            .count();
        for (uri, commit) in commits {
            if !state.unsent.contains(&uri) {
                self.emit(&mut state, did_of(&uri), commit);
            }
        }
        drop(state);
        self.version.send_modify(|v| *v += 1);
        sent
    }

    fn emit(&self, state: &mut BridgeState, did: &str, commit: Value) {
        let clock = self.clock.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let wall = clock.map_or_else(
            || {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .expect("after 1970")
                    .as_micros() as u64
            },
            |now| now(),
        );
        let time_us = wall.max(state.events.last().map_or(0, |(t, _)| t + 1));
        // Jetstream's key order: `did`, `time_us`, `kind`, `commit`.
        let frame = format!(
            r#"{{"did":{},"time_us":{time_us},"kind":"commit","commit":{commit}}}"#,
            json!(did)
        );
        state.events.push((time_us, frame.clone()));
        let _ = self.live.send(Some((time_us, frame)));
    }

    async fn get(&self, nsid: &str, query: &[(&str, &str)]) -> Value {
        let answer = self
            .http
            .get(format!("{}/xrpc/{nsid}", self.pds))
            .query(query)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{nsid}: {e}"));
        let status = answer.status();
        let body: Value = answer
            .json()
            .await
            .unwrap_or_else(|e| panic!("{nsid}: {e}"));
        assert!(status.is_success(), "{nsid}: {status} {body}");
        body
    }

    /// The handle as the PDS holds it: its admin API (the launcher's admin password), since
    /// `describeRepo` checks handles over DNS, which `.test` ones do not pass.
    async fn handle_of(&self, did: &str) -> String {
        let nsid = "com.atproto.admin.getAccountInfo";
        let answer = self
            .http
            .get(format!("{}/xrpc/{nsid}", self.pds))
            .query(&[("did", did)])
            .basic_auth("admin", Some("admin-pass"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{nsid}: {e}"));
        let body: Value = answer
            .json()
            .await
            .unwrap_or_else(|e| panic!("{nsid}: {e}"));
        body["handle"].as_str().expect(nsid).to_string()
    }

    /// Every active repository as (did, rev).
    async fn repos(&self) -> Vec<(String, String)> {
        let mut repos = Vec::new();
        let mut cursor = String::new();
        loop {
            let mut query = vec![("limit", "1000")];
            if !cursor.is_empty() {
                query.push(("cursor", &cursor));
            }
            let page = self.get("com.atproto.sync.listRepos", &query).await;
            for repo in page["repos"].as_array().into_iter().flatten() {
                if repo["active"].as_bool() != Some(false) {
                    let field = |name: &str| repo[name].as_str().unwrap_or_default().to_string();
                    repos.push((field("did"), field("rev")));
                }
            }
            match page["cursor"].as_str() {
                Some(next) if next != cursor => cursor = next.to_string(),
                _ => return repos,
            }
        }
    }

    /// `did`'s posts as (uri, cid, record).
    async fn posts_of(&self, did: &str) -> Vec<(String, String, Value)> {
        let mut posts = Vec::new();
        let mut cursor = String::new();
        loop {
            let mut query = vec![("repo", did), ("collection", POST), ("limit", "100")];
            if !cursor.is_empty() {
                query.push(("cursor", &cursor));
            }
            let page = self.get("com.atproto.repo.listRecords", &query).await;
            let records = page["records"].as_array().cloned().unwrap_or_default();
            for record in &records {
                let field = |name: &str| record[name].as_str().unwrap_or_default().to_string();
                posts.push((field("uri"), field("cid"), record["value"].clone()));
            }
            match page["cursor"].as_str() {
                Some(next) if !records.is_empty() && next != cursor => cursor = next.to_string(),
                _ => return posts,
            }
        }
    }
}

fn did_of(uri: &str) -> &str {
    uri.trim_start_matches("at://")
        .split('/')
        .next()
        .unwrap_or_default()
}

fn rkey_of(uri: &str) -> &str {
    uri.rsplit('/').next().unwrap_or_default()
}

/// Replays the log from `cursor` (when given), then goes live until `drop_sockets` or the
/// client leaves.
async fn subscribe(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<BTreeMap<String, String>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    if query.get("wantedCollections").map(String::as_str) != Some(POST) {
        let body = "this bridge serves wantedCollections=app.bsky.feed.post";
        return (StatusCode::BAD_REQUEST, body).into_response();
    }
    let cursor = query.get("cursor").and_then(|c| c.parse::<u64>().ok());
    shared.state().subscriptions.push(cursor);
    shared.version.send_modify(|v| *v += 1);
    let mut paused = shared.paused.subscribe();
    let _ = paused.wait_for(|paused| !paused).await;
    // Subscribed before the backlog is read: nothing falls between the two.
    let live = shared.live.subscribe();
    let backlog: Vec<(u64, String)> = match cursor {
        Some(cursor) => shared
            .state()
            .events
            .iter()
            .filter(|(t, _)| *t >= cursor)
            .cloned()
            .collect(),
        None => Vec::new(),
    };
    upgrade.on_upgrade(move |socket| serve(socket, backlog, live))
}

async fn serve(
    mut socket: WebSocket,
    backlog: Vec<(u64, String)>,
    mut live: broadcast::Receiver<Option<(u64, String)>>,
) {
    let mut last = 0;
    for (time_us, frame) in backlog {
        last = time_us;
        if socket.send(Message::Text(frame.into())).await.is_err() {
            return;
        }
    }
    while let Ok(Some((time_us, frame))) = live.recv().await {
        if time_us <= last {
            continue; // already sent from the backlog
        }
        if socket.send(Message::Text(frame.into())).await.is_err() {
            return;
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}
