//! Counters for whoever hosts hashchat: posts sent, late and failed,
//! answers captured, stream reconnects (per chat), API requests and
//! rate-limit waits (per account), rendered in the Prometheus text
//! exposition format (version 0.0.4) by [`Metrics::render`].
//!
//! One [`Metrics`] is made per process and handed to the daemon as a
//! dependency (`Daemon::metrics`, and the connector for the request
//! counts), never a global: tests read the counters of their own run. This
//! module only counts and renders; serving `/metrics` is the web server's.
//!
//! Hand-written rather than `prometheus-client`: eight counters with one
//! label each are a map and forty lines of rendering, tested below, where
//! the crate would bring its own registry types and encoder for no feature
//! we use (no histograms, no exemplars).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// One counter family: its name, what it counts and its label's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Counter {
    PostsSent,
    PostsLate,
    PostsFailed,
    AnswersCaptured,
    StreamReconnects,
    ApiRequests,
    RateLimitWaits,
    RateLimitWaitSeconds,
}

impl Counter {
    /// In the order they are rendered.
    pub const ALL: [Counter; 8] = [
        Counter::PostsSent,
        Counter::PostsLate,
        Counter::PostsFailed,
        Counter::AnswersCaptured,
        Counter::StreamReconnects,
        Counter::ApiRequests,
        Counter::RateLimitWaits,
        Counter::RateLimitWaitSeconds,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Counter::PostsSent => "hashchat_posts_sent_total",
            Counter::PostsLate => "hashchat_posts_late_total",
            Counter::PostsFailed => "hashchat_posts_failed_total",
            Counter::AnswersCaptured => "hashchat_answers_captured_total",
            Counter::StreamReconnects => "hashchat_stream_reconnects_total",
            Counter::ApiRequests => "hashchat_api_requests_total",
            Counter::RateLimitWaits => "hashchat_rate_limit_waits_total",
            Counter::RateLimitWaitSeconds => "hashchat_rate_limit_wait_seconds_total",
        }
    }

    fn help(self) -> &'static str {
        match self {
            Counter::PostsSent => {
                "Posts (intro, questions, closing, reminders) the server accepted."
            }
            Counter::PostsLate => "Posts sent more than 30 s after their planned time.",
            Counter::PostsFailed => "Posts given up on: out of retries, or past the late limit.",
            Counter::AnswersCaptured => "Posts first recorded as answering a question.",
            Counter::StreamReconnects => {
                "Hashtag stream connections opened again after the first of a run."
            }
            Counter::ApiRequests => "REST requests made to the server (each try counts).",
            Counter::RateLimitWaits => "Times a request waited for the account's rate limit.",
            Counter::RateLimitWaitSeconds => {
                "Time requests spent waiting for the account's rate limit."
            }
        }
    }

    fn label(self) -> &'static str {
        match self {
            Counter::ApiRequests | Counter::RateLimitWaits | Counter::RateLimitWaitSeconds => {
                "account"
            }
            _ => "chat",
        }
    }
}

/// The process's counters. Share it in an `Arc`; every method takes `&self`.
#[derive(Debug, Default)]
pub struct Metrics {
    /// (counter, label value) → value. A mutex, not atomics: label values
    /// are only known at run time, and increments are a few per second.
    values: Mutex<BTreeMap<(Counter, String), f64>>,
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// A post the server accepted; `late` past 30 s after its planned time.
    pub fn post_sent(&self, chat: &str, late: bool) {
        self.add(Counter::PostsSent, chat, 1.0);
        if late {
            self.add(Counter::PostsLate, chat, 1.0);
        }
    }

    pub fn post_failed(&self, chat: &str) {
        self.add(Counter::PostsFailed, chat, 1.0);
    }

    pub fn answers_captured(&self, chat: &str, count: u64) {
        if count > 0 {
            self.add(Counter::AnswersCaptured, chat, count as f64);
        }
    }

    pub fn stream_reconnected(&self, chat: &str) {
        self.add(Counter::StreamReconnects, chat, 1.0);
    }

    pub fn api_request(&self, account: &str) {
        self.add(Counter::ApiRequests, account, 1.0);
    }

    pub fn rate_limit_wait(&self, account: &str, waited: Duration) {
        self.add(Counter::RateLimitWaits, account, 1.0);
        self.add(Counter::RateLimitWaitSeconds, account, waited.as_secs_f64());
    }

    /// The current value of one counter for one label value (0 if never
    /// incremented).
    pub fn value(&self, counter: Counter, label: &str) -> f64 {
        self.lock()
            .get(&(counter, label.to_string()))
            .copied()
            .unwrap_or(0.0)
    }

