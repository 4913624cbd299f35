//! The XRPC endpoints and the Jetstream socket of the fake.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{validate, Logged, Shared, Stored};

type Params = Query<HashMap<String, String>>;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/xrpc/{nsid}", any(xrpc))
        .route("/subscribe", get(subscribe))
        .layer(middleware::from_fn_with_state(Arc::clone(&shared), log))
        .with_state(shared)
}

async fn log(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    shared.world().requests.push(Logged {
        method: request.method().to_string(),
        path: request.uri().path().to_string(),
        authorized: request.headers().contains_key("authorization"),
    });
    next.run(request).await
}

fn error(status: StatusCode, name: &str, message: &str) -> Response {
    (status, Json(json!({"error": name, "message": message}))).into_response()
}

fn bad(name: &str, message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, name, message)
}

async fn xrpc(
    State(shared): State<Arc<Shared>>,
    Path(nsid): Path<String>,
    Query(query): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let q = |k: &str| query.get(k).cloned().unwrap_or_default();
    match nsid.as_str() {
        "com.atproto.server.createSession" => create_session(&shared, &body),
        "com.atproto.server.refreshSession" => refresh_session(&shared, &headers, &body),
        "com.atproto.identity.resolveHandle" => resolve_handle(&shared, &q("handle")),
        "com.atproto.repo.getRecord" => {
            get_record(&shared, &q("repo"), &q("collection"), &q("rkey"))
        }
        "com.atproto.repo.listRecords" => list_records(&shared, &q("repo"), &q("collection")),
        "app.bsky.feed.getPostThread" => post_thread(&shared, &q("uri")),
        "app.bsky.actor.getProfile" => profile(&shared, &q("actor")),
        "app.bsky.feed.getPosts" => posts(&shared, &q("uris")),
        write => {
            let did = match authorized(&shared, &headers) {
                Ok(did) => did,
                Err(response) => return *response,
            };
            if let Some(reset) = shared.world().throttle_next_write.take() {
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("ratelimit-reset", reset.to_string())],
                    Json(json!({"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"})),
                )
                    .into_response();
            }
            match write {
                "com.atproto.repo.putRecord" | "com.atproto.repo.createRecord" => {
                    put_record(&shared, &did, &body, write.ends_with("createRecord"))
                }
                "com.atproto.repo.deleteRecord" => delete_record(&shared, &did, &body),
                "com.atproto.repo.uploadBlob" => upload_blob(&shared, &headers, &body),
                _ => error(StatusCode::NOT_IMPLEMENTED, "MethodNotImplemented", &nsid),
            }
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    value.strip_prefix("Bearer ").map(str::to_owned)
}

fn authorized(shared: &Shared, headers: &HeaderMap) -> Result<String, Box<Response>> {
    let token = bearer(headers)
        .ok_or_else(|| Box::new(error(StatusCode::UNAUTHORIZED, "AuthMissing", "no token")))?;
    let world = shared.world();
    if world.expired.contains(&token) {
        return Err(Box::new(bad("ExpiredToken", "Token has expired")));
    }
    world.access.get(&token).cloned().ok_or_else(|| {
        Box::new(error(
            StatusCode::UNAUTHORIZED,
            "InvalidToken",
            "unknown token",
        ))
    })
}

fn issue(shared: &Shared, did: &str) -> Response {
    let mut world = shared.world();
    world.next_token += 1;
    let (access, refresh) = (
        format!("access-{}", world.next_token),
        format!("refresh-{}", world.next_token),
    );
    world.access.insert(access.clone(), did.to_string());
    world.refresh.insert(refresh.clone(), did.to_string());
    let handle = world
        .accounts
        .iter()
        .find(|a| a.did == did)
        .map(|a| a.handle.clone())
        .unwrap_or_default();
    drop(world);
    shared.bump();
    Json(json!({"did": did, "handle": handle, "accessJwt": access, "refreshJwt": refresh}))
        .into_response()
}

