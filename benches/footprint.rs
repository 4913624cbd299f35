//! Figure 5, footprint: resident memory and CPU of the release binary
//! (`hashchat run`) against a local server (the in-process fake), read from
//! /proc: idle with 100 chats scheduled far ahead, then during a live run
//! taking 100 answers/s.
//!
//!     cargo bench --bench footprint

mod common;

#[path = "../tests/it"]
mod it {
    pub mod fake_server;
}

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use it::fake_server::FakeServer;

const IDLE_RSS_TARGET_KIB: u64 = 12 * 1024;
const LIVE_RSS_TARGET_KIB: u64 = 30 * 1024;
const TOKEN_ENV: &str = "HASHCHAT_BENCH_TOKEN";

fn main() {
    let runs = common::runs().min(3);
    let rt = common::runtime();
    let chats = common::scaled(100);
    // Idle for real: past the moment memory is given back (90 s after
    // every chat is asleep), the start-up connections' idle timeout (60 s)
    // and two lease renewals after it (every 30 s), so that what an idle
    // daemon runs again is back in memory when RSS is read.
    let settle = Duration::from_secs(120);
    let watch = Duration::from_secs(35);
    println!("footprint: `hashchat run`, {chats} chats scheduled, idle {settle:?} then {watch:?} of watching, median of {runs} runs");
    println!("machine: {}", common::machine());
    let ticks = clock_ticks();
    let mut early_rss = Vec::new();
    let mut idle_rss = Vec::new();
    let mut idle_anon = Vec::new();
    let mut idle_file = Vec::new();
    let mut idle_cpu = Vec::new();
    let mut idle_requests = Vec::new();
    let mut live_hwm = Vec::new();
    let mut live_cpu = Vec::new();
    for _ in 0..runs {
        let (early, rss, cpu, requests) = rt.block_on(idle(chats, settle, watch, ticks));
        early_rss.push(early as f64);
        idle_rss.push(rss.total as f64);
        idle_anon.push(rss.anon as f64);
        idle_file.push(rss.file as f64);
        idle_cpu.push(cpu);
        idle_requests.push(requests as f64);
        let (hwm, cpu) = rt.block_on(live(chats, ticks));
        live_hwm.push(hwm as f64);
        live_cpu.push(cpu);
    }
    let rss = common::median(&idle_rss);
    println!(
        "  idle: RSS {:.1} MiB (target < 12 MiB: {:.2}x {}), CPU {:.2}% of one core, {:.0} requests while idle",
        rss / 1024.0,
        rss / IDLE_RSS_TARGET_KIB as f64,
        verdict(rss < IDLE_RSS_TARGET_KIB as f64),
        common::median(&idle_cpu),
        common::median(&idle_requests),
    );
    println!(
        "    (10 s after start-up, before memory is given back: {:.1} MiB)",
        common::median(&early_rss) / 1024.0
    );
    println!(
        "    of which anonymous (heap, stacks, relocated data) {:.1} MiB, file-backed (pages of the executable and libc) {:.1} MiB",
        common::median(&idle_anon) / 1024.0,
        common::median(&idle_file) / 1024.0,
    );
    let hwm = common::median(&live_hwm);
    println!(
        "  live run (100 answers/s): peak RSS {:.1} MiB (target < 30 MiB: {:.2}x {}), CPU {:.1}% of one core",
        hwm / 1024.0,
        hwm / LIVE_RSS_TARGET_KIB as f64,
        verdict(hwm < LIVE_RSS_TARGET_KIB as f64),
        common::median(&live_cpu),
    );
}

fn verdict(met: bool) -> &'static str {
    if met {
        "MET"
    } else {
        "MISSED"
    }
}

/// Resident memory of a process, KiB.
struct Rss {
    total: u64,
    anon: u64,
    file: u64,
}

/// RSS (KiB) 10 s after every chat is ready, RSS at the end, and CPU (%
/// of one core) over `watch` after `settle` has passed; and the requests
/// made while watching. The server pings its streams as Mastodon's does.
async fn idle(
    chats: usize,
    settle: Duration,
    watch: Duration,
    ticks: f64,
) -> (u64, Rss, f64, usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let fake = FakeServer::start().await;
    let config = dir.path().join("chats.yaml");
    std::fs::write(&config, chats_yaml(&fake, chats, None)).expect("chats.yaml");
    let mut child = spawn(&fake, dir.path(), &config, &[]);
    // Ready: the account has said who it is (asked once for all its
    // chats) and its mention stream is open.
    tokio::time::timeout(Duration::from_secs(60), async {
        let identified = |w: &it::fake_server::World| {
            let asked = |path: &str| w.requests.iter().any(|r| r.path.starts_with(path));
            (asked("/api/v1/accounts/verify_credentials") && asked("/api/v1/instance"))
                .then_some(())
        };
        fake.wait_until(identified).await;
        fake.wait_for_streams(1).await;
    })
    .await
    .expect("every chat ready");
    let pid = child.id();
    let early = Duration::from_secs(10);
    keep_pinging(&fake, early).await;
    let early_rss = status_kib(pid, "VmRSS");
    keep_pinging(&fake, settle.saturating_sub(early)).await;
    let before = (cpu_ticks(pid), Instant::now(), fake.request_count());
    keep_pinging(&fake, watch).await;
    let cpu = (cpu_ticks(pid) - before.0) as f64 / ticks / before.1.elapsed().as_secs_f64();
    let rss = Rss {
        total: status_kib(pid, "VmRSS"),
        anon: status_kib(pid, "RssAnon"),
        file: status_kib(pid, "RssFile"),
    };
    let requests = fake.request_count() - before.2;
    if let Some(dir) = std::env::var_os("HASHCHAT_BENCH_SMAPS") {
        keep_smaps(pid, Path::new(&dir));
    }
    stop(&mut child);
    (early_rss, rss, cpu * 100.0, requests)
}

