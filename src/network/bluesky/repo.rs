//! Writes and reads of the bot's own repository on its PDS: posts (exactly
//! once, by record key), records, image blobs, and the bot self-label.

use std::path::Path;

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use super::client::{BlueskyClient, Body, CREATE_POINTS, DELETE_POINTS, UPDATE_POINTS};
use super::facets::{self, Facet, Feature, Found};
use super::record::{images_embed, AtUri, Image, PostRecord, ReplyRef, StrongRef, POST, PROFILE};
use crate::network::NetError;

/// A post the bot publishes.
#[derive(Debug, Clone)]
pub struct NewPost {
    pub text: String,
    /// ISO 639 languages (`language:` in chats.yaml).
    pub langs: Vec<String>,
    /// The thread's root and the post answered, for every post but the first.
    pub reply: Option<ReplyRef>,
    pub images: Vec<Image>,
    /// From [`super::record_key`]: the same post always gets the same key.
    pub rkey: String,
    pub created_at: DateTime<Utc>,
}

/// A record as `getRecord` and `listRecords` return it.
#[derive(Debug, Clone, Deserialize)]
pub struct RecordView {
    pub uri: String,
    #[serde(default)]
    pub cid: Option<String>,
    pub value: Value,
}

#[derive(Debug, Deserialize)]
pub struct RecordPage {
    pub records: Vec<RecordView>,
    #[serde(default)]
    pub cursor: Option<String>,
}

#[derive(Deserialize)]
struct Resolved {
    did: String,
}

#[derive(Deserialize)]
struct Uploaded {
    blob: Value,
}

impl BlueskyClient {
    /// The facets of `text`; a mention whose handle does not resolve is left
    /// as plain text.
    pub async fn facets(&self, text: &str) -> Result<Vec<Facet>, NetError> {
        let mut out = Vec::new();
        for (index, found) in facets::find(text) {
            let feature = match found {
                Found::Tag(tag) => Feature::Tag { tag },
                Found::Link(uri) => Feature::Link { uri },
                Found::Mention(handle) => match self.resolve_handle(&handle).await? {
                    Some(did) => Feature::Mention { did },
                    None => continue,
                },
            };
            out.push(Facet {
                index,
                features: vec![feature],
            });
        }
        Ok(out)
    }

