//! Bluesky behind the daemon's [`Social`] trait: AT records mapped to
//! statuses (id and uri the at-uri, links on bsky.app), posts written
//! exactly once under a record key derived from the post's idempotency key
//! and threaded with strong refs, answers and mentions from Jetstream, and
//! missed replies from the appview's threads.
//!
//! What Bluesky lacks is said here, not hidden: there is no tag timeline a
//! bot may read (`searchPosts` is not for bots), so reconciliation rests on
//! the Jetstream cursor and on thread reads; no DMs (another service), so
//! moderators are answered by a mention reply; no visibility but public.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use url::Url;

use super::record::{key_for, AtUri, PostRecord, ReplyRef, StrongRef};
use super::status::{arrival_date, image_id, image_of, micros_to_time, status_of};
use super::{BlueskyClient, Filter, JetPost, MAX_GRAPHEMES};
use crate::chats::Hashtag;
use crate::network::{Account, HashtagStream, Instance, NetError, NewPost, Page, Social, Status};

/// Where the Jetstream cursors live between runs (the database in the
/// daemon), so a restarted process resumes where the last one read
/// instead of missing what was posted while it was down.
#[async_trait]
pub trait CursorStore: Send + Sync {
    async fn load_cursor(&self, feed: &str) -> std::io::Result<Option<u64>>;
    async fn save_cursor(&self, feed: &str, time_us: u64) -> std::io::Result<()>;
}

/// One Bluesky account as a [`Social`]; cheap to share behind an `Arc`.
pub struct BlueskyPlatform {
    inner: Arc<Inner>,
}

struct Inner {
    client: Arc<BlueskyClient>,
    jetstream: Url,
    /// The bot's handle, as configured.
    handle: String,
    known: Mutex<Known>,
    cursors: Option<Arc<dyn CursorStore>>,
    /// Where new subscribers reach the account's one Jetstream socket,
    /// while it runs (`socket.rs`).
    socket: socket::Slot,
}

/// What the platform learnt and keeps for the life of the process.
#[derive(Default)]
struct Known {
    /// at-uri → (cid, the thread's root): what a reply to it needs.
    refs: HashMap<String, (String, StrongRef)>,
    /// DID → handle (Jetstream carries DIDs only).
    handles: HashMap<String, String>,
    /// The account's Jetstream `time_us` cursor: a reopened socket
    /// resumes there, rewound a few seconds.
    cursor: Option<u64>,
    /// The bot self-label was checked once in this process.
    labelled: bool,
}

#[derive(Deserialize)]
struct Profile {
    handle: String,
}

impl BlueskyPlatform {
    /// `jetstream` is the Jetstream host (`wss://…`, `ws://` locally);
    /// `handle` the bot's own.
    pub fn new(client: Arc<BlueskyClient>, jetstream: Url, handle: impl Into<String>) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                jetstream,
                handle: handle.into(),
                known: Mutex::default(),
                cursors: None,
                socket: socket::Slot::default(),
            }),
        }
    }

    /// Keeps the Jetstream cursors in `cursors` too, read back when a
    /// stream opens for the first time in this process.
    pub fn with_cursors(mut self, cursors: Arc<dyn CursorStore>) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.cursors = Some(cursors);
        }
        self
    }

    pub fn client(&self) -> &BlueskyClient {
        &self.inner.client
    }
}

impl std::fmt::Debug for BlueskyPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlueskyPlatform")
            .field("client", &self.inner.client)
            .field("jetstream", &self.inner.jetstream.as_str())
            .finish_non_exhaustive()
    }
}

mod socket;

use socket::Feed;

impl Inner {
    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The handle of `did`, asked of the appview once; the DID itself when
    /// it does not answer (the post still counts).
    async fn handle_of(&self, did: &str) -> String {
        if let Some(handle) = self.known().handles.get(did) {
            return handle.clone();
        }
        let appview = self.client.account().appview.clone();
        let asked = self
            .client
            .public_get::<Profile>(&appview, "app.bsky.actor.getProfile", &[("actor", did)])
            .await;
        match asked {
            Ok(profile) => {
                self.known()
                    .handles
                    .insert(did.to_string(), profile.handle.clone());
                profile.handle
            }
            Err(e) => {
                tracing::warn!(did, "cannot read the handle of an account: {e}");
                did.to_string()
            }
        }
    }