/// Waits `how_long`, pinging the streams every 30 s as Mastodon's
/// streaming server does (a stream without any frame for a minute is taken
/// for dead and reopened).
async fn keep_pinging(fake: &FakeServer, how_long: Duration) {
    let end = Instant::now() + how_long;
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        tokio::time::sleep(left.min(Duration::from_secs(30))).await;
        fake.ping_streams(b"");
    }
}

/// Peak RSS (KiB) and CPU (% of one core) of a `--now --once` run of one
/// chat (8 questions 1 s apart) taking 100 answers/s.
async fn live(chats: usize, ticks: f64) -> (u64, f64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let fake = FakeServer::start().await;
    for i in 0..50 {
        fake.add_remote_account(&format!("user{i}@remote.example"));
    }
    let config = dir.path().join("chats.yaml");
    std::fs::write(&config, chats_yaml(&fake, chats, Some("LiveChat"))).expect("chats.yaml");
    let started = Instant::now();
    let mut child = spawn(
        &fake,
        dir.path(),
        &config,
        &["--once", "--now", "--chat", "live"],
    );
    let pid = child.id();
    tokio::time::timeout(Duration::from_secs(30), fake.wait_for_bot_posts(2))
        .await
        .expect("the run started");
    let mut i = 0;
    while fake.statuses_by("chatbot").len() < 10 {
        let user = format!("user{}@remote.example", i % 50);
        fake.post_as(&user, &format!("A1: item {i} #LiveChat"), None, "public");
        i += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let hwm = status_kib(pid, "VmHWM");
    let cpu = cpu_ticks(pid) as f64 / ticks / started.elapsed().as_secs_f64();
    let ended = child.wait().expect("the run ends");
    assert!(ended.success(), "the live run failed");
    (hwm, cpu * 100.0)
}

fn spawn(fake: &FakeServer, dir: &Path, config: &Path, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_hashchat"))
        .arg("--config")
        .arg(config)
        .arg("--db")
        .arg(dir.join("hashchat.db"))
        .arg("-q")
        .arg("run")
        .args(extra)
        .env(TOKEN_ENV, fake.bot_token())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("hashchat starts")
}

/// SIGTERM, as a service manager would stop it, then wait.
fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
}

/// `chats` weekly chats on New Year's Day at 20:00 (never within a run of
/// this bench); with `live`, one more chat `live` to run `--now`.
fn chats_yaml(fake: &FakeServer, chats: usize, live: Option<&str>) -> String {
    let mut out = format!(
        "server: {}\ntoken_env: {TOKEN_ENV}\nrecap_dir: recaps\nchats:\n",
        fake.url()
    );
    for i in 0..chats {
        let _ = write!(
            out,
            "  - id: chat-{i}\n    hashtag: Chat{i}\n    schedule: \"0 20 1 1 *\"\n    questions: [\"What is one thing you learned?\", \"What next?\"]\n"
        );
    }
    if let Some(tag) = live {
        let _ = write!(
            out,
            "  - id: live\n    hashtag: {tag}\n    schedule: \"0 20 1 1 *\"\n    first_question_after: 1s\n    question_interval: 1s\n    collect_after: 1s\n    questions: [Q1?, Q2?, Q3?, Q4?, Q5?, Q6?, Q7?, Q8?]\n"
        );
    }
    out
}

/// Copies the idle process's memory map and thread list into `dir`, to
/// see what holds the resident set (`HASHCHAT_BENCH_SMAPS=dir`).
fn keep_smaps(pid: u32, dir: &Path) {
    std::fs::create_dir_all(dir).expect("smaps dir");
    for file in ["smaps", "status"] {
        let from = format!("/proc/{pid}/{file}");
        std::fs::copy(&from, dir.join(format!("{pid}.{file}"))).expect("copy from /proc");
    }
    let threads: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("/proc task")
        .filter_map(|t| {
            let t = t.ok()?.path();
            Some(
                std::fs::read_to_string(t.join("comm"))
                    .ok()?
                    .trim()
                    .to_string(),
            )
        })
        .collect();
    std::fs::write(dir.join(format!("{pid}.threads")), threads.join("\n")).expect("threads");
    println!("  memory map of the idle process kept in {}", dir.display());
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc stat");
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

/// A `Vm…` line of /proc/<pid>/status, in KiB.
fn status_kib(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("the field")
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100.0)
}
