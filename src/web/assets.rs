//! The pages' only script and style sheet, served from our own routes so
//! the pages load nothing from elsewhere and the policy can forbid inline
//! code. The style extends the recap's, so a room looks like its recap.

use axum::http::header;
use axum::response::IntoResponse;

const SCRIPT: &str = include_str!("assets/site.js");
const EXTRA_STYLE: &str = include_str!("assets/site.css");

pub(crate) async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
}

pub(crate) async fn style() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        format!("{}{EXTRA_STYLE}", crate::recap::html::STYLE),
    )
}

/// The tab's icon (a browser asks for one; without it, a 404 in the console).
pub(crate) async fn icon() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "image/svg+xml")],
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 16 16\"><rect width=\"16\" height=\"16\" rx=\"3\" fill=\"#4f3fd0\"/><path d=\"M6 3 5 13M11 3l-1 10M3 6h10M3 10h10\" stroke=\"#fff\" stroke-width=\"1.5\"/></svg>",
    )
}
