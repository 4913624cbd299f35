//! The account's one Jetstream socket, shared by every stream the
//! platform hands out (each chat's hashtag stream, the mention stream):
//! the public firehose is read once per account, not once per stream.
//!
//! The socket starts with the first subscriber and stops when the last
//! one is dropped. Each subscriber's filter judges every decoded event
//! (`Jetstream::deliver`) and gets only what it takes. One cursor is kept
//! for the account, under the feed name [`FEED`].

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::mpsc;

use super::Inner;
use crate::network::bluesky::{Delivery, Filter, JetEvent, Jetstream};
use crate::network::{HashtagStream, StreamEvent};

/// Events waiting for a collector: the socket is read ahead this far.
const QUEUE: usize = 256;

/// How far (in event time) the kept cursor may lag the read one: the
/// store is written at most this often, and a restart replays no more.
const SAVE_EVERY_US: u64 = 10_000_000;

/// The oldest cursor a socket resumes from: after a longer pause (the
/// week between two runs) it starts live instead of replaying hours of
/// the whole network's posts.
const MAX_RESUME: std::time::Duration = std::time::Duration::from_secs(3600);

/// The account's cursor in the [`CursorStore`](super::CursorStore).
/// Before the socket was shared each stream kept its own (`tag <hashtag>`,
/// `mentions`): when this one is not stored yet, the first subscriber's
/// old one is read instead, so an upgrade misses nothing.
pub(super) const FEED: &str = "posts";

/// Which stream a subscriber is.
#[derive(Clone, Copy)]
pub(super) enum Feed {
    Tag,
    Mentions,
}

/// A stream waiting to be served.
struct Subscriber {
    filter: Filter,
    feed: Feed,
    tx: mpsc::Sender<StreamEvent>,
}

/// The running socket's door, if one runs. An async lock: it is held
/// while a new socket reads its stored cursor, so two streams opened at
/// once never start two sockets, and by the socket while it decides to
/// stop, so no subscriber is handed to a socket that is leaving.
#[derive(Default)]
pub(super) struct Slot(tokio::sync::Mutex<Option<mpsc::UnboundedSender<Subscriber>>>);

impl Inner {
    /// A stream fed by the account's Jetstream socket, started here when
    /// none runs. `legacy` is the cursor name the stream kept on its own
    /// before the socket was shared (read once, see [`FEED`]).
    pub(super) async fn open(
        self: &Arc<Self>,
        filter: Filter,
        feed: Feed,
        legacy: String,
    ) -> HashtagStream {
        let (tx, rx) = mpsc::channel(QUEUE);
        let subscriber = Subscriber { filter, feed, tx };
        let mut slot = self.socket.0.lock().await;
        let subscriber = match slot.as_ref() {
            Some(door) => match door.send(subscriber) {
                Ok(()) => return HashtagStream::local(rx),
                // The socket ended on its own (an unusable URL): start anew.
                Err(mpsc::error::SendError(back)) => back,
            },
            None => subscriber,
        };
        let cursor = self.cursor(&legacy).await;
        let jet = Jetstream::new(self.jetstream.clone(), subscriber.filter, cursor)
            .with_trust(self.client.trust().clone());
        let (door, doorstep) = mpsc::unbounded_channel();
        *slot = Some(door);
        let first = (subscriber.feed, subscriber.tx);
        // Not joined: its owners are the streams, and it stops as soon as
        // the last one is dropped, keeping its cursor.
        tokio::spawn(Arc::clone(self).serve(jet, first, doorstep, cursor));
        HashtagStream::local(rx)
    }

    /// Reads the socket and hands each event to the subscribers that take
    /// it, until the last subscriber is gone or the URL is unusable.
    async fn serve(
        self: Arc<Self>,
        mut jet: Jetstream,
        (feed, tx): (Feed, mpsc::Sender<StreamEvent>),
        mut doorstep: mpsc::UnboundedReceiver<Subscriber>,
        mut saved: Option<u64>,
    ) {
        // `Jetstream::new` gave the first subscriber the id 0.
        let mut subscribers = HashMap::from([(0, (feed, tx.clone()))]);
        let mut gone = FuturesUnordered::new();
        gone.push(closed(0, tx));
        loop {
            if subscribers.is_empty() && !self.stay_for_late_comer(&mut doorstep).await {
                break;
            }
            // Biased: a subscriber that arrived is added before the next
            // frame is judged. Cancelling `next_delivery` loses nothing
            // (it keeps a half-open connection, and reads whole frames).
            tokio::select! {
                biased;
                Some(id) = gone.next() => {
                    subscribers.remove(&id);
                    jet.unsubscribe(id);
                }
                Some(new) = doorstep.recv() => {
                    let id = jet.subscribe(new.filter);
                    gone.push(closed(id, new.tx.clone()));
                    subscribers.insert(id, (new.feed, new.tx));
                }
                delivery = jet.next_delivery() => {
                    let delivery = match delivery {
                        Ok(delivery) => delivery,
                        Err(e) => {
                            tracing::error!("the Jetstream socket stopped: {e}");
                            break;
                        }
                    };
                    saved = self.keep_cursor(jet.cursor(), saved).await;
                    self.fan_out(delivery, &mut subscribers).await;
                }
            }
        }
        if let Some(read) = jet.cursor().filter(|read| Some(*read) != saved) {
            self.save_cursor(FEED, read).await;
        }
    }

