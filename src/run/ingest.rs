//! Deciding what a status means for a run: whether it belongs to the run
//! and which questions it answers, then recording it. Every source (the
//! stream, the tag timeline, question contexts) goes through here, so a
//! status seen twice is judged and stored the same way.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::answers;
use crate::chats::Hashtag;
use crate::network::Status;
use crate::store::{Recorded, Store, StoredStatus};

/// What a run knows when judging a status.
#[derive(Debug, Clone)]
pub struct RunWindow {
    pub run_id: i64,
    pub hashtag: Hashtag,
    pub question_count: u32,
    pub opens: DateTime<Utc>,
    pub closes: DateTime<Utc>,
    /// The bot's own account id: its posts are never answers.
    pub bot_account_id: String,
    /// The instance domain, for handles of local accounts.
    pub domain: String,
    /// Accounts whose posts never count.
    pub ignore: Ignore,
}

/// Who is never part of a run: the chat's `ignore:` rules, and the
/// accounts the bot itself has muted or blocked on its server.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    pub rules: Vec<crate::chats::IgnoreRule>,
    /// Account ids muted or blocked by the bot's account.
    pub account_ids: std::collections::HashSet<String>,
}

impl Ignore {
    pub fn covers(&self, account_id: &str, handle: &str) -> bool {
        if self.account_ids.contains(account_id) {
            return true;
        }
        crate::chats::IgnoreRule::any_covers(&self.rules, handle)
    }
}

/// The bot's posts in this run: status id → question number (None for the
/// intro and closing). A reply to a question post answers that question.
pub type RunPosts = HashMap<String, Option<u32>>;

/// The verdict on one status.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Not part of the run (the bot's own, a boost, out of the window,
    /// neither tagged nor a reply to the run's posts).
    Ignore,
    /// Part of the run; answers these questions (empty: an other post).
    Keep { text: String, answers: Vec<u32> },
}

pub fn judge(window: &RunWindow, posts: &RunPosts, status: &Status) -> Verdict {
    if status.account.id == window.bot_account_id || status.is_boost() {
        return Verdict::Ignore;
    }
    let handle = status.account.handle(&window.domain);
    if window.ignore.covers(&status.account.id, &handle) {
        return Verdict::Ignore;
    }
    if status.created_at < window.opens || status.created_at > window.closes {
        return Verdict::Ignore;
    }
    let text = status.text();
    let replied_to = status
        .in_reply_to_id
        .as_ref()
        .and_then(|id| posts.get(id).copied());
    let tagged = answers::carries_hashtag(status, &text, &window.hashtag);
    if !tagged && replied_to.is_none() {
        return Verdict::Ignore;
    }
    let mut found = answers::answered_questions(&text, window.question_count);
    if found.is_empty() {
        // A reply to question N's post without a label answers N.
        if let Some(Some(number)) = replied_to {
            found.push(number);
        }
    }
    Verdict::Keep {
        text,
        answers: found,
    }
}

/// Judges and stores one status; returns what changed, if anything.
pub async fn ingest(
    store: &Store,
    window: &RunWindow,
    posts: &RunPosts,
    status: &Status,
) -> anyhow::Result<Option<Recorded>> {
    let Some((stored, answers)) = judge_row(window, posts, status) else {
        return Ok(None);
    };
    let recorded = store
        .record_status(window.run_id, &stored, &answers)
        .await?;
    log_recorded(&stored, &answers, recorded);
    Ok(Some(recorded))
}

/// The run's log line for a status stored anew or edited.
fn log_recorded(stored: &StoredStatus, answers: &[u32], recorded: Recorded) {
    let what = match recorded {
        Recorded::New => "recorded a post",
        Recorded::Edited => "recorded an edit",
        Recorded::Unchanged => return,
    };
    tracing::info!(status_id = %stored.status_id, account = %stored.account, ?answers, "{what}");
}

/// A kept status as the store takes it: its row and the questions it answers.
pub type Judged = (StoredStatus, Vec<u32>);

/// The verdict on `status` as a row to store; `None` when it is not part
/// of the run.
pub fn judge_row(window: &RunWindow, posts: &RunPosts, status: &Status) -> Option<Judged> {
    match judge(window, posts, status) {
        Verdict::Keep { text, answers } => Some((stored_status(window, status, text), answers)),
        Verdict::Ignore => None,
    }
}

/// [`judge_row`] for a status not needed afterwards.
pub fn judge_into_row(window: &RunWindow, posts: &RunPosts, status: Status) -> Option<Judged> {
    match judge(window, posts, &status) {
        Verdict::Keep { text, answers } => Some((into_stored(window, status, text), answers)),
        Verdict::Ignore => None,
    }
}

/// Judges and stores a page of statuses (a timeline page, a backfill) in
/// one transaction; returns, per status, what changed (None: ignored).
/// Same verdicts and the same rules as [`ingest`].
pub async fn ingest_page(
    store: &Store,
    window: &RunWindow,
    posts: &RunPosts,
    statuses: &[Status],
) -> anyhow::Result<Vec<Option<Recorded>>> {
    let judged: Vec<Option<Judged>> = statuses
        .iter()
        .map(|status| judge_row(window, posts, status))
        .collect();
    store_judged(store, window.run_id, judged).await
}

