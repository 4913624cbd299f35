//! Reading the replies below the bot's posts beside the timeline. Once a
//! question's successor is out, its replies are read in a task of its own,
//! so a slow or hanging read (a server stuck on `/context`) never holds
//! back a post. The final reconciliation reads every context again, so a
//! read this task did not get to loses nothing.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::collect::Collector;
use super::daemon::TaskGuard;

/// Where the timeline hands the posts whose replies are to be read.
#[derive(Clone, Default)]
pub(super) struct ReplyReads(Option<mpsc::UnboundedSender<Vec<String>>>);

impl ReplyReads {
    /// Starts the reader; it stops at `stop` (the run's end or shutdown)
    /// and is awaited through the guard.
    pub(super) fn spawn(
        collector: Arc<Collector>,
        stop: CancellationToken,
    ) -> (Self, TaskGuard<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = TaskGuard::spawn(read_replies(collector, rx, stop).in_current_span());
        (Self(Some(tx)), task)
    }

    /// Asks for the replies below `status_ids`, without waiting for them.
    pub(super) fn read(&self, status_ids: Vec<String>) {
        let Some(tx) = &self.0 else { return };
        if status_ids.is_empty() {
            return;
        }
        if tx.send(status_ids).is_err() {
            tracing::warn!("the reply reader has stopped; replies are read at the run's end");
        }
    }
}

/// One read at a time, in the order asked. A failed read is logged and
/// the reader goes on: the final reconciliation reads it again.
async fn read_replies(
    collector: Arc<Collector>,
    mut asked: mpsc::UnboundedReceiver<Vec<String>>,
    stop: CancellationToken,
) {
    loop {
        let ids = tokio::select! {
            _ = stop.cancelled() => return,
            ids = asked.recv() => match ids {
                Some(ids) => ids,
                None => return,
            },
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            read = collector.reconcile_replies(&ids) => {
                if let Err(e) = read {
                    tracing::warn!("could not read replies: {e:#}");
                }
            }
        }
    }
}
