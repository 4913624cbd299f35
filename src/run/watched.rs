//! Answers from other instances (`also_watch`) during a run: one watcher
//! per watched instance polls its public tag timeline from a cursor, and
//! reads it once more after collection ends (the same final
//! reconciliation as at home: edits, and a 404 on a status read by its id
//! there is a delete). Each reads through its own [`Collector`] over a
//! [`WatchedServer`], so it judges and records through the one ingest
//! pipeline; a post also seen at home stays one answer (the store merges
//! by uri).
//!
//! A watched instance that refuses (401/403), throttles, fails or is down
//! costs one warning naming it, never the run: it is read again at the
//! backoff pace. Nothing here touches the bot's own server.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::{watch, OnceCell};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::collect::Collector;
use super::daemon::{TaskGuard, Tuning};
use super::ingest::{RunPosts, RunWindow};
use crate::chats::IgnoreRule;
use crate::clock::SharedClock;
use crate::network::{Backoff, NetError, Social, Trust, WatchedServer};
use crate::store::Store;

/// What every watcher of a run shares.
#[derive(Clone)]
pub(crate) struct Shared {
    pub store: Store,
    pub clock: SharedClock,
    pub tuning: Tuning,
    /// The run's window at home; each watcher adapts it.
    pub home: RunWindow,
    /// The bot's `user@domain`: its posts reach watched instances too.
    pub bot_handle: String,
}

/// One watched instance during one run.
pub(crate) struct Watcher {
    server: Arc<WatchedServer>,
    shared: Shared,
    /// Built at the first read that learns the instance's domain.
    collector: OnceCell<Collector>,
    /// Its one warning has been given.
    warned: AtomicBool,
}

impl Watcher {
    pub(crate) fn new(server: Arc<WatchedServer>, shared: Shared) -> Self {
        Self {
            server,
            shared,
            collector: OnceCell::new(),
            warned: AtomicBool::new(false),
        }
    }