    /// Keeps what a reply to `uri` needs.
    fn remember_ref(&self, uri: &str, cid: &str, record: &PostRecord) {
        let root = record.reply.as_ref().map_or_else(
            || StrongRef {
                uri: uri.to_string(),
                cid: cid.to_string(),
            },
            |r| r.root.clone(),
        );
        self.known()
            .refs
            .insert(uri.to_string(), (cid.to_string(), root));
    }

    /// The status of a post as hashchat reads it.
    async fn status(
        &self,
        uri: &str,
        cid: &str,
        did: &str,
        record: &PostRecord,
        edited_at: Option<DateTime<Utc>>,
    ) -> Status {
        self.remember_ref(uri, cid, record);
        let handle = self.handle_of(did).await;
        status_of(uri, did, &handle, record, edited_at)
    }

    async fn jet_status(&self, post: &JetPost, edited: bool) -> Status {
        let at = edited.then(|| micros_to_time(post.time_us));
        let mut status = self
            .status(&post.uri, &post.cid, &post.did, &post.record, at)
            .await;
        if !edited {
            status.created_at = arrival_date(status.created_at, post.time_us);
        }
        status
    }

    /// Strong refs for a reply to `parent` (an at-uri): the parent and its
    /// thread's root, from memory or read from the network.
    async fn reply_to(&self, parent: &str) -> Result<ReplyRef, NetError> {
        let known = self.known().refs.get(parent).cloned();
        let (cid, root) = match known {
            Some(found) => found,
            None => {
                let at = AtUri::parse(parent)
                    .ok_or_else(|| NetError::Decode(format!("{parent} is not an at:// URI")))?;
                let view = self
                    .client
                    .get_record(&at.did, &at.collection, &at.rkey)
                    .await?
                    .ok_or(NetError::Rejected {
                        status: 404,
                        message: format!("the post answered is gone: {parent}"),
                    })?;
                let cid = view.cid.unwrap_or_default();
                let record: PostRecord = serde_json::from_value(view.value)
                    .map_err(|e| NetError::Decode(e.to_string()))?;
                self.remember_ref(parent, &cid, &record);
                self.known().refs[parent].clone()
            }
        };
        Ok(ReplyRef {
            root,
            parent: StrongRef {
                uri: parent.to_string(),
                cid,
            },
        })
    }

    /// Self-labels the account as a bot once per process; a failure is
    /// logged, never fatal to a post.
    async fn label_once(&self) {
        if std::mem::replace(&mut self.known().labelled, true) {
            return;
        }
        if let Err(e) = self.client.label_as_bot().await {
            tracing::warn!("could not self-label the account as a bot: {e}");
        }
    }
}

fn hashtag(tag: &str) -> Result<Hashtag, NetError> {
    Hashtag::parse(tag).map_err(|e| NetError::Rejected {
        status: 400,
        message: format!("not a hashtag: {e}"),
    })
}

#[async_trait]
impl Social for BlueskyPlatform {
    /// Bluesky's post limit (300 graphemes) and the PDS's host.
    async fn instance(&self) -> Result<Instance, NetError> {
        let pds = &self.inner.client.account().pds;
        Ok(Instance {
            domain: pds.host_str().unwrap_or_default().to_string(),
            max_characters: MAX_GRAPHEMES,
        })
    }

    async fn me(&self) -> Result<Account, NetError> {
        let did = self.inner.client.did().await?;
        let handle = &self.inner.handle;
        Ok(Account {
            id: did,
            acct: handle.clone(),
            display_name: String::new(),
            url: Some(format!("https://bsky.app/profile/{handle}")),
            bot: true,
        })
    }

