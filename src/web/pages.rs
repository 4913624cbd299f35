//! The HTML pages: the directory (`/`), a chat's room (`/chats/{id}`), a
//! past run's recap (`/chats/{id}/runs/{n}`), and 404.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use chrono::Utc;
use minijinja::{context, Value};
use serde::Serialize;

use super::{room, templates, App};
use crate::recap::{self, Format};
use crate::store::RunState;

/// `GET /`: every chat, its next run, links to its room and calendar.
pub(crate) async fn directory(State(app): State<Arc<App>>) -> Response {
    let now = Utc::now();
    let chats: Vec<Listing> = app.site.chats.iter().map(|c| listing(c, now)).collect();
    let canonical = format!("{}/", app.site.public_url);
    page("directory.html", context! { chats, canonical })
}

#[derive(Serialize)]
struct Listing {
    id: String,
    hashtag: String,
    about: Option<String>,
    host: Option<String>,
    next: Option<Next>,
    zone: String,
}

#[derive(Serialize)]
struct Next {
    utc: String,
    local: String,
}

fn listing(chat: &crate::chats::Chat, now: chrono::DateTime<Utc>) -> Listing {
    let tz = chat.timing().timezone();
    let next = crate::schedule::next_starts(chat, now, 1).first().copied();
    let content = next.map(|at| crate::schedule::content(chat, at));
    let topic = content.as_ref().and_then(|c| c.topic().map(str::to_string));
    let host = content.as_ref().and_then(|c| c.host().map(str::to_string));
    Listing {
        id: chat.id().to_string(),
        hashtag: chat
            .content()
            .hashtag()
            .as_str()
            .trim_start_matches('#')
            .to_string(),
        about: chat.content().description().map(str::to_string).or(topic),
        host,
        next: next.map(|at| {
            let local = at.with_timezone(&tz);
            Next {
                utc: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                local: format!(
                    "{} {}",
                    local.format("%A %-d %B %Y, %H:%M"),
                    local.format("%Z")
                ),
            }
        }),
        zone: tz.name().to_string(),
    }
}

/// `GET /chats/{id}`: the room, as it is now; `site.js` follows it.
pub(crate) async fn room(Path(id): Path<String>, State(app): State<Arc<App>>) -> Response {
    let Some(chat) = app.chat(&id) else {
        return not_found().await.into_response();
    };
    let store = app.site.db.store();
    let shown = async {
        let live = room::snapshot(store.as_ref(), chat, Utc::now()).await?;
        let past = match &store {
            Some(store) => room::past_runs(store, chat).await?,
            None => Vec::new(),
        };
        anyhow::Ok((live, past))
    };
    match shown.await {
        Ok((live, past)) => page(
            "room.html",
            context! {
                id => chat.id(),
                canonical => format!("{}/chats/{}", app.site.public_url, chat.id()),
                hashtag => chat.content().hashtag().as_str().trim_start_matches('#'),
                about => chat.content().description(),
                live => Value::from_safe_string(live.html()),
                past,
            },
        ),
        Err(e) => failed(&e),
    }
}

/// `GET /chats/{id}/runs/{n}`: run `n`'s HTML recap (`n` as in `recap
/// --run`), once the run is over.
pub(crate) async fn past_run(
    Path((id, n)): Path<(String, String)>,
    State(app): State<Arc<App>>,
) -> Response {
    let (Some(chat), Ok(n)) = (app.chat(&id), n.parse::<i64>()) else {
        return not_found().await.into_response();
    };
    let Some(store) = app.site.db.store() else {
        return not_found().await.into_response();
    };
    match store.run(n).await {
        // A run in progress is the room's: its recap would show the
        // questions still to come.
        Ok(Some(run)) if run.chat_id == chat.id() && run.state != RunState::Running => {}
        Ok(_) => return not_found().await.into_response(),
        Err(e) => return failed(&e),
    }
    match recap::build(&store, chat, n).await {
        Ok(recap) => {
            let mut response = Html(recap.render(Format::Html)).into_response();
            // The recap's own policy (it says so in a meta tag too): its
            // style is inline, and it runs and loads nothing at all.
            response.headers_mut().insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
            );
            response
        }
        Err(e) => failed(&e),
    }
}

/// Any unknown address, chat or run.
pub(crate) async fn not_found() -> impl IntoResponse {
    let body = templates::render("not_found.html", context! {}).unwrap_or_default();
    (StatusCode::NOT_FOUND, Html(body))
}

fn page(name: &str, context: impl Serialize) -> Response {
    match templates::render(name, context) {
        Ok(body) => Html(body).into_response(),
        Err(e) => failed(&e),
    }
}

fn failed(e: &anyhow::Error) -> Response {
    tracing::error!("cannot render a page: {e:#}");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "the page could not be made; see the server's log",
    )
        .into_response()
}
