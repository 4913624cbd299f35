//! The storage operations, listed once: the [`Backend`] trait that SQLite
//! and PostgreSQL implement, the [`super::Store`] methods that call it, and
//! the delegation from a backend's own methods to the trait are all
//! generated from the one list below, so they cannot drift apart.
//!
//! `write` operations tell the pages' watchers after they succeed (what
//! `Store::changed` did inside each method before there were two stores);
//! `read` ones, and writes the pages do not show, do not.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::{Answered, PostRow, PostState, Recorded, RunActivity, RunRow, StatusRow, SteerRecord};
use crate::schedule::PlanPost;

/// Calls `$callback! { [extra tokens;] <the list of operations> }`.
macro_rules! with_operations {
    ($callback:ident $(, $extra:tt)?) => {
        $callback! { $($extra;)?
            /// The run of `chat_id` planned for `planned_start`, created when new.
            write fn open_run(chat_id: &str, planned_start: DateTime<Utc>, collect_until: DateTime<Utc>) -> RunRow;
            /// Records a run whose whole window passed while hashchat was down.
            read fn record_missed_run(chat_id: &str, planned_start: DateTime<Utc>, collect_until: DateTime<Utc>) -> bool;
            write fn mark_run_started(run_id: i64, at: DateTime<Utc>) -> ();
            /// Makes collection last at least until `at` (the closing went out
            /// late). Never shortens it: the stored value may be newer than the
            /// caller's (a moderator's `extend` or `stop`).
            write fn collect_at_least_until(run_id: i64, at: DateTime<Utc>) -> ();
            write fn finish_run(run_id: i64, at: DateTime<Utc>) -> ();
            /// Runs of a chat still marked running (a crash or a stop left them).
            read fn unfinished_runs(chat_id: &str) -> Vec<RunRow>;
            /// The most recent run of a chat, whatever its state.
            read fn latest_run(chat_id: &str) -> Option<RunRow>;
            /// The planned start of the newest run of any state (missed included).
            read fn last_planned_start(chat_id: &str) -> Option<DateTime<Utc>>;
            read fn run(run_id: i64) -> Option<RunRow>;
            /// The newest `limit` runs of a chat (missed ones included), newest first.
            read fn recent_runs(chat_id: &str, limit: u32) -> Vec<RunRow>;
            /// How many live statuses and answering statuses a run has.
            read fn run_counts(run_id: i64) -> (u32, u32);
            /// Records the run's timeline; posts already recorded keep their state
            /// (a restart must not reset a sent post to planned).
            read fn plan_posts(run_id: i64, posts: &[PlanPost]) -> ();
            read fn posts(run_id: i64) -> Vec<PostRow>;
            /// Marks a post as being sent, before the request leaves.
            read fn mark_sending(run_id: i64, seq: u32) -> ();
            write fn mark_sent(run_id: i64, seq: u32, status_id: &str, url: &str, at: DateTime<Utc>) -> ();
            /// Records why a post did not go out (`Failed` or `Skipped`), or the
            /// last error of an attempt that will be retried (`Sending`).
            write fn mark_post(run_id: i64, seq: u32, state: PostState, reason: &str) -> ();
            /// Marks a status deleted; returns whether it was one of this run's.
            write fn mark_deleted(run_id: i64, status_id: &str, at: DateTime<Utc>) -> bool;
            /// Stores the favourites and boosts read at the end of collection:
            /// (status id, favourites, boosts), in one transaction.
            read fn save_reactions(run_id: i64, reactions: &[(String, u64, u64)]) -> ();
            /// Every status of a run (deleted ones included, marked), oldest first.
            read fn statuses(run_id: i64) -> Vec<StatusRow>;
            /// The newest status id of the bot's server stored for a run: where
            /// reconciliation resumes.
            read fn last_status_id(run_id: i64) -> Option<String>;
            /// Stores a page of statuses and their answers in one transaction;
            /// returns, for each input in order, what recording them one after the
            /// other would have done (`super::page` holds the rules).
            write fn record_statuses(run_id: i64, page: &[Answered]) -> Vec<Recorded>;
            /// Whether a command status was already handled in this scope.
            read fn steer_seen(scope: &str, status_id: &str) -> bool;
            /// Records a command; `false` when it was already recorded (by another
            /// listener, or an earlier pass), in which case the caller must not act.
            read fn record_steer(c: &SteerRecord<'_>) -> bool;
            /// Records what a command did (after it was applied).
            read fn set_steer_effect(scope: &str, status_id: &str, effect: &str) -> ();
            /// The commands of a scope, oldest first: (account, command, effect).
            read fn steer_log(scope: &str) -> Vec<(String, String, String)>;
            /// The `extend` commands the moderators gave in a run, as they
            /// wrote them, oldest first.
            read fn extend_commands(run_id: i64) -> Vec<String>;
            write fn set_paused(run_id: i64, at: Option<DateTime<Utc>>) -> ();
            /// Moves every post still planned (not one in flight), and the end of
            /// collection, by `by` (later when positive), in one transaction.
            write fn shift_unsent(run_id: i64, by: chrono::Duration) -> ();
            /// `stop`, in one transaction: the given questions skipped, the closing
            /// (if still to come) moved to `now`, collection ending at `until`.
            write fn stop_run(run_id: i64, questions: &[u32], closing: Option<u32>, now: DateTime<Utc>, until: DateTime<Utc>, reason: &str) -> ();
            /// Records a run called off before it started; `false` when that run
            /// already exists (started, done or cancelled).
            write fn cancel_run(chat_id: &str, planned_start: DateTime<Utc>, collect_until: DateTime<Utc>, by: &str, at: DateTime<Utc>) -> bool;
            /// Every run called off by a moderator planned to start after `after`,
            /// as (chat id, planned start): calendars show them as cancelled.
            read fn cancelled_runs(after: DateTime<Utc>) -> Vec<(String, DateTime<Utc>)>;
            /// Calls off a run that was opened (for its reminders) but has not
            /// started: it is marked cancelled and its unsent posts skipped.
            write fn cancel_open_run(run_id: i64, by: &str, at: DateTime<Utc>) -> bool;
            read fn mention_cursor(scope: &str) -> Option<String>;
            read fn set_mention_cursor(scope: &str, id: &str) -> ();
            /// Records a participant's opt-out (`true`) or opt-in (`false`).
            write fn set_opted_out(account: &str, opted_out: bool, status_id: &str, at: DateTime<Utc>) -> ();
            /// Accounts (lowercase `user@domain`) that opted out of recaps.
            read fn opted_out() -> HashSet<String>;
            /// Handles with a (not deleted) post in a run of `chat_id` planned
            /// before `before`: whoever is not in it is a first-timer.
            read fn accounts_seen_before(chat_id: &str, before: DateTime<Utc>) -> HashSet<String>;
            /// The stored HTML of each status of a run, by status id (deleted ones
            /// left out): what the recap sanitises and shows.
            read fn status_html(run_id: i64) -> HashMap<String, String>;
            /// How many of a run's statuses were deleted.
            read fn deleted_count(run_id: i64) -> u32;
            /// Every run of a chat that took place (missed ones left out), oldest
            /// first, with who took part.
            read fn run_activity(chat_id: &str) -> Vec<RunActivity>;
            /// Records that `account` got its welcome from `chat_id`; `false` when
            /// it already had one (it never gets a second).
            read fn record_welcome(chat_id: &str, account: &str, status_id: &str, at: DateTime<Utc>) -> bool;
            /// The welcomes `chat_id` gave: (account, status id, when), in order.
            read fn welcomes(chat_id: &str) -> Vec<(String, String, DateTime<Utc>)>;
            /// The session a platform keeps for `account` (tokens and the
            /// like, serialised by the platform), if one was saved.
            read fn platform_session(account: &str) -> Option<String>;
            /// Saves (or replaces) the session of `account`.
            read fn save_platform_session(account: &str, data: &str, now: DateTime<Utc>) -> ();
            /// Whether the database answers a query (`/healthz`).
            read fn ping() -> ();
            /// A number that changes when anyone (this process or another)
            /// commits a write: `serve` polls it to follow another process.
            read fn change_marker() -> i64;
        }
    };
}

macro_rules! define_backend {
    ($( $(#[$doc:meta])* $kind:ident fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty; )*) => {
        /// One database's implementation of every storage operation.
        #[async_trait::async_trait]
        pub trait Backend: Send + Sync + std::fmt::Debug {
            $( $(#[$doc])* async fn $name(&self, $($arg: $ty),*) -> anyhow::Result<$ret>; )*
        }
    };
}

/// Implements [`Backend`] for a type by calling its inherent methods of the
/// same names.
macro_rules! delegate_backend {
    ($t:ty; $( $(#[$doc:meta])* $kind:ident fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty; )*) => {
        #[async_trait::async_trait]
        impl $crate::store::backend::Backend for $t {
            $( async fn $name(&self, $($arg: $ty),*) -> anyhow::Result<$ret> {
                <$t>::$name(self, $($arg),*).await
            } )*
        }
    };
}

macro_rules! notify_after {
    (write, $store:expr) => {
        $store.changed()
    };
    (read, $store:expr) => {};
}

macro_rules! define_facade {
    ($( $(#[$doc:meta])* $kind:ident fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty; )*) => {
        impl super::Store {
            $( $(#[$doc])* pub async fn $name(&self, $($arg: $ty),*) -> anyhow::Result<$ret> {
                let out = self.backend.$name($($arg),*).await?;
                notify_after!($kind, self);
                Ok(out)
            } )*
        }
    };
}

with_operations!(define_backend);
with_operations!(define_facade);
