//! What every benchmark shares: the run count, medians, and a corpus of
//! realistic Mastodon statuses. Sizes come from the environment so that a
//! quick check can run small (`HASHCHAT_BENCH_SCALE=0.01`).
#![allow(dead_code)] // each bench uses a different part

pub mod corpus;
pub mod firehose;
pub mod live;

use std::time::{Duration, Instant};

/// Runs per measurement (`HASHCHAT_BENCH_RUNS`, default 5).
pub fn runs() -> usize {
    env_number("HASHCHAT_BENCH_RUNS").map_or(5, |n| n.max(1.0) as usize)
}

/// `full` scaled by `HASHCHAT_BENCH_SCALE` (default 1), at least 1.
pub fn scaled(full: usize) -> usize {
    let scale = env_number("HASHCHAT_BENCH_SCALE").unwrap_or(1.0);
    ((full as f64 * scale).round() as usize).max(1)
}

fn env_number(name: &str) -> Option<f64> {
    std::env::var(name).ok()?.parse().ok()
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    }
}

/// The `p`th percentile (0..=100) by nearest rank.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Times `f` once.
pub fn time<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed())
}

/// A multi-threaded runtime like the daemon's.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// `nproc` and the CPU model, for the head of every report.
pub fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores, {model}")
}

/// A valid chat for driving the library directly, made the way a user
/// makes one (chats.yaml text through validation) so that it keeps up with
/// new settings. `extra` holds more of the chat's keys, one `key: value`
/// a line (e.g. timings, see [`yaml_duration`]).
pub fn chat(
    id: &str,
    hashtag: &str,
    start: chrono::DateTime<chrono::Utc>,
    questions: usize,
    server: url::Url,
    extra: &str,
) -> std::sync::Arc<hashchat::chats::Chat> {
    let mut yaml = format!(
        "server: {server}\ntoken_env: HASHCHAT_BENCH_UNUSED\nrecap_dir: {}\nchats:\n  - id: {id}\n    hashtag: {hashtag}\n    start: \"{}\"\n",
        std::env::temp_dir().join("hashchat-bench-recaps").display(),
        start.to_rfc3339()
    );
    for line in extra.lines() {
        yaml.push_str(&format!("    {line}\n"));
    }
    yaml.push_str("    questions:\n");
    for n in 1..=questions {
        yaml.push_str(&format!(
            "      - \"Question {n}: what would you change first?\"\n"
        ));
    }
    let mut config = hashchat::chats::parse(std::path::Path::new("bench.yaml"), &yaml)
        .unwrap_or_else(|e| panic!("the bench chat is invalid: {e:?}"));
    config.chats.remove(0)
}

/// A duration as chats.yaml takes it (`1s 500ms`), to the nanosecond.
#[allow(dead_code)] // not every bench sets timings
pub fn yaml_duration(d: std::time::Duration) -> String {
    humantime::format_duration(d).to_string()
}
