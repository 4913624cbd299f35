//! `--dry-run`: a stand-in server that prints each post instead of
//! sending it and reads nothing.

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use chrono_tz::Tz;

use crate::clock::SharedClock;
use crate::network::{Account, HashtagStream, Instance, NetError, NewPost, Page, Social, Status};

pub struct DryRun {
    zone: Tz,
    /// The daemon's clock: a post is printed with the time it is due.
    clock: SharedClock,
    next_id: AtomicU64,
}

impl DryRun {
    pub fn new(zone: Tz, clock: SharedClock) -> Self {
        Self {
            zone,
            clock,
            next_id: AtomicU64::new(1),
        }
    }
}

fn account() -> Account {
    Account {
        id: "0".into(),
        acct: "hashchat-dry-run".into(),
        display_name: "hashchat (dry run)".into(),
        url: None,
        bot: true,
    }
}

#[async_trait]
impl Social for DryRun {
    async fn instance(&self) -> Result<Instance, NetError> {
        Ok(Instance {
            domain: "dry-run.invalid".into(),
            max_characters: 500,
        })
    }

    async fn me(&self) -> Result<Account, NetError> {
        Ok(account())
    }

    async fn post(&self, post: &NewPost) -> Result<Status, NetError> {
        let now = self.clock.now();
        let local = now.with_timezone(&self.zone);
        // A reader that left (`| head`) must not end the rehearsal with a
        // panic (println! would): the post is simply not shown.
        let _ = writeln!(
            std::io::stdout().lock(),
            "[{} {} | {} UTC] {}",
            local.format("%Y-%m-%d %H:%M:%S"),
            local.format("%Z"),
            now.format("%H:%M:%S"),
            post.text
        );
        let id = self.next_id.fetch_add(1, Ordering::Relaxed).to_string();
        Ok(Status {
            uri: format!("dry-run:{id}"),
            url: None,
            id,
            account: account(),
            content: post.text.clone(),
            created_at: now,
            edited_at: None,
            in_reply_to_id: None,
            visibility: post.visibility.as_str().into(),
            reblog: None,
            tags: Vec::new(),
        })
    }

    async fn status(&self, _id: &str) -> Result<Option<Status>, NetError> {
        Ok(None)
    }

    async fn tag_timeline(&self, _tag: &str, _page: &Page) -> Result<Vec<Status>, NetError> {
        Ok(Vec::new())
    }

    async fn replies(&self, _id: &str) -> Result<Vec<Status>, NetError> {
        Ok(Vec::new())
    }

    async fn account_statuses(&self, _id: &str, _page: &Page) -> Result<Vec<Status>, NetError> {
        Ok(Vec::new())
    }

    async fn user_stream(&self) -> Result<HashtagStream, NetError> {
        Err(NetError::Transport("a dry run opens no stream".into()))
    }

    async fn mentions(&self, _since: Option<&str>) -> Result<Vec<(String, Status)>, NetError> {
        Ok(Vec::new())
    }

    async fn hashtag_stream(&self, _tag: &str) -> Result<HashtagStream, NetError> {
        Err(NetError::Transport("a dry run opens no stream".into()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::TimeZone;

    use super::*;
    use crate::chats::Visibility;
    use crate::clock::ManualClock;

    #[tokio::test]
    async fn a_dry_run_post_is_made_at_the_daemon_clock_time() {
        let start = chrono::Utc.with_ymd_and_hms(2026, 12, 3, 20, 0, 0).unwrap();
        let clock = ManualClock::new(start);
        let dry = DryRun::new(chrono_tz::UTC, Arc::new(clock.clone()));
        clock.advance(chrono::Duration::minutes(5));
        let post = NewPost {
            text: "Q1: hello #1QEdChat".into(),
            visibility: Visibility::Public,
            idempotency_key: "k".into(),
            in_reply_to_id: None,
            language: None,
            spoiler_text: None,
            media_ids: Vec::new(),
        };
        let status = dry.post(&post).await.unwrap();
        assert_eq!(status.created_at, start + chrono::Duration::minutes(5));
    }
}
