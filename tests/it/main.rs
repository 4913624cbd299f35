//! The one integration-test binary: whole runs against an in-process fake
//! server and against the independent `mastodon-mock` server, plus CLI tests.

mod bluesky;
mod bluesky_chat;
mod bluesky_pds;
mod browser;
mod calendar;
mod cli;
mod config;
mod downtime;
mod e2e;
mod edited_ids;
mod fake_bluesky;
mod fake_server;
mod helpers;
mod login;
mod metrics;
mod mock_server;
mod network;
mod no_streaming;
mod postgres;
mod recap_golden;
mod reliability;
mod replicas;
mod room_browser;
mod run_fake;
mod season;
mod server_kinds;
mod snac;
mod steer;
mod store_conformance;
mod venv;
mod watch;
mod web;
