//! The HTTP and WebSocket endpoints, and the middleware that logs requests
//! and serves injected faults.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, Request, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::{Fault, LoggedRequest, Out, Shared, Sub};

type S = AxState<Arc<Shared>>;
type Q = Query<HashMap<String, String>>;

pub(super) fn routes(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/v1/instance", get(instance))
        .route(
            "/api/v1/accounts/verify_credentials",
            get(verify_credentials),
        )
        .route("/api/v1/accounts/{id}/statuses", get(account_statuses))
        .route("/api/v1/statuses", post(create_status))
        .route("/api/v1/statuses/{id}", get(one_status))
        .route("/api/v1/statuses/{id}/context", get(context))
        .route("/api/v1/timelines/tag/{tag}", get(tag_timeline))
        .route("/api/v1/streaming", get(streaming_or_redirect))
        .route(super::STREAMING_ELSEWHERE, get(streaming))
        .route("/api/v1/notifications", get(notifications))
        .route("/api/v1/mutes", get(mutes))
        .route("/api/v2/media", post(upload_media))
        .route("/api/v1/blocks", get(blocks))
        .route("/.well-known/nodeinfo", get(nodeinfo_links))
        .route("/nodeinfo/2.0", get(nodeinfo))
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            log_and_fault,
        ))
        .with_state(shared)
}

/// Logs every request, then serves the first matching fault instead, if any.
async fn log_and_fault(AxState(shared): S, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let mut shown = request.uri().to_string();
    if let Some(at) = shown.find("access_token=") {
        let end = shown[at..].find('&').map_or(shown.len(), |e| at + e);
        shown.replace_range(at..end, "access_token=REDACTED");
    }
    let authorized = request.headers().contains_key("authorization");
    let fault = shared.change(|w| {
        w.requests.push(LoggedRequest {
            method: method.to_string(),
            path: shown,
            authorized,
        });
        let at = w
            .faults
            .iter()
            .position(|(m, p, _)| *m == method && path.starts_with(p.as_str()))?;
        Some(w.faults.remove(at).2)
    });
    match fault {
        None => next.run(request).await,
        Some(Fault::Hang) => std::future::pending().await,
        Some(Fault::HoldUntil(release)) => {
            release.cancelled().await;
            next.run(request).await
        }
        Some(Fault::AcceptThenHang) => {
            let _handled = next.run(request).await;
            std::future::pending().await
        }
        Some(Fault::AcceptThenCut) => {
            let _handled = next.run(request).await;
            // Unwinding ends this connection's task (axum serves each
            // connection in a task of its own), so the socket is closed
            // with no answer written. `resume_unwind` runs no panic hook:
            // nothing is printed, and the server goes on serving.
            std::panic::resume_unwind(Box::new("the fake cut the connection"))
        }
        Some(Fault::AcceptThenStatus(code)) => {
            let _handled = next.run(request).await;
            (
                StatusCode::from_u16(code).expect("status code"),
                error_body("injected fault after handling"),
            )
                .into_response()
        }
        Some(Fault::Malformed) => (
            StatusCode::OK,
            [("content-type", "application/json")],
            r#"{"id":"1","#,
        )
            .into_response(),
        Some(Fault::UndecodableStatus) => {
            let real = next.run(request).await;
            let (parts, body) = real.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .expect("the fake's own answer");
            let mut page: Vec<Value> = serde_json::from_slice(&bytes).expect("a JSON array");
            page.insert(
                0,
                json!({"id": "undecodable", "content": "no account, no date"}),
            );
            let mut response = Json(page).into_response();
            response.headers_mut().extend(
                parts
                    .headers
                    .into_iter()
                    .filter_map(|(name, value)| Some((name?, value)))
                    .filter(|(name, _)| name != "content-length"),
            );
            response
        }
        Some(Fault::RateLimit { retry_after_secs }) => {
            let reset =
                (Utc::now() + chrono::Duration::seconds(retry_after_secs as i64)).to_rfc3339();
            let headers = [
                ("retry-after", retry_after_secs.to_string()),
                ("x-ratelimit-limit", "300".into()),
                ("x-ratelimit-remaining", "0".into()),
                ("x-ratelimit-reset", reset),
            ];
            (
                StatusCode::TOO_MANY_REQUESTS,
                headers,
                error_body("Too many requests"),
            )
                .into_response()
        }
        Some(Fault::Status(code, headers)) => {
            let mut response = (
                StatusCode::from_u16(code).expect("status code"),
                error_body("injected fault"),
            )
                .into_response();
            for (name, value) in headers {
                response
                    .headers_mut()
                    .insert(name, value.parse().expect("header value"));
            }
            response
        }
    }
}

