//! Figure 1, ingest throughput: statuses/s from Mastodon JSON to committed
//! answer rows, through the listener's own code (`Collector::consume`, the
//! loop that reads the hashtag stream, with its group commit), beside the
//! raw limit measured in the same run: the same rows inserted into a fresh
//! SQLite file with prepared statements through the C library (rusqlite),
//! in transactions as large as the listener's largest commit.
//!
//!     cargo bench --bench ingest            # 100,000 statuses, 5 runs
//!     HASHCHAT_BENCH_SCALE=0.01 HASHCHAT_BENCH_RUNS=1 cargo bench --bench ingest
//!     HASHCHAT_BENCH_FIGURE_ONLY=1 cargo bench --bench ingest   # raw and listener only

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::corpus::{self, DOMAIN, HASHTAG, QUESTIONS};
use hashchat::chats::Hashtag;
use hashchat::clock::SystemClock;
use hashchat::network::{Status, StreamEvent};
use hashchat::run::{
    ingest, judge, Collector, DryRun, EventSource, Judged, RunPosts, RunWindow, Tuning,
    MOST_PER_COMMIT,
};
use hashchat::store::{Store, StoredStatus};
use tokio_util::sync::CancellationToken;

/// Statuses per transaction in reconciliation: a timeline page (`collect.rs`).
const PAGE: usize = 40;
const ANSWER_SHARE: f64 = 0.6;

