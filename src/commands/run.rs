//! `hashchat run`: the daemon over the selected chats, with the real
//! network, the system clock and the signals that stop it. The daemon
//! itself is `crate::run`'s.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::common::find_chat;
use crate::chats::Config;
use crate::clock::SystemClock;
use crate::metrics::Metrics;
use crate::run::{Daemon, RealConnector, RunOptions, Tuning};
use crate::store::Store;

pub async fn run(
    db: &Path,
    config: Config,
    selected: &[String],
    options: RunOptions,
) -> anyhow::Result<ExitCode> {
    // Before anything is opened or posted.
    for id in selected {
        find_chat(&config, id)?;
    }
    let store = if options.dry_run {
        Store::open_in_memory().await?
    } else {
        Store::open(db).await?
    };
    let tuning = Tuning::default();
    let shutdown = CancellationToken::new();
    spawn_signal_handler(shutdown.clone());
    // One set of counters for the process: the connector counts requests
    // per account, the daemon the rest. A web server in this process
    // (`run --serve`) renders a clone of this `Arc` at `/metrics`.
    let metrics = Arc::new(Metrics::new());
    let connector = RealConnector::new(tuning.request_timeout).with_metrics(Arc::clone(&metrics));
    let daemon = Daemon {
        config,
        store,
        clock: Arc::new(SystemClock),
        connector: Arc::new(connector),
        options,
        tuning,
        shutdown,
        holder: crate::run::process_holder(),
        controls: Default::default(),
        identities: Default::default(),
        metrics,
    };
    let outcomes = daemon.run(selected).await?;
    let failed: Vec<_> = outcomes.iter().filter(|o| o.result.is_err()).collect();
    for outcome in &failed {
        if let Err(e) = &outcome.result {
            eprintln!("error: chat {}: {e:#}", outcome.chat);
        }
    }
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// First SIGINT/SIGTERM: stop taking work and finish cleanly. A second:
/// leave at once (the database stays consistent; the run resumes).
fn spawn_signal_handler(shutdown: CancellationToken) {
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
