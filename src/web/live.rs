//! Rooms kept up to date: one feed task per chat rebuilds the chat's
//! [`Room`] when the store reports a change and broadcasts what changed to
//! every open room as server-sent events. Building once per change, not
//! once per visitor, is what lets a hundred rooms follow a busy chat.
//!
//! Events (JSON data): `reset` {html} replaces the live part (sent first
//! on every connection, and when a run starts or ends); `upsert` {id,
//! parent, html} replaces element `id`, or appends to `parent`; `remove`
//! {id}.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use serde_json::json;
use tokio::sync::{broadcast, watch, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::db::Db;
use super::room::{self, Room};
use super::App;
use crate::chats::Chat;

/// An event for every open room of a chat, serialised once.
type Shared = Arc<(&'static str, String)>;

/// Events a slow room may fall behind by before it is sent a `reset`.
const BACKLOG: usize = 1024;

/// The feeds of every chat, and the cap on open rooms.
pub(crate) struct Rooms {
    feeds: HashMap<String, Feed>,
    slots: Arc<Semaphore>,
    shutdown: CancellationToken,
}

struct Feed {
    events: broadcast::Sender<Shared>,
    room: watch::Receiver<Arc<Room>>,
}

impl Rooms {
    /// Starts one feed task per chat; each ends with `shutdown`.
    pub(crate) fn start(chats: &[Arc<Chat>], db: &Db, shutdown: &CancellationToken) -> Self {
        let mut feeds = HashMap::new();
        for chat in chats {
            let (events, _) = broadcast::channel(BACKLOG);
            let (room_tx, room) = watch::channel(Arc::new(Room::default()));
            let (db, stop, tx) = (db.clone(), shutdown.clone(), events.clone());
            let id = chat.id().to_string();
            let chat = Arc::clone(chat);
            // Why a detached task: it owns nothing but channels and ends
            // on `shutdown`; a failed rebuild is logged and retried at the
            // next change.
            tokio::spawn(async move {
                tokio::select! {
                    () = feed(&chat, &db, &tx, &room_tx) => {}
                    () = stop.cancelled() => {}
                }
            });
            feeds.insert(id, Feed { events, room });
        }
        Self {
            feeds,
            slots: Arc::new(Semaphore::new(super::MOST_LIVE_CLIENTS)),
            shutdown: shutdown.clone(),
        }
    }
}

async fn feed(
    chat: &Chat,
    db: &Db,
    events: &broadcast::Sender<Shared>,
    room_tx: &watch::Sender<Arc<Room>>,
) {
    let now = chrono::Utc::now;
    // No database yet: the room shows the next run until one exists.
    if let Ok(room) = room::snapshot(None, chat, now()).await {
        room_tx.send_replace(Arc::new(room));
    }
    let Some(store) = db.opened().await else {
        return;
    };
    let mut changes = store.watch_changes();
    loop {
        changes.borrow_and_update();
        match room::snapshot(Some(&store), chat, now()).await {
            Ok(room) => {
                let old = room_tx.borrow().clone();
                for event in diff(&old, &room) {
                    // No room open is not an error.
                    let _ = events.send(event);
                }
                room_tx.send_replace(Arc::new(room));
            }
            Err(e) => tracing::warn!(chat = chat.id(), "cannot read the room: {e:#}"),
        }
        if changes.changed().await.is_err() {
            return;
        }
    }
}

fn event(name: &'static str, data: serde_json::Value) -> Shared {
    Arc::new((name, data.to_string()))
}

fn reset(room: &Room) -> Shared {
    event("reset", json!({ "html": room.html() }))
}

/// What a room showing `old` needs to show `new`.
fn diff(old: &Room, new: &Room) -> Vec<Shared> {
    if old.run != new.run {
        return vec![reset(new)];
    }
    let mut out = Vec::new();
    if old.state != new.state {
        out.push(event("upsert", json!({ "id": "state", "parent": "live", "html": format!("<section id=\"state\" aria-labelledby=\"now\">{}</section>", new.state) })));
    }
    for q in &new.questions {
        let Some(before) = old.questions.iter().find(|o| o.number == q.number) else {
            out.push(event("upsert", json!({ "id": format!("q{}", q.number), "parent": "questions", "html": q.section() })));
            continue;
        };
        let had: HashMap<&str, &str> = before
            .answers
            .iter()
            .map(|(id, h)| (id.as_str(), h.as_str()))
            .collect();
        for (id, html) in &q.answers {
            if had.get(id.as_str()) != Some(&html.as_str()) {
                let parent = format!("answers-q{}", q.number);
                out.push(event(
                    "upsert",
                    json!({ "id": id, "parent": parent, "html": html }),
                ));
            }
        }
        for (id, _) in &before.answers {
            if !q.answers.iter().any(|(now, _)| now == id) {
                out.push(event("remove", json!({ "id": id })));
            }
        }
    }
    out
}

/// `GET /chats/{id}/events`: the room's event stream.
pub(crate) async fn events(Path(id): Path<String>, State(app): State<Arc<App>>) -> Response {
    let rooms = &app.rooms;
    let (Some(feed), Some(chat)) = (rooms.feeds.get(&id), app.chat(&id)) else {
        return super::pages::not_found().await.into_response();
    };
    let Ok(permit) = Arc::clone(&rooms.slots).try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many rooms open; try again later",
        )
            .into_response();
    };
    let events = feed.events.subscribe();
    // Read after subscribing, and fresh: the feed may not have read the
    // store yet when a room opens as the server starts.
    let store = app.site.db.store();
    let first = match room::snapshot(store.as_ref(), chat, chrono::Utc::now()).await {
        Ok(room) => reset(&room),
        Err(e) => {
            tracing::warn!(chat = chat.id(), "cannot read the room: {e:#}");
            reset(&current(&feed.room))
        }
    };
    let follow = Follow {
        events,
        room: feed.room.clone(),
        first: Some(first),
        stop: rooms.shutdown.clone(),
        _permit: permit,
    };
    Sse::new(stream_of(follow))
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// One open room: subscribed before it reads the room, so no
/// change falls between the two (a change seen twice is harmless: every
/// event replaces by id).
struct Follow {
    events: broadcast::Receiver<Shared>,
    room: watch::Receiver<Arc<Room>>,
    /// The room as the connection opened, sent first.
    first: Option<Shared>,
    stop: CancellationToken,
    /// Frees its place among the open rooms when the stream is dropped.
    _permit: OwnedSemaphorePermit,
}

fn stream_of(follow: Follow) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(follow, |mut f| async move {
        let shared = if let Some(first) = f.first.take() {
            first
        } else {
            tokio::select! {
                () = f.stop.cancelled() => return None,
                received = f.events.recv() => match received {
                    Ok(shared) => shared,
                    // Fell behind: start again from the room as it is.
                    Err(broadcast::error::RecvError::Lagged(_)) => reset(&current(&f.room)),
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
            }
        };
        let event = Event::default().event(shared.0).data(shared.1.as_str());
        Some((Ok(event), f))
    })
}

fn current(room: &watch::Receiver<Arc<Room>>) -> Arc<Room> {
    room.borrow().clone()
}
