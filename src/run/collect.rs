//! Collecting a run's statuses without losing any: the hashtag stream for
//! speed, reconciliation with the server for completeness. Every
//! (re)connection is followed by a tag-timeline read from the last id seen,
//! so a post made while the stream was down is still recorded; replies
//! without the hashtag come from each question's context.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use tokio::sync::{watch, Mutex};
use tokio_util::sync::CancellationToken;

use super::daemon::Tuning;
use super::ingest::{judge, record, Judged, Outcome, RunPosts, RunWindow};
use super::poll::{no_streaming, Polling};
use super::welcome::Welcomer;
use crate::clock::SharedClock;
use crate::metrics::Metrics;
use crate::network::backoff::{retry, Backoff};
use crate::network::{NetError, Page, Social, Status};
use crate::store::{id_order, Store};

mod listen;
pub use listen::{Consumed, EventSource, MOST_PER_COMMIT};

/// Most timeline pages read in one reconciliation (40 statuses each).
const MAX_PAGES: usize = 250;
const PAGE: u32 = 40;

pub struct Collector {
    pub store: Store,
    pub social: Arc<dyn Social>,
    pub window: RunWindow,
    pub posts: watch::Receiver<RunPosts>,
    pub tuning: Tuning,
    /// The run's one clock: deletion times come from it, not the wall.
    pub clock: SharedClock,
    /// Newest id read from the tag timeline or the stream: where the next
    /// reconciliation resumes. Context replies do not move it (their ids
    /// can be newer than a tagged post not yet seen).
    cursor: Mutex<Option<String>>,
    /// Drops and failed connections: each is a gap the stream did not cover.
    gaps: AtomicU32,
    /// Set when the chat welcomes newcomers.
    welcomer: Option<Welcomer>,
    /// Statuses that could not be stored (database trouble): the final
    /// reconciliation then rereads everything instead of from the cursor.
    failures: AtomicU32,
    /// Answers captured and stream reconnects are counted here, under
    /// the chat's id.
    metrics: Arc<Metrics>,
    chat: String,
    /// Favourites and boosts of every status the final reconciliation
    /// reads (`Some` during it): stored once it is done.
    reactions: std::sync::Mutex<Option<HashMap<String, (u64, u64)>>>,
}

impl Collector {
    pub fn new(
        store: Store,
        social: Arc<dyn Social>,
        window: RunWindow,
        posts: watch::Receiver<RunPosts>,
        tuning: Tuning,
        clock: SharedClock,
        resumed: bool,
    ) -> Self {
        Self {
            store,
            social,
            window,
            posts,
            tuning,
            clock,
            welcomer: None,
            cursor: Mutex::new(None),
            gaps: AtomicU32::new(u32::from(resumed)),
            failures: AtomicU32::new(0),
            metrics: Default::default(),
            chat: String::new(),
            reactions: Default::default(),
        }
    }

