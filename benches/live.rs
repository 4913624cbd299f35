//! Figures 2, 3 and 4 from whole runs of the daemon against the in-process
//! fake Mastodon server, with the real clock (time-scaled chats):
//! - post timing: lateness of each post's arrival at the server against its
//!   planned time, over 20 posts 200 ms apart;
//! - reaction time: a tagged answer's arrival on the hashtag stream to its
//!   row committed, at 100 answers/s (1,000 in 10 s);
//! - API budget: every HTTP request of a one-hour chat (8 questions, 2,000
//!   answers, one in ten an untagged reply found through the question's
//!   context), against 300 per 5 minutes and a 10-second polling design (computed,
//!   not measured).
//!
//!     cargo bench --bench live

mod common;

#[path = "../tests/it"]
mod it {
    pub mod fake_server;
}

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use common::live::{daemon, Commits};
use hashchat::store::Store;
use it::fake_server::FakeServer;
use tokio_util::sync::CancellationToken;

/// One hour of chat is played in `HOUR` of real time.
const HOUR: Duration = Duration::from_secs(24);

fn main() {
    let runs = common::runs();
    let rt = common::runtime();
    let commits = Commits::install();
    println!(
        "live: whole runs against the in-process fake server, real clock, median of {runs} runs"
    );
    println!("machine: {}", common::machine());

    let mut lateness = Vec::new();
    let mut worst = Vec::new();
    for _ in 0..runs {
        let late = rt.block_on(post_timing(20, Duration::from_millis(200)));
        lateness.push(common::median(&late));
        worst.push(late.iter().copied().fold(0.0, f64::max));
    }
    let (med, worst) = (common::median(&lateness), common::median(&worst));
    println!(
        "  post timing, 20 posts 200 ms apart: lateness median {med:.2} ms (target < 20: {}), worst {worst:.2} ms (target < 100: {})",
        verdict(med < 20.0),
        verdict(worst < 100.0)
    );

    let answers = common::scaled(2_000);
    let mut reaction_med = Vec::new();
    let mut reaction_p99 = Vec::new();
    let mut requests = Vec::new();
    let mut window_peak = Vec::new();
    let mut late_under_load = Vec::new();
    for _ in 0..runs {
        let hour = rt.block_on(one_hour(answers, &commits));
        reaction_med.push(common::median(&hour.reaction_ms));
        reaction_p99.push(common::percentile(&hour.reaction_ms, 99.0));
        requests.push(hour.requests as f64);
        window_peak.push(hour.peak_5min as f64);
        late_under_load.push(hour.worst_late_ms);
        if requests.len() == 1 {
            println!("  requests of one hour by kind: {}", hour.kinds);
        }
    }
    let p99 = common::median(&reaction_p99);
    println!(
        "  reaction time at {:.0} answers/s: median {:.2} ms, p99 {p99:.2} ms (target p99 < 250: {})",
        answers as f64 / hour_answering().as_secs_f64(),
        common::median(&reaction_med),
        verdict(p99 < 250.0)
    );
    println!(
        "  worst post lateness during that load: {:.2} ms",
        common::median(&late_under_load)
    );
    let total = common::median(&requests);
    let peak = common::median(&window_peak);
    let budget_hour = 300.0 * 12.0;
    println!(
        "  API budget, 1 h chat, 8 questions, {answers} answers: {total:.0} requests = {:.1}% of 3,600/h (300 per 5 min); busiest 5 min {peak:.0} = {:.1}% of 300 (target < 10%: {})",
        100.0 * total / budget_hour,
        100.0 * peak / 300.0,
        verdict(total / budget_hour < 0.10 && peak / 300.0 < 0.10),
    );
    // Computed, not measured: no polling bot is run. One tag-timeline read
    // every 10 s for the hour (3,600 s / 10 s = 360, each page of 40 holding
    // the ~6 answers of 10 s) and the 10 posts of the chat.
    let polling = POLLING_READS + POSTS;
    println!(
        "  polling design (computed, not measured: tag timeline every 10 s = {POLLING_READS} reads + {POSTS} posts): {polling:.0} requests = {:.1}% of 3,600/h; ours is {:.2}x of it",
        100.0 * polling / budget_hour,
        total / polling
    );
}

/// A polling design's tag-timeline reads in an hour, one every 10 s.
const POLLING_READS: f64 = 3600.0 / 10.0;
/// The posts of the one-hour chat: an opening, 8 questions, a closing.
const POSTS: f64 = 10.0;

fn verdict(met: bool) -> &'static str {
    if met {
        "MET"
    } else {
        "MISSED"
    }
}

async fn fresh(dir: &tempfile::TempDir) -> (FakeServer, Store) {
    let fake = FakeServer::start().await;
    let store = Store::open(&dir.path().join("live.db"))
        .await
        .expect("store");
    (fake, store)
}

/// Lateness (ms) of each post: its arrival at the server against its plan.
async fn post_timing(posts: usize, apart: Duration) -> Vec<f64> {
    let dir = tempfile::tempdir().expect("temp dir");
    let (fake, store) = fresh(&dir).await;
    let start = Utc::now() + chrono::Duration::milliseconds(1500);
    let apart = common::yaml_duration(apart);
    let keys = format!(
        "first_question_after: {apart}\nquestion_interval: {apart}\ncollect_after: {apart}\nrecap_dir: {}",
        dir.path().join("recaps").display()
    );
    let chat = common::chat("timing", "TimingChat", start, posts - 2, fake.url(), &keys);
    let daemon = daemon(chat, store.clone(), fake.url(), fake.bot_token());
    daemon.run(&[]).await.expect("the run");
    lateness(&fake, &store, "timing").await
}

