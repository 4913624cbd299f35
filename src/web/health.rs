//! For whoever hosts the pages. `GET /healthz`: 200 when the process
//! answers, its database (if any yet) answers a query, and, inside `run
//! --serve`, every chat task runs; 503 otherwise. The body says which part
//! failed. `GET /metrics`: the daemon's counters (`crate::metrics`) in the
//! Prometheus text format, from the process that runs the chats only.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::App;

pub(crate) async fn healthz(State(app): State<Arc<App>>) -> Response {
    let database = match app.site.db.store() {
        // `serve` before any run: nothing is wrong, there is nothing yet.
        None => Ok("not created yet".to_string()),
        Some(store) => store
            .ping()
            .await
            .map(|()| "ok".to_string())
            .map_err(|e| format!("{e:#}")),
    };
    let mut healthy = database.is_ok();
    let mut chats = Map::new();
    if let Some(liveness) = &app.site.liveness {
        for (chat, alive) in liveness.tasks() {
            healthy &= alive;
            chats.insert(chat, Value::from(if alive { "running" } else { "stopped" }));
        }
    }
    let body = json!({
        "status": if healthy { "ok" } else { "failing" },
        "database": database.unwrap_or_else(|e| format!("failing: {e}")),
        "chats": chats,
    });
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

pub(crate) async fn metrics(State(app): State<Arc<App>>) -> Response {
    match &app.site.metrics {
        Some(metrics) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            metrics.render(),
        )
            .into_response(),
        // `serve` alone sends nothing and runs no chat: there is nothing
        // to count, and a scraper pointed here should hear why.
        None => (
            StatusCode::NOT_FOUND,
            "metrics are served by the process that runs the chats: hashchat run --serve ADDR\n",
        )
            .into_response(),
    }
}
