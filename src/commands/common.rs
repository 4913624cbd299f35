//! What the subcommands share: loading chats.yaml, checking a chat id from
//! the command line, opening a database that must exist, writing output to
//! stdout, the two errors whose exit codes differ from 1 (see `cli`), the
//! signals that stop a long-running command, and the pages' public address.

use std::path::Path;

use crate::store::DbLocation;
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use crate::chats::{Chat, Config};
use crate::store::Store;

/// The reader of stdout went away (`hashchat plan | head -2`): the command
/// ends quietly with success, as ripgrep does.
#[derive(Debug, thiserror::Error)]
#[error("stdout was closed by its reader")]
pub struct StdoutClosed;

/// Writes a command's output to stdout; a closed pipe is [`StdoutClosed`].
pub fn print_out(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        Err(e) => Err(anyhow::Error::new(e).context("cannot write to stdout")),
    }
}

/// A mistake on the command line that clap cannot see, such as a chat id
/// chats.yaml does not define: exit 2, like clap's own usage errors.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Loads chats.yaml, printing every problem; exit 2 when invalid.
pub fn load(path: &Path) -> Result<Config, ExitCode> {
    crate::commands::check::load(path).map_err(|diagnostics| {
        eprint!("{diagnostics}");
        eprintln!(
            "error: {} is not valid; fix the problems above (hashchat check lists them)",
            path.display()
        );
        ExitCode::from(2)
    })
}

/// The chat named on the command line, or a usage error listing the known
/// ids. Every command asks this before it touches the database.
pub fn find_chat<'a>(config: &'a Config, id: &str) -> Result<&'a Chat, UsageError> {
    config
        .chat(id)
        .ok_or_else(|| UsageError(config.unknown_chat_message(id)))
}

/// The database, which must exist already: reading commands never create one.
pub async fn open_existing(db: &DbLocation) -> anyhow::Result<Store> {
    anyhow::ensure!(
        db.exists(),
        "no database at {db}: nothing has run yet (start with `hashchat run`)"
    );
    Store::open_location(db).await
}

/// `--public-url`, or the address we listen on.
pub(super) fn public_base(public_url: Option<&url::Url>, bound: SocketAddr) -> String {
    public_url.map_or_else(
        || format!("http://{bound}"),
        |url| url.as_str().trim_end_matches('/').to_string(),
    )
}

/// First SIGINT/SIGTERM: stop taking work and finish cleanly. A second:
/// leave at once (the database stays consistent; the run resumes).
pub(super) fn spawn_signal_handler(shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut signals = 0;
        loop {
            wait_for_signal().await;
            signals += 1;
            if signals == 1 {
                tracing::info!("stopping: finishing the post in flight and saving answers (signal again to quit at once)");
                shutdown.cancel();
            } else {
                std::process::exit(130);
            }
        }
    });
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
