//! Public reads from the appview: a post's thread (`getPostThread`), to
//! catch replies the Jetstream socket missed. No token is sent there.

use serde::Deserialize;
use serde_json::Value;

use super::client::BlueskyClient;
use super::record::PostRecord;
use crate::network::NetError;

/// One post of a thread, flattened.
#[derive(Debug, Clone)]
pub struct ThreadPost {
    pub uri: String,
    pub cid: String,
    pub author_did: String,
    pub author_handle: String,
    pub record: PostRecord,
    /// The post it answers (`None` for the thread's root as read).
    pub parent_uri: Option<String>,
}

#[derive(Deserialize)]
struct Answer {
    thread: Value,
}

#[derive(Deserialize)]
struct Posts {
    posts: Vec<PostView>,
}

#[derive(Deserialize)]
struct PostView {
    uri: String,
    cid: String,
    author: Author,
    record: PostRecord,
}

#[derive(Deserialize)]
struct Author {
    did: String,
    handle: String,
}

impl BlueskyClient {
    /// The post at `uri` and every reply below it, parents before children;
    /// `Ok(None)` when the post is gone. Deleted or blocked replies are
    /// left out.
    pub async fn post_thread(&self, uri: &str) -> Result<Option<Vec<ThreadPost>>, NetError> {
        let appview = self.account().appview.clone();
        let query = [("uri", uri), ("depth", "1000"), ("parentHeight", "0")];
        let answer = self
            .public_get::<Answer>(&appview, "app.bsky.feed.getPostThread", &query)
            .await;
        let thread = match answer {
            Ok(answer) => answer.thread,
            Err(NetError::Rejected { message, .. }) if message.starts_with("NotFound") => {
                return Ok(None)
            }
            Err(err) => return Err(err),
        };
        let mut posts = Vec::new();
        flatten(&thread, None, &mut posts);
        Ok((!posts.is_empty()).then_some(posts))
    }
}

impl BlueskyClient {
    /// The post at `uri` as the appview has it now (`getPosts`), from any
    /// account's repository; `Ok(None)` when it is gone.
    pub async fn post_view(&self, uri: &str) -> Result<Option<ThreadPost>, NetError> {
        let appview = self.account().appview.clone();
        let answer: Posts = self
            .public_get(&appview, "app.bsky.feed.getPosts", &[("uris", uri)])
            .await?;
        Ok(answer
            .posts
            .into_iter()
            .find(|p| p.uri == uri)
            .map(|view| ThreadPost {
                uri: view.uri,
                cid: view.cid,
                author_did: view.author.did,
                author_handle: view.author.handle,
                record: view.record,
                parent_uri: None,
            }))
    }
}

/// Walks `app.bsky.feed.defs#threadViewPost` nodes depth first; any other
/// node (`#notFoundPost`, `#blockedPost`) ends its branch.
fn flatten(node: &Value, parent: Option<&str>, out: &mut Vec<ThreadPost>) {
    if node["$type"] != "app.bsky.feed.defs#threadViewPost" {
        return;
    }
    let Ok(view) = serde_json::from_value::<PostView>(node["post"].clone()) else {
        tracing::debug!("skipping a thread post that does not decode");
        return;
    };
    let uri = view.uri.clone();
    out.push(ThreadPost {
        uri: view.uri,
        cid: view.cid,
        author_did: view.author.did,
        author_handle: view.author.handle,
        record: view.record,
        parent_uri: parent.map(str::to_owned),
    });
    for reply in node["replies"].as_array().into_iter().flatten() {
        flatten(reply, Some(&uri), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn view(uri: &str, text: &str, replies: Vec<Value>) -> Value {
        json!({"$type": "app.bsky.feed.defs#threadViewPost",
            "post": {"uri": uri, "cid": "bafy", "author": {"did": "did:plc:a", "handle": "a.test"},
                     "record": {"$type": "app.bsky.feed.post", "text": text, "createdAt": "2026-12-07T20:00:00Z"},
                     "indexedAt": "2026-12-07T20:00:00Z"},
            "replies": replies})
    }

    #[test]
    fn a_thread_flattens_parents_first_and_skips_missing_posts() {
        let thread = view(
            "at://q",
            "Q1",
            vec![
                view("at://a1", "A1", vec![view("at://a2", "A2", vec![])]),
                json!({"$type": "app.bsky.feed.defs#notFoundPost", "uri": "at://gone", "notFound": true}),
            ],
        );
        let mut posts = Vec::new();
        flatten(&thread, None, &mut posts);
        let got: Vec<_> = posts
            .iter()
            .map(|p| (p.uri.as_str(), p.parent_uri.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("at://q", None),
                ("at://a1", Some("at://q")),
                ("at://a2", Some("at://a1"))
            ]
        );
    }
}
