//! The `app.bsky.feed.post` record as hashchat writes and reads it, strong
//! references, and record keys derived from (chat, run, post) so that a
//! resend after a crash writes the same record instead of a second post.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::facets::Facet;

pub const POST: &str = "app.bsky.feed.post";
pub const PROFILE: &str = "app.bsky.actor.profile";

/// `com.atproto.repo.strongRef`: a record pinned to one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StrongRef {
    pub uri: String,
    pub cid: String,
}

/// `app.bsky.feed.post#replyRef`: the thread's first post and the post
/// answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyRef {
    pub root: StrongRef,
    pub parent: StrongRef,
}

/// An `app.bsky.feed.post` record. Unknown fields of posts written by other
/// clients are ignored on reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostRecord {
    #[serde(rename = "$type", default = "post_type")]
    pub kind: String,
    pub text: String,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub facets: Vec<Facet>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub langs: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<ReplyRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embed: Option<Value>,
    /// Extra hashtags not in the text (the lexicon's `tags`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

fn post_type() -> String {
    POST.to_string()
}

impl PostRecord {
    pub fn new(text: impl Into<String>, created_at: DateTime<Utc>) -> Self {
        Self {
            kind: post_type(),
            text: text.into(),
            created_at: created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            facets: Vec::new(),
            langs: Vec::new(),
            reply: None,
            embed: None,
            tags: Vec::new(),
        }
    }
}

/// An image to attach: the blob `uploadBlob` returned and its alt text.
#[derive(Debug, Clone)]
pub struct Image {
    pub blob: Value,
    pub alt: String,
}

/// `app.bsky.embed.images` for up to four images.
pub fn images_embed(images: &[Image]) -> Value {
    let images: Vec<Value> = images
        .iter()
        .take(4)
        .map(|i| serde_json::json!({"image": i.blob, "alt": i.alt}))
        .collect();
    serde_json::json!({"$type": "app.bsky.embed.images", "images": images})
}

/// `at://did/collection/rkey` split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtUri {
    pub did: String,
    pub collection: String,
    pub rkey: String,
}

impl AtUri {
    pub fn parse(uri: &str) -> Option<Self> {
        let mut parts = uri.strip_prefix("at://")?.splitn(3, '/');
        let (did, collection, rkey) = (parts.next()?, parts.next()?, parts.next()?);
        (!did.is_empty() && !collection.is_empty() && !rkey.is_empty()).then(|| Self {
            did: did.into(),
            collection: collection.into(),
            rkey: rkey.into(),
        })
    }

    pub fn post(did: &str, rkey: &str) -> String {
        format!("at://{did}/{POST}/{rkey}")
    }
}

/// The record key of post `seq` of the run of `chat` starting at `start`:
/// a valid TID (the key type of `app.bsky.feed.post`), the same for the
/// same three values. Its time is the run's start plus `seq` µs, its clock
/// id a hash of the chat, so the keys of one run sort in posting order and
/// two chats starting at the same second do not collide.
pub fn record_key(chat: &str, start: DateTime<Utc>, seq: u32) -> String {
    let micros = start.timestamp_micros().max(0) as u64 + u64::from(seq);
    let clock = fnv1a(chat.as_bytes()) & 0x3FF;
    tid(micros, clock)
}

/// The record key of the post with `idempotency_key` (the daemon's, stable
/// per chat, run and post, `<run>-<seq>`): a valid TID whose time is a hash
/// of the run's part plus `seq` µs, so a resend after a crash finds the
/// record written the first time and a run's posts sort in posting order.
/// The time lies within 2^40 µs (about 12 days) after 2024-01-01; its
/// clock id is ten more bits of the hash.
pub fn key_for(idempotency_key: &str) -> String {
    const BASE_US: u64 = 1_704_067_200_000_000;
    let (run, seq) = match idempotency_key.rsplit_once('-') {
        Some((run, seq)) if !run.is_empty() => match seq.parse::<u16>() {
            Ok(seq) => (run, u64::from(seq)),
            Err(_) => (idempotency_key, 0),
        },
        _ => (idempotency_key, 0),
    };
    let hash = fnv1a(run.as_bytes());
    tid(
        BASE_US + (hash & ((1 << 40) - 1)) + seq,
        (hash >> 40) & 0x3FF,
    )
}

/// A TID: 64 bits (top bit 0, 53 bits of µs since the epoch, 10 bits of
/// clock id) as 13 characters of base32-sortable.
fn tid(micros: u64, clock: u64) -> String {
    const ALPHABET: &[u8; 32] = b"234567abcdefghijklmnopqrstuvwxyz";
    let value = ((micros & ((1 << 53) - 1)) << 10) | (clock & 0x3FF);
    (0..13)
        .rev()
        .map(|i| ALPHABET[((value >> (i * 5)) & 0x1F) as usize] as char)
        .collect()
}

/// FNV-1a: stable across builds and platforms, unlike std's hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Whether `rkey` has TID syntax.
pub fn is_tid(rkey: &str) -> bool {
    rkey.len() == 13
        && rkey.starts_with(|c: char| matches!(c, '2'..='7' | 'a'..='j'))
        && rkey.chars().all(|c| matches!(c, '2'..='7' | 'a'..='z'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start() -> DateTime<Utc> {
        "2026-12-07T20:00:00Z".parse().unwrap()
    }

    #[test]
    fn record_keys_are_tids_stable_per_post_and_distinct_across_posts_and_chats() {
        let key = record_key("eduskychat", start(), 3);
        assert!(is_tid(&key), "{key}");
        assert_eq!(key, record_key("eduskychat", start(), 3));
        assert_ne!(key, record_key("eduskychat", start(), 4));
        assert_ne!(key, record_key("tlskychat", start(), 3));
        assert!(record_key("eduskychat", start(), 1) < record_key("eduskychat", start(), 2));
    }

    #[test]
    fn keys_from_idempotency_keys_are_tids_stable_and_distinct() {
        let key = key_for("1qedchat-2026-12-07T20:00:00Z-3");
        assert!(is_tid(&key), "{key}");
        assert_eq!(key, key_for("1qedchat-2026-12-07T20:00:00Z-3"));
        assert_ne!(key, key_for("1qedchat-2026-12-07T20:00:00Z-4"));
        assert!(
            key < key_for("1qedchat-2026-12-07T20:00:00Z-4"),
            "in posting order"
        );
        assert_ne!(key, key_for("1qedchat-2026-12-14T20:00:00Z-3"));
        assert!(is_tid(&key_for(
            "hashchat:reply:at://did:plc:a/app.bsky.feed.post/x"
        )));
    }

    #[test]
    fn a_tid_matches_the_reference_encoding() {
        // 0 µs with clock id 0 is all zeros: "2222222222222".
        assert_eq!(tid(0, 0), "2222222222222");
        assert_eq!(tid(0, 31), "222222222222z");
        // 63 bits in 13 five-bit digits: the first digit is at most 7 (`b`).
        assert_eq!(tid((1 << 53) - 1, 0x3FF), "bzzzzzzzzzzzz");
    }

    #[test]
    fn at_uris_split_into_did_collection_and_key() {
        let uri = AtUri::parse("at://did:plc:abc/app.bsky.feed.post/3kabc").unwrap();
        assert_eq!(
            (uri.did.as_str(), uri.collection.as_str(), uri.rkey.as_str()),
            ("did:plc:abc", POST, "3kabc")
        );
        assert_eq!(AtUri::parse("https://bsky.app/x"), None);
    }
}
