//! Wall-clock time for the scheduler, injectable so tests drive it.
//!
//! The daemon asks a [`Clock`] for "now" and to sleep until a deadline.
//! [`SystemClock`] is the real one; [`ManualClock`] only moves when a test
//! advances it, which makes whole runs deterministic without real sleeps.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::watch;

#[async_trait]
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
    /// Returns once `now() >= deadline`.
    async fn sleep_until(&self, deadline: DateTime<Utc>);
}

pub type SharedClock = Arc<dyn Clock>;

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

/// Longest single sleep. The wall clock can jump (NTP, a suspended laptop)
/// while tokio's monotonic timer does not, so a long wait is re-checked
/// against the wall clock at least this often. This bounds drift; it is
/// not a polling tick (a chat a week away wakes ~170 times in that week).
const MAX_SLEEP: std::time::Duration = std::time::Duration::from_secs(3600);

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    async fn sleep_until(&self, deadline: DateTime<Utc>) {
        loop {
            let left = match (deadline - Utc::now()).to_std() {
                Ok(left) if !left.is_zero() => left,
                _ => return,
            };
            tokio::time::sleep(left.min(MAX_SLEEP)).await;
        }
    }
}

/// A clock that stands still until [`ManualClock::advance`] or
/// [`ManualClock::set`] moves it. Sleepers wake when it passes their deadline.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<watch::Sender<DateTime<Utc>>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Arc::new(watch::Sender::new(start)),
        }
    }

    pub fn set(&self, to: DateTime<Utc>) {
        self.now.send_modify(|now| *now = to.max(*now));
    }

    pub fn advance(&self, by: chrono::Duration) {
        self.now.send_modify(|now| *now += by);
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.borrow()
    }

    async fn sleep_until(&self, deadline: DateTime<Utc>) {
        let mut rx = self.now.subscribe();
        // The sender lives as long as `self`, so `wait_for` cannot fail here.
        let _ = rx.wait_for(|now| *now >= deadline).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[tokio::test]
    async fn manual_clock_wakes_a_sleeper_only_when_its_deadline_passes() {
        let t0 = Utc.with_ymd_and_hms(2026, 12, 3, 20, 0, 0).unwrap();
        let clock = ManualClock::new(t0);
        let sleeper = {
            let clock = clock.clone();
            tokio::spawn(async move { clock.sleep_until(t0 + chrono::Duration::minutes(5)).await })
        };
        clock.advance(chrono::Duration::minutes(4));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        clock.advance(chrono::Duration::minutes(1));
        sleeper.await.unwrap();
        assert_eq!(clock.now(), t0 + chrono::Duration::minutes(5));
    }
}
