//! Group commit for the live stream. A status that arrives while nothing is
//! being stored is committed at once, alone: a live answer is in the
//! database within milliseconds. Statuses that arrive while a commit is
//! under way are judged as they come (JSON, HTML to text, labels) and wait;
//! they go to the database together in the next commit, up to
//! [`MOST_PER_COMMIT`]. Under a flood (a burst of answers, a server
//! replaying a backlog) the per-commit cost is shared by hundreds of
//! statuses, and judging overlaps with SQLite's own work on its thread.
//! See docs/PERFORMANCE.md, figure 1.

use std::future::Future;
use std::sync::atomic::Ordering;

use tokio_util::sync::CancellationToken;

use super::Collector;
use crate::network::{HashtagStream, Status, StreamEvent};
use crate::run::ingest::{judge, Judged};
use crate::store::id_order;

/// Most events stored in one commit.
pub const MOST_PER_COMMIT: usize = 500;

/// Most events waiting for a commit. Past it the listener stops reading
/// until the commit under way is done, so a flood cannot grow memory
/// without bound. Twice a commit, so that while one commit finishes the
/// listener goes on judging the one after next.
const MOST_WAITING: usize = 2 * MOST_PER_COMMIT;

/// Where streamed events come from: the hashtag stream, or a benchmark's
/// corpus.
pub trait EventSource: Send {
    /// The next event; `None` once the source has ended. Must be
    /// cancel-safe: the listener drops it when another branch wins.
    fn next(&mut self) -> impl Future<Output = Option<StreamEvent>> + Send;
}

impl EventSource for HashtagStream {
    fn next(&mut self) -> impl Future<Output = Option<StreamEvent>> + Send {
        HashtagStream::next(self)
    }
}

/// What [`Collector::consume`] did before it returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Consumed {
    /// The stop token fired (otherwise the source ended). Either way,
    /// everything received before was stored.
    pub stopped: bool,
    /// Events received.
    pub events: u64,
    /// Commits they took: as many as the events when they came one at a
    /// time, far fewer under a flood.
    pub commits: u64,
}

/// Consecutive statuses of a commit, stored in one transaction.
#[derive(Default)]
struct Segment {
    judged: Vec<Judged>,
    /// The newest `update` among them: where the cursor moves once stored.
    newest: Option<String>,
}

/// A commit under way, polled by the listener's own loop.
type Commit<'a> = std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// An event as received and judged, waiting for its commit.
struct Received {
    judged: Judged,
    /// The id of an `update` (not an edit): storing it moves the
    /// reconciliation cursor.
    update: Option<String>,
}

impl Collector {
    /// Reads `source` until it ends or `stop` fires, storing every event
    /// with group commit. Whatever was received is stored before it
    /// returns, so the cursor is current for the next reconciliation.
    /// A commit is a future of this task, not a task of its own: on two
    /// cores a separate task made the listener, the commit and SQLite's
    /// thread compete (76k statuses/s against 93k, see PERFORMANCE.md).
    pub async fn consume<S: EventSource>(
        &self,
        source: &mut S,
        stop: &CancellationToken,
    ) -> Consumed {
        let mut waiting: Vec<Received> = Vec::new();
        let mut committing: Option<Commit<'_>> = None;
        let mut events = 0u64;
        let mut commits = 0u64;
        let mut ended = false;
        let mut stopped = false;
        loop {
            if committing.is_none() && !waiting.is_empty() {
                commits += 1;
                let batch: Vec<Received> = if waiting.len() > MOST_PER_COMMIT {
                    let rest = waiting.split_off(MOST_PER_COMMIT);
                    std::mem::replace(&mut waiting, rest)
                } else {
                    std::mem::take(&mut waiting)
                };
                committing = Some(Box::pin(self.commit(batch)));
            }
            let reading = !ended && !stopped;
            if committing.is_none() && !reading {
                break;
            }
            tokio::select! {
                biased;
                () = async { committing.as_mut().expect("guarded by the condition").await },
                    if committing.is_some() => committing = None,
                _ = stop.cancelled(), if reading => stopped = true,
                event = source.next(), if reading && waiting.len() < MOST_WAITING => {
                    match event {
                        Some(event) => {
                            events += 1;
                            waiting.extend(self.receive(event));
                        }
                        None => ended = true,
                    }
                }
            }
        }
        Consumed {
            stopped,
            events,
            commits,
        }
    }

    /// Judges an event as it arrives, with the run's posts as they are now.
    fn receive(&self, event: StreamEvent) -> Option<Received> {
        let judged = |status: Status| judge(&self.window, &self.posts.borrow(), status);
        Some(match event {
            StreamEvent::Update(status) => Received {
                update: Some(status.id.clone()),
                judged: judged(status),
            },
            StreamEvent::Edit(status) => Received {
                update: None,
                judged: judged(status),
            },
            StreamEvent::Delete(id) => Received {
                update: None,
                judged: Judged::Gone(id),
            },
            // Mentions come on the user stream, handled by the commands task.
            StreamEvent::Mention(_) => return None,
            StreamEvent::Undecodable { event, reason } => {
                tracing::warn!(%event, "skipped a stream frame that could not be decoded: {reason}");
                return None;
            }
        })
    }

