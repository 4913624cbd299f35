//! `--dry-run`: a stand-in server that prints each post instead of
//! sending it, and whose reads serve the posts of simulated participants
//! (`crowd`) so that a rehearsal fills its recap through the real capture
//! path. It reads nothing from any server and needs no token.

mod crowd;

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono_tz::Tz;

use crate::chats::Chat;
use crate::clock::SharedClock;
use crate::network::{Account, HashtagStream, Instance, NetError, NewPost, Page, Social, Status};

pub struct DryRun {
    zone: Tz,
    /// The daemon's clock: a post is printed with the time it is due.
    clock: SharedClock,
    next_id: AtomicU64,
    /// The bot's own posts, so that reading one back finds it.
    own: Mutex<HashMap<String, Status>>,
    /// The simulated participants, when the rehearsal has them.
    crowd: Option<Arc<crowd::Crowd>>,
}

impl DryRun {
    /// A stand-in server where nobody answers.
    pub fn new(zone: Tz, clock: SharedClock) -> Self {
        Self {
            zone,
            clock,
            next_id: AtomicU64::new(1),
            own: Mutex::new(HashMap::new()),
            crowd: None,
        }
    }

    /// A stand-in server for `chat`'s rehearsal where simulated
    /// participants answer each question; says so on standard output.
    pub fn with_participants(chat: &Chat, clock: SharedClock) -> Self {
        let zone = chat.timing().timezone();
        let crowd = crowd::Crowd::new(
            chat.content().hashtag().as_str(),
            chat.timing().question_interval(),
            chat.timing().collect_after(),
            zone,
            Arc::clone(&clock),
        );
        let _ = writeln!(std::io::stdout().lock(), "{}", crowd::announcement());
        Self {
            crowd: Some(crowd),
            ..Self::new(zone, clock)
        }
    }

    fn own(&self) -> std::sync::MutexGuard<'_, HashMap<String, Status>> {
        self.own
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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
        let status = Status {
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
            favourites_count: 0,
            reblogs_count: 0,
        };
        self.own().insert(status.id.clone(), status.clone());
        if let Some(crowd) = &self.crowd {
            crowd.bot_posted(&post.text, &status.id, post.in_reply_to_id.as_deref(), now);
        }
        Ok(status)
    }

    async fn status(&self, id: &str) -> Result<Option<Status>, NetError> {
        if let Some(own) = self.own().get(id) {
            return Ok(Some(own.clone()));
        }
        Ok(self.crowd.as_ref().and_then(|c| c.status(id)))
    }

    async fn tag_timeline(&self, _tag: &str, page: &Page) -> Result<Vec<Status>, NetError> {
        Ok(self
            .crowd
            .as_ref()
            .map(|c| c.tag_timeline(page))
            .unwrap_or_default())
    }

    async fn replies(&self, id: &str) -> Result<Vec<Status>, NetError> {
        Ok(self
            .crowd
            .as_ref()
            .map(|c| c.replies(id))
            .unwrap_or_default())
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
        match &self.crowd {
            Some(crowd) => Ok(HashtagStream::local(crowd.stream())),
            None => Err(NetError::Transport("a dry run opens no stream".into())),
        }
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