/// Stores rows judged beforehand, kept ones in one transaction, and logs
/// what changed; returns, per input, what changed (None: not kept).
pub async fn store_judged(
    store: &Store,
    run_id: i64,
    judged: Vec<Option<Judged>>,
) -> anyhow::Result<Vec<Option<Recorded>>> {
    let mut outcomes = vec![None; judged.len()];
    let (kept, page): (Vec<usize>, Vec<Judged>) = judged
        .into_iter()
        .enumerate()
        .filter_map(|(index, row)| Some((index, row?)))
        .unzip();
    let recorded = store.record_statuses(run_id, &page).await?;
    for ((index, (stored, answers)), outcome) in kept.into_iter().zip(&page).zip(recorded) {
        log_recorded(stored, answers, outcome);
        outcomes[index] = Some(outcome);
    }
    Ok(outcomes)
}

/// The row stored for a kept status.
pub fn stored_status(window: &RunWindow, status: &Status, text: String) -> StoredStatus {
    into_stored(window, status.clone(), text)
}

/// The row stored for a kept status, taking the status apart rather than
/// copying its content (the listener's path, where it is not needed after).
pub fn into_stored(window: &RunWindow, status: Status, text: String) -> StoredStatus {
    let account = status.account.handle(&window.domain);
    // `Status::link`, by value.
    let url = status.url.unwrap_or(status.uri);
    StoredStatus {
        status_id: status.id,
        account_id: status.account.id,
        account,
        display_name: status.account.display_name,
        url,
        html: status.content,
        text,
        created_at: status.created_at,
        edited_at: status.edited_at,
        in_reply_to_id: status.in_reply_to_id,
        visibility: status.visibility,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::network::{Account, Status};
    use chrono::TimeZone;

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, 20, minute, 0).unwrap()
    }

    /// The window of run `run_id` of #1QEdChat (3 questions), open from
    /// minute 0 to 50, for unit tests here and in `collect`.
    pub(crate) fn window_of(run_id: i64) -> RunWindow {
        RunWindow {
            run_id,
            hashtag: Hashtag::parse("1QEdChat").unwrap(),
            question_count: 3,
            opens: at(0),
            closes: at(50),
            bot_account_id: "1".into(),
            domain: "fake.example".into(),
            ignore: Ignore::default(),
        }
    }

    fn window() -> RunWindow {
        RunWindow {
            ignore: Ignore {
                rules: vec![crate::chats::IgnoreRule::Domain("spam.example".into())],
                account_ids: ["66".to_string()].into(),
            },
            ..window_of(1)
        }
    }

    fn status(account_id: &str, html: &str, minute: u32, reply_to: Option<&str>) -> Status {
        Status {
            id: "500".into(),
            uri: String::new(),
            url: None,
            account: Account {
                id: account_id.into(),
                acct: "alice".into(),
                display_name: "Alice".into(),
                url: None,
                bot: false,
            },
            content: html.into(),
            created_at: at(minute),
            edited_at: None,
            in_reply_to_id: reply_to.map(Into::into),
            visibility: "public".into(),
            reblog: None,
            tags: Vec::new(),
        }
    }

    fn posts() -> RunPosts {
        RunPosts::from([
            ("10".into(), None),
            ("11".into(), Some(1)),
            ("12".into(), Some(2)),
        ])
    }

    fn answers_of(v: Verdict) -> Option<Vec<u32>> {
        match v {
            Verdict::Keep { answers, .. } => Some(answers),
            Verdict::Ignore => None,
        }
    }

    #[test]
    fn which_posts_belong_to_the_run_and_what_they_answer() {
        let cases: &[(&str, Status, Option<Vec<u32>>)] = &[
            (
                "tagged answer",
                status("2", "<p>A1: yes #1qedchat</p>", 6, None),
                Some(vec![1]),
            ),
            (
                "tagged post without a label is an other post",
                status("2", "<p>hello #1QEdChat</p>", 6, None),
                Some(vec![]),
            ),
            (
                "untagged reply to Q2 without a label answers Q2",
                status("2", "<p>I think so</p>", 16, Some("12")),
                Some(vec![2]),
            ),
            (
                "a label wins over the question replied to",
                status("2", "<p>A1: late one</p>", 16, Some("12")),
                Some(vec![1]),
            ),
            (
                "untagged reply to the intro is an other post",
                status("2", "<p>hi all</p>", 1, Some("10")),
                Some(vec![]),
            ),
            (
                "untagged, not a reply: not part of the run",
                status("2", "<p>A1: yes</p>", 6, None),
                None,
            ),
            (
                "the bot's own post is never an answer",
                status("1", "<p>A1: #1QEdChat</p>", 6, None),
                None,
            ),
            (
                "before the run opens",
                status("2", "<p>A1 #1QEdChat</p>", 0, None).with_minute_before(),
                None,
            ),
            (
                "after collection ends",
                status("2", "<p>A1 #1QEdChat</p>", 51, None),
                None,
            ),
            (
                "a label for a question the run lacks answers nothing",
                status("2", "<p>A10 #1QEdChat</p>", 6, None),
                Some(vec![]),
            ),
        ];
        for (name, status, expected) in cases {
            assert_eq!(
                answers_of(judge(&window(), &posts(), status)),
                *expected,
                "{name}"
            );
        }
    }

    #[test]
    fn a_boost_is_never_part_of_the_run() {
        let mut boost = status("2", "<p>A1 #1QEdChat</p>", 6, None);
        boost.reblog = Some(Box::new(serde_json::json!({"id": "3"})));
        assert_eq!(judge(&window(), &posts(), &boost), Verdict::Ignore);
    }

    trait Earlier {
        fn with_minute_before(self) -> Self;
    }

    impl Earlier for Status {
        fn with_minute_before(mut self) -> Self {
            self.created_at -= chrono::Duration::minutes(1);
            self
        }
    }
}
