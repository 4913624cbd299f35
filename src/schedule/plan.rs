//! A run's plan: what it posts, when, with which image and under which
//! idempotency key, computed once from the chat when the run is driven and
//! passed down. Nothing in a run rebuilds any of it from the chat.

use chrono::{DateTime, Utc};

use super::content::content;
use super::timeline::timeline;
use super::{PlannedPost, PostKind};
use crate::chats::{Chat, QuestionImage};

#[derive(Debug, Clone, PartialEq)]
pub struct RunPlan {
    pub start: DateTime<Utc>,
    /// The scheduled end of collection (moderators may move the run's).
    pub collect_until: DateTime<Utc>,
    /// In time order, then seq, as in the timeline.
    pub posts: Vec<PlanPost>,
    /// How many questions this run asks (its session's, on a session date).
    pub question_count: u32,
    /// Stable across restarts: the chat and the run's scheduled start.
    key_prefix: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlanPost {
    pub post: PlannedPost,
    /// What a question asks, as written (no `Q<n>:`, no hashtag added);
    /// the whole text for other posts.
    pub body: String,
    /// The server takes a repeated key as the same post, however often
    /// the request is sent.
    pub idempotency_key: String,
    pub image: Option<QuestionImage>,
}

impl RunPlan {
    /// The plan of the run of `chat` starting at `start`.
    pub fn new(chat: &Chat, start: DateTime<Utc>) -> Self {
        let timeline = timeline(chat, start);
        let run = content(chat, start);
        let key_prefix = format!("hashchat:{}:{}", chat.id(), start.timestamp());
        let question = |post: &PlannedPost| match (post.kind, post.number) {
            (PostKind::Question, Some(n)) => n.checked_sub(1).map(|i| i as usize),
            _ => None,
        };
        let posts = timeline
            .posts
            .into_iter()
            .map(|post| {
                let i = question(&post);
                PlanPost {
                    body: i
                        .and_then(|i| run.questions.get(i))
                        .cloned()
                        .unwrap_or_else(|| post.text.clone()),
                    image: i
                        .and_then(|i| run.question_images.get(i))
                        .cloned()
                        .flatten(),
                    idempotency_key: format!("{key_prefix}-{}", post.seq),
                    post,
                }
            })
            .collect();
        Self {
            start,
            collect_until: timeline.collect_until,
            posts,
            question_count: u32::try_from(run.questions.len()).unwrap_or(u32::MAX),
            key_prefix,
        }
    }

    /// When the driver must be awake: reminders go out before the start.
    pub fn wake_at(&self) -> DateTime<Utc> {
        self.posts
            .iter()
            .map(|p| p.post.at)
            .min()
            .map_or(self.start, |first| first.min(self.start))
    }

    /// The image to attach to post `seq`, if it is a question with one.
    pub fn image(&self, seq: u32) -> Option<&QuestionImage> {
        self.posts
            .iter()
            .find(|p| p.post.seq == seq)
            .and_then(|p| p.image.as_ref())
    }

    /// The key of part `part` of the summary post (`recap_post`).
    pub fn summary_key(&self, part: usize) -> String {
        format!("{}-summary-{part}", self.key_prefix)
    }
}
