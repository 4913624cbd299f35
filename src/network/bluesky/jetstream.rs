//! A Jetstream consumer: `app.bsky.feed.post` commits as typed events,
//! filtered as early as possible to the chat's posts, with the `time_us`
//! cursor kept so a dropped connection resumes where it was.
//!
//! After a drop it reconnects by itself with the cursor rewound a few
//! seconds (events near a drop may not have reached us), and a window of
//! the keys it yielded makes sure nothing is yielded twice. A full day of
//! the public Jetstream is ~2 GB: frames that cannot concern the chat are
//! dropped before they are decoded.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures_util::StreamExt;
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};
use url::Url;

use super::facets::Feature;
use super::record::{AtUri, PostRecord, POST};
use crate::chats::Hashtag;
use crate::network::{Backoff, NetError, Trust};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;
/// A connection being opened: the socket and the backoff as it grew.
type Dialing = Pin<Box<dyn Future<Output = (Socket, Backoff)> + Send>>;

/// How far the cursor is rewound on reconnecting.
pub const REWIND: Duration = Duration::from_secs(5);
/// A connection silent this long is taken for dead.
pub const IDLE_LIMIT: Duration = Duration::from_secs(60);
/// How long yielded keys are remembered, in event time: well past `REWIND`.
const DEDUP_WINDOW_US: u64 = 60_000_000;
/// Most post URIs remembered as the chat's (their edits and deletes pass).
const KNOWN_LIMIT: usize = 100_000;

/// A post as a commit carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct JetPost {
    pub uri: String,
    pub did: String,
    pub rkey: String,
    pub cid: String,
    pub time_us: u64,
    pub record: PostRecord,
}

#[derive(Debug, Clone, PartialEq)]
pub enum JetEvent {
    Created(JetPost),
    /// An edit: the whole new record.
    Updated(JetPost),
    /// A delete has no record: the post is known by its URI (did + rkey).
    Deleted {
        uri: String,
        did: String,
        rkey: String,
        time_us: u64,
    },
}

/// Which posts concern the chat (or, for the bot's mentions, the bot).
#[derive(Debug, Clone)]
pub struct Filter {
    hashtag: Option<Hashtag>,
    /// Needle for the cheap check on the raw frame (ASCII tags, or a DID).
    ascii_needle: Option<Needle>,
    /// Questions (at-uris): replies to them count without the hashtag.
    threads: HashSet<String>,
    /// `at://<did>/`: replies to any post of that account count.
    replies_to: Option<String>,
    /// `at://<did>/` of each question's author and of `replies_to`: a
    /// reply in a watched thread names one in its `reply` refs, so a frame
    /// without any of them is not such a reply (the cheap check).
    thread_authors: Vec<memchr::memmem::Finder<'static>>,
    /// Only posts whose facets mention this DID count (the bot's mentions).
    mention_of: Option<String>,
    /// Posts already yielded or known to the run: their edits and deletes.
    known: HashSet<String>,
    known_order: VecDeque<String>,
    /// The record keys of `known` and `threads`, counted (two repos may
    /// share a key): the cheap check of an edit or delete reads only the
    /// frame's `rkey`, which no post record has a field of its own for.
    rkeys: HashMap<String, u32>,
}

impl Filter {
    pub fn new(hashtag: Hashtag) -> Self {
        let ascii_needle = hashtag
            .as_str()
            .is_ascii()
            .then(|| Needle::new(hashtag.as_str()));
        Self {
            hashtag: Some(hashtag),
            ascii_needle,
            threads: HashSet::new(),
            replies_to: None,
            thread_authors: Vec::new(),
            mention_of: None,
            known: HashSet::new(),
            known_order: VecDeque::new(),
            rkeys: HashMap::new(),
        }
    }

    /// Posts that mention `did` in their facets or reply to one of its
    /// posts, and nothing else.
    pub fn mentioning(did: &str) -> Self {
        Self {
            hashtag: None,
            ascii_needle: Some(Needle::new(did)),
            threads: HashSet::new(),
            replies_to: None,
            thread_authors: Vec::new(),
            mention_of: Some(did.to_string()),
            known: HashSet::new(),
            known_order: VecDeque::new(),
            rkeys: HashMap::new(),
        }
    }

    /// Replies to `uri` (a question) count from now on.
    pub fn watch_thread(&mut self, uri: impl Into<String>) {
        let uri = uri.into();
        if let Some(author) = AtUri::parse(&uri) {
            self.watch_author(&author.did);
        }
        if self.threads.insert(uri.clone()) {
            self.count_rkey(&uri, 1);
        }
    }

