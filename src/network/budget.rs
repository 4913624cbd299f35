//! The request budget of one account: a token bucket (Mastodon allows about
//! 300 requests per 5 minutes) that every REST call draws from, so a busy chat
//! slows itself down instead of being throttled by the server. It also follows
//! what the server says (`X-RateLimit-Remaining`/`-Reset`, a 429) when that is
//! stricter. Waiting uses tokio time, so tests drive it with a paused clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::metrics::Metrics;

/// Shared by every client of one account (wrap it in an `Arc`).
#[derive(Debug)]
pub struct Budget {
    state: Mutex<State>,
    /// Where each request and each wait is counted, under this account label.
    metrics: Option<(Arc<Metrics>, String)>,
}

#[derive(Debug)]
struct State {
    capacity: f64,
    /// Tokens regained per second.
    refill: f64,
    tokens: f64,
    updated: Instant,
    /// The server asked for no requests before this instant.
    closed_until: Option<(Instant, &'static str)>,
}

impl Default for Budget {
    /// Mastodon's default: 300 requests per 5 minutes.
    fn default() -> Self {
        Self::new(300, Duration::from_secs(300))
    }
}

impl Budget {
    /// `requests` per `window`, starting full.
    pub fn new(requests: u32, window: Duration) -> Self {
        let capacity = f64::from(requests.max(1));
        Self {
            state: Mutex::new(State {
                capacity,
                refill: capacity / window.as_secs_f64().max(f64::EPSILON),
                tokens: capacity,
                updated: Instant::now(),
                closed_until: None,
            }),
            metrics: None,
        }
    }

    /// Counts each request taken and each wait in `metrics`, labelled
    /// `account`: every REST call of a client draws from its budget once.
    pub fn counted(mut self, metrics: Arc<Metrics>, account: String) -> Self {
        self.metrics = Some((metrics, account));
        self
    }

    /// Takes one request from the budget, first waiting (logged, with the
    /// reason) for as long as the budget or the server requires.
    pub async fn acquire(&self) {
        loop {
            let wait = match self.try_take() {
                Ok(()) => {
                    if let Some((metrics, account)) = &self.metrics {
                        metrics.api_request(account);
                    }
                    return;
                }
                Err(wait) => wait,
            };
            if let Some((metrics, account)) = &self.metrics {
                metrics.rate_limit_wait(account, wait.duration);
            }
            tracing::info!(
                wait_ms = wait.duration.as_millis() as u64,
                reason = wait.reason,
                "waiting before the next request to stay within the rate limit"
            );
            // Sleep until the deadline, then re-check: another task may have
            // taken the token that refilled meanwhile.
            tokio::time::sleep(wait.duration).await;
        }
    }

    /// How many requests could start now without waiting.
    pub fn available(&self) -> u32 {
        let mut state = self.lock();
        self.refill(&mut state, Instant::now());
        state.tokens.floor() as u32
    }

    /// Follows the server's own count from `X-RateLimit-Remaining` and the
    /// time it resets: our bucket never holds more than the server grants.
    pub fn observe_server(&self, remaining: u32, reset_in: Duration) {
        let now = Instant::now();
        let mut state = self.lock();
        self.refill(&mut state, now);
        state.tokens = state.tokens.min(f64::from(remaining));
        if remaining == 0 {
            state.close_until(
                now + reset_in,
                "the server's rate limit is used up until it resets",
            );
        }
    }

    /// Changes the budget to `requests` per `window` (a server said its
    /// limit); what is left never grows by it.
    pub fn resize(&self, requests: u32, window: Duration) {
        let mut state = self.lock();
        self.refill(&mut state, Instant::now());
        state.capacity = f64::from(requests.max(1));
        state.refill = state.capacity / window.as_secs_f64().max(f64::EPSILON);
        state.tokens = state.tokens.min(state.capacity);
    }

    /// After a 429: no request until `retry_after` has passed.
    pub fn pause_for(&self, retry_after: Duration) {
        let until = Instant::now() + retry_after;
        self.lock()
            .close_until(until, "the server answered 429 Too Many Requests");
    }

    fn try_take(&self) -> Result<(), Wait> {
        let now = Instant::now();
        let mut state = self.lock();
        if let Some((until, reason)) = state.closed_until {
            if until > now {
                return Err(Wait {
                    duration: until - now,
                    reason,
                });
            }
            state.closed_until = None;
        }
        self.refill(&mut state, now);
        if state.tokens >= 1.0 {
            state.tokens -= 1.0;
            return Ok(());
        }
        let missing = 1.0 - state.tokens;
        Err(Wait {
            // At least a millisecond: a refill that rounding left a hair
            // short of a token asks for a wait of 0 ns, and a task that
            // sleeps for nothing spins without time moving on.
            duration: Duration::from_secs_f64(missing / state.refill).max(Duration::from_millis(1)),
            reason: "this account's request budget is spent",
        })
    }

    fn refill(&self, state: &mut State, now: Instant) {
        let elapsed = now.saturating_duration_since(state.updated).as_secs_f64();
        state.tokens = (state.tokens + elapsed * state.refill).min(state.capacity);
        state.updated = now;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked: every update
        // is a plain assignment.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    fn close_until(&mut self, until: Instant, reason: &'static str) {
        if self.closed_until.is_none_or(|(current, _)| current < until) {
            self.closed_until = Some((until, reason));
        }
    }
}

struct Wait {
    duration: Duration,
    reason: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_counted_budget_counts_each_request_and_each_wait() {
        use crate::metrics::Counter;
        let metrics = Arc::new(Metrics::new());
        let budget =
            Budget::new(2, Duration::from_secs(20)).counted(Arc::clone(&metrics), "acct".into());
        for _ in 0..3 {
            budget.acquire().await;
        }
        assert_eq!(metrics.value(Counter::ApiRequests, "acct"), 3.0);
        assert_eq!(metrics.value(Counter::RateLimitWaits, "acct"), 1.0);
        assert_eq!(metrics.value(Counter::RateLimitWaitSeconds, "acct"), 10.0);
    }

    #[tokio::test(start_paused = true)]
    async fn requests_within_the_budget_do_not_wait() {
        let budget = Budget::new(3, Duration::from_secs(30));
        let start = Instant::now();
        for _ in 0..3 {
            budget.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!(budget.available(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_budget_waits_for_one_request_to_refill() {
        // 3 per 30 s: one request every 10 s once the bucket is empty.
        let budget = Budget::new(3, Duration::from_secs(30));
        let start = Instant::now();
        for _ in 0..5 {
            budget.acquire().await;
        }
        assert_eq!(start.elapsed().as_secs(), 20);
    }

    #[tokio::test(start_paused = true)]
    async fn the_default_is_mastodons_300_per_5_minutes() {
        let budget = Budget::default();
        assert_eq!(budget.available(), 300);
        for _ in 0..300 {
            budget.acquire().await;
        }
        let start = Instant::now();
        budget.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn the_servers_count_caps_the_budget_and_zero_waits_for_the_reset() {
        let budget = Budget::default();
        budget.observe_server(2, Duration::from_secs(90));
        assert_eq!(budget.available(), 2);
        budget.observe_server(0, Duration::from_secs(90));
        let start = Instant::now();
        budget.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(90));
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_429_no_request_starts_before_retry_after() {
        let budget = Budget::default();
        budget.pause_for(Duration::from_secs(300));
        budget.pause_for(Duration::from_secs(10)); // a shorter pause does not shorten it
        let start = Instant::now();
        budget.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(300));
    }
}
