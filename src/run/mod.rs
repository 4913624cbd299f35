//! The daemon: one supervised task per selected chat (`supervise`), each
//! sleeping until its next run (`chat`) and then driving it (`driver`):
//! posts at their times (`post`), answers collected from the stream and
//! reconciled from the server (`collect`, `ingest`), the recap written at
//! the end; moderators steer a run live by mentioning the bot (`steer`).
//!
//! It takes every dependency as an argument (settings, store, a connector
//! for the server, the clock, a shutdown token), gathered in [`Daemon`]
//! (`daemon`), so tests can drive whole runs against a fake server with a
//! manual clock. This file only declares the parts and names what the
//! rest of the program uses; the parts import each other, never it.

mod chat;
mod collect;
mod daemon;
mod driver;
mod dry;
mod finish;
pub(crate) mod ingest;
mod lease;
pub(crate) mod poll;
mod post;
mod replies;
mod sessions;
mod steer;
mod supervise;
mod watched;
mod welcome;

pub use chat::process_holder;
pub use collect::{Collector, Consumed, EventSource, MOST_PER_COMMIT};
pub use daemon::{
    bluesky_platform, Connector, Controls, Daemon, Identities, Liveness, RealConnector, RunOptions,
    Tuning,
};
pub use dry::DryRun;
pub use ingest::{ingest, judge, record, Ignore, Judged, Outcome, RunPosts, RunWindow};
pub use lease::{LeaseTtl, Replicas, SharedLeases};
pub use sessions::StoreSessions;
pub use supervise::ChatOutcome;