fn error_body(message: &str) -> Json<Value> {
    Json(json!({ "error": message }))
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, error_body("Record not found")).into_response()
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        error_body("The access token is invalid"),
    )
        .into_response()
}

async fn instance(AxState(shared): S) -> Json<Value> {
    Json(shared.instance_json(&shared.world()))
}

async fn nodeinfo_links(AxState(shared): S) -> Json<Value> {
    Json(shared.nodeinfo_links())
}

async fn nodeinfo(AxState(shared): S) -> Json<Value> {
    Json(shared.nodeinfo(&shared.world()))
}

async fn verify_credentials(AxState(shared): S, headers: HeaderMap) -> Response {
    let w = shared.world();
    match w.by_token(&headers, None) {
        Some(a) => Json(shared.account_json(&w.accounts[a])).into_response(),
        None => unauthorized(),
    }
}

async fn create_status(
    AxState(shared): S,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let is_json = headers
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let fields: HashMap<String, String> = if is_json {
        let v: Value = serde_json::from_slice(&body).unwrap_or_default();
        v.as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect()
    } else {
        url::form_urlencoded::parse(&body).into_owned().collect()
    };
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let now = shared.clock.now();
    shared.change(|w| {
        let Some(account) = w.by_token(&headers, None) else {
            return unauthorized();
        };
        if let Some(id) = key
            .as_ref()
            .and_then(|k| w.idempotency.get(&(account, k.clone())))
        {
            return Json(shared.status_json(w, *id)).into_response();
        }
        let text = fields.get("status").map(String::as_str).unwrap_or_default();
        if text.trim().is_empty() || text.chars().count() > w.max_characters {
            let message = format!(
                "Validation failed: Text character limit of {} exceeded or empty",
                w.max_characters
            );
            return (StatusCode::UNPROCESSABLE_ENTITY, error_body(&message)).into_response();
        }
        let reply = fields
            .get("in_reply_to_id")
            .and_then(|r| r.parse::<u64>().ok());
        if reply.is_some_and(|r| w.statuses.get(&r).is_none_or(|s| s.deleted)) {
            return not_found();
        }
        let visibility = fields
            .get("visibility")
            .map(String::as_str)
            .unwrap_or("public");
        let id = w.create(account, text, reply, visibility, now);
        let media: Vec<(String, String)> = fields
            .get("media_ids[]")
            .map(|m| {
                let description = w.uploads.get(m).map(|u| u.2.clone()).unwrap_or_default();
                (m.clone(), description)
            })
            .into_iter()
            .collect();
        if let Some(status) = w.statuses.get_mut(&id) {
            status.spoiler_text = fields.get("spoiler_text").cloned().unwrap_or_default();
            status.language = fields.get("language").cloned();
            status.media = media;
        }
        if let Some(key) = key.filter(|_| !w.forget_idempotency_keys) {
            w.idempotency.insert((account, key), id);
        }
        shared.broadcast(w, id, "update");
        shared.notify_mentions(w, id);
        Json(shared.status_json(w, id)).into_response()
    })
}

async fn one_status(AxState(shared): S, Path(id): Path<String>) -> Response {
    let w = shared.world();
    match id
        .parse::<u64>()
        .ok()
        // An id retired by an edit answers with the status under its new id.
        .map(|i| w.moved.get(&i).copied().unwrap_or(i))
        .filter(|i| w.statuses.get(i).is_some_and(|s| !s.deleted))
    {
        Some(id) => Json(shared.status_json(&w, id)).into_response(),
        None => not_found(),
    }
}