    /// Every counter in the Prometheus text format (0.0.4): a `# HELP` and
    /// a `# TYPE` line per family, even one with no sample yet, then one
    /// line per label value. Serve it as
    /// `text/plain; version=0.0.4; charset=utf-8`.
    pub fn render(&self) -> String {
        let values = self.lock();
        let mut out = String::new();
        for counter in Counter::ALL {
            let name = counter.name();
            let _ = writeln!(out, "# HELP {name} {}", escape_help(counter.help()));
            let _ = writeln!(out, "# TYPE {name} counter");
            let samples = values
                .range((counter, String::new())..)
                .take_while(|((c, _), _)| *c == counter);
            for ((_, label), value) in samples {
                let _ = writeln!(
                    out,
                    "{name}{{{}=\"{}\"}} {value}",
                    counter.label(),
                    escape_label(label)
                );
            }
        }
        out
    }

    fn add(&self, counter: Counter, label: &str, by: f64) {
        *self
            .lock()
            .entry((counter, label.to_string()))
            .or_insert(0.0) += by;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(Counter, String), f64>> {
        // Every update is one addition: a panicking holder leaves it whole.
        self.values
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A label value as the format requires: `\`, `"` and line feeds escaped.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', r#"\""#)
        .replace('\n', r"\n")
}

/// HELP text escapes `\` and line feeds only.
fn escape_help(text: &str) -> String {
    text.replace('\\', r"\\").replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_registry_still_declares_every_family() {
        let text = Metrics::new().render();
        for counter in Counter::ALL {
            let name = counter.name();
            assert!(
                text.contains(&format!("# TYPE {name} counter\n")),
                "{name}:\n{text}"
            );
            assert!(text.contains(&format!("# HELP {name} ")), "{name}:\n{text}");
        }
        assert!(!text.lines().any(|l| l.starts_with("hashchat_")), "{text}");
    }

    #[test]
    fn samples_follow_their_family_with_their_label() {
        let metrics = Metrics::new();
        metrics.post_sent("demo", false);
        metrics.post_sent("demo", true);
        metrics.post_failed("1qedchat");
        metrics.answers_captured("demo", 3);
        metrics.api_request("mastodon.example HASHCHAT_TOKEN");
        metrics.rate_limit_wait(
            "mastodon.example HASHCHAT_TOKEN",
            Duration::from_millis(1500),
        );
        let text = metrics.render();
        let expected = [
            "# TYPE hashchat_posts_sent_total counter\nhashchat_posts_sent_total{chat=\"demo\"} 2\n",
            "# TYPE hashchat_posts_late_total counter\nhashchat_posts_late_total{chat=\"demo\"} 1\n",
            "hashchat_posts_failed_total{chat=\"1qedchat\"} 1\n",
            "hashchat_answers_captured_total{chat=\"demo\"} 3\n",
            "hashchat_api_requests_total{account=\"mastodon.example HASHCHAT_TOKEN\"} 1\n",
            "hashchat_rate_limit_waits_total{account=\"mastodon.example HASHCHAT_TOKEN\"} 1\n",
            "hashchat_rate_limit_wait_seconds_total{account=\"mastodon.example HASHCHAT_TOKEN\"} 1.5\n",
        ];
        for line in expected {
            assert!(text.contains(line), "missing {line:?} in:\n{text}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let metrics = Metrics::new();
        metrics.api_request("C:\\tokens\\\"bot\"\nfile");
        let text = metrics.render();
        assert!(
            text.contains(r#"hashchat_api_requests_total{account="C:\\tokens\\\"bot\"\nfile"} 1"#),
            "{text}"
        );
        // Every line is a comment or one sample: no raw line feed leaked.
        for line in text.lines() {
            assert!(
                line.starts_with('#') || line.starts_with("hashchat_"),
                "{line:?}"
            );
        }
    }

    #[test]
    fn each_family_lists_its_label_values_in_order() {
        let metrics = Metrics::new();
        metrics.stream_reconnected("b");
        metrics.stream_reconnected("a");
        metrics.stream_reconnected("b");
        let text = metrics.render();
        assert!(text.contains(
            "hashchat_stream_reconnects_total{chat=\"a\"} 1\nhashchat_stream_reconnects_total{chat=\"b\"} 2\n"
        ), "{text}");
        assert_eq!(metrics.value(Counter::StreamReconnects, "b"), 2.0);
        assert_eq!(metrics.value(Counter::PostsSent, "b"), 0.0);
    }
}