    fn count_rkey(&mut self, uri: &str, delta: i32) {
        let Some(rkey) = uri.rsplit('/').next() else {
            return;
        };
        let count = self.rkeys.entry(rkey.to_string()).or_default();
        *count = count.saturating_add_signed(delta);
        if *count == 0 {
            self.rkeys.remove(rkey);
        }
    }

    /// Replies to any post of `did` (the bot) count, without the hashtag:
    /// questions posted after the stream opened included.
    pub fn watch_replies_to(&mut self, did: &str) {
        self.replies_to = Some(format!("at://{did}/"));
        self.watch_author(did);
    }

    /// Frames naming `at://<did>/` pass the cheap check.
    fn watch_author(&mut self, did: &str) {
        let prefix = format!("at://{did}/");
        if !self
            .thread_authors
            .iter()
            .any(|f| f.needle() == prefix.as_bytes())
        {
            let finder = memchr::memmem::Finder::new(prefix.as_bytes()).into_owned();
            self.thread_authors.push(finder);
        }
    }

    /// `uri` is the chat's (an answer stored before a restart): its edits
    /// and deletes are passed on.
    pub fn remember(&mut self, uri: impl Into<String>) {
        let uri = uri.into();
        if self.known.insert(uri.clone()) {
            self.count_rkey(&uri, 1);
            self.known_order.push_back(uri);
            if self.known_order.len() > KNOWN_LIMIT {
                if let Some(old) = self.known_order.pop_front() {
                    self.known.remove(&old);
                    self.count_rkey(&old, -1);
                }
            }
        }
    }

    /// Whether a raw frame may concern the chat, without decoding it: it
    /// carries the hashtag (any case), or names a question's author in an
    /// at-uri, or deletes or edits a post the chat knows. A frame that
    /// passes is decoded and judged in full; one that does not is surely
    /// not the chat's (the firehose is ~2 GB a day: most frames stop here).
    fn may_concern(&self, raw: &str) -> bool {
        let Some(needle) = &self.ascii_needle else {
            return true;
        };
        let bytes = raw.as_bytes();
        if self.mention_of.is_some() {
            return needle.found_in(bytes);
        }
        needle.found_in(bytes)
            || self.thread_authors.iter().any(|f| f.find(bytes).is_some())
            || ((raw.contains("\"delete\"") || raw.contains("\"update\""))
                && self.names_a_known_key(raw))
    }

    /// Whether the frame names the record key of a known post or of a
    /// question (every `"rkey"` in it is read, whatever the key order). An
    /// unreadable key counts as known: the full decode then decides.
    fn names_a_known_key(&self, raw: &str) -> bool {
        raw.match_indices("\"rkey\"").any(|(at, key)| {
            string_value(&raw[at + key.len()..]).is_none_or(|rkey| self.rkeys.contains_key(rkey))
        })
    }

    /// Whether a decoded commit (`op` on the post `uri`; `record` absent
    /// for a delete) is the chat's: a delete or an edit of a post it knows,
    /// or a post it [`concerns`](Self::concerns).
    fn takes(&self, op: &str, uri: &str, record: Option<&PostRecord>) -> bool {
        let known = || self.known.contains(uri) || self.threads.contains(uri);
        match (op, record) {
            ("delete", _) => known(),
            ("create", Some(record)) => self.concerns(record),
            ("update", Some(record)) => self.concerns(record) || self.known.contains(uri),
            _ => false,
        }
    }

    /// Whether a decoded post is the chat's: the hashtag in its facets, its
    /// `tags` or its text, or a reply in a watched thread (for a mention
    /// filter: a mention facet of its DID).
    pub fn concerns(&self, record: &PostRecord) -> bool {
        let features = || record.facets.iter().flat_map(|f| &f.features);
        if let Some(did) = &self.mention_of {
            // A reply to the bot is addressed to it too, as on Mastodon.
            let replied = record.reply.as_ref().is_some_and(|r| {
                AtUri::parse(&r.parent.uri).is_some_and(|parent| parent.did == *did)
            });
            return replied
                || features().any(|f| matches!(f, Feature::Mention { did: d } if d == did));
        }
        let tagged = self.hashtag.as_ref().is_some_and(|hashtag| {
            features().any(|f| matches!(f, Feature::Tag { tag } if hashtag.matches(tag)))
                || record.tags.iter().any(|t| hashtag.matches(t))
                || hashtag.found_in(&record.text)
        });
        let watched = |uri: &str| {
            self.threads.contains(uri)
                || self
                    .replies_to
                    .as_ref()
                    .is_some_and(|prefix| uri.starts_with(prefix.as_str()))
        };
        let in_thread = record
            .reply
            .as_ref()
            .is_some_and(|r| watched(&r.root.uri) || watched(&r.parent.uri));
        tagged || in_thread
    }
}

