//! The keeper on a manual clock, and the TTL's bounds.

use super::*;
use crate::clock::{Clock, ManualClock};
use crate::store::postgres::FencingToken;
use async_trait::async_trait;
use chrono::TimeZone;
use tokio::sync::watch;

/// Leases whose renewals all fail (`refuse`: refused, else the
/// database unreachable); each call's time is published.
struct Failing {
    refuse: bool,
    calls: watch::Sender<Vec<DateTime<Utc>>>,
}

#[async_trait]
impl SharedLeases for Failing {
    async fn acquire(
        &self,
        _: &str,
        _: &str,
        _: Duration,
        _: DateTime<Utc>,
    ) -> anyhow::Result<Acquired> {
        unreachable!("the keeper never acquires")
    }

    async fn renew(
        &self,
        _: &Grant,
        _: Duration,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<Grant>> {
        self.calls.send_modify(|calls| calls.push(now));
        if self.refuse {
            Ok(None)
        } else {
            anyhow::bail!("connection refused")
        }
    }

    async fn release(&self, _: &Grant) -> anyhow::Result<bool> {
        Ok(false)
    }

    async fn claim_post(
        &self,
        _: &str,
        _: i64,
        _: u32,
        _: FencingToken,
        _: DateTime<Utc>,
    ) -> anyhow::Result<Claim> {
        Ok(Claim::NotHolder)
    }
}

#[tokio::test]
async fn a_keeper_stops_the_chat_when_renewal_is_refused_or_impossible_until_the_lease_runs_out() {
    let t0 = Utc.with_ymd_and_hms(2026, 12, 3, 20, 0, 0).unwrap();
    let ttl = LeaseTtl::DEFAULT; // 30 s: renewals every 10 s
    let at = |s: i64| t0 + chrono::Duration::seconds(s);
    // (refused?, the clock's steps, whether the chat is stopped after each)
    let cases = [
        (true, vec![(9, false), (10, true)]),
        (
            false,
            vec![(10, false), (20, false), (29, false), (33, true)],
        ),
    ];
    for (refuse, steps) in cases {
        let calls = watch::Sender::new(Vec::new());
        let leases = Arc::new(Failing {
            refuse,
            calls: calls.clone(),
        });
        let fence = Arc::new(Fence {
            leases,
            grant: Grant {
                chat_id: "chat".into(),
                holder: "me".into(),
                token: FencingToken(1),
                expires_at: at(30),
            },
            ttl,
            lost: CancellationToken::new(),
        });
        let clock = ManualClock::new(t0);
        let keeper = tokio::spawn(keep(Arc::clone(&fence), Arc::new(clock.clone()), t0));
        for (second, stopped) in steps {
            clock.set(at(second));
            if stopped {
                let stops = fence.lost.cancelled();
                let waited = tokio::time::timeout(Duration::from_secs(10), stops).await;
                assert!(
                    waited.is_ok(),
                    "refused {refuse}: not stopped at {second} s"
                );
            } else {
                // The keeper has acted on this time when it has made a
                // call at it, or none is due yet.
                let due = second >= 10;
                let mut seen = calls.subscribe();
                if due {
                    let _ = seen.wait_for(|c| c.last() == Some(&clock.now())).await;
                }
                assert!(
                    !fence.lost.is_cancelled(),
                    "refused {refuse}, at {second} s"
                );
            }
        }
        keeper.await.unwrap();
    }
}

#[test]
fn a_lease_ttl_is_read_as_a_duration_within_its_bounds() {
    let cases = [
        ("30s", Ok(Duration::from_secs(30))),
        ("1m", Ok(Duration::from_secs(60))),
        ("3s", Ok(LeaseTtl::MIN)),
        ("5m", Ok(LeaseTtl::MAX)),
        ("2s", Err("between 3s and 5m")),
        ("10m", Err("not 10m")),
        ("thirty", Err("not a duration such as 30s")),
    ];
    for (text, expected) in cases {
        match (LeaseTtl::parse(text), expected) {
            (Ok(ttl), Ok(want)) => assert_eq!(ttl.get(), want, "{text}"),
            (Err(why), Err(part)) => assert!(why.contains(part), "{text}: {why}"),
            (got, want) => panic!("{text}: got {got:?}, expected {want:?}"),
        }
    }
}
