//! `hashchat serve`: the public pages (`crate::web`) over the database
//! another process (`hashchat run`) writes; reading only. Starts before
//! any run has created the database and picks it up when it appears.

use crate::store::DbLocation;
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use super::common::{public_base, spawn_signal_handler};
use crate::chats::Config;
use crate::web::{self, Db, Site};

pub async fn run(
    db: &DbLocation,
    config: Config,
    listen: SocketAddr,
    public_url: Option<url::Url>,
) -> anyhow::Result<ExitCode> {
    let shutdown = CancellationToken::new();
    spawn_signal_handler(shutdown.clone());
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let bound = listener.local_addr()?;
    let site = Site {
        chats: config.chats,
        db: Db::watch(db.clone(), shutdown.clone()),
        public_url: public_base(public_url.as_ref(), bound),
        liveness: None,
        metrics: None,
        shutdown: shutdown.clone(),
    };
    // Not println!, which panics when the reader of stdout has gone.
    let _ = writeln!(
        std::io::stdout().lock(),
        "serving the chat pages at {}/",
        site.public_url
    );
    web::serve(listener, web::router(site), shutdown)
        .await
        .context("the web server failed")?;
    Ok(ExitCode::SUCCESS)
}
