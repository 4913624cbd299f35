//! Capped exponential backoff with jitter, and `retry` for calls that fail
//! with a retryable [`NetError`]. Sleeps use tokio time, so tests run them
//! with a paused clock.

use std::future::Future;
use std::time::Duration;

use rand::Rng;

use super::NetError;

/// Delays of base, 2·base, 4·base… up to `cap`, each drawn from its upper
/// half ("equal jitter"): reconnecting clients spread out, yet every wait
/// stays long enough to let a struggling server recover.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap: cap.max(base),
            attempt: 0,
        }
    }

    /// The delay before the next attempt; each call doubles the ceiling.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let half = ceiling / 2;
        half + rand::thread_rng().gen_range(Duration::ZERO..=ceiling - half)
    }

    /// After a success: the next failure starts again from `base`.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// How many delays were handed out since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    fn ceiling(&self) -> Duration {
        let factor = 2u32.checked_pow(self.attempt.min(31)).unwrap_or(u32::MAX);
        self.base
            .checked_mul(factor)
            .unwrap_or(self.cap)
            .min(self.cap)
    }
}

/// Runs `call` until it succeeds, fails with an error that is not retryable,
/// or has failed `attempts` times (then the last error is returned). Between
/// attempts it waits what the server asked for when throttled (a 429, or a
/// 503 with `Retry-After`), else the next backoff delay. A throttled answer
/// is the server pacing us, not failing: it does not use up `attempts`, but
/// more than `attempts` of them in a row end the call too, so a server that
/// throttles forever cannot hold it forever. `what` names the call in the
/// logs.
pub async fn retry<T, F, Fut>(
    what: &str,
    backoff: &mut Backoff,
    attempts: u32,
    mut call: F,
) -> Result<T, NetError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, NetError>>,
{
    let attempts = attempts.max(1);
    let (mut failed, mut throttled) = (0, 0);
    loop {
        let err = match call().await {
            Ok(value) => {
                backoff.reset();
                return Ok(value);
            }
            Err(err) => err,
        };
        let delay = match err {
            NetError::RateLimited { retry_after } => {
                throttled += 1;
                retry_after
            }
            _ => {
                failed += 1;
                throttled = 0;
                backoff.next_delay()
            }
        };
        if !err.is_retryable() || failed >= attempts || throttled > attempts {
            return Err(err);
        }
        tracing::warn!(
            call = what,
            attempt = failed + throttled,
            delay_ms = delay.as_millis() as u64,
            error = %err,
            "network call failed; retrying"
        );
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use tokio::time::Instant;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn delays_double_up_to_the_cap_and_stay_in_the_upper_half() {
        let mut backoff = Backoff::new(S, 16 * S);
        for ceiling in [1, 2, 4, 8, 16, 16, 16] {
            let delay = backoff.next_delay();
            let ceiling = ceiling * S;
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "{delay:?} outside {ceiling:?}"
            );
        }
    }

    #[test]
    fn reset_starts_again_from_the_base() {
        let mut backoff = Backoff::new(S, 60 * S);
        for _ in 0..5 {
            backoff.next_delay();
        }
        backoff.reset();
        assert!(backoff.next_delay() <= S);
    }

    #[test]
    fn many_attempts_never_overflow() {
        let mut backoff = Backoff::new(S, 60 * S);
        for _ in 0..200 {
            assert!(backoff.next_delay() <= 60 * S);
        }
    }

    fn failing(errors: Vec<NetError>) -> (AtomicU32, std::sync::Mutex<Vec<NetError>>) {
        (AtomicU32::new(0), std::sync::Mutex::new(errors))
    }

    #[tokio::test(start_paused = true)]
    async fn retry_waits_the_servers_retry_after_then_succeeds() {
        let (calls, errors) = failing(vec![NetError::RateLimited {
            retry_after: 300 * S,
        }]);
        let start = Instant::now();
        let result = retry("post", &mut Backoff::new(S, 8 * S), 5, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            match errors.lock().unwrap().pop() {
                Some(err) => Err(err),
                None => Ok("posted"),
            }
        })
        .await;
        assert_eq!(result.unwrap(), "posted");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(start.elapsed(), 300 * S);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_backs_off_between_server_errors_and_gives_up_after_its_attempts() {
        let server_error = || NetError::Server {
            status: 503,
            message: String::new(),
        };
        let (calls, errors) = failing((0..10).map(|_| server_error()).collect());
        let start = Instant::now();
        let result: Result<(), _> = retry("read", &mut Backoff::new(S, 4 * S), 4, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(errors.lock().unwrap().pop().unwrap())
        })
        .await;
        assert!(matches!(result, Err(NetError::Server { status: 503, .. })));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        // Three waits with ceilings 1, 2 and 4 s, each at least half of it.
        let waited = start.elapsed();
        assert!(
            waited >= 3500 * S / 1000 && waited <= 7 * S,
            "waited {waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_waits_as_asked_and_does_not_use_up_the_attempts() {
        let throttled = || NetError::RateLimited {
            retry_after: 30 * S,
        };
        let server_error = || NetError::Server {
            status: 500,
            message: String::new(),
        };
        // Popped from the end: throttled three times, a failure, throttled again.
        let (calls, errors) = failing(vec![
            throttled(),
            server_error(),
            throttled(),
            throttled(),
            throttled(),
        ]);
        let start = Instant::now();
        let result = retry("read", &mut Backoff::new(S, 4 * S), 3, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            match errors.lock().unwrap().pop() {
                Some(err) => Err(err),
                None => Ok("read"),
            }
        })
        .await;
        assert_eq!(result.unwrap(), "read");
        assert_eq!(calls.load(Ordering::SeqCst), 6);
        let waited = start.elapsed();
        assert!(
            waited >= 120 * S + S / 2 && waited <= 121 * S,
            "waited {waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_server_that_throttles_forever_ends_the_call() {
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = retry("read", &mut Backoff::new(S, 4 * S), 3, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(NetError::RateLimited { retry_after: S })
        })
        .await;
        assert!(matches!(result, Err(NetError::RateLimited { .. })));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_stops_at_once_on_an_error_that_cannot_heal() {
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = retry("post", &mut Backoff::new(S, 4 * S), 5, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(NetError::Unauthorized {
                status: 401,
                message: "bad token".into(),
            })
        })
        .await;
        assert!(matches!(result, Err(NetError::Unauthorized { .. })));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
