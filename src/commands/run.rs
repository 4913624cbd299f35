//! `hashchat run`: the daemon over the selected chats, with the real
//! network, the system clock and the signals that stop it. The daemon
//! itself is `crate::run`'s.

use crate::store::DbLocation;
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use super::common::{find_chat, public_base, spawn_signal_handler};
use crate::chats::Config;
use crate::clock::SystemClock;
use crate::metrics::Metrics;

use crate::run::{Daemon, Liveness, RealConnector, Replicas, RunOptions, Tuning};
use crate::store::Store;
use crate::web::{self, Db, Site};

pub async fn run(
    db: &DbLocation,
    config: Config,
    selected: &[String],
    options: RunOptions,
    serve: Option<SocketAddr>,
) -> anyhow::Result<ExitCode> {
    // Before anything is opened or posted.
    for id in selected {
        find_chat(&config, id)?;
    }
    let store = if options.dry_run {
        Store::open_in_memory().await?
    } else {
        Store::open_location(db).await?
    };
    let tuning = Tuning::default();
    let shutdown = CancellationToken::new();
    spawn_signal_handler(shutdown.clone());
    // One set of counters for the process: the connector counts requests
    // per account, the daemon the rest. A web server in this process
    // (`run --serve`) renders a clone of this `Arc` at `/metrics`.
    let metrics = Arc::new(Metrics::new());
    let connector = RealConnector::new(tuning.request_timeout)
        .with_metrics(Arc::clone(&metrics))
        .with_store(store.clone());
    let liveness = Liveness::default();
    // A rehearsal shows its live room unless told where: any free port on
    // loopback, printed below.
    let serve = serve.or(options
        .dry_run
        .then(|| SocketAddr::from(([127, 0, 0, 1], 0))));
    let pages = match serve {
        Some(addr) => {
            let daemon_parts = (&store, &liveness, &metrics);
            Some(start_pages(addr, &config, selected, daemon_parts, &shutdown).await?)
        }
        None => None,
    };
    // On PostgreSQL the chats' leases live in the database, shared with
    // other replicas; on SQLite, in lock files beside it.
    let replicas = match store.postgres_pool() {
        Some(pool) => {
            let leases = Arc::new(crate::store::postgres::Leases::new(pool.clone()));
            Replicas::shared(leases, options.lease_ttl)
        }
        None => Replicas::default(),
    };
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
        liveness,
        replicas,
    };
    let outcomes = daemon.run(selected).await;
    // The pages end with the daemon (a `--once` run included).
    if let Some((stop, pages)) = pages {
        stop.cancel();
        match pages.await {
            Ok(Err(e)) => tracing::warn!("the web server failed: {e}"),
            Err(e) => tracing::warn!("the web server task failed: {e}"),
            Ok(Ok(())) => {}
        }
    }
    let outcomes = outcomes?;
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

/// `--serve ADDR`: the pages on the daemon's own store, which tells them
/// of each write; prints each selected chat's room address.
async fn start_pages(
    addr: SocketAddr,
    config: &Config,
    selected: &[String],
    (store, liveness, metrics): (&Store, &Liveness, &Arc<Metrics>),
    shutdown: &CancellationToken,
) -> anyhow::Result<(
    CancellationToken,
    tokio::task::JoinHandle<std::io::Result<()>>,
)> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let base = public_base(None, listener.local_addr()?);
    let stop = shutdown.child_token();
    let site = Site {
        chats: config.chats.clone(),
        db: Db::shared(store.clone()),
        public_url: base.clone(),
        liveness: Some(liveness.clone()),
        metrics: Some(Arc::clone(metrics)),
        shutdown: stop.clone(),
    };
    for chat in &config.chats {
        if selected.is_empty() || selected.iter().any(|id| id == chat.id()) {
            // A reader that left (`| head`) must not panic the run
            // (println! would): the address is simply not shown.
            let _ = writeln!(
                std::io::stdout().lock(),
                "live room: {base}/chats/{}",
                chat.id()
            );
        }
    }
    let server = tokio::spawn(web::serve(listener, web::router(site), stop.clone()));
    Ok((stop, server))
}