/// An ASCII hashtag found in any case: candidates are the places of its
/// rarest letter (found with SIMD by `memchr2`, both cases), each then
/// compared whole. Scanning every window instead cost as much as decoding.
#[derive(Debug, Clone)]
struct Needle {
    lower: Vec<u8>,
    /// Index in `lower` of the byte searched for.
    pivot: usize,
}

impl Needle {
    fn new(tag: &str) -> Self {
        // English letters, rarest first; digits and `_` are rarer still.
        const BY_RARITY: &[u8] = b"_0123456789zqxjkvbpygfwmucldrhsnioate";
        let lower = tag.to_ascii_lowercase().into_bytes();
        // Any other byte (`:` and `.` of a DID) is taken for common: JSON is full of them.
        let rank = |b: &u8| {
            BY_RARITY
                .iter()
                .position(|r| r == b)
                .unwrap_or(BY_RARITY.len())
        };
        let pivot = (0..lower.len())
            .min_by_key(|&i| rank(&lower[i]))
            .unwrap_or(0);
        Self { lower, pivot }
    }

    fn found_in(&self, hay: &[u8]) -> bool {
        let Some(&byte) = self.lower.get(self.pivot) else {
            return true;
        };
        let len = self.lower.len();
        memchr::memchr2_iter(byte, byte.to_ascii_uppercase(), hay).any(|at| {
            at.checked_sub(self.pivot)
                .and_then(|start| hay.get(start..start + len))
                .is_some_and(|window| window.eq_ignore_ascii_case(&self.lower))
        })
    }
}

/// The string after a key (`: "…"`), when it has no escapes (record
/// keys never do).
fn string_value(after_key: &str) -> Option<&str> {
    let value = after_key
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?;
    let end = value.find(['"', '\\'])?;
    (value.as_bytes()[end] == b'"').then(|| &value[..end])
}

/// One Jetstream frame, as much as we read of it.
#[derive(Deserialize)]
struct Frame {
    did: String,
    time_us: u64,
    kind: String,
    #[serde(default)]
    commit: Option<Commit>,
}

#[derive(Deserialize)]
struct Commit {
    #[serde(default)]
    rev: String,
    operation: String,
    collection: String,
    rkey: String,
    #[serde(default)]
    record: Option<PostRecord>,
    #[serde(default)]
    cid: Option<String>,
}

/// An event and the subscribers (by the id [`Jetstream::subscribe`]
/// gave) whose filter takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub event: JetEvent,
    pub to: Vec<u64>,
}

/// The consumer. `next()` yields the chat's events for as long as it is
/// polled, reconnecting by itself; drop it to stop.
///
/// One socket serves several subscribers (an account's chats and its
/// mentions): the public firehose is read and each frame decoded once,
/// then judged by each subscriber's filter.
pub struct Jetstream {
    base: Url,
    /// Never empty while the consumer is read: (id, filter).
    filters: Vec<(u64, Filter)>,
    next_id: u64,
    cursor: Option<u64>,
    socket: Option<Socket>,
    /// A connection being opened (see `connect`).
    connecting: Option<Dialing>,
    seen: HashSet<String>,
    seen_order: VecDeque<(u64, String)>,
    backoff: Backoff,
    connections: u32,
    /// The account's trust for `wss`; the system's roots when unset.
    trust: Option<Trust>,
}

impl Jetstream {
    /// `base` is the Jetstream host (`wss://…`, or `ws://` locally);
    /// `cursor` a `time_us` stored earlier, to resume from.
    pub fn new(base: Url, filter: Filter, cursor: Option<u64>) -> Self {
        Self {
            base,
            filters: vec![(0, filter)],
            next_id: 1,
            cursor,
            socket: None,
            connecting: None,
            seen: HashSet::new(),
            seen_order: VecDeque::new(),
            backoff: Backoff::new(Duration::from_millis(500), Duration::from_secs(60)),
            connections: 0,
            trust: None,
        }
    }

    /// Connects trusting `trust` (the account's, `ca_file:` included)
    /// instead of the system's roots alone.
    pub fn with_trust(mut self, trust: Trust) -> Self {
        self.trust = Some(trust);
        self
    }

    /// The filter of the first subscriber (the one `new` was given).
    ///
    /// # Panics
    /// When every subscriber has left.
    pub fn filter_mut(&mut self) -> &mut Filter {
        &mut self.filters[0].1
    }

