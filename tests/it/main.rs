//! The one integration-test binary: whole runs against an in-process fake
//! server and against the independent `mastodon-mock` server, plus CLI tests.

mod browser;
mod cli;
mod config;
mod downtime;
mod e2e;
mod edited_ids;
mod fake_server;
mod helpers;
mod login;
mod mock_server;
mod network;
mod no_streaming;
mod recap_golden;
mod reliability;
mod room_browser;
mod run_fake;
mod season;
mod steer;
mod web;
