//! hashchat: runs scheduled hashtag chats on the Fediverse.
//!
//! The binary (`main.rs`) only parses the command line; every subcommand is a
//! function of this library so that `tests/` can drive it end to end.

pub mod answers;
pub mod calendar;
pub mod chats;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod metrics;
pub mod network;
pub mod recap;
pub mod run;
pub mod schedule;
pub mod store;
pub mod telemetry;
pub mod web;
