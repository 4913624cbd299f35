//! Live rooms under load (issue 15): `hashchat serve` as its own process on
//! a database this bench writes as `hashchat run` would, 100 rooms open
//! (server-sent event clients), answers stored at 100/s for 20 s. Prints
//! capture → delivered (the answer's row committed → the event read by a
//! room) at the median and p99 over every answer and every room, and the
//! server's private memory (RssAnon) and CPU while it served them.
//!
//!     cargo bench --bench rooms

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use hashchat::schedule::{PlanPost, PlannedPost, PostKind};
use hashchat::store::{Store, StoredStatus};
use tokio::sync::Mutex;

const ROOMS: usize = 100;
const PER_SECOND: u64 = 100;

fn main() {
    let runs = common::runs();
    let rt = common::runtime();
    println!("rooms: {ROOMS} open rooms, answers at {PER_SECOND}/s, `hashchat serve` in its own process, median of {runs} runs");
    println!("machine: {}", common::machine());
    let (mut median, mut p99, mut anon, mut cpu) = (vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        let figures = rt.block_on(one_run(common::scaled(2_000)));
        median.push(figures.0);
        p99.push(figures.1);
        anon.push(figures.2);
        cpu.push(figures.3);
    }
    let p99 = common::median(&p99);
    println!(
        "  capture → delivered: median {:.1} ms, p99 {p99:.1} ms (target p99 < 1000 ms: {:.2}x {})",
        common::median(&median),
        p99 / 1000.0,
        if p99 < 1000.0 { "met" } else { "NOT met" }
    );
    println!(
        "  server: private memory (RssAnon) {:.1} MiB at the end, CPU {:.1}% of one core while serving (no target: reported)",
        common::median(&anon) / 1024.0,
        common::median(&cpu)
    );
}

/// One run: (median ms, p99 ms, RssAnon KiB, CPU %).
async fn one_run(answers: usize) -> (f64, f64, f64, f64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("h.db");
    let config = dir.path().join("chats.yaml");
    std::fs::write(&config, "server: https://mastodon.example\nchats:\n  - id: room\n    hashtag: RoomChat\n    schedule: \"0 20 * * 4\"\n    questions: [\"First?\"]\n").expect("chats.yaml");
    let store = Store::open(&db).await.expect("store");
    let run = running(&store).await;
    let port = free_port();
    let mut server = ServerProcess(
        Command::new(env!("CARGO_BIN_EXE_hashchat"))
            .args([
                "--config",
                config.to_str().expect("utf-8"),
                "--db",
                db.to_str().expect("utf-8"),
                "-q",
            ])
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .spawn()
            .expect("start hashchat serve"),
    );
    let pid = server.0.id();
    let url = format!("http://127.0.0.1:{port}/chats/room/events");
    let captured: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; answers]));
    let mut rooms = Vec::new();
    let (ready_tx, mut ready) = tokio::sync::mpsc::channel(ROOMS);
    for _ in 0..ROOMS {
        let room = room(
            url.clone(),
            answers,
            Arc::clone(&captured),
            ready_tx.clone(),
        );
        rooms.push(tokio::spawn(room));
    }
    // Every room has its first event before the first answer.
    for _ in 0..ROOMS {
        ready.recv().await.expect("a room opened");
    }
    let cpu_before = (cpu_ticks(pid), Instant::now());
    let start = Instant::now();
    for i in 0..answers {
        let due = start + Duration::from_millis(i as u64 * 1000 / PER_SECOND);
        tokio::time::sleep_until(due.into()).await;
        let status = answer(i);
        store
            .record_status(run, &status, &[1])
            .await
            .expect("answer");
        captured.lock().await[i] = Some(Instant::now());
    }
    let mut delays = Vec::new();
    for room in rooms {
        delays.extend(room.await.expect("room task"));
    }
    let cpu = (cpu_ticks(pid) - cpu_before.0) as f64
        / clock_ticks()
        / cpu_before.1.elapsed().as_secs_f64()
        * 100.0;
    let anon = status_kib(pid, "RssAnon") as f64;
    server.0.kill().ok();
    assert_eq!(delays.len(), answers * ROOMS, "every room saw every answer");
    (
        common::median(&delays),
        common::percentile(&delays, 99.0),
        anon,
        cpu,
    )
}

/// One open room: the delay of each answer, from its commit to its event.
async fn room(
    url: String,
    answers: usize,
    captured: Arc<Mutex<Vec<Option<Instant>>>>,
    ready: tokio::sync::mpsc::Sender<()>,
) -> Vec<f64> {
    let mut response = loop {
        match reqwest::get(&url).await {
            Ok(r) if r.status().is_success() => break r,
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    let (mut buffer, mut seen, mut delays) = (String::new(), vec![false; answers], Vec::new());
    while delays.len() < answers {
        let Ok(Some(chunk)) = response.chunk().await else {
            break;
        };
        let now = Instant::now();
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            if event.starts_with("event: reset") {
                let _ = ready.try_send(());
            }
            for i in ids(&event, answers) {
                if !std::mem::replace(&mut seen[i], true) {
                    let at = captured.lock().await[i].unwrap_or(now);
                    delays.push(common::millis(now.saturating_duration_since(at)));
                }
            }
        }
    }
    delays
}

/// Answer numbers in an event: ids `a-q1-<1000000 + i>`.
fn ids(event: &str, answers: usize) -> Vec<usize> {
    event
        .match_indices("a-q1-")
        .filter_map(|(at, _)| event.get(at + 5..at + 12)?.parse::<usize>().ok())
        .filter_map(|n| n.checked_sub(1_000_000))
        .filter(|i| *i < answers)
        .collect()
}

fn answer(i: usize) -> StoredStatus {
    let id = (1_000_000 + i).to_string();
    let who = format!("user{}", i % 50);
    StoredStatus {
        status_id: id.clone(),
        instance: None,
        uri: format!("https://remote.example/users/{who}/statuses/{id}"),
        account_id: who.clone(),
        account: format!("{who}@remote.example"),
        display_name: who.clone(),
        url: format!("https://remote.example/@{who}/{id}"),
        html: format!("<p>A1 answer number {i}, with a few words like a real one.</p>"),
        text: format!("A1 answer number {i}, with a few words like a real one."),
        created_at: Utc::now(),
        edited_at: None,
        in_reply_to_id: None,
        visibility: "public".into(),
    }
}

async fn running(store: &Store) -> i64 {
    let start = Utc::now();
    let run = store
        .open_run("room", start, start + chrono::Duration::hours(1))
        .await
        .expect("run");
    store
        .mark_run_started(run.id, start)
        .await
        .expect("started");
    let post = PlanPost {
        post: PlannedPost {
            seq: 1,
            kind: PostKind::Question,
            number: Some(1),
            at: start,
            text: "Q1: First? #RoomChat".into(),
        },
        body: "First?".into(),
        idempotency_key: "k-1".into(),
        image: None,
    };
    store.plan_posts(run.id, &[post]).await.expect("plan");
    store
        .mark_sent(run.id, 1, "1", "https://mastodon.example/@bot/1", start)
        .await
        .expect("sent");
    run.id
}

struct ServerProcess(Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a port")
        .local_addr()
        .expect("bound")
        .port()
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc stat");
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

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