fn main() {
    let count = common::scaled(100_000);
    let runs = common::runs();
    let corpus: Arc<[String]> = corpus::statuses(count, ANSWER_SHARE).into();
    let window = window();
    let posts: RunPosts = (1..=QUESTIONS)
        .map(|n| (corpus::question_post_id(n), Some(n)))
        .collect();
    let rows = rows_of(&corpus, &window, &posts);
    let answers: usize = rows.iter().filter(|(_, a)| !a.is_empty()).count();
    let bytes: usize = corpus.iter().map(String::len).sum();
    println!(
        "ingest: {count} statuses ({answers} answers, {} KiB of JSON), median of {runs} runs",
        bytes / 1024
    );
    println!("machine: {}", common::machine());

    // The figure alone, for quick reruns and profiling: no breakdown.
    let figure_only = std::env::var_os("HASHCHAT_BENCH_FIGURE_ONLY").is_some();
    let rt = common::runtime();
    let mut raw = Vec::new();
    let mut raw_pages = Vec::new();
    let mut listener = Vec::new();
    let mut commits = Vec::new();
    let mut batched = Vec::new();
    let mut single = Vec::new();
    let mut judged = Vec::new();
    let mut store_only = Vec::new();
    for _ in 0..runs {
        raw.push(rate(count, raw_insert(&rows, MOST_PER_COMMIT)));
        let (took, commit_count) = rt.block_on(listen(&corpus, &window, &posts));
        listener.push(rate(count, took));
        commits.push(commit_count as f64);
        if figure_only {
            continue;
        }
        raw_pages.push(rate(count, raw_insert(&rows, PAGE)));
        batched.push(rate(
            count,
            rt.block_on(ours(&corpus, &window, &posts, Mode::Pages)),
        ));
        single.push(rate(
            count,
            rt.block_on(ours(&corpus, &window, &posts, Mode::OneByOne)),
        ));
        judged.push(rate(count, judge_only(&corpus, &window, &posts)));
        store_only.push(rate(count, rt.block_on(store_rows(&rows, MOST_PER_COMMIT))));
    }
    let raws = raw;
    let raw = common::median(&raws);
    let report = |name: &str, values: &[f64]| {
        let v = common::median(values);
        println!(
            "  {name:<58} {v:>10.0} statuses/s  {:>5.1}% of raw",
            100.0 * v / raw
        );
    };
    println!(
        "  {:<58} {raw:>10.0} statuses/s  (the limit)",
        format!("raw: rusqlite prepared INSERTs, {MOST_PER_COMMIT} rows per transaction")
    );
    report("hashchat listener (JSON -> rows, group commit)", &listener);
    println!(
        "    ({:.0} commits for {count} statuses: {:.0} statuses per commit)",
        common::median(&commits),
        count as f64 / common::median(&commits)
    );
    if !figure_only {
        report(
            &format!("raw: rusqlite, {PAGE} rows per transaction"),
            &raw_pages,
        );
        report(
            &format!("hashchat ingest (reconciliation, pages of {PAGE})"),
            &batched,
        );
        report("hashchat ingest (pages of one status)", &single);
        report(
            &format!("record_statuses only ({MOST_PER_COMMIT} rows; no JSON)"),
            &store_only,
        );
        report(
            "judge only (JSON decode, HTML -> text, labels; no store)",
            &judged,
        );
    }
    // Each run measures raw and the listener one after the other: the
    // ratio within a run is less moved by the machine's load than the
    // ratio of two medians.
    let ratios: Vec<f64> = listener.iter().zip(&raws).map(|(l, r)| l / r).collect();
    let ratio = common::median(&ratios);
    let percent = |r: f64| format!("{:.0}%", r * 100.0);
    println!(
        "target: listener >= 50% of raw: {} {} (median of the runs' own ratios; runs: {})",
        percent(ratio),
        if ratio >= 0.5 { "MET" } else { "MISSED" },
        ratios
            .iter()
            .map(|&r| percent(r))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

fn rate(count: usize, took: Duration) -> f64 {
    count as f64 / took.as_secs_f64()
}

fn window() -> RunWindow {
    RunWindow {
        run_id: 1,
        hashtag: Hashtag::parse(HASHTAG).expect("a valid hashtag"),
        question_count: QUESTIONS,
        opens: corpus::opens(),
        closes: corpus::closes(),
        bot_account_id: corpus::BOT_ACCOUNT.into(),
        domain: DOMAIN.into(),
        instance: None,
        ignore: Default::default(),
    }
}

/// The rows the listener would store, computed once for the raw insert.
fn rows_of(
    corpus: &[String],
    window: &RunWindow,
    posts: &RunPosts,
) -> Vec<(StoredStatus, Vec<u32>)> {
    corpus
        .iter()
        .filter_map(|json| {
            let status = Status::from_json(json).expect("the corpus decodes");
            match judge(window, posts, status) {
                Judged::Kept(row) => Some(*row),
                _ => None,
            }
        })
        .collect()
}

/// The corpus as the hashtag stream would deliver it under a flood: every
/// frame already there, decoded when the listener asks for it.
struct Corpus {
    frames: Arc<[String]>,
    next: usize,
}

impl EventSource for Corpus {
    async fn next(&mut self) -> Option<StreamEvent> {
        let json = self.frames.get(self.next)?;
        self.next += 1;
        Some(StreamEvent::Update(
            Status::from_json(json).expect("the corpus decodes"),
        ))
    }
}

/// A fresh database file with one run open, and `window` pointing at it.
async fn fresh_run(window: &RunWindow) -> (tempfile::TempDir, Store, RunWindow) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("bench.db"))
        .await
        .expect("store");
    let run = store
        .open_run("bench", window.opens, window.closes)
        .await
        .expect("a run");
    let window = RunWindow {
        run_id: run.id,
        ..window.clone()
    };
    (dir, store, window)
}

/// The listener's loop over the whole corpus into a fresh database file,
/// in a task of its own as in the daemon; returns the time taken and the
/// commits it used.
async fn listen(corpus: &Arc<[String]>, window: &RunWindow, posts: &RunPosts) -> (Duration, u64) {
    let (_dir, store, window) = fresh_run(window).await;
    let run_id = window.run_id;
    let (_keep, posts) = tokio::sync::watch::channel(posts.clone());
    let clock: hashchat::clock::SharedClock = Arc::new(SystemClock);
    let social = Arc::new(DryRun::new(chrono_tz::UTC, Arc::clone(&clock)));
    let collector = Arc::new(Collector::new(
        store.clone(),
        social,
        window,
        posts,
        Tuning::default(),
        clock,
        false,
    ));
    let mut source = Corpus {
        frames: Arc::clone(corpus),
        next: 0,
    };
    let start = Instant::now();
    let consumed = tokio::spawn(async move {
        collector
            .consume(&mut source, &CancellationToken::new())
            .await
    })
    .await
    .expect("the listener task");
    let took = start.elapsed();
    assert_eq!(consumed.events as usize, corpus.len());
    let stored = store.statuses(run_id).await.expect("read back").len();
    assert_eq!(
        stored,
        count_kept(corpus.len()),
        "every kept status is stored"
    );
    (took, consumed.commits)
}

