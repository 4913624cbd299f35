//! Requests per watched instance (`also_watch`, issue 13) during a one-hour
//! chat, against the 20% of Mastodon's 300 requests per 5 minutes that
//! hashchat allows itself there. The daemon runs against the in-process
//! fake server (the bot's) with a manual clock stepped through the hour
//! (5 s steps); the watched instance is a small server counting each
//! request at the chat's time. It announces a huge `X-RateLimit-Limit` so
//! that the compressed hour is not held back by the budget, which would
//! hide what the design asks for: the figure is the design's own pace.
//!
//!     cargo bench --bench watch

mod common;

#[path = "../tests/it"]
mod it {
    pub mod fake_server;
}

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hashchat::clock::ManualClock;
use hashchat::store::Store;
use it::fake_server::FakeServer;

/// Mastodon's limit per 5 minutes per IP, and the share hashchat allows itself.
const LIMIT: f64 = 300.0;
const SHARE: f64 = 0.2;
const STEP: chrono::Duration = chrono::Duration::seconds(5);

fn main() {
    let rt = common::runtime();
    println!("watch: one watched instance during a 1-hour chat (8 questions), manual clock");
    println!("machine: {}", common::machine());
    let times = rt.block_on(one_hour());
    let start = times.first().copied().unwrap_or_else(Utc::now);
    let hour = times.len();
    let busiest = busiest_window(&times, start);
    let allowed = LIMIT * SHARE;
    println!(
        "  requests to the watched instance: {hour} in the chat's hour ({:.1}% of Mastodon's 3,600/h); busiest 5 min: {busiest} = {:.1}% of 300 (allowed: {allowed:.0} = 20%): {}",
        100.0 * hour as f64 / 3600.0,
        100.0 * busiest as f64 / LIMIT,
        if (busiest as f64) < allowed { "met" } else { "NOT met" }
    );
}

/// The most requests in any 5 minutes of the chat's time.
fn busiest_window(times: &[DateTime<Utc>], start: DateTime<Utc>) -> usize {
    let window = chrono::Duration::minutes(5);
    let mut best = 0;
    let mut at = start;
    while at <= *times.last().unwrap_or(&start) {
        let n = times
            .iter()
            .filter(|t| **t >= at && **t < at + window)
            .count();
        best = best.max(n);
        at += chrono::Duration::seconds(10);
    }
    best
}

/// The chat's times of every request the watched instance received.
async fn one_hour() -> Vec<DateTime<Utc>> {
    let dir = tempfile::tempdir().expect("temp dir");
    let start = Utc::now() + chrono::Duration::minutes(1);
    let clock = ManualClock::new(start - chrono::Duration::minutes(1));
    let fake = FakeServer::start_with_clock(Arc::new(clock.clone())).await;
    let (watched, times) = watched_server(clock.clone()).await;
    let store = Store::open(&dir.path().join("h.db")).await.expect("store");
    let keys = format!(
        "first_question_after: 3m\nquestion_interval: 7m\ncollect_after: 10m\nalso_watch: [\"{watched}\"]\nrecap_dir: {}",
        dir.path().join("recaps").display()
    );
    let chat = common::chat("hour", "HourChat", start, 8, fake.url(), &keys);
    let end = start + chrono::Duration::minutes(3 + 7 * 8 + 10);
    // The common daemon, on the chat's manual clock.
    let mut daemon = common::live::daemon(chat, store, fake.url(), fake.bot_token());
    daemon.clock = Arc::new(clock.clone());
    let run = tokio::spawn(async move { daemon.run(&[]).await });
    while clock_now(&clock) < end + STEP {
        clock.advance(STEP);
        // Real time for the daemon's tasks to act on the step; only the
        // chat's clock is measured.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    run.await.expect("daemon task").expect("daemon");
    let times = times.lock().unwrap().clone();
    times
}

fn clock_now(clock: &ManualClock) -> DateTime<Utc> {
    use hashchat::clock::Clock;
    clock.now()
}

/// A watched instance that answers every tag-timeline read with an empty
/// page and notes each request at the chat's time.
async fn watched_server(clock: ManualClock) -> (String, Arc<Mutex<Vec<DateTime<Utc>>>>) {
    use axum::routing::get;
    let times = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&times);
    let note = move || {
        use hashchat::clock::Clock;
        seen.lock().unwrap().push(clock.now());
        ([("x-ratelimit-limit", "100000000")], "[]")
    };
    let instance = {
        let note = note.clone();
        move || async move {
            let (headers, _) = note();
            (headers, "{\"uri\":\"watched.example\"}")
        }
    };
    let app = axum::Router::new()
        .route("/api/v1/instance", get(instance))
        .fallback(move || async move { note() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (url, times)
}