    /// Counts this run's answers and reconnects in `metrics` under `chat`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>, chat: &str) -> Self {
        self.metrics = metrics;
        self.chat = chat.to_string();
        self
    }

    /// Welcomes first-time participants (`welcome_newcomers: true`).
    pub fn with_welcomer(mut self, welcomer: Option<Welcomer>) -> Self {
        self.welcomer = welcomer;
        self
    }

    /// Keeps a stream open until `stop`, reconnecting with backoff and
    /// reconciling after every connection. Where the server serves no
    /// stream, reads the tag timeline from the cursor at a budgeted
    /// interval instead, trying the stream again now and then. Returns
    /// only on `stop` or when the server refuses the token.
    pub async fn listen(&self, stop: CancellationToken) -> Result<(), NetError> {
        let mut backoff = Backoff::new(self.tuning.backoff_base, self.tuning.backoff_cap);
        let mut polling = Polling::new(self.clock.clone(), &self.tuning, "the tag timeline");
        let mut connections = 0u32;
        loop {
            let opened = tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                opened = self.social.hashtag_stream(self.window.hashtag.as_str()) => opened,
            };
            match opened {
                Ok(mut stream) => {
                    connections += 1;
                    tracing::info!(connections, "hashtag stream connected");
                    if connections > 1 {
                        self.metrics.stream_reconnected(&self.chat);
                    }
                    self.reconcile_logged().await;
                    let consumed = self.consume(&mut stream, &stop).await;
                    if consumed.stopped {
                        return Ok(());
                    }
                    // A gap starts now, whether or not a reconnection comes
                    // before the run ends.
                    self.gaps.fetch_add(1, Ordering::Relaxed);
                    if consumed.events > 0 {
                        backoff.reset();
                    }
                    tracing::warn!(
                        events = consumed.events,
                        commits = consumed.commits,
                        "hashtag stream dropped; reconnecting"
                    );
                }
                Err(e @ NetError::Unauthorized { .. }) => return Err(e),
                Err(e) if no_streaming(&e) => {
                    // Polling reads only new statuses: the gap makes the
                    // final reconciliation reread the timeline in full,
                    // which catches edits and deletes.
                    self.gaps.fetch_add(1, Ordering::Relaxed);
                    polling.begin(&e);
                    if !self.poll(&mut polling, &stop).await {
                        return Ok(());
                    }
                    continue;
                }
                Err(e) => {
                    self.gaps.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!("cannot open the hashtag stream: {e}");
                }
            }
            let delay = backoff.next_delay();
            tracing::info!(?delay, "waiting before reconnecting the stream");
            tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// Reads the tag timeline from the cursor at every interval until the
    /// stream is due to be tried again (`true`) or `stop` fires (`false`).
    async fn poll(&self, polling: &mut Polling, stop: &CancellationToken) -> bool {
        loop {
            // Taken before the read, so a slow read does not push the
            // schedule back.
            let next = polling.next_read();
            self.reconcile_logged().await;
            if !polling.wait_until(next, stop).await {
                return false;
            }
            if polling.stream_due() {
                return true;
            }
        }
    }

    /// Statuses read from the server (a page, or a page of one), judged
    /// with the run's posts as they are now and recorded together.
    async fn ingest_page(&self, statuses: Vec<Status>) -> anyhow::Result<Vec<Outcome>> {
        if let Some(reactions) = self.reactions().as_mut() {
            for s in &statuses {
                reactions.insert(s.id.clone(), (s.favourites_count, s.reblogs_count));
            }
        }
        let judged = {
            let posts = self.posts.borrow();
            statuses
                .into_iter()
                .map(|status| judge(&self.window, &posts, status))
                .collect()
        };
        self.record(judged).await
    }

    /// Records what was judged, then welcomes the authors of answers the
    /// store reports as new (when the chat welcomes newcomers).
    async fn record(&self, judged: Vec<Judged>) -> anyhow::Result<Vec<Outcome>> {
        // Who may be welcomed, taken before the rows go to the store.
        let answerers: Vec<Option<(String, String)>> = match &self.welcomer {
            Some(_) => judged.iter().map(answerer).collect(),
            None => Vec::new(),
        };
        let answering: Vec<bool> = judged
            .iter()
            .map(|j| matches!(j, Judged::Kept(row) if !row.1.is_empty()))
            .collect();
        let outcomes = record(&self.store, self.clock.as_ref(), self.window.run_id, judged).await?;
        let captured = outcomes
            .iter()
            .zip(&answering)
            .filter(|(outcome, answers)| **outcome == Outcome::New && **answers)
            .count();
        self.metrics.answers_captured(&self.chat, captured as u64);
        if let Some(welcomer) = &self.welcomer {
            for (outcome, answerer) in outcomes.iter().zip(answerers) {
                // An edit that turns a post into an answer counts too.
                if let (Outcome::New | Outcome::Edited, Some((id, account))) = (outcome, answerer) {
                    let now = self.clock.now();
                    welcomer
                        .greet(&self.store, &self.social, now, &self.window, &id, &account)
                        .await;
                }
            }
        }
        Ok(outcomes)
    }

    async fn advance_cursor(&self, id: &str) {
        let mut cursor = self.cursor.lock().await;
        let newer = cursor
            .as_deref()
            .is_none_or(|c| id_order(id, c) == std::cmp::Ordering::Greater);
        if newer {
            *cursor = Some(id.to_string());
        }
    }

    /// A read retried with backoff (and the server's `Retry-After` after a
    /// 429): reconciliation is what guarantees no answer is lost, so a
    /// passing fault must not skip it.
    async fn retrying<T, F, Fut>(&self, what: &str, call: F) -> Result<T, NetError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, NetError>>,
    {
        let mut backoff = Backoff::new(self.tuning.backoff_base, self.tuning.backoff_cap);
        retry(what, &mut backoff, self.tuning.post_attempts, call).await
    }

    async fn reconcile_logged(&self) {
        match self.reconcile_timeline().await.map(|ids| ids.len()) {
            Ok(0) => {}
            Ok(n) => tracing::info!(statuses = n, "reconciled the tag timeline"),
            Err(e) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("could not reconcile the tag timeline: {e:#}");
            }
        }
    }

    /// Reads the tag timeline from the cursor forward (or, with no cursor,
    /// backwards from the newest to the run's opening) and records what it
    /// finds. Returns how many statuses were read.
    pub async fn reconcile_timeline(&self) -> anyhow::Result<Vec<String>> {
        let start = self.cursor.lock().await.clone();
        match start {
            Some(min_id) => self.read_forward(min_id).await,
            None => self.read_back_to_opening().await,
        }
    }

    /// Reads the tag timeline forward from `min_id`, moving the cursor
    /// after each page is stored. Returns the ids read.
    async fn read_forward(&self, mut min_id: String) -> anyhow::Result<Vec<String>> {
        let tag = self.window.hashtag.as_str();
        let mut read = Vec::new();
        for _ in 0..MAX_PAGES {
            let page = Page {
                min_id: Some(min_id.clone()),
                limit: PAGE,
                ..Page::default()
            };
            let statuses = self
                .retrying("tag timeline", || self.social.tag_timeline(tag, &page))
                .await?;
            let count = statuses.len();
            let newest = statuses
                .iter()
                .map(|s| s.id.clone())
                .max_by(|a, b| id_order(a, b));
            read.extend(statuses.iter().map(|s| s.id.clone()));
            self.ingest_page(statuses).await?;
            match newest {
                Some(newest) => min_id = newest,
                None => break,
            }
            self.advance_cursor(&min_id).await;
            if count < PAGE as usize {
                break;
            }
        }
        Ok(read)
    }

    /// With no cursor: reads the tag timeline backwards from the newest
    /// status to the run's opening. Returns the ids read.
    async fn read_back_to_opening(&self) -> anyhow::Result<Vec<String>> {
        let tag = self.window.hashtag.as_str();
        let mut read = Vec::new();
        let mut max_id: Option<String> = None;
        // The cursor moves only once every page down to the run's
        // opening is stored; a failure part-way rescans next time.
        let mut newest: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = Page {
                max_id: max_id.clone(),
                limit: PAGE,
                ..Page::default()
            };
            let statuses = self
                .retrying("tag timeline", || self.social.tag_timeline(tag, &page))
                .await?;
            read.extend(statuses.iter().map(|s| s.id.clone()));
            if newest.is_none() {
                newest = statuses
                    .iter()
                    .map(|s| s.id.clone())
                    .max_by(|a, b| id_order(a, b));
            }
            let last_page = statuses.len() < PAGE as usize;
            let oldest = statuses
                .iter()
                .min_by(|a, b| id_order(&a.id, &b.id))
                .map(|s| (s.id.clone(), s.created_at));
            self.ingest_page(statuses).await?;
            let Some((oldest_id, oldest_at)) = oldest else {
                break;
            };
            if oldest_at < self.window.opens || last_page {
                break;
            }
            max_id = Some(oldest_id);
        }
        if let Some(newest) = newest {
            self.advance_cursor(&newest).await;
        }
        Ok(read)
    }

    /// Records the replies below the given posts of the bot (question
    /// contexts): replies without the hashtag, unlisted ones included,
    /// appear nowhere else.
    pub async fn reconcile_replies(&self, post_ids: &[String]) -> anyhow::Result<Vec<String>> {
        let mut read = Vec::new();
        for id in post_ids {
            let replies = match self.retrying("replies", || self.social.replies(id)).await {
                Ok(replies) => replies,
                // The post itself is gone (deleted by a moderator, or lost
                // by the server): it has no replies to read. Never let one
                // missing post stop the whole reconciliation.
                Err(NetError::Rejected { status: 404, .. }) => {
                    tracing::warn!(status_id = %id, "a post of the bot is gone; skipping its replies");
                    Vec::new()
                }
                Err(e) => return Err(e.into()),
            };
            read.extend(replies.iter().map(|s| s.id.clone()));
            self.ingest_page(replies).await?;
        }
        Ok(read)
    }

    /// The end of collection: the timeline and every context once more.
    /// What they return is the current version of each status (edits are
    /// recorded by ingesting it). A stored status they did not return is
    /// read on its own: a 404 means it was deleted. After a gap in the
    /// stream the timeline is reread in full, since the stream may have
    /// missed edits and deletes of any tagged post; without a gap only the
    /// replies, which no hashtag stream carries, need this.
    ///
    /// Its reads also carry each status's favourites and boosts, stored
    /// for the recap's top answers; so that every tagged answer is read,
    /// the timeline is always read back to the run's opening here (one
    /// request per 40 tagged statuses), not from the cursor.
    pub async fn final_reconcile(&self) -> anyhow::Result<()> {
        let gaps = self.gaps.load(Ordering::Relaxed);
        let full = gaps > 0 || self.failures.load(Ordering::Relaxed) > 0;
        *self.cursor.lock().await = None;
        *self.reactions() = Some(HashMap::new());
        let read = self.final_reads(full).await;
        let reactions: Vec<(String, u64, u64)> = self
            .reactions()
            .take()
            .unwrap_or_default()
            .into_iter()
            .map(|(id, (favourites, boosts))| (id, favourites, boosts))
            .collect();
        self.store
            .save_reactions(self.window.run_id, &reactions)
            .await?;
        tracing::info!(gaps, rechecked = read?, "final reconciliation done");
        Ok(())
    }

    fn reactions(&self) -> std::sync::MutexGuard<'_, Option<HashMap<String, (u64, u64)>>> {
        self.reactions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The reads of [`Collector::final_reconcile`]; returns how many
    /// statuses were read on their own.
    async fn final_reads(&self, full: bool) -> anyhow::Result<usize> {
        let mut seen: std::collections::HashSet<String> =
            self.reconcile_timeline().await?.into_iter().collect();
        let post_ids: Vec<String> = self.posts.borrow().keys().cloned().collect();
        seen.extend(self.reconcile_replies(&post_ids).await?);
        // As stored: a watched instance's ids under its key.
        let seen: std::collections::HashSet<String> = seen
            .into_iter()
            .map(|id| self.window.stored_id(id))
            .collect();
        let stored = self.store.statuses(self.window.run_id).await?;
        let mut rechecked = 0;
        // Lazily: does the server still have the bot's own posts?
        let mut server_lost_data: Option<bool> = None;
        // Each instance's rows are re-read there, by its own collector.
        let here = stored.iter().filter(|r| r.instance == self.window.instance);
        for row in here.filter(|r| r.deleted_at.is_none()) {
            // A tagged post's edits and deletes came on the stream; the
            // same rule as when it was judged, or a reply holding
            // `#1QEdChatter` would pass for tagged and never be checked.
            let tagged = self.window.hashtag.found_in(&row.text);
            if seen.contains(&row.status_id) || (tagged && !full) {
                continue;
            }
            rechecked += 1;
            self.recheck(&row.status_id, &post_ids, &mut server_lost_data)
                .await?;
        }
        Ok(rechecked)
    }

    /// Reads one stored status again: its current version is recorded, a
    /// 404 records its deletion, unless the server has lost the bot's own
    /// posts too (asked once, lazily, into `server_lost_data`).
    async fn recheck(
        &self,
        status_id: &str,
        post_ids: &[String],
        server_lost_data: &mut Option<bool>,
    ) -> anyhow::Result<()> {
        let found = self
            .retrying("status", || self.social.status(status_id))
            .await?;
        if let Some(status) = found {
            self.ingest_page(vec![status]).await?;
            return Ok(());
        }
        if server_lost_data.is_none() {
            // The bot's posts live on its own server, not a watched one.
            let home = self.window.instance.is_none();
            *server_lost_data = Some(home && self.own_posts_gone(post_ids).await?);
        }
        if *server_lost_data != Some(true) {
            self.record(vec![Judged::Gone(status_id.to_string())])
                .await?;
        }
        Ok(())
    }

    /// Whether the server no longer has the bot's own posts of this run.
    /// The bot never deletes them, so then the server lost data (restored
    /// from a backup, or a test server restarted in memory): a missing
    /// participant's post is no proof of a delete, and answers are kept.
    async fn own_posts_gone(&self, post_ids: &[String]) -> anyhow::Result<bool> {
        // The oldest: posts made after a loss exist again on the server.
        let Some(own) = post_ids.iter().min_by(|a, b| id_order(a, b)) else {
            return Ok(false);
        };
        let gone = self
            .retrying("status", || self.social.status(own))
            .await?
            .is_none();
        if gone {
            tracing::error!(
                status_id = %own,
                "the server no longer has the bot's own post: it lost data, so posts missing from it are kept, not taken as deleted"
            );
        }
        Ok(gone)
    }
}

/// The status id and account of a kept status that answers a question:
/// someone a welcome may be for.
fn answerer(judged: &Judged) -> Option<(String, String)> {
    match judged {
        Judged::Kept(row) if !row.1.is_empty() => {
            Some((row.0.status_id.clone(), row.0.account.clone()))
        }
        _ => None,
    }
}
