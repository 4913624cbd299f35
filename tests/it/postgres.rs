//! PostgreSQL (issue 16), against a real server the tests start themselves
//! (`server.rs`): the schema applies, and chat leases are exclusive, expire,
//! are taken over with a higher fencing token, and fence a woken holder out.
//!
//! Expiry is made to happen by moving a lease's `expires_at` into the past
//! in SQL: nothing waits for a clock.

pub(crate) mod server;

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use hashchat::store::postgres::{self, Acquired, Claim, Grant, Leases};
use sqlx::PgPool;

use crate::helpers::within;

const TTL: Duration = Duration::from_secs(30);

/// The time a replica passes with each lease call: its clock (here the
/// machine's, the same as the test server's `now()` that `expire` uses).
fn now() -> DateTime<Utc> {
    Utc::now()
}

/// A fresh, migrated database and its leases.
async fn leases() -> (PgPool, Leases) {
    let pool = postgres::open(&server::fresh_database().await)
        .await
        .expect("open the test database");
    (pool.clone(), Leases::new(pool))
}

async fn granted(leases: &Leases, chat: &str, holder: &str) -> Grant {
    match leases.acquire(chat, holder, TTL, now()).await.unwrap() {
        Acquired::Granted(grant) => grant,
        other => panic!("{holder} should get the lease on {chat}, got {other:?}"),
    }
}

/// What a replica frozen past its TTL finds: its lease expired (per the
/// database's clock), whoever looks next.
async fn expire(pool: &PgPool, chat: &str) {
    sqlx::query(
        "UPDATE chat_leases SET expires_at = now() - interval '1 second' WHERE chat_id = $1",
    )
    .bind(chat)
    .execute(pool)
    .await
    .unwrap();
}

/// A run of `chat` with `posts` planned posts (seq 0..posts); its id.
async fn planned_run(pool: &PgPool, chat: &str, posts: u32) -> i64 {
    let run: i64 = sqlx::query_scalar(
        "INSERT INTO runs (chat_id, planned_start, collect_until)
         VALUES ($1, now(), now() + interval '1 hour') RETURNING id",
    )
    .bind(chat)
    .fetch_one(pool)
    .await
    .unwrap();
    for seq in 0..posts as i32 {
        sqlx::query(
            "INSERT INTO posts (run_id, seq, kind, body, text, planned_at, idempotency_key)
             VALUES ($1, $2, 'question', 'Q?', 'Q? #chat', now(), $3)",
        )
        .bind(run)
        .bind(seq)
        .bind(format!("{run}-{seq}"))
        .execute(pool)
        .await
        .unwrap();
    }
    run
}