    /// Reads the tag timeline every poll interval until `stop`; after a
    /// failure, at the backoff pace instead.
    pub(crate) async fn listen(&self, stop: CancellationToken) {
        let tuning = &self.shared.tuning;
        let mut backoff = Backoff::new(tuning.backoff_base, tuning.backoff_cap);
        loop {
            // Taken before the read: a slow read does not push it back.
            let mut next = self.shared.clock.now() + chrono_of(tuning.poll_interval);
            match self.read_new().await {
                Ok(()) => backoff.reset(),
                Err(e) => {
                    self.failed(&e);
                    let delay = backoff.next_delay().max(tuning.poll_interval);
                    next = self.shared.clock.now() + chrono_of(delay);
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                () = self.shared.clock.sleep_until(next) => {}
            }
        }
    }

    /// After collection ends: the whole tag timeline once more, and each
    /// stored status it did not return read by its id (a few attempts at
    /// the backoff pace; then the instance is left as it was).
    pub(crate) async fn final_reconcile(&self) {
        let tuning = &self.shared.tuning;
        let mut backoff = Backoff::new(tuning.backoff_base, tuning.backoff_cap);
        for _ in 0..tuning.post_attempts.clamp(1, 3) {
            let done = match self.collector().await {
                Ok(collector) => collector.final_reconcile().await,
                Err(e) => Err(e.into()),
            };
            match done {
                Ok(()) => return,
                Err(e) => self.failed(&e),
            }
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }

    async fn read_new(&self) -> anyhow::Result<()> {
        let read = self.collector().await?.reconcile_timeline().await?;
        if !read.is_empty() {
            tracing::info!(
                instance = self.server.name(),
                statuses = read.len(),
                "read a watched instance"
            );
        }
        Ok(())
    }

    /// The collector, once the instance has said which domain its own
    /// accounts live on (their `acct` has none).
    async fn collector(&self) -> Result<&Collector, NetError> {
        self.collector
            .get_or_try_init(|| async {
                let domain = self.server.instance().await?.domain;
                Ok(self.new_collector(domain))
            })
            .await
    }

    fn new_collector(&self, domain: String) -> Collector {
        let shared = &self.shared;
        let window = watched_window(&shared.home, &shared.bot_handle, self.server.name(), domain);
        // No retries inside a read: the watcher paces them (one warning).
        let tuning = Tuning {
            post_attempts: 1,
            ..shared.tuning.clone()
        };
        let (_, posts) = watch::channel(RunPosts::new());
        let social: Arc<dyn Social> = Arc::clone(&self.server) as Arc<dyn Social>;
        // "Resumed": polling is no stream, so the end rereads in full.
        Collector::new(
            shared.store.clone(),
            social,
            window,
            posts,
            tuning,
            shared.clock.clone(),
            true,
        )
    }

    /// One warning per instance, naming it; later failures are quieter.
    fn failed(&self, error: &dyn std::fmt::Display) {
        let instance = self.server.name();
        if self.warned.swap(true, Ordering::Relaxed) {
            tracing::info!(instance, "watched instance still unreadable: {error}");
        } else {
            tracing::warn!(
                instance,
                "cannot read the tag timeline of the watched instance {instance}: {error}; the run goes on and it is tried again"
            );
        }
    }
}

/// The home window as seen from a watched instance: its local accounts
/// live on `domain`, its ids are its own (no mute of the bot's account
/// ids applies), and the bot is known there by its full handle.
fn watched_window(home: &RunWindow, bot_handle: &str, name: &str, domain: String) -> RunWindow {
    let mut window = home.clone();
    window.domain = domain;
    window.instance = Some(name.to_string());
    window.ignore.account_ids.clear();
    let bot = bot_handle.trim_start_matches('@').to_lowercase();
    window.ignore.rules.push(IgnoreRule::Account(bot));
    window
}

fn chrono_of(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// The watchers of one run and their tasks.
#[derive(Default)]
pub(crate) struct Watchers {
    watchers: Vec<Arc<Watcher>>,
    tasks: Vec<TaskGuard<()>>,
}

impl Watchers {
    /// A watcher per instance of the account's `also_watch`, each polling
    /// until `stop`, trusting what the account trusts (`ca_file:`).
    pub(crate) fn spawn(
        account: &crate::chats::Account,
        shared: &Shared,
        stop: &CancellationToken,
    ) -> Self {
        let mut all = Self::default();
        if account.also_watch().is_empty() {
            return all;
        }
        let trust = match Trust::with_extra(account.ca_certificates()) {
            Ok(trust) => trust,
            Err(e) => {
                tracing::warn!("cannot watch other instances: {e}");
                return all;
            }
        };
        for url in account.also_watch() {
            let timeout = shared.tuning.request_timeout;
            let server = match WatchedServer::new(url, timeout, &trust) {
                Ok(server) => Arc::new(server),
                Err(e) => {
                    tracing::warn!(instance = %url, "cannot watch {url}: {e}");
                    continue;
                }
            };
            let watcher = Arc::new(Watcher::new(server, shared.clone()));
            let (task, stop) = (Arc::clone(&watcher), stop.clone());
            let span = tracing::info_span!("watch", instance = watcher.server.name());
            all.tasks.push(TaskGuard::spawn(
                async move { task.listen(stop).await }.instrument(span),
            ));
            all.watchers.push(watcher);
        }
        all
    }

    /// Waits for the polling tasks (after their stop token fired).
    pub(crate) async fn stop(&mut self) {
        for task in self.tasks.drain(..) {
            if let Err(e) = task.join().await {
                tracing::error!("a watcher failed: {e}");
            }
        }
    }

    /// The final reconciliation of every watched instance, side by side.
    pub(crate) async fn final_reconcile(&self) {
        let all = self.watchers.iter().map(|w| w.final_reconcile());
        futures_util::future::join_all(all).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::{Account, Status};
    use crate::run::ingest::{judge, tests::window_of, Judged};

    fn status(acct: &str, account_id: &str, html: &str, reply_to: Option<&str>) -> Status {
        Status {
            id: "11".into(),
            uri: format!("https://b.example/users/x/statuses/{acct}"),
            url: None,
            account: Account {
                id: account_id.into(),
                acct: acct.into(),
                display_name: String::new(),
                url: None,
                bot: false,
            },
            content: html.into(),
            created_at: window_of(1).opens + chrono::Duration::minutes(6),
            edited_at: None,
            in_reply_to_id: reply_to.map(Into::into),
            visibility: "public".into(),
            reblog: None,
            tags: Vec::new(),
            favourites_count: 0,
            reblogs_count: 0,
        }
    }

    #[test]
    fn on_a_watched_instance_ids_are_its_own_and_handles_carry_its_domain() {
        let home = window_of(1);
        let window = watched_window(
            &home,
            "@Bot@fake.example",
            "b.example:8443",
            "b.example".into(),
        );
        // The run's Q1 post is "11" at home: "11" on B is another post.
        let posts = RunPosts::from([("11".to_string(), Some(1))]);
        let cases = [
            (
                "a local account, tagged",
                status("sam", "1", "<p>A2 #1QEdChat</p>", None),
                Some(("b.example:8443/11", "sam@b.example", vec![2])),
            ),
            (
                "the bot's own post, federated there",
                status("bot@fake.example", "7", "<p>Q1 #1QEdChat</p>", None),
                None,
            ),
            (
                "an untagged reply to B's own 11",
                status("sam", "2", "<p>yes</p>", Some("11")),
                None,
            ),
        ];
        for (case, status, want) in cases {
            let got = match judge(&window, &posts, status) {
                Judged::Kept(row) => Some((row.0.status_id, row.0.account, row.1)),
                _ => None,
            };
            let want = want.map(|(id, acct, q)| (id.to_string(), acct.to_string(), q));
            assert_eq!(got, want, "{case}");
        }
    }
}