async fn lateness(fake: &FakeServer, store: &Store, chat: &str) -> Vec<f64> {
    let run = store.latest_run(chat).await.expect("db").expect("a run");
    let planned = store.posts(run.id).await.expect("posts");
    let arrived = fake.statuses_by("chatbot");
    planned
        .iter()
        .map(|p| {
            let id = p.status_id.as_deref().unwrap_or_else(|| {
                panic!(
                    "post {} did not go out: {:?} {:?}",
                    p.seq, p.state, p.last_error
                )
            });
            let at = arrived
                .iter()
                .find(|s| s.id == id)
                .expect("on the server")
                .created_at;
            (at - p.planned_at).num_microseconds().expect("small") as f64 / 1000.0
        })
        .collect()
}

struct Hour {
    reaction_ms: Vec<f64>,
    requests: usize,
    peak_5min: usize,
    kinds: String,
    worst_late_ms: f64,
}

/// The scaled time from Q1 to the closing, when answers arrive.
fn hour_answering() -> Duration {
    scale(Duration::from_secs(56 * 60))
}

fn scale(d: Duration) -> Duration {
    d.mul_f64(HOUR.as_secs_f64() / 3600.0)
}

/// A one-hour chat (intro, Q1 after 3 min, 8 questions 7 min apart,
/// closing, 10 min of collection) played at `HOUR` per hour, with
/// `answers` answers spread evenly over the questions.
async fn one_hour(answers: usize, commits: &Commits) -> Hour {
    let dir = tempfile::tempdir().expect("temp dir");
    let (fake, store) = fresh(&dir).await;
    let users: Vec<String> = (0..50)
        .map(|i| {
            let handle = format!("user{i}@remote.example");
            fake.add_remote_account(&handle);
            handle
        })
        .collect();
    let start = Utc::now() + chrono::Duration::milliseconds(1500);
    let minutes = |m: u64| common::yaml_duration(scale(Duration::from_secs(m * 60)));
    let keys = format!(
        "first_question_after: {}\nquestion_interval: {}\ncollect_after: {}\nrecap_dir: {}",
        minutes(3),
        minutes(7),
        minutes(10),
        dir.path().join("recaps").display()
    );
    let chat = common::chat("hour", "HourChat", start, 8, fake.url(), &keys);
    let daemon = daemon(chat, store.clone(), fake.url(), fake.bot_token());
    let run = tokio::spawn(daemon.run(&[]));
    let fake = Arc::new(fake);
    let stop = CancellationToken::new();
    let counter = tokio::spawn(request_times(Arc::clone(&fake), stop.clone()));
    commits.take();

    // Answers start with Q1 and stop at the closing.
    fake.wait_for_bot_posts(2).await;
    let every = hour_answering().div_f64(answers as f64);
    let mut posted = Vec::with_capacity(answers);
    let began = tokio::time::Instant::now();
    for i in 0..answers {
        tokio::time::sleep_until(began + every * i as u32).await;
        let bot = fake.statuses_by("chatbot");
        let question = bot.len().clamp(2, 9) - 1;
        let user = &users[i % users.len()];
        let status = if i % 10 == 9 {
            let text = format!("I think so, item {i}");
            fake.post_as(user, &text, Some(&bot[question].id), "public")
        } else {
            fake.post_as(
                user,
                &format!("A{question}: item {i} #HourChat"),
                None,
                "public",
            )
        };
        if i % 10 != 9 {
            posted.push((status.id, Instant::now()));
        }
    }
    run.await.expect("the daemon").expect("the run");
    stop.cancel();
    let times = counter.await.expect("counter");
    let committed = commits.take();
    let reaction_ms = posted
        .iter()
        .map(|(id, at)| {
            let done = committed.get(id).expect("every tagged answer recorded");
            common::millis(done.saturating_duration_since(*at))
        })
        .collect();
    let requests = fake.requests();
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for r in &requests {
        let path = r.path.split('?').next().unwrap_or("");
        let kind = path
            .split('/')
            .map(|p| {
                if p.chars().all(|c| c.is_ascii_digit()) && !p.is_empty() {
                    ":id"
                } else {
                    p
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        *kinds.entry(format!("{} {kind}", r.method)).or_default() += 1;
    }
    let kinds = kinds
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let window = scale(Duration::from_secs(300));
    let peak_5min = (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|t| **t - times[i] < window)
                .count()
        })
        .max()
        .unwrap_or(0);
    let run = store.latest_run("hour").await.expect("db").expect("a run");
    let stored = store.statuses(run.id).await.expect("statuses");
    assert_eq!(stored.len(), answers, "every answer stored");
    let late = lateness(&fake, &store, "hour").await;
    Hour {
        reaction_ms,
        requests: requests.len(),
        peak_5min,
        kinds,
        worst_late_ms: late.iter().copied().fold(0.0, f64::max),
    }
}

/// When each request reached the server, until `stop`.
async fn request_times(fake: Arc<FakeServer>, stop: CancellationToken) -> Vec<Instant> {
    let mut times = Vec::new();
    loop {
        let seen = times.len();
        let more = tokio::select! {
            _ = stop.cancelled() => break,
            n = fake.wait_until(|w| (w.requests.len() > seen).then_some(w.requests.len())) => n,
        };
        let now = Instant::now();
        times.extend(std::iter::repeat_n(now, more - seen));
    }
    // Requests after the last wake-up (none once the run has ended).
    let total = fake.request_count();
    let now = Instant::now();
    times.extend(std::iter::repeat_n(now, total.saturating_sub(times.len())));
    times
}
