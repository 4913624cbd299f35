//! A Jetstream consumer: `app.bsky.feed.post` commits as typed events,
//! filtered as early as possible to the chat's posts, with the `time_us`
//! cursor kept so a dropped connection resumes where it was.
//!
//! After a drop it reconnects by itself with the cursor rewound a few
//! seconds (events near a drop may not have reached us), and a window of
//! the keys it yielded makes sure nothing is yielded twice. A full day of
//! the public Jetstream is ~2 GB: frames that cannot concern the chat are
//! dropped before they are decoded.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use futures_util::StreamExt;
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use url::Url;

use super::facets::Feature;
use super::record::{AtUri, PostRecord, POST};
use crate::chats::Hashtag;
use crate::network::{Backoff, NetError, Trust};

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
    ascii_needle: Option<Vec<u8>>,
    /// Questions (at-uris): replies to them count without the hashtag.
    threads: HashSet<String>,
    /// `at://<did>/`: replies to any post of that account count.
    replies_to: Option<String>,
    /// Only posts whose facets mention this DID count (the bot's mentions).
    mention_of: Option<String>,
    /// Posts already yielded or known to the run: their edits and deletes.
    known: HashSet<String>,
    known_order: VecDeque<String>,
}

impl Filter {
    pub fn new(hashtag: Hashtag) -> Self {
        let ascii_needle = hashtag
            .as_str()
            .is_ascii()
            .then(|| hashtag.as_str().to_ascii_lowercase().into_bytes());
        Self {
            hashtag: Some(hashtag),
            ascii_needle,
            threads: HashSet::new(),
            replies_to: None,
            mention_of: None,
            known: HashSet::new(),
            known_order: VecDeque::new(),
        }
    }

    /// Posts that mention `did` in their facets or reply to one of its
    /// posts, and nothing else.
    pub fn mentioning(did: &str) -> Self {
        Self {
            hashtag: None,
            ascii_needle: Some(did.to_ascii_lowercase().into_bytes()),
            threads: HashSet::new(),
            replies_to: None,
            mention_of: Some(did.to_string()),
            known: HashSet::new(),
            known_order: VecDeque::new(),
        }
    }

    /// Replies to `uri` (a question) count from now on.
    pub fn watch_thread(&mut self, uri: impl Into<String>) {
        self.threads.insert(uri.into());
    }

    /// Replies to any post of `did` (the bot) count, without the hashtag:
    /// questions posted after the stream opened included.
    pub fn watch_replies_to(&mut self, did: &str) {
        self.replies_to = Some(format!("at://{did}/"));
    }

    /// `uri` is the chat's (an answer stored before a restart): its edits
    /// and deletes are passed on.
    pub fn remember(&mut self, uri: impl Into<String>) {
        let uri = uri.into();
        if self.known.insert(uri.clone()) {
            self.known_order.push_back(uri);
            if self.known_order.len() > KNOWN_LIMIT {
                if let Some(old) = self.known_order.pop_front() {
                    self.known.remove(&old);
                }
            }
        }
    }

    /// Whether a raw frame may concern the chat, without decoding it.
    fn may_concern(&self, raw: &str) -> bool {
        let Some(needle) = &self.ascii_needle else {
            return true;
        };
        if self.mention_of.is_some() {
            return contains_ignore_ascii_case(raw.as_bytes(), needle);
        }
        let replies = !self.threads.is_empty() || self.replies_to.is_some();
        raw.contains("\"delete\"")
            || (!self.known.is_empty() && raw.contains("\"update\""))
            || (replies && raw.contains("\"reply\""))
            || contains_ignore_ascii_case(raw.as_bytes(), needle)
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

fn contains_ignore_ascii_case(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
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

/// The consumer. `next()` yields the chat's events for as long as it is
/// polled, reconnecting by itself; drop it to stop.
pub struct Jetstream {
    base: Url,
    filter: Filter,
    cursor: Option<u64>,
    socket: Option<WebSocketStream<MaybeTlsStream<TcpStream>>>,
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
            filter,
            cursor,
            socket: None,
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

    pub fn filter_mut(&mut self) -> &mut Filter {
        &mut self.filter
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
            if let Some(event) = self.accept(frame.as_str()) {
                return Ok(event);
            }
        }
    }

    async fn connect(&mut self) -> Result<(), NetError> {
        let url = self.subscribe_url()?;
        loop {
            let connector = match &self.trust {
                Some(trust) => trust.connector(&url),
                None => crate::network::tls::connector_for(&url)?,
            };
            match tokio_tungstenite::connect_async_tls_with_config(
                url.as_str(),
                None,
                false,
                connector,
            )
            .await
            {
                Ok((socket, _)) => {
                    self.connections += 1;
                    tracing::info!(url = %url, "Jetstream connected");
                    self.socket = Some(socket);
                    return Ok(());
                }
                Err(err) => {
                    let delay = self.backoff.next_delay();
                    tracing::warn!(error = %err, delay_ms = delay.as_millis() as u64,
                        "Jetstream connection failed; retrying");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    fn dropped(&mut self, why: &str) {
        tracing::warn!(why, cursor = ?self.cursor, "Jetstream connection dropped; reconnecting");
        self.socket = None;
    }

    /// Reads one frame: advances the cursor, and returns it as an event
    /// when it is the chat's and was not yielded before.
    fn accept(&mut self, raw: &str) -> Option<JetEvent> {
        let cheap = self.filter.may_concern(raw);
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
        let event = match (commit.operation.as_str(), commit.record, commit.cid) {
            ("delete", _, _) => {
                let ours = self.filter.known.contains(&uri) || self.filter.threads.contains(&uri);
                ours.then(|| JetEvent::Deleted {
                    uri: uri.clone(),
                    did: frame.did,
                    rkey: commit.rkey,
                    time_us: frame.time_us,
                })?
            }
            (op @ ("create" | "update"), Some(record), Some(cid)) => {
                let ours = self.filter.concerns(&record)
                    || (op == "update" && self.filter.known.contains(&uri));
                if !ours {
                    return None;
                }
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
        self.filter.remember(uri);
        Some(event)
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
}