    /// Adds a subscriber on the same socket; its id names it in each
    /// [`Delivery`]. It sees what is read from now on.
    pub fn subscribe(&mut self, filter: Filter) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.filters.push((id, filter));
        id
    }

    /// Removes a subscriber; the number left.
    pub fn unsubscribe(&mut self, id: u64) -> usize {
        self.filters.retain(|(i, _)| *i != id);
        self.filters.len()
    }

    /// The `time_us` of the last event read (the chat's or not): store it
    /// to resume after a restart.
    pub fn cursor(&self) -> Option<u64> {
        self.cursor
    }

    /// How many connections were opened so far (the first and reconnects).
    pub fn connections(&self) -> u32 {
        self.connections
    }

    /// The URL of the next connection: the cursor rewound by [`REWIND`].
    pub fn subscribe_url(&self) -> Result<Url, NetError> {
        let mut url = self.base.clone();
        if !url.path().ends_with("/subscribe") {
            let path = format!("{}/subscribe", url.path().trim_end_matches('/'));
            url.set_path(&path);
        }
        url.query_pairs_mut()
            .clear()
            .append_pair("wantedCollections", POST);
        if let Some(cursor) = self.cursor {
            let rewound = cursor.saturating_sub(REWIND.as_micros() as u64);
            url.query_pairs_mut()
                .append_pair("cursor", &rewound.to_string());
        }
        match url.scheme() {
            "ws" | "wss" => Ok(url),
            other => Err(NetError::Transport(format!(
                "a Jetstream URL is ws:// or wss://, not {other}://"
            ))),
        }
    }

    /// The next event of the chat. Errors only when the URL is unusable;
    /// a dropped connection is reopened here, with capped backoff while
    /// it keeps failing.
    pub async fn next(&mut self) -> Result<JetEvent, NetError> {
        Ok(self.next_delivery().await?.event)
    }

    /// The next event any subscriber takes, with who takes it.
    pub async fn next_delivery(&mut self) -> Result<Delivery, NetError> {
        loop {
            let Some(socket) = self.socket.as_mut() else {
                self.connect().await?;
                continue;
            };
            let frame = match tokio::time::timeout(IDLE_LIMIT, socket.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => text,
                Ok(Some(Ok(Message::Close(_)))) | Ok(None) => {
                    self.dropped("closed");
                    continue;
                }
                Ok(Some(Ok(_))) => continue, // pings are answered by tungstenite
                Ok(Some(Err(err))) => {
                    self.dropped(&err.to_string());
                    continue;
                }
                Err(_) => {
                    self.dropped("idle");
                    continue;
                }
            };
            self.backoff.reset();
            if let Some(delivery) = self.deliver(frame.as_str()) {
                return Ok(delivery);
            }
        }
    }

    /// Connects, retrying with backoff. The attempt is kept across calls:
    /// `next()` may be cancelled (a shared socket's task selects on it
    /// beside its subscribers) without dropping a half-open handshake and
    /// opening a second connection.
    async fn connect(&mut self) -> Result<(), NetError> {
        if self.connecting.is_none() {
            let url = self.subscribe_url()?;
            let connector = match &self.trust {
                Some(trust) => trust.connector(&url),
                None => crate::network::tls::connector_for(&url)?,
            };
            let dialing = dial(url, connector, self.backoff.clone());
            self.connecting = Some(Box::pin(dialing));
        }
        if let Some(connecting) = self.connecting.as_mut() {
            let (socket, backoff) = connecting.await;
            self.connecting = None;
            self.backoff = backoff;
            self.connections += 1;
            self.socket = Some(socket);
        }
        Ok(())
    }

    fn dropped(&mut self, why: &str) {
        tracing::warn!(why, cursor = ?self.cursor, "Jetstream connection dropped; reconnecting");
        self.socket = None;
    }

    /// Reads one frame: advances the cursor, and returns it as an event
    /// when it is the chat's and was not yielded before. `next()` calls it
    /// on each frame; public so the filter can be measured without a
    /// socket (benches/firehose.rs).
    pub fn accept(&mut self, raw: &str) -> Option<JetEvent> {
        self.deliver(raw).map(|d| d.event)
    }

    /// `accept` for every subscriber: the frame passes the cheap check
    /// when any subscriber's does, is decoded once, and each filter then
    /// judges the decoded post (no second decode per subscriber).
    pub fn deliver(&mut self, raw: &str) -> Option<Delivery> {
        let cheap = self.filters.iter().any(|(_, f)| f.may_concern(raw));
        if !cheap {
            // Still advance the cursor: the cheapest field to read.
            if let Some(time_us) = time_us_of(raw) {
                self.advance(time_us);
            }
            return None;
        }
        let frame: Frame = match serde_json::from_str(raw) {
            Ok(frame) => frame,
            Err(err) => {
                tracing::debug!(error = %err, "skipping a Jetstream frame that does not decode");
                if let Some(time_us) = time_us_of(raw) {
                    self.advance(time_us);
                }
                return None;
            }
        };
        self.advance(frame.time_us);
        let commit = frame
            .commit
            .filter(|c| frame.kind == "commit" && c.collection == POST)?;
        let uri = AtUri::post(&frame.did, &commit.rkey);
        let key = format!("{}#{}#{}", uri, commit.operation, commit.rev);
        let op = commit.operation.as_str();
        let to: Vec<u64> = self
            .filters
            .iter()
            .filter(|(_, f)| f.takes(op, &uri, commit.record.as_ref()))
            .map(|(id, _)| *id)
            .collect();
        if to.is_empty() {
            return None;
        }
        let event = match (op, commit.record, commit.cid) {
            ("delete", _, _) => JetEvent::Deleted {
                uri: uri.clone(),
                did: frame.did,
                rkey: commit.rkey,
                time_us: frame.time_us,
            },
            (op @ ("create" | "update"), Some(record), Some(cid)) => {
                let post = JetPost {
                    uri: uri.clone(),
                    did: frame.did,
                    rkey: commit.rkey,
                    cid,
                    time_us: frame.time_us,
                    record,
                };
                if op == "create" {
                    JetEvent::Created(post)
                } else {
                    JetEvent::Updated(post)
                }
            }
            _ => return None,
        };
        if !self.first_time(frame.time_us, key) {
            return None;
        }
        for (_, filter) in self.filters.iter_mut().filter(|(id, _)| to.contains(id)) {
            filter.remember(uri.clone());
        }
        Some(Delivery { event, to })
    }

    fn advance(&mut self, time_us: u64) {
        self.cursor = Some(self.cursor.map_or(time_us, |c| c.max(time_us)));
    }

    /// Records `key`; `false` when it was yielded already. Keys older than
    /// the window are forgotten: a replay never reaches back that far.
    fn first_time(&mut self, time_us: u64, key: String) -> bool {
        let horizon = self
            .cursor
            .unwrap_or(time_us)
            .saturating_sub(DEDUP_WINDOW_US);
        while self.seen_order.front().is_some_and(|(t, _)| *t < horizon) {
            if let Some((_, old)) = self.seen_order.pop_front() {
                self.seen.remove(&old);
            }
        }
        if !self.seen.insert(key.clone()) {
            return false;
        }
        self.seen_order.push_back((time_us, key));
        true
    }
}