#[tokio::test]
async fn postgres_migrations_apply_on_an_empty_database_and_again_as_a_no_op() {
    let url = server::fresh_database().await;
    let pool = postgres::open(&url).await.expect("first migration");
    postgres::migrate(&pool).await.expect("second migration");

    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let expected = [
        "answers",
        "chat_leases",
        "commands",
        "mention_cursors",
        "opt_outs",
        "platform_sessions",
        "post_claims",
        "posts",
        "runs",
        "statuses",
        "store_changes",
        "welcomes",
    ];
    assert_eq!(tables, expected);
    let time_type: String = sqlx::query_scalar(
        "SELECT data_type::text FROM information_schema.columns
         WHERE table_name = 'statuses' AND column_name = 'created_at'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(time_type, "timestamp with time zone");
}

#[tokio::test]
async fn of_two_holders_contending_for_a_chat_only_one_gets_the_lease() {
    let (_pool, leases) = leases().await;
    for round in 0..20 {
        let chat = format!("chat{round}");
        let (a, b) = tokio::join!(
            leases.acquire(&chat, "replica-a", TTL, now()),
            leases.acquire(&chat, "replica-b", TTL, now())
        );
        let outcomes = [a.unwrap(), b.unwrap()];
        let winners: Vec<&Grant> = outcomes
            .iter()
            .filter_map(|o| match o {
                Acquired::Granted(grant) => Some(grant),
                Acquired::HeldBy(_) => None,
            })
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {outcomes:?}");
        let loser = outcomes.iter().find(|o| matches!(o, Acquired::HeldBy(_)));
        assert_eq!(loser, Some(&Acquired::HeldBy(Some(winners[0].clone()))));
    }
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_with_a_higher_fencing_token() {
    let (pool, leases) = leases().await;
    let first = granted(&leases, "chat", "replica-a").await;
    let busy = leases
        .acquire("chat", "replica-b", TTL, now())
        .await
        .unwrap();
    assert_eq!(busy, Acquired::HeldBy(Some(first.clone())));

    expire(&pool, "chat").await;
    assert_eq!(leases.holder_of("chat", now()).await.unwrap(), None);
    let second = granted(&leases, "chat", "replica-b").await;

    assert!(second.token > first.token, "{second:?} after {first:?}");
    assert_eq!(leases.holder_of("chat", now()).await.unwrap(), Some(second));
}

#[tokio::test]
async fn a_woken_old_holder_can_neither_claim_a_post_nor_renew_nor_release() {
    let (pool, leases) = leases().await;
    let run = planned_run(&pool, "chat", 3).await;
    let old = granted(&leases, "chat", "replica-a").await;
    assert_eq!(
        leases
            .claim_post("chat", run, 0, old.token, now())
            .await
            .unwrap(),
        Claim::Claimed
    );
    expire(&pool, "chat").await; // replica-a froze past its TTL
    let new = granted(&leases, "chat", "replica-b").await;

    // replica-a wakes up and carries on where it froze.
    let claim = leases
        .claim_post("chat", run, 1, old.token, now())
        .await
        .unwrap();
    assert_eq!(claim, Claim::NotHolder);
    assert_eq!(leases.renew(&old, TTL, now()).await.unwrap(), None);
    assert!(!leases.release(&old).await.unwrap());

    assert_eq!(
        leases.holder_of("chat", now()).await.unwrap(),
        Some(new.clone())
    );
    let claim = leases
        .claim_post("chat", run, 1, new.token, now())
        .await
        .unwrap();
    assert_eq!(claim, Claim::Claimed);
    let renewed = leases
        .renew(&new, TTL, now())
        .await
        .unwrap()
        .expect("still held");
    assert!(renewed.expires_at >= new.expires_at);
}

#[tokio::test]
async fn a_holder_whose_lease_expired_cannot_claim_even_if_nobody_took_over() {
    let (pool, leases) = leases().await;
    let run = planned_run(&pool, "chat", 1).await;
    let grant = granted(&leases, "chat", "replica-a").await;
    expire(&pool, "chat").await;

    let claim = leases
        .claim_post("chat", run, 0, grant.token, now())
        .await
        .unwrap();
    assert_eq!(claim, Claim::NotHolder);
    assert_eq!(leases.renew(&grant, TTL, now()).await.unwrap(), None);
    let again = granted(&leases, "chat", "replica-a").await;
    assert!(again.token > grant.token);
}

#[tokio::test]
async fn a_post_claimed_once_cannot_be_claimed_again() {
    let (pool, leases) = leases().await;
    let run = planned_run(&pool, "chat", 1).await;
    let first = granted(&leases, "chat", "replica-a").await;
    let (a, b) = tokio::join!(
        leases.claim_post("chat", run, 0, first.token, now()),
        leases.claim_post("chat", run, 0, first.token, now())
    );
    let mut claims = [a.unwrap(), b.unwrap()];
    claims.sort_by_key(|claim| matches!(claim, Claim::AlreadyClaimed(_)));
    assert_eq!(
        claims,
        [Claim::Claimed, Claim::AlreadyClaimed(first.token)],
        "two claims at once by the holder"
    );

    // Nor by the replica that takes the chat over.
    expire(&pool, "chat").await;
    let second = granted(&leases, "chat", "replica-b").await;
    let claim = leases
        .claim_post("chat", run, 0, second.token, now())
        .await
        .unwrap();
    assert_eq!(claim, Claim::AlreadyClaimed(first.token));
}

#[tokio::test]
async fn a_lease_runs_out_by_the_time_its_callers_pass_not_the_database_clock() {
    let (pool, leases) = leases().await;
    let run = planned_run(&pool, "chat", 1).await;
    // A day ahead of the database's clock, as a test's manual clock is.
    // Whole seconds: PostgreSQL keeps microseconds.
    let t0 = now().trunc_subsecs(0) + chrono::Duration::days(1);
    let ttl = chrono::Duration::from_std(TTL).unwrap();
    let first = match leases.acquire("chat", "replica-a", TTL, t0).await.unwrap() {
        Acquired::Granted(grant) => grant,
        other => panic!("{other:?}"),
    };
    assert_eq!(first.expires_at, t0 + ttl);
    let just_before = t0 + ttl - chrono::Duration::seconds(1);
    assert_eq!(
        leases.holder_of("chat", just_before).await.unwrap(),
        Some(first.clone())
    );

    let after = t0 + ttl + chrono::Duration::seconds(1);
    assert_eq!(leases.holder_of("chat", after).await.unwrap(), None);
    let claim = leases.claim_post("chat", run, 0, first.token, after).await;
    assert_eq!(claim.unwrap(), Claim::NotHolder);
    assert_eq!(leases.renew(&first, TTL, after).await.unwrap(), None);
    let second = leases
        .acquire("chat", "replica-b", TTL, after)
        .await
        .unwrap();
    assert!(
        matches!(&second, Acquired::Granted(g) if g.token > first.token),
        "{second:?}"
    );
}

#[test]
fn without_postgresql_installed_the_tests_fail_naming_the_debian_package() {
    let empty = tempfile::tempdir().unwrap();
    let why = server::bin_dir(empty.path()).unwrap_err();
    assert!(why.contains("Debian package `postgresql`"), "{why}");

    let installed = server::bin_dir(Path::new(server::DEBIAN_ROOT));
    assert!(installed.is_ok(), "{installed:?}");
}

#[tokio::test]
async fn a_claim_racing_a_takeover_waits_for_it_and_is_then_refused() {
    let (pool, leases) = leases().await;
    let run = planned_run(&pool, "chat", 1).await;
    let old = granted(&leases, "chat", "replica-a").await;
    // replica-b's takeover, caught between its update and its commit (as
    // when its clock says replica-a's lease has just expired).
    let mut takeover = pool.begin().await.unwrap();
    sqlx::query(
        "UPDATE chat_leases SET holder = 'replica-b',
             fencing_token = nextval('chat_lease_tokens'), acquired_at = now()
         WHERE chat_id = 'chat'",
    )
    .execute(&mut *takeover)
    .await
    .unwrap();

    let mut claim = tokio::spawn({
        let leases = leases.clone();
        async move { leases.claim_post("chat", run, 0, old.token, now()).await }
    });
    let blocked = async {
        while !waits_for_a_lock(&pool).await {
            tokio::task::yield_now().await;
        }
    };
    tokio::select! {
        claimed = &mut claim => panic!("claimed during a takeover: {claimed:?}"),
        () = within("the claim to wait for the lease row", blocked) => {}
    }
    takeover.commit().await.unwrap();

    let claimed = within("the claim", claim).await.unwrap().unwrap();
    assert_eq!(claimed, Claim::NotHolder);
}

/// Whether a statement on this database is waiting for a row lock.
async fn waits_for_a_lock(pool: &PgPool) -> bool {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                        WHERE datname = current_database() AND wait_event_type = 'Lock')",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}
