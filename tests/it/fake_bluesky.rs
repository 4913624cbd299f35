//! In-process fake Bluesky (axum on 127.0.0.1:0): a PDS, an appview and a
//! Jetstream in one, stateful, for the Bluesky client's tests over real
//! HTTP and WebSocket.
//!
//! Like the real PDS it validates every post record against the lexicon's
//! shape, and unlike it, it also checks that each facet's byte range covers
//! exactly the tag, link or mention it claims. Participants act through
//! `post_as`/`edit_as`/`delete_as`; every commit is logged with a `time_us`
//! and sent to live Jetstream sockets, which `drop_jetstream` cuts and a
//! reconnect with `cursor` replays. Tests wait on state with `wait_until`,
//! never with sleeps.
#![allow(dead_code)] // each test uses a different part of the API

mod routes;
mod validate;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{json, Value};
use tokio::sync::{broadcast, watch};

pub struct Account {
    pub did: String,
    pub handle: String,
    pub password: String,
}

/// One stored record.
#[derive(Debug, Clone)]
pub struct Stored {
    pub cid: String,
    pub value: Value,
}

/// A logged request: method, path, and whether it carried a token.
#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub authorized: bool,
}

/// Everything the server knows; tests read it through `world()` and
/// `wait_until`.
#[derive(Default)]
pub struct World {
    pub accounts: Vec<Account>,
    /// (did, collection, rkey) → record.
    pub records: BTreeMap<(String, String, String), Stored>,
    pub logins: u32,
    pub refreshes: u32,
    /// access token → did; `expired` ones answer `ExpiredToken`.
    access: BTreeMap<String, String>,
    refresh: BTreeMap<String, String>,
    expired: Vec<String>,
    next_token: u64,
    /// Every commit as a Jetstream frame, in order: (time_us, JSON).
    pub events: Vec<(u64, String)>,
    /// The `cursor` of each Jetstream connection (`None`: live only).
    pub subscriptions: Vec<Option<u64>>,
    pub requests: Vec<Logged>,
    /// Answers the next write with 429 and this `ratelimit-reset` (epoch s).
    pub throttle_next_write: Option<u64>,
    pub blobs: u32,
    /// The first event's `time_us` (the wall clock when the server
    /// started, as a relay's); each commit adds one millisecond.
    pub first_time_us: u64,
    /// The relay's clock for `time_us` (microseconds) when set, instead of
    /// one millisecond a commit from `first_time_us`.
    pub clock: Option<Arc<dyn Fn() -> u64 + Send + Sync>>,
    /// Commits made while set reach no Jetstream socket and no replay:
    /// posts the socket missed, found only by reading threads.
    pub quiet: bool,
}

pub struct Shared {
    state: Mutex<World>,
    version: watch::Sender<u64>,
    /// Live frames for open sockets; `None` closes them all.
    live: broadcast::Sender<Option<(u64, String)>>,
}