async fn context(AxState(shared): S, Path(id): Path<String>) -> Response {
    let w = shared.world();
    let Some(root) = id
        .parse::<u64>()
        .ok()
        .filter(|i| w.statuses.get(i).is_some_and(|s| !s.deleted))
    else {
        return not_found();
    };
    // Ids ascend with time, so one pass in id order finds every descendant.
    let mut family = vec![root];
    for s in w.live() {
        if s.in_reply_to_id.is_some_and(|r| family.contains(&r)) {
            family.push(s.id);
        }
    }
    let descendants: Vec<Value> = family[1..]
        .iter()
        .map(|i| shared.status_json(&w, *i))
        .collect();
    let mut ancestors = vec![];
    let mut up = w.statuses[&root].in_reply_to_id;
    while let Some(parent) = up.and_then(|p| w.statuses.get(&p)).filter(|p| !p.deleted) {
        ancestors.insert(0, shared.status_json(&w, parent.id));
        up = parent.in_reply_to_id;
    }
    Json(json!({ "ancestors": ancestors, "descendants": descendants })).into_response()
}

async fn tag_timeline(
    AxState(shared): S,
    Path(tag): Path<String>,
    Query(q): Q,
) -> Json<Vec<Value>> {
    let w = shared.world();
    let tag = tag.to_lowercase();
    // Like Mastodon: unlisted statuses are not in the tag timeline.
    let candidates = w
        .live()
        .filter(|s| s.visibility == "public" && s.tags.contains(&tag))
        .map(|s| s.id);
    Json(
        w.page(candidates, &q)
            .into_iter()
            .map(|i| shared.status_json(&w, i))
            .collect(),
    )
}

async fn account_statuses(AxState(shared): S, Path(id): Path<String>, Query(q): Q) -> Response {
    let w = shared.world();
    let Some(account) = w.accounts.iter().position(|a| a.id == id) else {
        return not_found();
    };
    let candidates = w
        .live()
        .filter(|s| s.account == account && s.visibility != "direct")
        .map(|s| s.id);
    Json(
        w.page(candidates, &q)
            .into_iter()
            .map(|i| shared.status_json(&w, i))
            .collect::<Vec<_>>(),
    )
    .into_response()
}

/// `POST /api/v2/media`: stores the file's name and size and its
/// description; answers like Mastodon for a processed image.
async fn upload_media(
    AxState(shared): S,
    headers: HeaderMap,
    mut form: axum::extract::Multipart,
) -> Response {
    if shared.world().by_token(&headers, None).is_none() {
        return unauthorized();
    }
    let (mut name, mut size, mut description) = (String::new(), 0, String::new());
    while let Ok(Some(field)) = form.next_field().await {
        match field.name().unwrap_or_default() {
            "file" => {
                name = field.file_name().unwrap_or_default().to_owned();
                size = field.bytes().await.map(|b| b.len()).unwrap_or_default();
            }
            "description" => description = field.text().await.unwrap_or_default(),
            _ => {}
        }
    }
    if size == 0 {
        return (StatusCode::UNPROCESSABLE_ENTITY, error_body("no file")).into_response();
    }
    let id = shared.change(|w| {
        let id = format!("9{:04}", w.uploads.len() + 1);
        w.uploads
            .insert(id.clone(), (name, size, description.clone()));
        id
    });
    Json(json!({"id": id, "type": "image", "description": description})).into_response()
}

/// The bot's mutes: the accounts tests muted (statuses carry full account
/// JSON, so a muted account's JSON is taken from its first status, or made
/// minimal).
async fn mutes(AxState(shared): S) -> Response {
    let w = shared.world();
    let list: Vec<Value> = w
        .muted
        .iter()
        .map(|id| json!({"id": id, "acct": "", "username": ""}))
        .collect();
    Json(list).into_response()
}

async fn blocks() -> Response {
    Json(Vec::<Value>::new()).into_response()
}

