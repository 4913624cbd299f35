//! Bluesky posts as the statuses the rest of hashchat reads: the at-uri as
//! id and uri, the link on bsky.app, the DID as account id and the handle
//! as `acct`, tags from facets and the record's `tags`, the text as HTML.

use chrono::{DateTime, Utc};

use super::facets::Feature;
use super::record::{AtUri, Image, PostRecord, POST};
use crate::network::status::Tag;
use crate::network::{Account, NetError, Status};

/// The link people open: `https://bsky.app/profile/<handle>/post/<rkey>`.
pub fn post_link(handle: &str, uri: &str) -> String {
    let rkey = AtUri::parse(uri).map_or_else(String::new, |u| u.rkey);
    format!("https://bsky.app/profile/{handle}/post/{rkey}")
}

/// A post as a status: id and uri are the at-uri, the link is on bsky.app,
/// the account id the DID and its `acct` the handle.
pub(super) fn status_of(
    uri: &str,
    did: &str,
    handle: &str,
    record: &PostRecord,
    edited_at: Option<DateTime<Utc>>,
) -> Status {
    let mut tags: Vec<Tag> = record
        .facets
        .iter()
        .flat_map(|f| &f.features)
        .filter_map(|f| match f {
            Feature::Tag { tag } => Some(Tag { name: tag.clone() }),
            _ => None,
        })
        .collect();
    tags.extend(record.tags.iter().map(|t| Tag { name: t.clone() }));
    let created_at = DateTime::parse_from_rfc3339(&record.created_at)
        .map_or_else(|_| Utc::now(), |t| t.with_timezone(&Utc));
    Status {
        id: uri.to_string(),
        uri: uri.to_string(),
        url: Some(post_link(handle, uri)),
        account: Account {
            id: did.to_string(),
            acct: handle.to_string(),
            display_name: String::new(),
            url: Some(format!("https://bsky.app/profile/{handle}")),
            bot: false,
        },
        content: to_html(&record.text),
        created_at,
        edited_at,
        in_reply_to_id: record.reply.as_ref().map(|r| r.parent.uri.clone()),
        visibility: "public".into(),
        reblog: None,
        tags,
        favourites_count: 0,
        reblogs_count: 0,
    }
}

/// Plain text as the HTML the rest of hashchat reads statuses in.
fn to_html(text: &str) -> String {
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\n', "<br>");
    format!("<p>{escaped}</p>")
}

/// How far a new post's own `createdAt` may be from when Jetstream saw it.
const SKEW: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// The date of a post Jetstream saw created at `time_us`: its `createdAt`
/// while that is within [`SKEW`] of `time_us`, else `time_us`.
///
/// `createdAt` is set by the participant's app, so a device whose clock is
/// off would date an answer outside the run and drop it; `time_us` is the
/// relay's clock. Not always `time_us`: `createdAt` is what the appview
/// shows and what a thread read (which has no `time_us`) dates the same
/// post by, so keeping it when it is plausible keeps both paths agreeing.
/// Only for a create: an update's `time_us` is the edit's time.
pub(super) fn arrival_date(created_at: DateTime<Utc>, time_us: u64) -> DateTime<Utc> {
    let seen = micros_to_time(time_us);
    if (created_at - seen).abs() > SKEW {
        seen
    } else {
        created_at
    }
}

pub(super) fn micros_to_time(time_us: u64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(time_us as i64).unwrap_or_else(Utc::now)
}

/// An uploaded image travels as its "media id": the blob and alt as JSON.
pub(super) fn image_id(image: &Image) -> String {
    serde_json::json!({"blob": image.blob, "alt": image.alt}).to_string()
}

pub(super) fn image_of(id: &str) -> Result<Image, NetError> {
    let value: serde_json::Value =
        serde_json::from_str(id).map_err(|e| NetError::Decode(format!("a media id: {e}")))?;
    Ok(Image {
        blob: value["blob"].clone(),
        alt: value["alt"].as_str().unwrap_or_default().to_string(),
    })
}

/// Which post a Bluesky post is: the collection must be the feed's.
pub fn is_post_uri(uri: &str) -> bool {
    AtUri::parse(uri).is_some_and(|u| u.collection == POST)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::bluesky::{ByteSlice, Facet};

    #[test]
    fn a_post_maps_to_a_status_with_its_at_uri_bsky_app_link_and_tags() {
        let mut record = PostRecord::new("A1 <b> & #EduSkyChat\nyes", Utc::now());
        record.tags = vec!["extra".into()];
        record.facets = vec![Facet {
            index: ByteSlice {
                byte_start: 11,
                byte_end: 22,
            },
            features: vec![Feature::Tag {
                tag: "EduSkyChat".into(),
            }],
        }];
        let uri = "at://did:plc:alice/app.bsky.feed.post/3kabc";
        let status = status_of(uri, "did:plc:alice", "alice.test", &record, None);
        assert_eq!(status.id, uri);
        assert_eq!(
            status.url.as_deref(),
            Some("https://bsky.app/profile/alice.test/post/3kabc")
        );
        assert_eq!(status.account.acct, "alice.test");
        assert_eq!(status.text(), "A1 <b> & #EduSkyChat\nyes");
        let tags: Vec<&str> = status.tags.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(tags, ["EduSkyChat", "extra"]);
        assert!(is_post_uri(uri));
    }

    #[test]
    fn a_new_post_from_a_skewed_clock_is_dated_when_jetstream_saw_it() {
        let at = |t: &str| t.parse::<DateTime<Utc>>().unwrap();
        let seen = at("2026-12-07T20:10:00Z");
        let time_us = seen.timestamp_micros() as u64;
        let cases = [
            (
                "2026-12-07T20:09:58Z",
                "2026-12-07T20:09:58Z",
                "a few seconds early",
            ),
            (
                "2026-12-07T20:14:00Z",
                "2026-12-07T20:14:00Z",
                "four minutes late",
            ),
            (
                "2026-12-07T19:10:00Z",
                "2026-12-07T20:10:00Z",
                "an hour slow",
            ),
            ("2026-12-08T20:10:00Z", "2026-12-07T20:10:00Z", "a day fast"),
        ];
        for (created, want, case) in cases {
            assert_eq!(arrival_date(at(created), time_us), at(want), "{case}");
        }
    }
}