    /// `putRecord` under a key derived from the idempotency key (a resend
    /// returns the first record); a reply threads under its parent's root.
    /// Visibility has no meaning on Bluesky: every post is public.
    async fn post(&self, post: &NewPost) -> Result<Status, NetError> {
        let inner = &self.inner;
        inner.label_once().await;
        let reply = match &post.in_reply_to_id {
            Some(parent) => Some(inner.reply_to(parent).await?),
            None => None,
        };
        let images = post
            .media_ids
            .iter()
            .map(|id| image_of(id))
            .collect::<Result<_, _>>()?;
        let new = super::NewPost {
            text: post.text.clone(),
            langs: post.language.iter().cloned().collect(),
            reply,
            images,
            rkey: key_for(&post.idempotency_key),
            created_at: Utc::now(),
        };
        let written = inner.client.publish(&new).await?;
        let mut record = PostRecord::new(&new.text, new.created_at);
        record.reply = new.reply.clone();
        let did = inner.client.did().await?;
        inner.remember_ref(&written.uri, &written.cid, &record);
        Ok(status_of(&written.uri, &did, &inner.handle, &record, None))
    }

    /// The post `id` (an at-uri) from the appview, which serves every
    /// account's posts (the bot's PDS holds only its own repository).
    async fn status(&self, id: &str) -> Result<Option<Status>, NetError> {
        if AtUri::parse(id).is_none() {
            return Ok(None);
        }
        let Some(post) = self.inner.client.post_view(id).await? else {
            return Ok(None);
        };
        self.inner
            .known()
            .handles
            .insert(post.author_did.clone(), post.author_handle.clone());
        let status = self
            .inner
            .status(&post.uri, &post.cid, &post.author_did, &post.record, None)
            .await;
        Ok(Some(status))
    }

    /// Always empty: Bluesky has no tag timeline a bot may read
    /// (`searchPosts` is not for bots). The Jetstream cursor and the
    /// thread reads are what catch what a stream missed.
    async fn tag_timeline(&self, _tag: &str, _page: &Page) -> Result<Vec<Status>, NetError> {
        Ok(Vec::new())
    }

    /// Every reply below the post `id` (an at-uri), from the appview's
    /// `getPostThread`; a post that is gone answers 404.
    async fn replies(&self, id: &str) -> Result<Vec<Status>, NetError> {
        let Some(thread) = self.inner.client.post_thread(id).await? else {
            return Err(NetError::Rejected {
                status: 404,
                message: format!("the post is gone: {id}"),
            });
        };
        let mut out = Vec::new();
        for post in thread.into_iter().skip(1) {
            self.inner
                .known()
                .handles
                .insert(post.author_did.clone(), post.author_handle.clone());
            let status = self
                .inner
                .status(&post.uri, &post.cid, &post.author_did, &post.record, None)
                .await;
            out.push(status);
        }
        Ok(out)
    }

    /// Empty: a post is written exactly once by its record key, so a
    /// restarted run never needs to find what it sent.
    async fn account_statuses(
        &self,
        _account_id: &str,
        _page: &Page,
    ) -> Result<Vec<Status>, NetError> {
        Ok(Vec::new())
    }

    /// Jetstream's posts that carry `tag` (facet, `tags` or text) or reply
    /// to one of the bot's posts; edits and deletes of those. Reconnects
    /// by itself, rewinding the cursor.
    async fn hashtag_stream(&self, tag: &str) -> Result<HashtagStream, NetError> {
        let hashtag = hashtag(tag)?;
        let name = format!("tag {}", hashtag.as_str().to_lowercase());
        let mut filter = Filter::new(hashtag);
        filter.watch_replies_to(&self.inner.client.did().await?);
        Ok(self.inner.open(filter, Feed::Tag, name).await)
    }

    /// Jetstream's posts that mention the bot's DID, as `Mention`s.
    async fn user_stream(&self) -> Result<HashtagStream, NetError> {
        let did = self.inner.client.did().await?;
        let filter = Filter::mentioning(&did);
        Ok(self
            .inner
            .open(filter, Feed::Mentions, "mentions".into())
            .await)
    }

    async fn upload_media(&self, path: &Path, description: &str) -> Result<String, NetError> {
        let image = self.inner.client.upload_image(path, description).await?;
        Ok(image_id(&image))
    }

    /// None to read back: mentions come from the stream only (Bluesky's
    /// notifications need the bot's session on the appview).
    async fn mentions(&self, _since_id: Option<&str>) -> Result<Vec<(String, Status)>, NetError> {
        Ok(Vec::new())
    }
}
