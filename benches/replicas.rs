//! Figure 11: three replicas sharing one chat on one PostgreSQL database
//! (issue 16; the server the tests start, a fresh database per
//! measurement), with the real clock, against the in-process fake
//! Mastodon server:
//! - post lateness: each post's arrival at the server against its planned
//!   time, 20 posts 200 ms apart, while three replicas share the chat
//!   (goal: median < 50 ms);
//! - takeover: the leader's task aborted (as `kill -9`: nothing released)
//!   mid-run; the time from the kill to the next post arriving from
//!   another replica, posts 250 ms apart (goal: < TTL + 5 s), at the
//!   smallest TTL `--lease-ttl` allows (3 s).
//!
//!     cargo bench --bench replicas

mod common;

#[path = "../tests/it"]
mod it {
    pub mod fake_server;
    #[path = "postgres/server.rs"]
    pub mod postgres_server;
}

/// What the tests' PostgreSQL server expects of its crate.
mod helpers {
    pub const GUARD: std::time::Duration = std::time::Duration::from_secs(30);
}

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use hashchat::run::{LeaseTtl, Replicas};
use hashchat::store::postgres::Leases;
use hashchat::store::{PostgresUrl, Store};
use it::fake_server::FakeServer;
use it::postgres_server::fresh_database;
use tokio_util::sync::CancellationToken;

const TTL: Duration = LeaseTtl::MIN;
const CHAT: &str = "replicas";

fn main() {
    let runs = common::runs();
    let rt = common::runtime();
    println!("replicas: three daemons sharing one chat, real clock, median of {runs} runs");
    println!("machine: {}", common::machine());
    println!("database: PostgreSQL on loopback, each replica its own pool");

    let mut lateness = Vec::new();
    let mut takeovers = Vec::new();
    for _ in 0..runs {
        let late = rt.block_on(post_timing(20, Duration::from_millis(200)));
        lateness.push(common::median(&late));
        takeovers.push(rt.block_on(takeover()));
    }
    let med = common::median(&lateness);
    println!(
        "  post lateness, 3 replicas, 20 posts 200 ms apart: median {med:.2} ms (goal < 50: {})",
        verdict(med < 50.0)
    );
    let take = common::median(&takeovers);
    let goal = (TTL + Duration::from_secs(5)).as_secs_f64() * 1000.0;
    println!(
        "  takeover after the leader dies, TTL {} ms: median {take:.0} ms (goal < TTL + 5 s = {goal:.0}: {})",
        TTL.as_millis(),
        verdict(take < goal)
    );
}

fn verdict(met: bool) -> &'static str {
    if met {
        "MET"
    } else {
        "MISSED"
    }
}

/// Three replicas of one chat on one database.
struct Trio {
    fake: FakeServer,
    store: Store,
    leases: Leases,
    replicas: Vec<(String, tokio::task::JoinHandle<()>)>,
    shutdown: CancellationToken,
}

impl Trio {
    async fn start(posts: usize, apart: Duration) -> Self {
        let fake = FakeServer::start().await;
        let url = PostgresUrl::new(fresh_database().await);
        let store = Store::open_postgres(&url).await.expect("store");
        let leases = Leases::new(store.postgres_pool().expect("PostgreSQL").clone());
        let start = Utc::now() + chrono::Duration::milliseconds(1500);
        let apart = common::yaml_duration(apart);
        let keys = format!(
            "first_question_after: {apart}\nquestion_interval: {apart}\ncollect_after: {apart}"
        );
        let chat = common::chat(CHAT, "ReplicaChat", start, posts - 2, fake.url(), &keys);
        let shutdown = CancellationToken::new();
        let mut replicas = Vec::new();
        for i in 0..3 {
            let name = format!("replica-{i}");
            let store = Store::open_postgres(&url).await.expect("store");
            let shared = Arc::new(Leases::new(
                store.postgres_pool().expect("PostgreSQL").clone(),
            ));
            let mut daemon =
                common::live::daemon(Arc::clone(&chat), store, fake.url(), fake.bot_token());
            daemon.holder = name.clone();
            daemon.shutdown = shutdown.clone();
            daemon.replicas = Replicas::shared(shared, LeaseTtl::new(TTL).expect("a valid TTL"));
            let task = tokio::spawn(async move {
                let _ = daemon.run(&[]).await;
            });
            replicas.push((name, task));
        }
        Self {
            fake,
            store,
            leases,
            replicas,
            shutdown,
        }
    }

    /// Waits until the run is over, then stops the standbys.
    async fn finish(self) -> (FakeServer, Store) {
        loop {
            let run = self.store.latest_run(CHAT).await.expect("db");
            if run.is_some_and(|r| r.ended_at.is_some()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.shutdown.cancel();
        for (_, task) in self.replicas {
            let _ = task.await;
        }
        (self.fake, self.store)
    }
}

/// Lateness (ms) of each post at the server against its plan.
async fn post_timing(posts: usize, apart: Duration) -> Vec<f64> {
    let trio = Trio::start(posts, apart).await;
    let (fake, store) = trio.finish().await;
    let run = store.latest_run(CHAT).await.expect("db").expect("a run");
    let arrived = fake.statuses_by("chatbot");
    store
        .posts(run.id)
        .await
        .expect("posts")
        .iter()
        .map(|p| {
            let id = p.status_id.as_deref().expect("every post went out");
            let at = arrived.iter().find(|s| s.id == id).expect("on the server");
            (at.created_at - p.planned_at)
                .num_microseconds()
                .expect("small") as f64
                / 1000.0
        })
        .collect()
}

/// Milliseconds from the leader's death to the next post at the server.
async fn takeover() -> f64 {
    let apart = Duration::from_millis(250);
    let trio = Trio::start(40, apart).await;
    // Let the run begin, then kill whoever leads it.
    trio.fake.wait_for_bot_posts(4).await;
    let holder = trio
        .leases
        .holder_of(CHAT, Utc::now())
        .await
        .expect("read the lease")
        .expect("a leader")
        .holder;
    let (_, leader) = trio
        .replicas
        .iter()
        .find(|(name, _)| *name == holder)
        .expect("the leader is a replica");
    let before = trio.fake.statuses_by("chatbot").len();
    leader.abort();
    let killed = Instant::now();
    trio.fake.wait_for_bot_posts(before + 1).await;
    let took = killed.elapsed();
    trio.finish().await;
    common::millis(took)
}
