//! Chat leases on PostgreSQL: which replica runs which chat, fenced.
//!
//! A lease is a row in `chat_leases` with a holder, an expiry and a fencing
//! token. Its holder renews it every few seconds; once `expires_at` has
//! passed, any replica may take the chat over, and every grant draws a new,
//! higher token from one sequence. Before sending a planned post the holder
//! claims it with [`Leases::claim_post`], which succeeds only while the row
//! still names its token and has not expired, and only once per (run, seq).
//!
//! Why rows with an expiry and not session advisory locks: an advisory lock
//! lives exactly as long as the connection that took it. A pooled
//! connection recycled, a proxy (PgBouncer) or a network blip that drops it
//! silently hands the chat to another replica while the first still
//! believes it holds it, and nothing tells the first; a lock held on a
//! dedicated connection needs that connection watched. A row's expiry is
//! explicit, visible to `status`, and paired with a token that every claim
//! checks in the same transaction, so a replica frozen (SIGSTOP) past its
//! TTL and woken cannot claim anything, whatever it believes.
//!
//! Every expiry is computed and compared with the time its caller passes
//! (`now`, the daemon's clock), not the database's `now()`: the fault tests
//! drive time with a manual clock, and a lease must expire when they say.
//! Safety does not rest on that time: a takeover draws a new token, and
//! every claim and renewal names its token, so a replica whose clock runs
//! slow or fast can at worst take a chat over early (the old holder's next
//! claim is refused) or late (the chat waits). Only liveness needs the
//! replicas' clocks roughly in step (NTP), as it needs the TTL to be
//! longer than a renewal takes. Knows nothing about runs beyond a post's
//! (run, seq).

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// The number a lease grant carries; a later grant of any chat's lease has a
/// higher one. A claim names the token of the lease it was made under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FencingToken(pub i64);

/// A lease granted to its caller, valid until `expires_at` (by its
/// holder's clock) unless renewed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub chat_id: String,
    pub holder: String,
    pub token: FencingToken,
    pub expires_at: DateTime<Utc>,
}

/// What [`Leases::acquire`] got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acquired {
    Granted(Grant),
    /// Another holder has the unexpired lease (`None`: it was released or
    /// expired between the attempt and the look-up; try again).
    HeldBy(Option<Grant>),
}

/// What [`Leases::claim_post`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The caller claimed the post and is the only one who may send it.
    Claimed,
    /// The post was claimed before, under this token (the caller's own when
    /// it retries after a crash); it must not be sent again by a new claim.
    AlreadyClaimed(FencingToken),
    /// The caller's lease has expired or was taken over: it must stop
    /// sending for this chat.
    NotHolder,
}

/// The leases of one database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Leases {
    pool: PgPool,
}

impl Leases {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Takes the lease on `chat_id` for `ttl` if nobody holds it, it has
    /// expired, or `holder` itself holds it; each grant has a new token.
    /// Never waits for another holder.
    pub async fn acquire(
        &self,
        chat_id: &str,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Acquired> {
        // One statement: two replicas inserting at once meet on the primary
        // key, and the loser's DO UPDATE re-reads the winner's row (locked)
        // before its WHERE decides, so only one of them is granted.
        let granted: Option<(i64, DateTime<Utc>)> = sqlx::query_as(
            "INSERT INTO chat_leases (chat_id, holder, fencing_token, acquired_at, expires_at)
             VALUES ($1, $2, nextval('chat_lease_tokens'), $4,
                     $4 + $3 * interval '1 microsecond')
             ON CONFLICT (chat_id) DO UPDATE
                SET holder = EXCLUDED.holder,
                    fencing_token = EXCLUDED.fencing_token,
                    acquired_at = EXCLUDED.acquired_at,
                    expires_at = EXCLUDED.expires_at
                WHERE chat_leases.expires_at <= $4 OR chat_leases.holder = EXCLUDED.holder
             RETURNING fencing_token, expires_at",
        )
        .bind(chat_id)
        .bind(holder)
        .bind(micros(ttl)?)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .with_context(|| format!("cannot take the lease on chat {chat_id}"))?;
        Ok(match granted {
            Some((token, expires_at)) => Acquired::Granted(Grant {
                chat_id: chat_id.to_owned(),
                holder: holder.to_owned(),
                token: FencingToken(token),
                expires_at,
            }),
            None => Acquired::HeldBy(self.holder_of(chat_id, now).await?),
        })
    }

    /// Extends the lease by `ttl` from now if `grant` still holds it and it
    /// has not expired; `None` when it is lost (the caller stops running the
    /// chat, and may `acquire` again for a new token). An expired lease is
    /// not renewed even if nobody took it: others may already have seen it
    /// free.
    pub async fn renew(
        &self,
        grant: &Grant,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<Grant>> {
        let expires_at: Option<DateTime<Utc>> = sqlx::query_scalar(
            "UPDATE chat_leases SET expires_at = $5 + $4 * interval '1 microsecond'
             WHERE chat_id = $1 AND holder = $2 AND fencing_token = $3 AND expires_at > $5
             RETURNING expires_at",
        )
        .bind(&grant.chat_id)
        .bind(&grant.holder)
        .bind(grant.token.0)
        .bind(micros(ttl)?)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .with_context(|| format!("cannot renew the lease on chat {}", grant.chat_id))?;
        Ok(expires_at.map(|expires_at| Grant {
            expires_at,
            ..grant.clone()
        }))
    }

    /// Gives the lease up so that another replica need not wait for it to
    /// expire; a lease already taken over is left alone. Whether it was
    /// still held.
    pub async fn release(&self, grant: &Grant) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "DELETE FROM chat_leases WHERE chat_id = $1 AND holder = $2 AND fencing_token = $3",
        )
        .bind(&grant.chat_id)
        .bind(&grant.holder)
        .bind(grant.token.0)
        .execute(&self.pool)
        .await
        .with_context(|| format!("cannot release the lease on chat {}", grant.chat_id))?;
        Ok(done.rows_affected() == 1)
    }