fn create_session(shared: &Shared, body: &[u8]) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return bad("InvalidRequest", "the body is not JSON");
    };
    let did = {
        let mut world = shared.world();
        world.logins += 1;
        world
            .accounts
            .iter()
            .find(|a| {
                (body["identifier"] == a.handle.as_str() || body["identifier"] == a.did.as_str())
                    && body["password"] == a.password.as_str()
            })
            .map(|a| a.did.clone())
    };
    match did {
        Some(did) => issue(shared, &did),
        None => error(
            StatusCode::UNAUTHORIZED,
            "AuthenticationRequired",
            "Invalid identifier or password",
        ),
    }
}

fn refresh_session(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Response {
    // The real PDS refuses any body here, `{}` included.
    if !body.is_empty() || headers.contains_key("content-type") {
        return bad(
            "InvalidRequest",
            "A request body was provided when none was expected",
        );
    }
    let did = {
        let mut world = shared.world();
        let token = bearer(headers).unwrap_or_default();
        match world.refresh.remove(&token) {
            Some(did) => {
                world.refreshes += 1;
                did
            }
            None => return bad("ExpiredToken", "Token has been revoked"),
        }
    };
    issue(shared, &did)
}

fn resolve_handle(shared: &Shared, handle: &str) -> Response {
    let world = shared.world();
    match world.accounts.iter().find(|a| a.handle == handle) {
        Some(account) => Json(json!({"did": account.did})).into_response(),
        None => bad("HandleNotFound", "Unable to resolve handle"),
    }
}

fn record_json(did: &str, collection: &str, rkey: &str, stored: &Stored) -> Value {
    json!({"uri": format!("at://{did}/{collection}/{rkey}"), "cid": stored.cid, "value": stored.value})
}

fn get_record(shared: &Shared, repo: &str, collection: &str, rkey: &str) -> Response {
    let world = shared.world();
    let key = (repo.to_string(), collection.to_string(), rkey.to_string());
    match world.records.get(&key) {
        Some(stored) => Json(record_json(repo, collection, rkey, stored)).into_response(),
        None => bad("RecordNotFound", "Could not locate record"),
    }
}

fn list_records(shared: &Shared, repo: &str, collection: &str) -> Response {
    let world = shared.world();
    let records: Vec<Value> = world
        .records
        .iter()
        .rev()
        .filter(|((did, col, _), _)| did == repo && col == collection)
        .map(|((did, col, rkey), stored)| record_json(did, col, rkey, stored))
        .collect();
    Json(json!({"records": records})).into_response()
}

fn put_record(shared: &Shared, did: &str, body: &[u8], create_only: bool) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return bad("InvalidRequest", "the body is not JSON");
    };
    if body["repo"] != did {
        return error(StatusCode::FORBIDDEN, "InvalidRequest", "not your repo");
    }
    let (Some(collection), Some(record)) = (body["collection"].as_str(), body.get("record")) else {
        return bad("InvalidRequest", "collection and record are required");
    };
    let rkey = body["rkey"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("3l{:011}", shared.world().events.len()));
    if let Err(problem) = validate::record(&shared.world(), collection, &rkey, record) {
        return bad("InvalidRequest", &problem);
    }
    if create_only
        && shared
            .world()
            .records
            .contains_key(&(did.into(), collection.into(), rkey.clone()))
    {
        return bad("InvalidRequest", "Record already exists");
    }
    let (uri, cid) = shared.write(did, collection, &rkey, record.clone());
    Json(json!({"uri": uri, "cid": cid, "validationStatus": "valid"})).into_response()
}

fn delete_record(shared: &Shared, did: &str, body: &[u8]) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return bad("InvalidRequest", "the body is not JSON");
    };
    if body["repo"] != did {
        return error(StatusCode::FORBIDDEN, "InvalidRequest", "not your repo");
    }
    let (Some(collection), Some(rkey)) = (body["collection"].as_str(), body["rkey"].as_str())
    else {
        return bad("InvalidRequest", "collection and rkey are required");
    };
    shared.delete(did, collection, rkey);
    Json(json!({})).into_response()
}