    /// Stores received events in arrival order: each stretch of statuses in
    /// one transaction, each delete on its own, so that one failing write
    /// loses no other.
    async fn commit(&self, received: Vec<Received>) {
        let mut segment = Segment::default();
        for Received { judged, update } in received {
            if let Judged::Gone(_) = judged {
                self.commit_segment(std::mem::take(&mut segment)).await;
                self.commit_segment(Segment {
                    judged: vec![judged],
                    newest: None,
                })
                .await;
                continue;
            }
            if let Some(id) = update {
                if segment
                    .newest
                    .as_ref()
                    .is_none_or(|n| id_order(&id, n).is_gt())
                {
                    segment.newest = Some(id);
                }
            }
            segment.judged.push(judged);
        }
        self.commit_segment(segment).await;
    }

    async fn commit_segment(&self, segment: Segment) {
        if segment.judged.is_empty() {
            return;
        }
        let count = segment.judged.len();
        if let Err(e) = self.record(segment.judged).await {
            // The final reconciliation reads the whole timeline again.
            self.failures.fetch_add(1, Ordering::Relaxed);
            tracing::error!(events = count, "could not record streamed events: {e:#}");
            return;
        }
        if let Some(newest) = &segment.newest {
            self.advance_cursor(newest).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Arc;
    use std::time::Duration;

    use chrono::{DateTime, TimeZone, Utc};
    use tokio::sync::{mpsc, watch};

    use super::*;
    use crate::clock::{ManualClock, SharedClock};
    use crate::network::Account;
    use crate::run::daemon::Tuning;
    use crate::run::dry::DryRun;
    use crate::run::ingest::RunPosts;
    use crate::store::{StatusRow, Store};

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, 20, minute, 0).unwrap()
    }

    fn status(id: u64, html: &str) -> Status {
        Status {
            id: id.to_string(),
            uri: String::new(),
            url: None,
            account: Account {
                id: (2 + id % 7).to_string(),
                acct: format!("user{}", id % 7),
                display_name: String::new(),
                url: None,
                bot: false,
            },
            content: html.into(),
            created_at: at(6),
            edited_at: None,
            in_reply_to_id: None,
            visibility: "public".into(),
            reblog: None,
            tags: Vec::new(),
            favourites_count: 0,
            reblogs_count: 0,
        }
    }

    fn answer(id: u64, question: u32) -> StreamEvent {
        StreamEvent::Update(status(id, &format!("<p>A{question} yes #1QEdChat</p>")))
    }

    async fn collector() -> (tempfile::TempDir, Arc<Collector>) {
        collector_at(&ManualClock::new(at(6))).await
    }

