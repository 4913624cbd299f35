//! `GET /calendar.ics` and `GET /chats/{id}/calendar.ics`: the iCalendar
//! feeds, written by `crate::calendar` from the chats as loaded at start
//! (a changed plan shows after a restart of `serve`) and the runs the
//! moderators cancelled, read from the database when there is one.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use super::App;
use crate::calendar::{self, Cancelled};

/// How far back a cancellation is read: a feed shows runs from now on.
const CANCELLED_LOOKBACK: chrono::Duration = chrono::Duration::days(31);

pub(crate) async fn all(State(app): State<Arc<App>>) -> Response {
    let now = Utc::now();
    let (base, cancelled) = match context(&app, now).await {
        Ok(parts) => parts,
        Err(response) => return response,
    };
    ics(calendar::feed(&app.site.chats, now, &base, &cancelled))
}

pub(crate) async fn chat(Path(id): Path<String>, State(app): State<Arc<App>>) -> Response {
    let Some(chat) = app.chat(&id) else {
        return super::pages::not_found().await.into_response();
    };
    let now = Utc::now();
    let (base, cancelled) = match context(&app, now).await {
        Ok(parts) => parts,
        Err(response) => return response,
    };
    ics(calendar::chat_feed(chat, now, &base, &cancelled))
}

/// The pages' public root as a URL, and the cancelled runs.
async fn context(app: &App, now: chrono::DateTime<Utc>) -> Result<(url::Url, Cancelled), Response> {
    let base = url::Url::parse(&format!("{}/", app.site.public_url)).map_err(|e| {
        tracing::error!("the public URL {} is not a URL: {e}", app.site.public_url);
        StatusCode::INTERNAL_SERVER_ERROR.into_response()
    })?;
    let cancelled = match app.site.db.store() {
        // Before any run: nothing can have been cancelled.
        None => Cancelled::none(),
        Some(store) => match store.cancelled_runs(now - CANCELLED_LOOKBACK).await {
            Ok(runs) => runs.into_iter().collect(),
            Err(e) => {
                tracing::warn!("calendar: cannot read cancelled runs: {e:#}");
                return Err(StatusCode::SERVICE_UNAVAILABLE.into_response());
            }
        },
    };
    Ok((base, cancelled))
}

fn ics(body: String) -> Response {
    (
        [(header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
        body,
    )
        .into_response()
}
