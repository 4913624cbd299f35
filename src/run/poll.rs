//! Polling where a server serves no stream (snac2, Friendica, some
//! GoToSocial versions answer 404 on `/api/v1/streaming`). The listeners
//! then read their cursor (the tag timeline, the notifications) every
//! [`Tuning::poll_interval`] and try the stream again every
//! [`Tuning::stream_retry`]. Waits go through the daemon's clock, so tests
//! drive them, and end early on `stop`. What a read costs comes from the
//! account's request budget like any other request.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::Tuning;
use crate::clock::SharedClock;
use crate::network::NetError;

/// Whether a failed stream opening says the server serves no such stream,
/// rather than a passing fault: retrying the socket cannot help, and
/// nothing would be read live until the end of the run. That is a 4xx
/// other than a refused token or a rate limit (404 on snac2 and
/// Friendica, 400 "stream type not allowed" on GoToSocial versions
/// without hashtag streams), or 501.
pub(crate) fn no_streaming(error: &NetError) -> bool {
    matches!(
        error,
        NetError::Rejected { .. } | NetError::Server { status: 501, .. }
    )
}

/// The schedule of one listener while it polls.
pub(crate) struct Polling {
    clock: SharedClock,
    interval: Duration,
    stream_retry: Duration,
    /// When to try the stream again (set when polling starts).
    stream_due: DateTime<Utc>,
    /// The warning is given once per listener, not at every retry.
    warned: bool,
    /// What is polled, for the logs: "the tag timeline", "the mentions".
    what: &'static str,
}

impl Polling {
    pub(crate) fn new(clock: SharedClock, tuning: &Tuning, what: &'static str) -> Self {
        let stream_due = clock.now();
        Self {
            clock,
            interval: tuning.poll_interval,
            stream_retry: tuning.stream_retry,
            stream_due,
            warned: false,
            what,
        }
    }

    /// Polling begins (again) after `error`: warn once, and set when the
    /// stream is tried next.
    pub(crate) fn begin(&mut self, error: &NetError) {
        let every = self.interval.as_secs_f64();
        if self.warned {
            tracing::info!(
                "still no streaming ({error}); polling {} every {every} s",
                self.what
            );
        } else {
            self.warned = true;
            tracing::warn!(
                "the server has no streaming ({error}); hashchat polls {} every {every} s and tries the stream again every {} s",
                self.what,
                self.stream_retry.as_secs()
            );
        }
        self.stream_due = self.clock.now() + chrono_duration(self.stream_retry);
    }

    /// When the read starting now should be followed by the next one.
    pub(crate) fn next_read(&self) -> DateTime<Utc> {
        self.clock.now() + chrono_duration(self.interval)
    }

    /// Sleeps until `deadline`; `false` when `stop` fired first.
    pub(crate) async fn wait_until(
        &self,
        deadline: DateTime<Utc>,
        stop: &CancellationToken,
    ) -> bool {
        tokio::select! {
            _ = stop.cancelled() => false,
            () = self.clock.sleep_until(deadline) => true,
        }
    }

    /// Whether it is time to try the stream again.
    pub(crate) fn stream_due(&self) -> bool {
        self.clock.now() >= self.stream_due
    }
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_answers_that_say_there_is_no_stream_switch_to_polling() {
        let rejected = |status| NetError::Rejected {
            status,
            message: String::new(),
        };
        let server = |status| NetError::Server {
            status,
            message: String::new(),
        };
        let cases = [
            (rejected(404), true, "snac2, Friendica: no such endpoint"),
            (
                rejected(405),
                true,
                "a server that routes the path to nothing",
            ),
            (server(501), true, "not implemented"),
            (server(502), false, "a proxy in trouble: retry the socket"),
            (server(503), false, "overloaded: retry the socket"),
            (
                rejected(400),
                true,
                "GoToSocial: a stream type it does not serve",
            ),
            (
                NetError::RateLimited {
                    retry_after: std::time::Duration::from_secs(60),
                },
                false,
                "throttled: retry the socket after the wait",
            ),
            (
                NetError::Unauthorized {
                    status: 401,
                    message: String::new(),
                },
                false,
                "a refused token",
            ),
            (
                NetError::Transport("reset".into()),
                false,
                "a cut connection",
            ),
        ];
        for (error, want, case) in cases {
            assert_eq!(no_streaming(&error), want, "{case}");
        }
    }
}