    /// The DID of `handle`, `None` when it does not resolve.
    pub async fn resolve_handle(&self, handle: &str) -> Result<Option<String>, NetError> {
        let pds = self.account().pds.clone();
        let answer = self
            .public_get::<Resolved>(
                &pds,
                "com.atproto.identity.resolveHandle",
                &[("handle", handle)],
            )
            .await;
        match answer {
            Ok(resolved) => Ok(Some(resolved.did)),
            Err(NetError::Rejected { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Publishes `post` exactly once: when a record with its key already
    /// exists (a resend after a crash), that one is returned untouched.
    #[tracing::instrument(skip(self, post), fields(rkey = %post.rkey))]
    pub async fn publish(&self, post: &NewPost) -> Result<StrongRef, NetError> {
        let did = self.did().await?;
        if let Some(existing) = self.get_record(&did, POST, &post.rkey).await? {
            if let Some(cid) = existing.cid {
                tracing::info!(uri = %existing.uri, "already posted; not posting again");
                return Ok(StrongRef {
                    uri: existing.uri,
                    cid,
                });
            }
        }
        let mut record = PostRecord::new(&post.text, post.created_at);
        record.facets = self.facets(&post.text).await?;
        record.langs = post.langs.clone();
        record.reply = post.reply.clone();
        if !post.images.is_empty() {
            record.embed = Some(images_embed(&post.images));
        }
        let record = serde_json::to_value(&record).map_err(|e| NetError::Decode(e.to_string()))?;
        self.spend_write_points(CREATE_POINTS).await;
        self.put_record(&did, POST, &post.rkey, record, None).await
    }

    async fn put_record(
        &self,
        did: &str,
        collection: &str,
        rkey: &str,
        record: Value,
        swap: Option<&str>,
    ) -> Result<StrongRef, NetError> {
        let mut body = json!({
            "repo": did, "collection": collection, "rkey": rkey, "record": record,
        });
        if let Some(cid) = swap {
            body["swapRecord"] = json!(cid);
        }
        self.pds_call(
            Method::POST,
            "com.atproto.repo.putRecord",
            &[],
            Some(Body::Json(body)),
        )
        .await
    }

    /// A record of any repository, `None` when there is none.
    pub async fn get_record(
        &self,
        repo: &str,
        collection: &str,
        rkey: &str,
    ) -> Result<Option<RecordView>, NetError> {
        let pds = self.account().pds.clone();
        let query = [("repo", repo), ("collection", collection), ("rkey", rkey)];
        match self
            .public_get(&pds, "com.atproto.repo.getRecord", &query)
            .await
        {
            Ok(record) => Ok(Some(record)),
            Err(NetError::Rejected { status, message })
                if status == 404 || message.starts_with("RecordNotFound") =>
            {
                Ok(None)
            }
            Err(err) => Err(err),
        }
    }

    /// A page of the bot's records of `collection`, newest first.
    pub async fn list_records(
        &self,
        collection: &str,
        cursor: Option<&str>,
    ) -> Result<RecordPage, NetError> {
        let did = self.did().await?;
        let pds = self.account().pds.clone();
        let mut query = vec![
            ("repo", did.as_str()),
            ("collection", collection),
            ("limit", "100"),
        ];
        query.extend(cursor.map(|c| ("cursor", c)));
        self.public_get(&pds, "com.atproto.repo.listRecords", &query)
            .await
    }

    /// Deletes one of the bot's posts (already gone is fine).
    pub async fn delete_post(&self, uri: &str) -> Result<(), NetError> {
        let at = AtUri::parse(uri)
            .ok_or_else(|| NetError::Decode(format!("{uri} is not an at:// URI")))?;
        let body = json!({"repo": at.did, "collection": at.collection, "rkey": at.rkey});
        self.spend_write_points(DELETE_POINTS).await;
        let _: Value = self
            .pds_call(
                Method::POST,
                "com.atproto.repo.deleteRecord",
                &[],
                Some(Body::Json(body)),
            )
            .await?;
        Ok(())
    }

    /// Uploads an image file with its alt text, for [`NewPost::images`].
    pub async fn upload_image(&self, path: &Path, alt: &str) -> Result<Image, NetError> {
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|e| NetError::Transport(format!("cannot read {}: {e}", path.display())))?;
        let mime = match path.extension().and_then(|e| e.to_str()) {
            Some("png") => "image/png",
            Some("gif") => "image/gif",
            Some("webp") => "image/webp",
            _ => "image/jpeg",
        };
        let uploaded: Uploaded = self
            .pds_call(
                Method::POST,
                "com.atproto.repo.uploadBlob",
                &[],
                Some(Body::Bytes {
                    mime: mime.into(),
                    bytes,
                }),
            )
            .await?;
        Ok(Image {
            blob: uploaded.blob,
            alt: alt.to_string(),
        })
    }

    /// Self-labels the account as automated: the `bot` value in its
    /// profile's self-labels (what Bluesky's apps show as a bot badge),
    /// keeping the rest of the profile. Does nothing when already labelled.
    pub async fn label_as_bot(&self) -> Result<(), NetError> {
        let did = self.did().await?;
        let existing = self.get_record(&did, PROFILE, "self").await?;
        let (mut profile, swap) = match existing {
            Some(view) => (view.value, view.cid),
            None => (json!({"$type": PROFILE}), None),
        };
        if !with_bot_label(&mut profile) {
            return Ok(());
        }
        self.spend_write_points(match swap {
            Some(_) => UPDATE_POINTS,
            None => CREATE_POINTS,
        })
        .await;
        self.put_record(&did, PROFILE, "self", profile, swap.as_deref())
            .await?;
        Ok(())
    }
}

/// Adds the `bot` self-label to a profile record; `false` when it had it.
fn with_bot_label(profile: &mut Value) -> bool {
    let labels = &mut profile["labels"];
    if !labels.is_object() {
        *labels = json!({"$type": "com.atproto.label.defs#selfLabels", "values": []});
    }
    let values = &mut labels["values"];
    if !values.is_array() {
        *values = json!([]);
    }
    let Some(values) = values.as_array_mut() else {
        return false;
    };
    if values.iter().any(|v| v["val"] == "bot") {
        return false;
    }
    values.push(json!({"val": "bot"}));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bot_label_joins_a_profiles_other_labels_once() {
        let mut profile = json!({"$type": PROFILE, "displayName": "Chat bot",
            "labels": {"$type": "com.atproto.label.defs#selfLabels", "values": [{"val": "!no-unauthenticated"}]}});
        assert!(with_bot_label(&mut profile));
        assert!(!with_bot_label(&mut profile));
        assert_eq!(profile["displayName"], "Chat bot");
        assert_eq!(
            profile["labels"]["values"],
            json!([{"val": "!no-unauthenticated"}, {"val": "bot"}])
        );
        let mut bare = json!({"$type": PROFILE});
        assert!(with_bot_label(&mut bare));
        assert_eq!(bare["labels"]["values"], json!([{"val": "bot"}]));
    }
}