#[derive(Clone, Copy)]
enum Mode {
    Pages,
    OneByOne,
}

/// Decoding, judging and storing every status into a fresh database file.
async fn ours(corpus: &[String], window: &RunWindow, posts: &RunPosts, mode: Mode) -> Duration {
    let (_dir, store, window) = fresh_run(window).await;
    let start = Instant::now();
    for page in corpus.chunks(PAGE) {
        let statuses: Vec<Status> = page
            .iter()
            .map(|json| Status::from_json(json).expect("the corpus decodes"))
            .collect();
        match mode {
            Mode::Pages => {
                ingest(&store, &SystemClock, &window, posts, statuses)
                    .await
                    .expect("stored");
            }
            Mode::OneByOne => {
                for status in statuses {
                    ingest(&store, &SystemClock, &window, posts, vec![status])
                        .await
                        .expect("stored");
                }
            }
        }
    }
    let took = start.elapsed();
    let stored = store
        .statuses(window.run_id)
        .await
        .expect("read back")
        .len();
    assert_eq!(
        stored,
        count_kept(corpus.len()),
        "every kept status is stored"
    );
    took
}

/// The corpus keeps every status (all are tagged or reply to a question).
fn count_kept(count: usize) -> usize {
    count
}

/// The store's share: the raw benchmark's rows through `record_statuses`.
async fn store_rows(rows: &[(StoredStatus, Vec<u32>)], size: usize) -> Duration {
    let (_dir, store, window) = fresh_run(&window()).await;
    let start = Instant::now();
    for page in rows.chunks(size) {
        store
            .record_statuses(window.run_id, page)
            .await
            .expect("stored");
    }
    start.elapsed()
}

fn judge_only(corpus: &[String], window: &RunWindow, posts: &RunPosts) -> Duration {
    let start = Instant::now();
    let mut kept = 0;
    for json in corpus {
        let status = Status::from_json(json).expect("the corpus decodes");
        if let Judged::Kept(_) = judge(window, posts, status) {
            kept += 1;
        }
    }
    assert_eq!(kept, corpus.len());
    start.elapsed()
}

/// The raw limit: the same rows, the same schema and pragmas, prepared
/// statements and one transaction per `size` rows, straight through the C
/// library.
fn raw_insert(rows: &[(StoredStatus, Vec<u32>)], size: usize) -> Duration {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut db = rusqlite::Connection::open(dir.path().join("raw.db")).expect("raw db");
    db.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
    )
    .expect("pragmas");
    apply_migrations(
        &db,
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations")),
    );
    db.execute(
        "INSERT INTO runs (id, chat_id, planned_start, collect_until) VALUES (1, 'bench', ?1, ?2)",
        (corpus::opens().to_rfc3339(), corpus::closes().to_rfc3339()),
    )
    .expect("a run");
    let start = Instant::now();
    for page in rows.chunks(size) {
        let tx = db.transaction().expect("begin");
        {
            let mut status_insert = tx
                .prepare_cached(
                    "INSERT INTO statuses (run_id, status_id, account_id, account, display_name, url,
                                           html, text, created_at, edited_at, in_reply_to_id, visibility,
                                           uri)
                     VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )
                .expect("prepare");
            let mut answer_insert = tx
                .prepare_cached(
                    "INSERT INTO answers (run_id, status_id, question) VALUES (1, ?1, ?2)",
                )
                .expect("prepare");
            for (s, answers) in page {
                status_insert
                    .execute(rusqlite::params![
                        s.status_id,
                        s.account_id,
                        s.account,
                        s.display_name,
                        s.url,
                        s.html,
                        s.text,
                        s.created_at.to_rfc3339(),
                        s.edited_at.map(|t| t.to_rfc3339()),
                        s.in_reply_to_id,
                        s.visibility,
                        s.uri,
                    ])
                    .expect("insert");
                for q in answers {
                    answer_insert.execute((&s.status_id, q)).expect("insert");
                }
            }
        }
        tx.commit().expect("commit");
    }
    start.elapsed()
}

fn apply_migrations(db: &rusqlite::Connection, dir: &Path) {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("migrations")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    for file in files {
        db.execute_batch(&std::fs::read_to_string(&file).expect("read"))
            .expect("migration applies");
    }
}