    async fn collector_at(clock: &ManualClock) -> (tempfile::TempDir, Arc<Collector>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("h.db")).await.unwrap();
        let run = store.open_run("chat", at(0), at(50)).await.unwrap();
        let window = crate::run::ingest::tests::window_of(run.id);
        let (_, posts) = watch::channel(RunPosts::new());
        let clock: SharedClock = Arc::new(clock.clone());
        let social = Arc::new(DryRun::new(chrono_tz::UTC, Arc::clone(&clock)));
        let tuning = Tuning::default();
        let collector = Collector::new(store, social, window, posts, tuning, clock, false);
        (dir, Arc::new(collector))
    }

    async fn stored(collector: &Collector) -> Vec<StatusRow> {
        collector
            .store
            .statuses(collector.window.run_id)
            .await
            .unwrap()
    }

    /// Events handed out one per `next()` call, ready at once; when they
    /// run out, `stop` fires (if given) and the source waits forever.
    struct Ready {
        events: VecDeque<StreamEvent>,
        stop_when_empty: Option<CancellationToken>,
    }

    impl EventSource for Ready {
        async fn next(&mut self) -> Option<StreamEvent> {
            match self.events.pop_front() {
                Some(event) => Some(event),
                None => match &self.stop_when_empty {
                    Some(stop) => {
                        stop.cancel();
                        std::future::pending().await
                    }
                    None => None,
                },
            }
        }
    }

    struct Channel(mpsc::UnboundedReceiver<StreamEvent>);

    impl EventSource for Channel {
        async fn next(&mut self) -> Option<StreamEvent> {
            self.0.recv().await
        }
    }

    #[tokio::test]
    async fn a_lone_answer_is_committed_without_waiting_for_more() {
        let (_dir, collector) = collector().await;
        let (send, receive) = mpsc::unbounded_channel();
        let listening = tokio::spawn({
            let collector = collector.clone();
            async move {
                let stop = CancellationToken::new();
                collector.consume(&mut Channel(receive), &stop).await
            }
        });
        for (id, count) in [(10, 1), (11, 2)] {
            send.send(answer(id, 1)).unwrap();
            // Nothing else arrives: the answer must be stored on its own.
            tokio::time::timeout(Duration::from_secs(10), async {
                while stored(&collector).await.len() < count {
                    tokio::task::yield_now().await;
                }
            })
            .await
            .expect("the answer is committed while the stream stays quiet");
        }
        assert!(!listening.is_finished());
        drop(send);
        let consumed = listening.await.unwrap();
        assert_eq!(
            consumed,
            Consumed {
                stopped: false,
                events: 2,
                commits: 2
            }
        );
        assert_eq!(collector.cursor.lock().await.as_deref(), Some("11"));
    }

    #[tokio::test]
    async fn a_flood_takes_few_commits_and_ends_as_one_at_a_time_would() {
        let (_dir, collector) = collector().await;
        let mut events: VecDeque<StreamEvent> = (1..=1200).map(|id| answer(id, 1)).collect();
        let mut edit = status(5, "<p>A2 changed my mind #1QEdChat</p>");
        edit.edited_at = Some(at(9));
        events.push_back(StreamEvent::Edit(edit));
        events.push_back(StreamEvent::Delete("7".into()));
        // A replay of a deleted post does not bring it back.
        events.push_back(answer(7, 3));
        events.push_back(StreamEvent::Undecodable {
            event: "update".into(),
            reason: "garbage".into(),
        });
        events.push_back(StreamEvent::Update(status(1201, "<p>A1 no tag</p>")));
        let sent = events.len() as u64;
        let mut source = Ready {
            events,
            stop_when_empty: None,
        };
        let consumed = collector
            .consume(&mut source, &CancellationToken::new())
            .await;
        assert!(!consumed.stopped);
        assert_eq!(consumed.events, sent);
        assert!(
            consumed.commits * 4 <= consumed.events,
            "statuses that arrive during a commit share the next one: {consumed:?}"
        );
        let rows = stored(&collector).await;
        assert_eq!(
            rows.len(),
            1200,
            "the untagged status is not part of the run"
        );
        let row = |id: &str| rows.iter().find(|r| r.status_id == id).unwrap();
        assert_eq!(row("5").answers, vec![2]);
        assert_eq!(row("5").text, "A2 changed my mind #1QEdChat");
        assert!(row("7").deleted_at.is_some());
        assert_eq!(row("7").answers, vec![1]);
        assert!(rows
            .iter()
            .filter(|r| !["5", "7"].contains(&r.status_id.as_str()))
            .all(|r| r.answers == vec![1] && r.deleted_at.is_none()));
        // The newest update read, stored or not, is where reconciliation resumes.
        assert_eq!(collector.cursor.lock().await.as_deref(), Some("1201"));
    }

    #[tokio::test]
    async fn a_stop_stores_everything_received_before_it() {
        let (_dir, collector) = collector().await;
        let stop = CancellationToken::new();
        let mut source = Ready {
            events: (1..=300).map(|id| answer(id, 2)).collect(),
            stop_when_empty: Some(stop.clone()),
        };
        let consumed = collector.consume(&mut source, &stop).await;
        assert!(consumed.stopped);
        assert_eq!(consumed.events, 300);
        let rows = stored(&collector).await;
        assert_eq!(rows.len(), 300);
        assert!(rows.iter().all(|r| r.answers == vec![2]));
    }

    #[tokio::test]
    async fn a_deletion_is_stamped_with_the_run_clock_not_the_wall() {
        let clock = ManualClock::new(at(6));
        let (_dir, collector) = collector_at(&clock).await;
        let mut source = Ready {
            events: [answer(1, 1)].into(),
            stop_when_empty: None,
        };
        collector
            .consume(&mut source, &CancellationToken::new())
            .await;
        clock.advance(chrono::Duration::minutes(14));
        let mut source = Ready {
            events: [StreamEvent::Delete("1".into())].into(),
            stop_when_empty: None,
        };
        collector
            .consume(&mut source, &CancellationToken::new())
            .await;
        assert_eq!(stored(&collector).await[0].deleted_at, Some(at(20)));
    }

    #[tokio::test]
    async fn a_newcomer_is_welcomed_once_for_a_new_answer_at_the_run_clock_time() {
        let clock = ManualClock::new(at(6));
        let (_dir, collector) = collector_at(&clock).await;
        let collector = Arc::try_unwrap(collector).ok().unwrap().with_welcomer(Some(
            crate::run::welcome::Welcomer::new("chat".into(), at(0)),
        ));
        clock.advance(chrono::Duration::minutes(3));
        // Ids 7, 14 and 21 are all user0's.
        let hello = status(7, "<p>hello #1QEdChat</p>");
        let mut source = Ready {
            events: [
                StreamEvent::Update(hello),
                answer(14, 1),
                answer(14, 1),
                answer(21, 2),
            ]
            .into(),
            stop_when_empty: None,
        };
        collector
            .consume(&mut source, &CancellationToken::new())
            .await;
        let welcomes = collector.store.welcomes("chat").await.unwrap();
        assert_eq!(
            welcomes,
            vec![("user0@fake.example".into(), "14".into(), at(9))],
            "one welcome, for the first answer, at the run clock's time"
        );
    }
}
