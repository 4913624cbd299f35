//! The database as the pages see it, and the one seam by which they learn
//! that it changed. Inside `run --serve` the daemon's own store tells them
//! after each write. For `serve` beside another process, a watcher opens
//! the file once it exists (serve starts before any run has created it)
//! and reads SQLite's `PRAGMA data_version` every quarter second on a
//! connection of its own: it changes when another connection commits.

use std::path::PathBuf;
use std::time::Duration;

use sqlx::{ConnectOptions, SqliteConnection};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::store::Store;

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

    /// The file another process writes; watched until `shutdown`.
    pub fn file(path: PathBuf, shutdown: CancellationToken) -> Self {
        let (tx, rx) = watch::channel(None);
        tokio::spawn(async move {
            tokio::select! {
                () = watch_file(path, &tx) => {}
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

async fn watch_file(path: PathBuf, tx: &watch::Sender<Option<Store>>) {
    let (store, mut conn) = loop {
        if path.exists() {
            match open(&path).await {
                Ok(opened) => break opened,
                Err(e) => tracing::warn!("cannot open {} yet: {e:#}", path.display()),
            }
        }
        tokio::time::sleep(WATCH_EVERY).await;
    };
    tx.send_replace(Some(store.clone()));
    let mut seen = None;
    loop {
        match sqlx::query_scalar::<_, i64>("PRAGMA data_version")
            .fetch_one(&mut conn)
            .await
        {
            Ok(version) if seen != Some(version) => {
                if seen.is_some() {
                    store.changed();
                }
                seen = Some(version);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("cannot watch {}: {e:#}", path.display()),
        }
        tokio::time::sleep(WATCH_EVERY).await;
    }
}

/// The store, and a read-only connection of our own whose
/// `data_version` moves with every commit made elsewhere.
async fn open(path: &std::path::Path) -> anyhow::Result<(Store, SqliteConnection)> {
    let store = Store::open(path).await?;
    let conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await?;
    Ok((store, conn))
}