    /// The lease on `chat_id` unexpired at `now`, if any (for `status`).
    pub async fn holder_of(
        &self,
        chat_id: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<Grant>> {
        let row: Option<(String, i64, DateTime<Utc>)> = sqlx::query_as(
            "SELECT holder, fencing_token, expires_at FROM chat_leases
             WHERE chat_id = $1 AND expires_at > $2",
        )
        .bind(chat_id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .with_context(|| format!("cannot read the lease on chat {chat_id}"))?;
        Ok(row.map(|(holder, token, expires_at)| Grant {
            chat_id: chat_id.to_owned(),
            holder,
            token: FencingToken(token),
            expires_at,
        }))
    }

    /// Claims the planned post (`run_id`, `seq`) of `chat_id` for sending,
    /// under the lease `token`: only while that lease is unexpired at `now`
    /// and still carries `token`, and only once per post.
    pub async fn claim_post(
        &self,
        chat_id: &str,
        run_id: i64,
        seq: u32,
        token: FencingToken,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Claim> {
        let context = || format!("cannot claim post {seq} of run {run_id} (chat {chat_id})");
        // The column is an INTEGER, as in SQLite; a plan never has 2^31 posts.
        let seq = i32::try_from(seq).with_context(context)?;
        let mut tx = self.pool.begin().await.with_context(context)?;
        // FOR SHARE holds the lease row until commit: a takeover (an UPDATE
        // of that row) waits for this claim, or, committed first, makes the
        // re-checked WHERE fail here. Either order leaves one claimant.
        let holder: Option<String> = sqlx::query_scalar(
            "SELECT holder FROM chat_leases
             WHERE chat_id = $1 AND fencing_token = $2 AND expires_at > $3
             FOR SHARE",
        )
        .bind(chat_id)
        .bind(token.0)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .with_context(context)?;
        let Some(holder) = holder else {
            return Ok(Claim::NotHolder); // dropping `tx` rolls it back
        };
        let inserted = sqlx::query(
            "INSERT INTO post_claims (run_id, seq, holder, fencing_token, claimed_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (run_id, seq) DO NOTHING",
        )
        .bind(run_id)
        .bind(seq)
        .bind(&holder)
        .bind(token.0)
        .bind(now)
        .execute(&mut *tx)
        .await
        .with_context(context)?;
        let claim = if inserted.rows_affected() == 1 {
            Claim::Claimed
        } else {
            // A new statement sees the conflicting claim, committed by now.
            let earlier: i64 = sqlx::query_scalar(
                "SELECT fencing_token FROM post_claims WHERE run_id = $1 AND seq = $2",
            )
            .bind(run_id)
            .bind(seq)
            .fetch_one(&mut *tx)
            .await
            .with_context(context)?;
            Claim::AlreadyClaimed(FencingToken(earlier))
        };
        tx.commit().await.with_context(context)?;
        Ok(claim)
    }
}

/// `ttl` in whole microseconds, PostgreSQL's interval resolution.
fn micros(ttl: Duration) -> anyhow::Result<i64> {
    i64::try_from(ttl.as_micros()).context("a lease TTL this long cannot be stored")
}