/// Mention notifications of the caller, newest first, after `since_id`.
async fn notifications(AxState(shared): S, headers: HeaderMap, Query(q): Q) -> Response {
    let w = shared.world();
    let Some(account) = w.by_token(&headers, None) else {
        return unauthorized();
    };
    let since = q
        .get("since_id")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|_| !w.notifications_ignore_since_id)
        .unwrap_or(0);
    let limit = q
        .get("limit")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(15)
        .min(40);
    let list: Vec<Value> = w
        .notifications
        .iter()
        .rev()
        .filter(|(id, to, status)| *to == account && *id > since && !w.statuses[status].deleted)
        .take(limit)
        .map(|(id, _, _)| shared.notification_json(&w, *id))
        .collect();
    Json(list).into_response()
}

/// Mastodon's web host, when its streaming server has a host of its own:
/// a 301 to the same path and query there (`Api::V1::StreamingController`).
async fn streaming_or_redirect(
    state: S,
    headers: HeaderMap,
    query: Q,
    uri: axum::http::Uri,
    upgrade: WebSocketUpgrade,
) -> Response {
    if state.0.world().streaming_advertised_elsewhere {
        return not_found();
    }
    if !state.0.world().streaming_elsewhere {
        return streaming(state, headers, query, upgrade).await;
    }
    let path_and_query = uri.path_and_query().map_or("", |p| p.as_str());
    let moved = path_and_query.replacen("/api/v1/streaming", super::STREAMING_ELSEWHERE, 1);
    let location = format!("{}{moved}", state.0.base);
    (
        StatusCode::MOVED_PERMANENTLY,
        [(axum::http::header::LOCATION, location)],
    )
        .into_response()
}

async fn streaming(
    AxState(shared): S,
    headers: HeaderMap,
    Query(q): Q,
    upgrade: WebSocketUpgrade,
) -> Response {
    if shared.world().no_streaming {
        return not_found();
    }
    if let Some(elsewhere) = shared.world().streaming_api.clone() {
        // Only the advertised listener streams (its requests name its port).
        let port = elsewhere.rsplit(':').next().unwrap_or_default();
        let host = headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        if !host.ends_with(&format!(":{port}")) {
            return not_found();
        }
    }
    let hashtag = q.get("stream").is_some_and(|s| s.starts_with("hashtag"));
    if hashtag && shared.world().refuse_hashtag_streams {
        return (
            StatusCode::BAD_REQUEST,
            error_body("stream type not allowed"),
        )
            .into_response();
    }
    let token = q.get("access_token").map(String::as_str);
    let Some(account) = shared.world().by_token(&headers, token) else {
        return unauthorized();
    };
    let user = (q.get("stream").map(String::as_str) == Some("user")).then_some(account);
    let tag = q
        .get("tag")
        .map(|t| t.trim_start_matches('#').to_lowercase())
        .unwrap_or_default();
    let (tx, rx) = mpsc::unbounded_channel();
    let sub = shared.change(|w| {
        w.next_sub += 1;
        w.streams.push(Sub {
            id: w.next_sub,
            tag,
            user,
            tx,
        });
        w.next_sub
    });
    upgrade.on_upgrade(move |socket| serve_stream(shared, sub, socket, rx))
}

/// Forwards frames queued for this subscriber and records pongs, until the
/// client leaves or a test drops the stream.
async fn serve_stream(
    shared: Arc<Shared>,
    sub: u64,
    socket: WebSocket,
    mut rx: mpsc::UnboundedReceiver<Out>,
) {
    let (mut sink, mut source) = socket.split();
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(Out::Frame(frame)) => if sink.send(frame).await.is_err() { break },
                Some(Out::Close) | None => {
                    let frame = CloseFrame { code: 1012, reason: "restarting".into() };
                    _ = sink.send(Message::Close(Some(frame))).await;
                    break;
                }
                Some(Out::Cut) => break,
            },
            incoming = source.next() => match incoming {
                Some(Ok(Message::Pong(payload))) => shared.change(|w| w.pongs.push(payload.to_vec())),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    shared.change(|w| w.streams.retain(|s| s.id != sub));
}