pub struct FakeBluesky {
    shared: Arc<Shared>,
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeBluesky {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A strong reference as (uri, cid).
pub type Ref<'a> = (&'a str, &'a str);

pub const BOT: &str = "chatbot.test";
pub const BOT_PASSWORD: &str = "abcd-efgh-ijkl-mnop";

impl FakeBluesky {
    /// A server with the bot, `alice.test` and `bob.test`.
    pub async fn start() -> FakeBluesky {
        let mut world = World {
            first_time_us: chrono::Utc::now().timestamp_micros() as u64,
            ..World::default()
        };
        for (name, password) in [("chatbot", BOT_PASSWORD), ("alice", "a"), ("bob", "b")] {
            world.accounts.push(Account {
                did: format!("did:plc:{name}"),
                handle: format!("{name}.test"),
                password: password.into(),
            });
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(world),
            version: watch::channel(0).0,
            live: broadcast::channel(1024).0,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let app = routes::router(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("fake bluesky");
        });
        FakeBluesky { shared, url, task }
    }

    /// `http://127.0.0.1:<port>`: the PDS and the appview.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// `ws://127.0.0.1:<port>`: the Jetstream.
    pub fn jetstream(&self) -> String {
        self.url.replace("http://", "ws://")
    }

    pub fn world(&self) -> MutexGuard<'_, World> {
        self.shared.world()
    }

    /// Waits until `done` holds for the server's state.
    pub async fn wait_until(&self, mut done: impl FnMut(&World) -> bool) {
        let mut version = self.shared.version.subscribe();
        loop {
            if done(&self.world()) {
                return;
            }
            version.changed().await.expect("fake bluesky alive");
        }
    }

    /// Makes every access token handed out so far answer `ExpiredToken`.
    pub fn expire_access_tokens(&self) {
        let mut world = self.world();
        let tokens: Vec<String> = world.access.keys().cloned().collect();
        world.expired.extend(tokens);
    }

    /// Closes every open Jetstream socket (a drop on the server's side).
    pub fn drop_jetstream(&self) {
        let _ = self.shared.live.send(None);
    }

    /// The bot's posts in key order: (rkey, record).
    pub fn bot_posts(&self) -> Vec<(String, Value)> {
        self.world()
            .records
            .iter()
            .filter(|((did, col, _), _)| did == "did:plc:chatbot" && col == "app.bsky.feed.post")
            .map(|((_, _, rkey), stored)| (rkey.clone(), stored.value.clone()))
            .collect()
    }

    /// A participant's post (`name` as in `alice`), optionally a reply
    /// (root, parent as (uri, cid)); `facets` as the participant's app
    /// wrote them. Returns (uri, cid).
    pub fn post_as(
        &self,
        name: &str,
        rkey: &str,
        text: &str,
        reply: Option<(Ref<'_>, Ref<'_>)>,
        facets: Value,
    ) -> (String, String) {
        // A second apart from 20:05 on, like posts written one by one.
        let second = self.world().events.len();
        let created_at = format!(
            "2026-12-07T20:{:02}:{:02}.000Z",
            5 + second / 60,
            second % 60
        );
        let mut record = json!({"$type": "app.bsky.feed.post", "text": text,
            "createdAt": created_at, "facets": facets});
        if let Some(((root_uri, root_cid), (parent_uri, parent_cid))) = reply {
            record["reply"] = json!({"root": {"uri": root_uri, "cid": root_cid},
                "parent": {"uri": parent_uri, "cid": parent_cid}});
        }
        self.shared.write(
            &format!("did:plc:{name}"),
            "app.bsky.feed.post",
            rkey,
            record,
        )
    }

    /// A participant edits their post (an `update` commit).
    pub fn edit_as(&self, name: &str, rkey: &str, text: &str) -> (String, String) {
        let did = format!("did:plc:{name}");
        let key = (
            did.clone(),
            "app.bsky.feed.post".to_string(),
            rkey.to_string(),
        );
        let mut record = self.world().records[&key].value.clone();
        record["text"] = json!(text);
        self.shared.write(&did, "app.bsky.feed.post", rkey, record)
    }

    /// Like `post_as`, but the commit never reaches Jetstream (a post the
    /// socket missed); thread reads still show it.
    pub fn post_quietly_as(
        &self,
        name: &str,
        rkey: &str,
        text: &str,
        reply: Option<(Ref<'_>, Ref<'_>)>,
    ) -> (String, String) {
        self.world().quiet = true;
        let posted = self.post_as(name, rkey, text, reply, json!([]));
        self.world().quiet = false;
        posted
    }

    /// Deletes a post without a commit on Jetstream (a delete the socket
    /// missed); reads no longer find it.
    pub fn delete_quietly_as(&self, name: &str, rkey: &str) {
        self.world().quiet = true;
        self.delete_as(name, rkey);
        self.world().quiet = false;
    }

    /// The cursor of each Jetstream connection so far, in order.
    pub fn subscriptions(&self) -> Vec<Option<u64>> {
        self.world().subscriptions.clone()
    }

    pub fn delete_as(&self, name: &str, rkey: &str) {
        self.shared
            .delete(&format!("did:plc:{name}"), "app.bsky.feed.post", rkey);
    }
}

impl Shared {
    fn world(&self) -> MutexGuard<'_, World> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bump(&self) {
        self.version.send_modify(|v| *v += 1);
    }

    /// Stores a record (create or update) and emits its commit; an
    /// identical record is not written again. Returns (uri, cid).
    fn write(&self, did: &str, collection: &str, rkey: &str, value: Value) -> (String, String) {
        let uri = format!("at://{did}/{collection}/{rkey}");
        let cid = fake_cid(&value);
        let mut world = self.world();
        let key = (did.to_string(), collection.to_string(), rkey.to_string());
        let operation = match world.records.get(&key) {
            Some(stored) if stored.cid == cid => return (uri, cid),
            Some(_) => "update",
            None => "create",
        };
        world.records.insert(
            key,
            Stored {
                cid: cid.clone(),
                value: value.clone(),
            },
        );
        let commit = json!({"rev": format!("rev{}", world.events.len()), "operation": operation,
            "collection": collection, "rkey": rkey, "record": value, "cid": cid});
        self.emit(&mut world, did, commit);
        drop(world);
        self.bump();
        (uri, cid)
    }

    fn delete(&self, did: &str, collection: &str, rkey: &str) {
        let mut world = self.world();
        let key = (did.to_string(), collection.to_string(), rkey.to_string());
        if world.records.remove(&key).is_some() {
            let commit = json!({"rev": format!("rev{}", world.events.len()), "operation": "delete",
                "collection": collection, "rkey": rkey});
            self.emit(&mut world, did, commit);
        }
        drop(world);
        self.bump();
    }

    fn emit(&self, world: &mut World, did: &str, commit: Value) {
        if world.quiet {
            return;
        }
        let time_us = match &world.clock {
            Some(now) => now().max(world.events.last().map_or(0, |(t, _)| t + 1)),
            None => world.first_time_us + 1000 * world.events.len() as u64,
        };
        let frame =
            json!({"did": did, "time_us": time_us, "kind": "commit", "commit": commit}).to_string();
        world.events.push((time_us, frame.clone()));
        let _ = self.live.send(Some((time_us, frame)));
    }
}

/// A content hash in CID clothing: equal records get equal CIDs.
fn fake_cid(value: &Value) -> String {
    let hash = value
        .to_string()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    format!("bafyrei{hash:016x}")
}