fn upload_blob(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Response {
    let mime = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_string();
    let mut world = shared.world();
    world.blobs += 1;
    let link = format!("bafkrei{:08}", world.blobs);
    Json(json!({"blob": {"$type": "blob", "ref": {"$link": link}, "mimeType": mime, "size": body.len()}}))
        .into_response()
}

/// `getProfile` (appview): an account by DID or handle.
fn profile(shared: &Shared, actor: &str) -> Response {
    let world = shared.world();
    match world
        .accounts
        .iter()
        .find(|a| a.did == actor || a.handle == actor)
    {
        Some(a) => Json(json!({"did": a.did, "handle": a.handle})).into_response(),
        None => bad("InvalidRequest", &format!("Profile not found: {actor}")),
    }
}

/// `getPosts` (appview): the post views of those that exist (one uri here).
fn posts(shared: &Shared, uri: &str) -> Response {
    let world = shared.world();
    let found: Vec<Value> = thread_view(&world, uri)
        .map(|view| view["post"].clone())
        .into_iter()
        .collect();
    Json(json!({"posts": found})).into_response()
}

/// `getPostThread`: the post and every reply below it.
fn post_thread(shared: &Shared, uri: &str) -> Response {
    let world = shared.world();
    match thread_view(&world, uri) {
        Some(thread) => Json(json!({"thread": thread})).into_response(),
        None => bad("NotFound", &format!("Post not found: {uri}")),
    }
}

fn thread_view(world: &super::World, uri: &str) -> Option<Value> {
    let parts: Vec<&str> = uri.strip_prefix("at://")?.splitn(3, '/').collect();
    let key = (
        parts.first()?.to_string(),
        parts.get(1)?.to_string(),
        parts.get(2)?.to_string(),
    );
    let stored = world.records.get(&key)?;
    let handle = world
        .accounts
        .iter()
        .find(|a| a.did == key.0)
        .map(|a| a.handle.clone())?;
    let replies: Vec<Value> = world
        .records
        .iter()
        .filter(|(_, s)| s.value["reply"]["parent"]["uri"] == uri)
        .filter_map(|((did, col, rkey), _)| thread_view(world, &format!("at://{did}/{col}/{rkey}")))
        .collect();
    Some(json!({"$type": "app.bsky.feed.defs#threadViewPost",
        "post": {"uri": uri, "cid": stored.cid, "author": {"did": key.0, "handle": handle},
                 "record": stored.value, "indexedAt": "2026-12-07T20:05:00.000Z"},
        "replies": replies}))
}

/// Jetstream: replays the log from `cursor` (when given), then goes live
/// until `drop_jetstream` or the client leaves.
async fn subscribe(
    State(shared): State<Arc<Shared>>,
    Query(query): Params,
    upgrade: WebSocketUpgrade,
) -> Response {
    if query.get("wantedCollections").map(String::as_str) != Some("app.bsky.feed.post") {
        return bad(
            "InvalidRequest",
            "this fake serves wantedCollections=app.bsky.feed.post",
        );
    }
    let cursor = query.get("cursor").and_then(|c| c.parse::<u64>().ok());
    // Subscribed before the backlog is read: nothing falls between the two.
    let mut live = shared.live.subscribe();
    let backlog: Vec<(u64, String)> = {
        let mut world = shared.world();
        world.subscriptions.push(cursor);
        match cursor {
            Some(cursor) => world
                .events
                .iter()
                .filter(|(t, _)| *t >= cursor)
                .cloned()
                .collect(),
            None => Vec::new(),
        }
    };
    shared.bump();
    upgrade.on_upgrade(move |mut socket: WebSocket| async move {
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
    })
}
