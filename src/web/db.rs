//! The database as the pages see it, and the one seam by which they learn
//! that it changed. Inside `run --serve` the daemon's own store tells them
//! after each write. For `serve` beside another process, a watcher opens
//! the database once it exists (serve starts before any run has created a
//! SQLite file) and reads its change marker every quarter second
//! (`Store::change_marker`: SQLite's `PRAGMA data_version`, a counter on
//! PostgreSQL), which moves when another connection commits.

use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::store::{DbLocation, Store};

/// How often `serve` looks at another process's database for changes.
const WATCH_EVERY: Duration = Duration::from_millis(250);

/// The store once it exists; cheap to clone.
#[derive(Debug, Clone)]
pub struct Db(watch::Receiver<Option<Store>>);

impl Db {
    /// The daemon's store: it reports its own writes (`Store::changed`).
    pub fn shared(store: Store) -> Self {
        // The value stays readable after its sender is gone, and
        // `wait_for` sees it at once.
        Self(watch::channel(Some(store)).1)
    }

    /// The database another process writes; watched until `shutdown`.
    pub fn watch(location: DbLocation, shutdown: CancellationToken) -> Self {
        let (tx, rx) = watch::channel(None);
        tokio::spawn(async move {
            tokio::select! {
                () = follow(location, &tx) => {}
                () = shutdown.cancelled() => {}
            }
        });
        Self(rx)
    }

    /// The store, or `None` while no run has created the database.
    pub fn store(&self) -> Option<Store> {
        self.0.borrow().clone()
    }

    /// Waits until the store exists; `None` if it never will.
    pub(crate) async fn opened(&self) -> Option<Store> {
        let mut rx = self.0.clone();
        let store = rx.wait_for(Option::is_some).await.ok()?.clone();
        store
    }
}

/// Opens the database once it can (a SQLite file once a run has created
/// it; a PostgreSQL server once it answers), then tells the pages each time
/// its change marker moves.
async fn follow(location: DbLocation, tx: &watch::Sender<Option<Store>>) {
    let store = loop {
        if location.exists() {
            match Store::open_location(&location).await {
                Ok(store) => break store,
                Err(e) => tracing::warn!("cannot open {location} yet: {e:#}"),
            }
        }
        tokio::time::sleep(WATCH_EVERY).await;
    };
    tx.send_replace(Some(store.clone()));
    let mut seen = None;
    loop {
        match store.change_marker().await {
            Ok(marker) if seen != Some(marker) => {
                if seen.is_some() {
                    store.changed();
                }
                seen = Some(marker);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("cannot watch {location}: {e:#}"),
        }
        tokio::time::sleep(WATCH_EVERY).await;
    }
}
