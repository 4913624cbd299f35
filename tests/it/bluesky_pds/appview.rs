//! A small appview for the real PDS, which runs offline without one: `app.bsky.feed.getPostThread`
//! and `app.bsky.actor.getProfile`, answered from the bridge's reads of the PDS's repositories
//! (`jetstream_bridge.rs`), read afresh before each answer so a thread read sees every post made
//! before it. Only what hashchat reads is served: no likes, no reposts, no blocks.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::jetstream_bridge::{BridgeState, Shared};

type Params = Query<BTreeMap<String, String>>;

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/xrpc/app.bsky.feed.getPostThread", get(post_thread))
        .route("/xrpc/app.bsky.actor.getProfile", get(profile))
}

fn not_found(message: String) -> Response {
    let body = json!({"error": "NotFound", "message": message});
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

async fn post_thread(State(shared): State<Arc<Shared>>, Query(query): Params) -> Response {
    let Some(uri) = query.get("uri") else {
        return (StatusCode::BAD_REQUEST, "uri is required").into_response();
    };
    shared.sync().await;
    let state = shared.state();
    match thread_view(&state, uri) {
        Some(thread) => Json(json!({"thread": thread})).into_response(),
        None => not_found(format!("Post not found: {uri}")),
    }
}

/// The post at `uri` and every reply below it, as `#threadViewPost` nodes.
fn thread_view(state: &BridgeState, uri: &str) -> Option<Value> {
    let (cid, record) = state.posts.get(uri)?;
    let did = uri.trim_start_matches("at://").split('/').next()?;
    let handle = state
        .handles
        .get(did)
        .map_or("handle.invalid", String::as_str);
    let replies: Vec<Value> = state
        .posts
        .iter()
        .filter(|(_, (_, r))| r["reply"]["parent"]["uri"] == uri)
        .filter_map(|(child, _)| thread_view(state, child))
        .collect();
    Some(json!({"$type": "app.bsky.feed.defs#threadViewPost",
        "post": {"uri": uri, "cid": cid, "author": {"did": did, "handle": handle},
                 "record": record, "indexedAt": record["createdAt"]},
        "replies": replies}))
}

async fn profile(State(shared): State<Arc<Shared>>, Query(query): Params) -> Response {
    let actor = query.get("actor").cloned().unwrap_or_default();
    shared.sync().await;
    let state = shared.state();
    let found = state
        .handles
        .iter()
        .find(|(did, handle)| **did == actor || **handle == actor);
    match found {
        Some((did, handle)) => Json(json!({"did": did, "handle": handle})).into_response(),
        None => not_found(format!("Profile not found: {actor}")),
    }
}
