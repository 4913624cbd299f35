//! Several replicas on one database (issue 16), on PostgreSQL and on
//! SQLite with leases in memory, in the style of River's
//! fault tests: three daemons in this process share a chat of ten posts
//! (their own store handle, holder name and gated server client, one
//! manual clock), answers arrive, the leader is killed (its task aborted,
//! nothing released) and the next leader frozen past the TTL and woken,
//! at seeded random times. Every round checks that each post reached the
//! server once (by text, and by Idempotency-Key among what the replicas
//! sent), every answer was recorded once, and the frozen replica sent
//! nothing. The server keeps no Idempotency-Key: the claims, not the
//! server, must keep a post from going out twice.
//!
//! Time: the clock moves in steps of at least TTL/3 + TTL/10, so every
//! replica's lease loop (a keeper's renewal, a standby's jittered try) is
//! due at each step, and the test waits until each live replica has made
//! its lease call at the new time before it looks at anything: no real
//! sleep decides an outcome.

mod fault;
mod memory;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use hashchat::clock::Clock;
use hashchat::network::html_to_text;
use hashchat::run::{LeaseTtl, Replicas, RunOptions, SharedLeases};
use hashchat::store::postgres::Leases;
use hashchat::store::{PostgresUrl, RunState, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use self::fault::{FrozenConnector, FrozenLeases, Gate, Record};
use self::memory::MemoryLeases;
use crate::helpers::{start_time, within, TestApp};
use crate::postgres::server::fresh_database;

const TTL: Duration = Duration::from_secs(30);
/// The shortest step of the clock: TTL/3 (a keeper's beat) + TTL/10 (a
/// standby's most jitter).
const STEP: i64 = 13;
const QUESTIONS: u32 = 8;
/// Intro, questions, closing.
const POSTS: u32 = QUESTIONS + 2;
const ROUNDS: u64 = 20;
const CHAT: &str = "replicas";

/// Where the replicas keep their data; the rest of the test is the same
/// on every database.
#[async_trait]
trait Database: Send + Sync {
    /// A new handle on the database, as another process would open.
    async fn store(&self) -> Store;
    /// The leases a replica with `store` uses.
    fn leases(&self, store: &Store) -> Arc<dyn SharedLeases>;
    /// Who holds `chat`'s lease at `now`.
    async fn holder(&self, chat: &str, now: DateTime<Utc>) -> Option<String>;
    /// What the database is busy with, for a failure message.
    async fn activity(&self) -> String {
        String::new()
    }
}

/// The SQLite file of the test app, with the leases in memory (SQLite's
/// own lease files admit no standby).
struct Sqlite {
    db: PathBuf,
    leases: Arc<MemoryLeases>,
}

#[async_trait]
impl Database for Sqlite {
    async fn store(&self) -> Store {
        Store::open(&self.db).await.expect("open the store")
    }

    fn leases(&self, _store: &Store) -> Arc<dyn SharedLeases> {
        Arc::clone(&self.leases) as Arc<dyn SharedLeases>
    }

    async fn holder(&self, chat: &str, now: DateTime<Utc>) -> Option<String> {
        self.leases.holder_of(chat, now).map(|g| g.holder)
    }
}

/// A fresh PostgreSQL database of the tests' own server, each replica on
/// its own pool: the leases and claims are `store::postgres::Leases`.
struct Postgres {
    url: PostgresUrl,
    /// The test's own look at the leases.
    leases: Leases,
    leases_pool: sqlx::PgPool,
}

impl Postgres {
    async fn fresh() -> Self {
        let url = PostgresUrl::new(fresh_database().await);
        let store = Store::open_postgres(&url).await.expect("open the database");
        let pool = store.postgres_pool().expect("PostgreSQL").clone();
        let leases = Leases::new(pool.clone());
        Self {
            url,
            leases,
            leases_pool: pool,
        }
    }
}

#[async_trait]
impl Database for Postgres {
    async fn store(&self) -> Store {
        Store::open_postgres(&self.url)
            .await
            .expect("open the database")
    }

    fn leases(&self, store: &Store) -> Arc<dyn SharedLeases> {
        let pool = store.postgres_pool().expect("a PostgreSQL store");
        Arc::new(Leases::new(pool.clone()))
    }

    async fn holder(&self, chat: &str, now: DateTime<Utc>) -> Option<String> {
        let grant = self
            .leases
            .holder_of(chat, now)
            .await
            .expect("read the lease");
        grant.map(|g| g.holder)
    }

    async fn activity(&self) -> String {
        type Row = (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let rows: Result<Vec<Row>, _> = sqlx::query_as(
            "SELECT state, wait_event_type, wait_event, left(query, 200) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_all(&self.leases_pool)
        .await;
        format!("{rows:#?}")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_on_postgresql_post_each_step_once_through_a_kill_and_a_freeze() {
    for seed in 0..ROUNDS {
        let (app, db) = (app().await, Postgres::fresh().await);
        play(app, &db, seed).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_on_sqlite_post_each_step_once_through_a_kill_and_a_freeze() {
    for seed in 0..ROUNDS {
        let app = app().await;
        let db = Sqlite {
            db: app.db.clone(),
            leases: Arc::default(),
        };
        play(app, &db, seed).await;
    }
}

/// The test chat: an intro, eight questions and a closing, a minute apart.
async fn app() -> TestApp {
    let mut app = TestApp::new().await;
    let questions: String = (1..=QUESTIONS)
        .map(|n| format!("\n  - Question number {n}?"))
        .collect();
    app.set_chat(&[
        ("id", CHAT),
        ("first_question_after", "1m"),
        ("question_interval", "1m"),
        ("collect_after", "1m"),
        ("questions", &questions),
    ]);
    // A post sent twice shows twice: the server is not the guard.
    app.fake.forget_idempotency_keys();
    app
}

fn post_time(seq: u32) -> DateTime<Utc> {
    start_time() + chrono::Duration::minutes(i64::from(seq))
}

/// How many posts are due at `at`.
fn due(at: DateTime<Utc>) -> usize {
    (0..POSTS).filter(|&seq| post_time(seq) <= at).count()
}

fn end_time() -> DateTime<Utc> {
    post_time(POSTS)
}

/// One round, `seed` deciding its timing and faults; a failure names it.
async fn play(app: TestApp, db: &dyn Database, seed: u64) {
    let round = std::panic::AssertUnwindSafe(Round::play(app, db, seed)).catch_unwind();
    if let Err(panic) = round.await {
        let why = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        panic!("round with seed {seed} failed: {why}");
    }
}

struct Replica {
    name: String,
    gate: Gate,
    record: Arc<Record>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    ended: watch::Receiver<bool>,
    killed: bool,
}

impl Replica {
    fn is_live(&self) -> bool {
        !self.killed && !self.gate.is_frozen() && !*self.ended.borrow()
    }
}

struct Round<'a> {
    app: TestApp,
    db: &'a dyn Database,
    /// The test's own handle on the database, to check what was stored.
    store: Store,
    rng: StdRng,
    replicas: Vec<Replica>,
    frozen: Option<Frozen>,
}

/// The replica frozen in a round.
struct Frozen {
    replica: usize,
    since: DateTime<Utc>,
    /// Post requests it had sent when it froze, and once woken and back
    /// to standing by (it may lead again later, with a new token).
    sent_before: usize,
    sent_when_woken: Option<usize>,
    /// Posts that fall due while it is frozen (at least one, so that it
    /// wakes with a post to send and a lease that is no longer its own).
    posts_missed: usize,
}

impl<'a> Round<'a> {
    async fn play(app: TestApp, db: &'a dyn Database, seed: u64) {
        app.clock.set(start_time() - chrono::Duration::seconds(30));
        let store = db.store().await;
        let mut round = Round {
            app,
            db,
            store,
            rng: StdRng::seed_from_u64(seed),
            replicas: Vec::new(),
            frozen: None,
        };
        for i in 0..3 {
            round.spawn(i).await;
        }
        let kill_after = round.rng.gen_range(1..POSTS - 2);
        let freeze_after = round.rng.gen_range(1..POSTS - 2);
        round.settle().await;
        round.drive(kill_after, freeze_after).await;
        round.check().await;
    }

    async fn spawn(&mut self, i: usize) {
        let (gate, record) = (Gate::new(), Arc::new(Record::default()));
        let name = format!("replica-{i}");
        let shutdown = CancellationToken::new();
        let mut daemon = self.app.daemon(RunOptions::default(), shutdown.clone());
        daemon.store = self.db.store().await;
        daemon.holder = name.clone();
        daemon.connector = Arc::new(FrozenConnector {
            server: self.app.fake.url(),
            token: self.app.fake.bot_token(),
            gate: gate.clone(),
            record: Arc::clone(&record),
        });
        let leases = FrozenLeases {
            inner: self.db.leases(&daemon.store),
            gate: gate.clone(),
            record: Arc::clone(&record),
        };
        let ttl = LeaseTtl::new(TTL).unwrap();
        daemon.replicas = Replicas::shared(Arc::new(leases), ttl);
        let (ended_tx, ended) = watch::channel(false);
        let task = tokio::spawn(async move {
            let outcomes = daemon.run(&[]).await.expect("the daemon starts");
            for outcome in outcomes {
                if let Err(e) = outcome.result {
                    tracing::error!("chat {} ended: {e:#}", outcome.chat);
                }
            }
            ended_tx.send_replace(true);
        });
        self.replicas.push(Replica {
            name,
            gate,
            record,
            shutdown,
            task,
            ended,
            killed: false,
        });
    }

    /// Steps the clock until the run has ended, faulting the leader after
    /// the posts `kill_after` and `freeze_after`.
    async fn drive(&mut self, kill_after: u32, freeze_after: u32) {
        let mut seen = 0;
        let mut faults = vec![(kill_after, Fault::Kill), (freeze_after, Fault::Freeze)];
        loop {
            let step = STEP + self.rng.gen_range(0..=7);
            let now = self.app.clock.now() + chrono::Duration::seconds(step);
            self.app.clock.set(now);
            self.settle().await;
            self.maybe_wake(now).await;
            let Some(_leader) = self.live_holder(now).await else {
                continue;
            };
            let due = due(now);
            if due > seen {
                let waited = tokio::time::timeout(
                    Duration::from_secs(10),
                    self.app.fake.wait_for_bot_posts(due),
                )
                .await;
                let Ok(posts) = waited else {
                    panic!("no post {due}; the database: {}", self.db.activity().await);
                };
                for (seq, post) in posts.iter().enumerate().take(due).skip(seen) {
                    self.answer(seq as u32, &post.id);
                }
                seen = due;
                let last = due as u32 - 1;
                for (_, fault) in faults.extract_if(.., |(after, _)| *after <= last) {
                    self.fault(fault, now).await;
                }
            }
            if now >= end_time() && self.run_done().await {
                break;
            }
        }
        if let Some(frozen) = &self.frozen {
            assert!(
                frozen.sent_when_woken.is_some(),
                "the frozen replica was never woken"
            );
        }
        for replica in &self.replicas {
            replica.shutdown.cancel();
        }
        for replica in &mut self.replicas {
            if !replica.killed {
                within("a replica to stop", &mut replica.task)
                    .await
                    .expect("replica task");
            }
        }
    }

    /// Waits until every live replica has made its lease call at `now`.
    async fn settle(&self) {
        let now = self.app.clock.now();
        for replica in self.replicas.iter().filter(|r| r.is_live()) {
            let mut calls = replica.record.lease_calls.subscribe();
            let mut ended = replica.ended.clone();
            let caught_up = async {
                tokio::select! {
                    _ = calls.wait_for(|at| at.is_some_and(|at| at >= now)) => {}
                    _ = ended.wait_for(|ended| *ended) => {}
                }
            };
            if tokio::time::timeout(Duration::from_secs(10), caught_up)
                .await
                .is_err()
            {
                panic!(
                    "{} did not catch up with {now}; the database: {}",
                    replica.name,
                    self.db.activity().await
                );
            }
        }
    }

    /// The replica holding the chat at `now`, if it is live.
    async fn live_holder(&self, now: DateTime<Utc>) -> Option<usize> {
        let holder = self.db.holder(CHAT, now).await?;
        let i = self.replicas.iter().position(|r| r.name == holder)?;
        self.replicas[i].is_live().then_some(i)
    }

    async fn fault(&mut self, fault: Fault, now: DateTime<Utc>) {
        let Some(leader) = self.live_holder(now).await else {
            return;
        };
        let replica = &mut self.replicas[leader];
        match fault {
            Fault::Kill => {
                tracing::info!(replica = %replica.name, "killing the leader");
                replica.task.abort();
                replica.killed = true;
            }
            Fault::Freeze if self.frozen.is_none() => {
                tracing::info!(replica = %replica.name, "freezing the leader");
                replica.gate.freeze();
                self.frozen = Some(Frozen {
                    replica: leader,
                    since: now,
                    sent_before: replica.record.attempts(),
                    sent_when_woken: None,
                    posts_missed: self.rng.gen_range(1..=2),
                });
            }
            Fault::Freeze => {}
        }
    }

    /// Wakes the frozen replica once it is past its TTL and another holds
    /// the chat.
    async fn maybe_wake(&mut self, now: DateTime<Utc>) {
        let Some(Frozen {
            replica: i,
            since,
            posts_missed,
            ..
        }) = self.frozen
        else {
            return;
        };
        let past_ttl = now > since + chrono::Duration::from_std(TTL).unwrap();
        let missed = due(now) - due(since);
        let late = missed >= posts_missed || now >= end_time();
        let woken = !self.replicas[i].gate.is_frozen();
        if woken || !past_ttl || !late || self.live_holder(now).await.is_none() {
            return;
        }
        tracing::info!(replica = %self.replicas[i].name, "waking the frozen replica");
        self.replicas[i].gate.wake();
        // Its calls held since it froze go on now; once it has tried to
        // take the lease again at `now`, its chat task has given up.
        self.settle().await;
        let sent = self.replicas[i].record.attempts();
        if let Some(frozen) = &mut self.frozen {
            frozen.sent_when_woken = Some(sent);
        }
    }

    /// Answers to question `seq` (posts 1..=QUESTIONS): one with the
    /// hashtag, one replying to the question.
    fn answer(&self, seq: u32, question_id: &str) {
        if !(1..=QUESTIONS).contains(&seq) {
            return;
        }
        let fake = &self.app.fake;
        fake.post_as("alice", &answer_of("alice", seq), None, "public");
        fake.post_as("bob", &answer_of("bob", seq), Some(question_id), "public");
    }

    async fn run_done(&self) -> bool {
        let run = self.store.latest_run(CHAT).await.unwrap();
        run.is_some_and(|run| run.state == RunState::Done)
    }

    async fn check(&self) {
        let store = &self.store;
        let run = store.latest_run(CHAT).await.unwrap().expect("a run");
        let planned: Vec<String> = store
            .posts(run.id)
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.text)
            .collect();
        assert_eq!(planned.len(), POSTS as usize);
        let at_server = counts(
            self.app
                .fake
                .statuses_by("chatbot")
                .iter()
                .map(|s| html_to_text(&s.content)),
        );
        for text in &planned {
            assert_eq!(
                at_server.get(text),
                Some(&1),
                "posted once: {text:?}\n{at_server:#?}"
            );
        }
        assert_eq!(at_server.len(), planned.len(), "{at_server:#?}");
        let sent = self.replicas.iter().flat_map(|r| r.record.posts());
        let by_key = counts(sent.map(|(key, _)| key));
        assert!(
            by_key.values().all(|&n| n == 1),
            "a key sent twice: {by_key:#?}"
        );
        if let Some(frozen) = &self.frozen {
            let replica = &self.replicas[frozen.replica];
            assert_eq!(
                frozen.sent_when_woken,
                Some(frozen.sent_before),
                "{} sent a post after it froze (all it posted: {:?})",
                replica.name,
                replica.record.posts()
            );
        }
        let recorded = counts(
            store
                .statuses(run.id)
                .await
                .unwrap()
                .into_iter()
                .map(|s| s.text),
        );
        for seq in 1..=QUESTIONS {
            for who in ["alice", "bob"] {
                let answer = answer_of(who, seq);
                assert_eq!(
                    recorded.get(&answer),
                    Some(&1),
                    "recorded once: {answer:?}\n{recorded:#?}"
                );
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    Kill,
    Freeze,
}

fn answer_of(who: &str, seq: u32) -> String {
    format!("A{seq}: {who}'s answer to question {seq} #1QEdChat")
}

fn counts(items: impl Iterator<Item = String>) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for item in items {
        *counts.entry(item).or_default() += 1;
    }
    counts
}

#[tokio::test]
async fn status_names_the_replica_holding_each_chat_on_postgresql_and_until_when() {
    let app = TestApp::new().await;
    let db = Postgres::fresh().await;
    let store = db.store().await;
    let config = hashchat::chats::Config {
        path: app.dir.path().join("chats.yaml"),
        chats: vec![Arc::clone(&app.chat)],
    };
    let status = || hashchat::commands::status::status(&config, &store, None, 5);
    assert_eq!(status().await.unwrap()[0].running_in, None);

    let acquired = db
        .leases
        .acquire(app.chat.id(), "replica-b", TTL, Utc::now())
        .await
        .unwrap();
    let hashchat::store::postgres::Acquired::Granted(grant) = acquired else {
        panic!("{acquired:?}");
    };
    let chats = status().await.unwrap();
    assert_eq!(chats[0].running_in.as_deref(), Some("replica-b"));
    assert_eq!(chats[0].lease_until, Some(grant.expires_at));
    let text = hashchat::commands::status::render(
        &chats,
        hashchat::commands::status::StatusFormat::Text,
        &config,
    );
    assert!(
        text.contains("(running in replica-b, lease until "),
        "{text}"
    );
}
