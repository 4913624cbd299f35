//! Figure 7, scale of the schedule: loading and validating a chats.yaml
//! with 10,000 chats, `plan` over all of them (in process), and the
//! `hashchat check` / `hashchat plan` commands end to end, against 1 s.
//!
//!     cargo bench --bench schedule

mod common;

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use hashchat::commands::plan::{plan, PlanFormat};

const TARGET_MS: f64 = 1000.0;

fn main() {
    let chats = common::scaled(10_000);
    let runs = common::runs();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("chats.yaml");
    std::fs::write(&path, chats_yaml(chats)).expect("write chats.yaml");
    let size = std::fs::metadata(&path).map_or(0, |m| m.len());
    println!(
        "schedule: chats.yaml with {chats} chats ({} KiB), median of {runs} runs",
        size / 1024
    );
    println!("machine: {}", common::machine());

    let now = chrono::Utc::now();
    let mut load = Vec::new();
    let mut planned = Vec::new();
    let mut lines = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let config = hashchat::chats::load(&path).expect("chats.yaml is valid");
        load.push(common::millis(start.elapsed()));
        assert_eq!(config.chats.len(), chats);
        let start = Instant::now();
        let text = plan(&config, None, 1, now, PlanFormat::Text).expect("plan");
        planned.push(common::millis(start.elapsed()));
        lines = text.lines().count();
    }
    report("load + validate (chats::load)", &load);
    report(&format!("plan, 1 run per chat ({lines} lines)"), &planned);
    for args in [&["check"][..], &["plan"], &["plan", "--format", "json"]] {
        let times: Vec<f64> = (0..runs).map(|_| command(&path, args)).collect();
        report(&format!("`hashchat {}` (process)", args.join(" ")), &times);
    }
}

fn report(name: &str, times: &[f64]) {
    let t = common::median(times);
    println!(
        "  {name:<40} {t:>8.1} ms  target < {TARGET_MS} ms: {:.2}x {}",
        t / TARGET_MS,
        if t < TARGET_MS { "MET" } else { "MISSED" }
    );
}

/// Runs the release binary once; its wall time in ms.
fn command(config: &Path, args: &[&str]) -> f64 {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_hashchat"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("hashchat runs");
    let took = common::millis(start.elapsed());
    assert!(
        out.status.success(),
        "hashchat {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

/// `count` weekly chats spread over the week, each with five questions,
/// half with their own zone, a third with their own server.
fn chats_yaml(count: usize) -> String {
    let zones = [
        "Europe/London",
        "America/New_York",
        "Asia/Tokyo",
        "Australia/Sydney",
    ];
    let mut out =
        String::from("server: https://mastodon.example\ntimezone: Europe/Berlin\nchats:\n");
    for i in 0..count {
        let (minute, hour, day) = (i % 4 * 15, 8 + i / 4 % 12, i / 48 % 7);
        let _ = writeln!(out, "  - id: chat-{i}");
        let _ = writeln!(out, "    hashtag: BenchChat{i}");
        let _ = writeln!(out, "    schedule: \"{minute} {hour} * * {day}\"");
        if i % 2 == 0 {
            let _ = writeln!(out, "    timezone: {}", zones[i % zones.len()]);
        }
        if i % 3 == 0 {
            let _ = writeln!(out, "    server: https://server{}.example", i % 50);
            let _ = writeln!(out, "    token_env: TOKEN_{}", i % 50);
        }
        let _ = writeln!(out, "    question_interval: 8m");
        out.push_str("    questions:\n");
        for q in 1..=5 {
            let _ = writeln!(
                out,
                "      - \"Question {q} of chat {i}: what worked for you this week?\""
            );
        }
    }
    out
}
