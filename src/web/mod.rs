//! The public pages: the directory of chats, each chat's live room (its
//! answers pushed by server-sent events), past runs as their HTML recap,
//! and `/healthz`. One router for `hashchat serve` and `hashchat run
//! --serve`. Read-only: it never writes to the database nor talks to a
//! social server; rendering and sanitising participants' posts is
//! `crate::recap`'s, which this module calls and never copies.

mod assets;
mod calendar;
mod db;
mod health;
mod live;
mod pages;
mod room;
mod templates;

pub use db::Db;

use std::sync::Arc;

use axum::http::{header, HeaderValue};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::chats::Chat;
use crate::run::Liveness;

/// Most rooms open at once (server-sent event streams); one more gets 503.
pub const MOST_LIVE_CLIENTS: usize = 1024;

/// What the pages are made of.
pub struct Site {
    pub chats: Vec<Arc<Chat>>,
    pub db: Db,
    /// Where visitors reach us, without a trailing slash: absolute links.
    pub public_url: String,
    /// The daemon's chat tasks, when the pages are served inside it.
    pub liveness: Option<Liveness>,
    /// The daemon's counters, when the pages are served inside it.
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
    /// Ends every open event stream, so a graceful shutdown is not held
    /// open by rooms left open in browsers.
    pub shutdown: CancellationToken,
}

/// Shared by every handler.
pub(crate) struct App {
    site: Site,
    rooms: live::Rooms,
}

impl App {
    fn chat(&self, id: &str) -> Option<&Arc<Chat>> {
        self.site.chats.iter().find(|c| c.id() == id)
    }
}

/// Every page, feed and asset. The headers layer is applied last, so a
/// route added here gets it too.
pub fn router(site: Site) -> Router {
    let rooms = live::Rooms::start(&site.chats, &site.db, &site.shutdown);
    let app = Arc::new(App { site, rooms });
    Router::new()
        .route("/", get(pages::directory))
        .route("/chats/{id}", get(pages::room))
        .route("/chats/{id}/events", get(live::events))
        .route("/chats/{id}/runs/{n}", get(pages::past_run))
        .route("/chats/{id}/calendar.ics", get(calendar::chat))
        .route("/calendar.ics", get(calendar::all))
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::metrics))
        .route("/assets/site.css", get(assets::style))
        .route("/assets/site.js", get(assets::script))
        .route("/assets/icon.svg", get(assets::icon))
        .fallback(pages::not_found)
        .layer(axum::middleware::map_response(headers))
        .with_state(app)
}

/// Serves `router` on `listener` until `shutdown`, then lets the requests
/// in flight finish (event streams end on the same token).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

/// The page's own script and style only (no CDN, no inline script);
/// a past run's recap keeps its own stricter policy (see `pages`).
pub(crate) const POLICY: &str =
    "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

async fn headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(POLICY));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}