    /// With no subscriber left: whether one was handed over meanwhile (the
    /// socket then stays). Decided under the slot's lock, which `open`
    /// holds while it hands one over.
    async fn stay_for_late_comer(
        &self,
        doorstep: &mut mpsc::UnboundedReceiver<Subscriber>,
    ) -> bool {
        let mut slot = self.socket.0.lock().await;
        if doorstep.is_empty() {
            *slot = None;
            return false;
        }
        true
    }

    /// Notes the read cursor, and stores it every [`SAVE_EVERY_US`].
    async fn keep_cursor(&self, read: Option<u64>, saved: Option<u64>) -> Option<u64> {
        let Some(read) = read else {
            return saved;
        };
        self.known().cursor = Some(read);
        if saved.is_none_or(|s| read >= s + SAVE_EVERY_US) {
            self.save_cursor(FEED, read).await;
            return Some(read);
        }
        saved
    }

    /// Sends the event, as each subscriber's stream reads it, to those
    /// that take it; one whose stream is gone is dropped from the map.
    async fn fan_out(
        &self,
        delivery: Delivery,
        subscribers: &mut HashMap<u64, (Feed, mpsc::Sender<StreamEvent>)>,
    ) {
        for id in delivery.to {
            let Some((feed, tx)) = subscribers.get(&id) else {
                continue;
            };
            let Some(event) = self.stream_event(*feed, delivery.event.clone()).await else {
                continue;
            };
            if tx.send(event).await.is_err() {
                subscribers.remove(&id);
            }
        }
    }

    /// Where the socket resumes: this process's cursor, else the stored
    /// one (the account's, else the first stream's own from before the
    /// socket was shared), else live.
    async fn cursor(&self, legacy: &str) -> Option<u64> {
        let known = self.known().cursor;
        let cursor = match (known, &self.cursors) {
            (Some(cursor), _) => cursor,
            (None, None) => return None,
            (None, Some(store)) => {
                let mut stored = Ok(None);
                for feed in [FEED, legacy] {
                    stored = store.load_cursor(feed).await;
                    if !matches!(stored, Ok(None)) {
                        break;
                    }
                }
                match stored {
                    Ok(cursor) => cursor?,
                    Err(e) => {
                        tracing::warn!("cannot read the stored Jetstream cursor: {e}");
                        return None;
                    }
                }
            }
        };
        let resumed = recent(cursor, Utc::now());
        if resumed.is_none() {
            tracing::info!("the Jetstream cursor is over an hour old; reading live");
        }
        resumed
    }

    async fn save_cursor(&self, name: &str, time_us: u64) {
        if let Some(store) = &self.cursors {
            if let Err(e) = store.save_cursor(name, time_us).await {
                tracing::warn!(feed = name, "cannot store the Jetstream cursor: {e}");
            }
        }
    }

    /// What a Jetstream event is on the feed, `None` when nothing.
    async fn stream_event(&self, feed: Feed, event: JetEvent) -> Option<StreamEvent> {
        Some(match (feed, event) {
            (Feed::Mentions, JetEvent::Created(post)) => {
                StreamEvent::Mention(self.jet_status(&post, false).await)
            }
            (Feed::Mentions, _) => return None,
            (Feed::Tag, JetEvent::Created(post)) => {
                StreamEvent::Update(self.jet_status(&post, false).await)
            }
            (Feed::Tag, JetEvent::Updated(post)) => {
                StreamEvent::Edit(self.jet_status(&post, true).await)
            }
            (Feed::Tag, JetEvent::Deleted { uri, .. }) => StreamEvent::Delete(uri),
        })
    }
}

/// Resolves to `id` once its stream (the receiver of `tx`) is dropped.
async fn closed(id: u64, tx: mpsc::Sender<StreamEvent>) -> u64 {
    tx.closed().await;
    id
}

/// `cursor` when it is at most [`MAX_RESUME`] before `now`.
fn recent(cursor: u64, now: DateTime<Utc>) -> Option<u64> {
    let oldest = now.timestamp_micros() - MAX_RESUME.as_micros() as i64;
    (cursor as i64 >= oldest).then_some(cursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_from_the_last_weeks_run_is_not_resumed_but_a_restarts_is() {
        let now: DateTime<Utc> = "2026-12-07T20:30:00Z".parse().unwrap();
        let at = |t: &str| t.parse::<DateTime<Utc>>().unwrap().timestamp_micros() as u64;
        let restart = at("2026-12-07T20:10:00Z");
        assert_eq!(recent(restart, now), Some(restart));
        assert_eq!(recent(at("2026-11-30T20:45:00Z"), now), None);
    }
}
