//! Figure 5, footprint: resident memory and CPU of the release binary
//! (`hashchat run`) against a local server (the in-process fake), read from
//! /proc: idle with 100 chats scheduled far ahead (private memory, RssAnon,
//! beside the resident set), then during a live run
//! taking 100 answers/s.
//!
//!     cargo bench --bench footprint
//!     HASHCHAT_BENCH_BIN=/path/to/older/hashchat cargo bench --bench footprint

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

const IDLE_PRIVATE_TARGET_KIB: u64 = 8 * 1024;
/// When the first reading of idle memory is taken, after start-up.
const EARLY: Duration = Duration::from_secs(15);
const LIVE_RSS_TARGET_KIB: u64 = 30 * 1024;
const TOKEN_ENV: &str = "HASHCHAT_BENCH_TOKEN";

fn main() {
    let runs = common::runs().min(3);
    let rt = common::runtime();
    let chats = common::scaled(100);
    // Idle for real: read 150 s after start-up, past the start-up
    // connections' idle timeout (60 s) and the lease renewals after it
    // (every 30 s), so that what an idle daemon runs again is back in
    // memory when it is read. CPU is watched over the 35 s before that.
    let settled = Duration::from_secs(150);
    let watch = Duration::from_secs(35);
    println!("footprint: `hashchat run`, {chats} chats scheduled, memory read {settled:?} after start-up, CPU over the {watch:?} before, median of {runs} runs");
    println!("machine: {}", common::machine());
    let ticks = clock_ticks();
    let mut early_rss = Vec::new();
    let mut early_anon = Vec::new();
    let mut idle_rss = Vec::new();
    let mut idle_anon = Vec::new();
    let mut idle_file = Vec::new();
    let mut idle_cpu = Vec::new();
    let mut idle_requests = Vec::new();
    let mut live_hwm = Vec::new();
    let mut live_cpu = Vec::new();
    for _ in 0..runs {
        let (early, rss, cpu, requests) = rt.block_on(idle(chats, settled, watch, ticks));
        early_rss.push(early.total as f64);
        early_anon.push(early.anon as f64);
        idle_rss.push(rss.total as f64);
        idle_anon.push(rss.anon as f64);
        idle_file.push(rss.file as f64);
        idle_cpu.push(cpu);
        idle_requests.push(requests as f64);
        // Each run as it ends, so that a failure later keeps what was read.
        println!(
            "  run {}: idle private {} KiB, resident {} KiB ({} KiB, {} KiB at {}s)",
            idle_rss.len(),
            rss.anon,
            rss.total,
            early.anon,
            early.total,
            EARLY.as_secs()
        );
        let (hwm, cpu) = rt.block_on(live(chats));
        println!("  run {}: live peak {hwm} KiB", idle_rss.len());
        live_hwm.push(hwm as f64);
        live_cpu.push(cpu);
    }
    // Private memory (RssAnon: heap, stacks, relocated data) is what the
    // daemon costs the machine; the rest of the resident set is pages of
    // the executable and libc, shared page cache that the kernel drops
    // when memory runs short.
    let anon = common::median(&idle_anon);
    let rss = common::median(&idle_rss);
    println!(
        "  idle, {}s after start-up: private (RssAnon) {:.1} MiB (target < 8 MiB: {:.2}x {}), resident (VmRSS) {:.1} MiB (no target: mostly shared page cache), CPU {:.2}% of one core, {:.0} requests while watched",
        settled.as_secs(),
        anon / 1024.0,
        anon / IDLE_PRIVATE_TARGET_KIB as f64,
        verdict(anon < IDLE_PRIVATE_TARGET_KIB as f64),
        rss / 1024.0,
        common::median(&idle_cpu),
        common::median(&idle_requests),
    );
    println!(
        "    (resident file-backed pages: {:.1} MiB)",
        common::median(&idle_file) / 1024.0,
    );
    println!(
        "    {}s after start-up: private {:.1} MiB, resident {:.1} MiB",
        EARLY.as_secs(),
        common::median(&early_anon) / 1024.0,
        common::median(&early_rss) / 1024.0
    );
    let hwm = common::median(&live_hwm);
    println!(
        "  live run (100 answers/s), start to exit, recaps included: peak RSS {:.1} MiB (target < 30 MiB: {:.2}x {}), CPU {:.1}% of one core",
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

/// Memory [`EARLY`] after start-up and at `settled` after it, and CPU (%
/// of one core) and the requests made over the `watch` before `settled`.
/// The server pings its streams as Mastodon's does.
async fn idle(
    chats: usize,
    settled: Duration,
    watch: Duration,
    ticks: f64,
) -> (Rss, Rss, f64, usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let fake = FakeServer::start().await;
    let config = dir.path().join("chats.yaml");
    std::fs::write(&config, chats_yaml(&fake, chats, None)).expect("chats.yaml");
    let started = Instant::now();
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
    keep_pinging(&fake, EARLY.saturating_sub(started.elapsed())).await;
    let early = memory(pid);
    keep_pinging(&fake, (settled - watch).saturating_sub(started.elapsed())).await;
    let before = (cpu_ticks(pid), Instant::now(), fake.request_count());
    keep_pinging(&fake, settled.saturating_sub(started.elapsed())).await;
    let cpu = (cpu_ticks(pid) - before.0) as f64 / ticks / before.1.elapsed().as_secs_f64();
    let rss = memory(pid);
    let requests = fake.request_count() - before.2;
    if let Some(dir) = std::env::var_os("HASHCHAT_BENCH_SMAPS") {
        keep_smaps(pid, Path::new(&dir));
    }
    stop(&mut child);
    (early, rss, cpu * 100.0, requests)
}

fn memory(pid: u32) -> Rss {
    Rss {
        total: status_kib(pid, "VmRSS"),
        anon: status_kib(pid, "RssAnon"),
        file: status_kib(pid, "RssFile"),
    }
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

/// Peak RSS (KiB) and CPU (% of one core), from start to exit, of a
/// `--now --once` run of one chat (8 questions 1 s apart) taking 100
/// answers/s, its recaps included.
async fn live(chats: usize) -> (u64, f64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let fake = FakeServer::start().await;
    for i in 0..50 {
        fake.add_remote_account(&format!("user{i}@remote.example"));
    }
    let config = dir.path().join("chats.yaml");
    std::fs::write(&config, chats_yaml(&fake, chats, Some("LiveChat"))).expect("chats.yaml");
    let started = Instant::now();
    #[allow(
        clippy::zombie_processes,
        reason = "wait_with_usage reaps it with wait4"
    )]
    let child = spawn(
        &fake,
        dir.path(),
        &config,
        &["--once", "--now", "--chat", "live"],
    );
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
    // The peak covers the whole run, recaps included: it is the child's
    // maximum resident set as the kernel reports it once the child has
    // ended, not a reading taken while the run is still going.
    let (ended, hwm, cpu_seconds) = wait_with_usage(&child);
    assert!(ended.success(), "the live run failed: {ended}");
    let cpu = cpu_seconds / started.elapsed().as_secs_f64();
    let recaps = dir.path().join("recaps").join("live");
    let written = std::fs::read_dir(&recaps).map_or(0, |d| d.count());
    assert!(
        written > 0,
        "the live run wrote no recap in {}",
        recaps.display()
    );
    (hwm, cpu * 100.0)
}

/// Waits for `child` to end; its exit status, peak resident set (KiB) and
/// CPU time (s), from `wait4`'s resource usage.
fn wait_with_usage(child: &Child) -> (std::process::ExitStatus, u64, f64) {
    use std::os::unix::process::ExitStatusExt as _;
    let pid = libc::pid_t::try_from(child.id()).expect("a pid");
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `status` and `usage` are valid for writes for the call.
    let waited = unsafe { libc::wait4(pid, &raw mut status, 0, &raw mut usage) };
    assert_eq!(waited, pid, "wait4: {}", std::io::Error::last_os_error());
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let cpu = seconds(usage.ru_utime) + seconds(usage.ru_stime);
    // Linux gives ru_maxrss in KiB.
    let hwm = u64::try_from(usage.ru_maxrss).expect("a peak");
    (std::process::ExitStatus::from_raw(status), hwm, cpu)
}

fn spawn(fake: &FakeServer, dir: &Path, config: &Path, extra: &[&str]) -> Child {
    Command::new(binary())
        // chats.yaml's relative `recap_dir` is taken from here.
        .current_dir(dir)
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

/// The binary measured: this build's, or another (`HASHCHAT_BENCH_BIN`,
/// say an older build kept for a before/after comparison).
fn binary() -> std::ffi::OsString {
    std::env::var_os("HASHCHAT_BENCH_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_hashchat").into())
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