/// A connection to `url`, retried with `backoff` until one opens; the
/// backoff comes back as it grew.
async fn dial(url: Url, connector: Option<Connector>, mut backoff: Backoff) -> (Socket, Backoff) {
    loop {
        let attempt = tokio_tungstenite::connect_async_tls_with_config(
            url.as_str(),
            None,
            false,
            connector.clone(),
        );
        match attempt.await {
            Ok((socket, _)) => {
                tracing::info!(url = %url, "Jetstream connected");
                return (socket, backoff);
            }
            Err(err) => {
                let delay = backoff.next_delay();
                tracing::warn!(error = %err, delay_ms = delay.as_millis() as u64,
                    "Jetstream connection failed; retrying");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// `"time_us":123` read straight off the frame.
fn time_us_of(raw: &str) -> Option<u64> {
    let at = raw.find("\"time_us\":")? + "\"time_us\":".len();
    let digits = raw[at..].trim_start();
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn consumer() -> Jetstream {
        let filter = Filter::new(Hashtag::parse("EduSkyChat").unwrap());
        Jetstream::new(Url::parse("ws://127.0.0.1:1").unwrap(), filter, None)
    }

    fn create(did: &str, rkey: &str, time_us: u64, record: serde_json::Value) -> String {
        json!({"did": did, "time_us": time_us, "kind": "commit",
            "commit": {"rev": format!("r{time_us}"), "operation": "create",
                "collection": POST, "rkey": rkey, "record": record, "cid": "bafyc"}})
        .to_string()
    }

    fn post(text: &str) -> serde_json::Value {
        json!({"$type": POST, "text": text, "createdAt": "2026-12-07T20:00:00Z"})
    }

    #[test]
    fn posts_count_by_facet_tags_field_or_text_and_others_are_dropped() {
        let mut jet = consumer();
        let by_facet = json!({"$type": POST, "text": "A1 #eduskychat", "createdAt": "2026-12-07T20:00:00Z",
            "facets": [{"index": {"byteStart": 3, "byteEnd": 14},
                        "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "eduskychat"}]}]});
        let by_tags = json!({"$type": POST, "text": "A1", "createdAt": "2026-12-07T20:00:00Z",
            "tags": ["EduSkyChat"]});
        let cases = [
            (by_facet, true, "tag facet"),
            (by_tags, true, "tags field"),
            (post("A1 no facets #EduSkyChat"), true, "text only"),
            (post("A1 #EduSkyChatter"), false, "another tag"),
            (post("unrelated"), false, "no tag"),
        ];
        for (i, (record, want, case)) in cases.into_iter().enumerate() {
            let frame = create("did:plc:a", &format!("k{i}"), 10 + i as u64, record);
            assert_eq!(jet.accept(&frame).is_some(), want, "{case}");
        }
        assert_eq!(
            jet.cursor(),
            Some(14),
            "dropped frames still advance the cursor"
        );
        let malformed = create(
            "did:plc:a",
            "k9",
            15,
            json!({"text": 7, "x": "#EduSkyChat"}),
        );
        assert!(jet.accept(&malformed).is_none());
        assert_eq!(jet.cursor(), Some(15), "so do frames that do not decode");
    }

    #[test]
    fn replies_in_a_watched_thread_count_without_the_hashtag() {
        let mut jet = consumer();
        jet.filter_mut()
            .watch_thread("at://did:plc:bot/app.bsky.feed.post/q1");
        let strong = json!({"uri": "at://did:plc:bot/app.bsky.feed.post/q1", "cid": "bafyq"});
        let mut reply = post("A1: yes");
        reply["reply"] = json!({"root": strong, "parent": strong});
        assert!(jet.accept(&create("did:plc:a", "r1", 1, reply)).is_some());
    }

    #[test]
    fn the_same_commit_twice_is_yielded_once_and_deletes_only_for_known_posts() {
        let mut jet = consumer();
        let frame = create("did:plc:a", "k1", 100, post("#EduSkyChat hi"));
        assert!(jet.accept(&frame).is_some());
        assert!(jet.accept(&frame).is_none(), "a replayed frame");
        let delete = |rkey: &str, t: u64| {
            json!({"did": "did:plc:a", "time_us": t, "kind": "commit",
                "commit": {"rev": format!("d{t}"), "operation": "delete", "collection": POST, "rkey": rkey}})
            .to_string()
        };
        assert!(matches!(
            jet.accept(&delete("k1", 101)),
            Some(JetEvent::Deleted { .. })
        ));
        assert!(jet.accept(&delete("other", 102)).is_none());
    }

    #[test]
    fn replies_to_any_post_of_the_bot_count_and_a_mention_filter_keeps_only_mentions() {
        let mut jet = consumer();
        jet.filter_mut().watch_replies_to("did:plc:bot");
        let strong = json!({"uri": "at://did:plc:bot/app.bsky.feed.post/later", "cid": "bafyq"});
        let mut reply = post("Blogs, mostly");
        reply["reply"] = json!({"root": strong, "parent": strong});
        assert!(jet.accept(&create("did:plc:a", "r1", 1, reply)).is_some());
        let elsewhere = json!({"uri": "at://did:plc:other/app.bsky.feed.post/x", "cid": "bafyx"});
        let mut other = post("Blogs, mostly");
        other["reply"] = json!({"root": elsewhere, "parent": elsewhere});
        assert!(jet.accept(&create("did:plc:a", "r2", 2, other)).is_none());

        let mut mentions = Jetstream::new(
            Url::parse("ws://127.0.0.1:1").unwrap(),
            Filter::mentioning("did:plc:bot"),
            None,
        );
        let mut command = post("@bot.test stop");
        command["facets"] = json!([{"index": {"byteStart": 0, "byteEnd": 9},
            "features": [{"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:bot"}]}]);
        assert!(mentions
            .accept(&create("did:plc:a", "m1", 3, command))
            .is_some());
        let named = post("did:plc:bot is my bot #EduSkyChat");
        assert!(mentions
            .accept(&create("did:plc:a", "m2", 4, named))
            .is_none());
        let mut answer = post("pause");
        answer["reply"] = json!({"root": strong, "parent": strong});
        assert!(mentions
            .accept(&create("did:plc:a", "m3", 5, answer))
            .is_some());
    }

    #[test]
    fn one_consumer_delivers_each_post_to_the_subscribers_whose_filter_takes_it() {
        let mut jet = consumer();
        let mentions = jet.subscribe(Filter::mentioning("did:plc:bot"));
        let mention = |text: &str| {
            let mut record = post(text);
            record["facets"] = json!([{"index": {"byteStart": 0, "byteEnd": 9},
                "features": [{"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:bot"}]}]);
            record
        };
        let cases = [
            (post("A1 #EduSkyChat"), vec![0], "the chat's answer"),
            (mention("@bot.test pause"), vec![mentions], "a command"),
            (
                mention("@bot.test hi #EduSkyChat"),
                vec![0, mentions],
                "both",
            ),
        ];
        for (i, (record, want, case)) in cases.into_iter().enumerate() {
            let frame = create("did:plc:a", &format!("k{i}"), 10 + i as u64, record);
            assert_eq!(jet.deliver(&frame).map(|d| d.to), Some(want), "{case}");
        }
        assert!(jet
            .accept(&create("did:plc:a", "k8", 20, post("unrelated")))
            .is_none());

        assert_eq!(jet.unsubscribe(mentions), 1);
        let frame = create("did:plc:a", "k9", 21, mention("@bot.test resume"));
        assert!(jet.deliver(&frame).is_none(), "a subscriber that left");
    }

    #[test]
    fn reconnecting_rewinds_the_cursor_a_few_seconds() {
        let mut jet = consumer();
        assert!(!jet.subscribe_url().unwrap().as_str().contains("cursor"));
        jet.accept(&create("did:plc:a", "k", 20_000_000, post("x")));
        let url = jet.subscribe_url().unwrap();
        assert_eq!(
            url.as_str(),
            "ws://127.0.0.1:1/subscribe?wantedCollections=app.bsky.feed.post&cursor=15000000"
        );
    }

    fn frame(did: &str, op: &str, rkey: &str, record: Option<serde_json::Value>) -> String {
        let mut commit = json!({"rev": "r1", "operation": op, "collection": POST, "rkey": rkey});
        if let Some(record) = record {
            commit["record"] = record;
            commit["cid"] = json!("bafyc");
        }
        json!({"did": did, "time_us": 1, "kind": "commit", "commit": commit}).to_string()
    }

    #[test]
    fn the_cheap_check_passes_only_frames_that_may_be_the_chats() {
        let mut filter = Filter::new(Hashtag::parse("EduSkyChat").unwrap());
        filter.watch_thread("at://did:plc:bot/app.bsky.feed.post/q1");
        filter.remember("at://did:plc:a/app.bsky.feed.post/known");
        let reply_to = |uri: &str| {
            let strong = json!({"uri": uri, "cid": "bafyq"});
            let mut reply = post("yes!");
            reply["reply"] = json!({"root": strong, "parent": strong});
            reply
        };
        let mut tags = post("A1");
        tags["tags"] = json!(["eduSKYchat"]);
        let identity = r#"{"did":"did:plc:a","time_us":3,"kind":"identity","identity":{"did":"did:plc:a","handle":"a.test","seq":1,"time":"2026-12-07T20:00:00Z"}}"#;
        let cases = [
            (
                frame("did:plc:a", "create", "k", Some(post("A1 #EDUSKYCHAT"))),
                true,
                "the tag in capitals",
            ),
            (
                frame("did:plc:a", "create", "k", Some(post("#eduskychat"))),
                true,
                "the tag first",
            ),
            (
                frame("did:plc:a", "create", "k", Some(tags)),
                true,
                "the tags field",
            ),
            (
                frame("did:plc:a", "create", "k", Some(post("#EduSky chat"))),
                false,
                "a broken tag",
            ),
            (
                frame(
                    "did:plc:a",
                    "create",
                    "k",
                    Some(reply_to("at://did:plc:bot/app.bsky.feed.post/q1")),
                ),
                true,
                "a reply to a question",
            ),
            (
                frame(
                    "did:plc:a",
                    "create",
                    "k",
                    Some(reply_to("at://did:plc:c/app.bsky.feed.post/x")),
                ),
                false,
                "a reply elsewhere",
            ),
            (
                frame("did:plc:a", "delete", "known", None),
                true,
                "a known post deleted",
            ),
            (
                frame("did:plc:bot", "delete", "q1", None),
                true,
                "a question deleted",
            ),
            (
                frame("did:plc:a", "delete", "other", None),
                false,
                "another post of the same author deleted",
            ),
            (
                frame("did:plc:b", "delete", "known", None),
                true,
                "the same key in another repo deleted (decoded, then dropped)",
            ),
            (
                frame("did:plc:a", "update", "known", Some(post("edited"))),
                true,
                "a known post edited",
            ),
            (
                frame("did:plc:a", "update", "other", Some(post("edited"))),
                false,
                "another post edited",
            ),
            (identity.to_string(), false, "an identity event"),
        ];
        for (raw, want, case) in cases {
            assert_eq!(filter.may_concern(&raw), want, "{case}: {raw}");
        }
    }

    #[test]
    fn the_tag_is_found_in_any_case_anywhere_in_the_frame() {
        let needle = Needle::new("EduSkyChat");
        let cases: [(&[u8], bool, &str); 7] = [
            (b"eduskychat", true, "alone"),
            (b"xxEDUSKYCHAT", true, "at the end"),
            (b"EduSkyChatxx", true, "at the start"),
            (b"kychat", false, "its rarest letter too near the start"),
            (b"eduskyc", false, "cut at the end"),
            (b"edu_skychat", false, "with another byte inside"),
            (b"", false, "an empty frame"),
        ];
        for (hay, want, case) in cases {
            assert_eq!(needle.found_in(hay), want, "{case}");
        }
        assert!(Needle::new("1QEdChat").found_in(b"#1qedchat"), "digits");
        let did = Needle::new("did:plc:ab7");
        assert_ne!(did.lower[did.pivot], b':', "a DID is found by a rare byte");
        assert!(did.found_in(br#"{"did":"did:plc:ab7"}"#));
    }

    #[test]
    fn fields_with_escapes_are_not_read_off_the_raw_frame() {
        assert_eq!(string_value(r#" : "3kq2","x":1}"#), Some("3kq2"));
        assert_eq!(string_value(r#":"a\"b"}"#), None);
        assert_eq!(string_value(r#":7}"#), None);
        let filter = Filter::new(Hashtag::parse("EduSkyChat").unwrap());
        let odd = r#"{"did":"did:plc:a","time_us":1,"kind":"commit","commit":{"operation":"delete","rkey":"a\u0041"}}"#;
        assert!(
            filter.may_concern(odd),
            "an unreadable key is left to the full decode"
        );
    }

    /// What `accept` would keep if every frame were decoded.
    fn kept_by_the_full_judgement(filter: &Filter, raw: &str) -> bool {
        let Ok(frame) = serde_json::from_str::<Frame>(raw) else {
            return false;
        };
        let Some(commit) = frame.commit else {
            return false;
        };
        let uri = AtUri::post(&frame.did, &commit.rkey);
        let known = filter.known.contains(&uri) || filter.threads.contains(&uri);
        match (commit.operation.as_str(), commit.record) {
            ("delete", _) => known,
            (op, Some(record)) => filter.concerns(&record) || (op == "update" && known),
            _ => false,
        }
    }

    proptest::proptest! {
        #[test]
        fn the_cheap_check_never_drops_a_frame_the_full_judgement_keeps(
            did in proptest::sample::select(vec!["did:plc:a", "did:plc:bot", "did:plc:b"]),
            op in proptest::sample::select(vec!["create", "update", "delete"]),
            rkey in proptest::sample::select(vec!["known", "q1", "other"]),
            words in proptest::collection::vec(proptest::sample::select(vec![
                "A1", "#EduSkyChat", "#eduskychat", "#EDUSKYCHAT", "EduSkyChat", "#EduSkyChatter",
                "x#EduSkyChat", "#Edu", "SkyChat", "été", "🎓", " ", "\"",
            ]), 0..5),
            tags in proptest::option::of(proptest::sample::select(vec!["eduskychat", "EduSky", "x"])),
            reply in proptest::option::of(proptest::sample::select(vec![
                "at://did:plc:bot/app.bsky.feed.post/q1",
                "at://did:plc:bot/app.bsky.feed.post/elsewhere",
                "at://did:plc:c/app.bsky.feed.post/x",
            ])),
        ) {
            let mut filter = Filter::new(Hashtag::parse("EduSkyChat").unwrap());
            filter.watch_thread("at://did:plc:bot/app.bsky.feed.post/q1");
            filter.remember("at://did:plc:a/app.bsky.feed.post/known");
            let mut record = post(&words.concat());
            if let Some(tag) = tags {
                record["tags"] = json!([tag]);
            }
            if let Some(uri) = reply {
                let strong = json!({"uri": uri, "cid": "bafyq"});
                record["reply"] = json!({"root": strong, "parent": strong});
            }
            let raw = frame(did, op, rkey, (op != "delete").then_some(record));
            if kept_by_the_full_judgement(&filter, &raw) {
                proptest::prop_assert!(filter.may_concern(&raw), "dropped unread: {}", raw);
            }
        }
    }
}
