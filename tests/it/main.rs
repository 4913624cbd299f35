//! The one integration-test binary: whole runs against an in-process fake
//! server and against the independent `mastodon-mock` server, plus CLI tests.

mod browser;
mod config;
mod e2e;
mod fake_server;
mod mock_server;
mod network;
mod recap_golden;
mod helpers;
mod login;
mod run_fake;
mod reliability;
mod downtime;
