//! The one answer pipeline: a page of statuses in, "recorded: new /
//! edited / unchanged / deleted / ignored" out. [`judge`] decides whether
//! a status belongs to the run and which questions it answers (pure, so
//! the listener can judge while a commit runs); [`record`] stores what was
//! judged. Every source (the stream, the tag timeline, question contexts,
//! a status read alone) goes through here, so a status seen twice is
//! judged and stored the same way.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::answers;
use crate::chats::Hashtag;
use crate::clock::Clock;
use crate::network::Status;
use crate::store::{watched_key, Answered, Recorded, Store, StoredStatus};

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
    /// The watched instance the judged statuses come from (`also_watch`);
    /// `None`: the bot's own server. Ids there are that server's own:
    /// never the bot's account, never a reply to the run's posts, and
    /// stored under [`watched_key`].
    pub instance: Option<String>,
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

impl RunWindow {
    /// A status id of this window's server as the store keys it.
    pub fn stored_id(&self, id: String) -> String {
        match &self.instance {
            Some(instance) => watched_key(instance, &id),
            None => id,
        }
    }
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

/// A status (or a deletion) judged for a run, ready to record.
#[derive(Debug, Clone, PartialEq)]
pub enum Judged {
    /// Part of the run: its row and the questions it answers (none: an
    /// other post). Boxed: the listener holds many verdicts while a
    /// commit runs, most of them kept.
    Kept(Box<Answered>),
    /// Not part of the run (the bot's own, a boost, out of the window,
    /// an ignored account, neither tagged nor a reply to the run's posts).
    Ignored,
    /// The server says this status no longer exists.
    Gone(String),
}

/// What recording one judged status did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    New,
    /// A newer edit replaced the stored version.
    Edited,
    /// Already stored at this or a newer version, or deleted.
    Unchanged,
    /// Marked deleted.
    Deleted,
    /// Nothing recorded: not part of the run, or a deletion of a status
    /// the run does not hold.
    Ignored,
}

/// Judges one status for the run. Pure: the same status judged twice,
/// from any source, gets the same verdict.
pub fn judge(window: &RunWindow, posts: &RunPosts, status: Status) -> Judged {
    let home = window.instance.is_none();
    if (home && status.account.id == window.bot_account_id) || status.is_boost() {
        return Judged::Ignored;
    }
    let handle = full_handle(&status.account, &window.domain);
    if window.ignore.covers(&status.account.id, &handle) {
        return Judged::Ignored;
    }
    if status.created_at < window.opens || status.created_at > window.closes {
        return Judged::Ignored;
    }
    let text = status.text();
    let replied_to = status
        .in_reply_to_id
        .as_ref()
        .filter(|_| home)
        .and_then(|id| posts.get(id).copied());
    if !answers::carries_hashtag(&status, &text, &window.hashtag) && replied_to.is_none() {
        return Judged::Ignored;
    }
    let mut found = answers::answered_questions(&text, window.question_count);
    if found.is_empty() {
        // A reply to question N's post without a label answers N.
        if let Some(Some(number)) = replied_to {
            found.push(number);
        }
    }
    let row = row(status, handle, text, window);
    Judged::Kept(Box::new((row, found)))
}

/// An account's full handle: `user@domain` on the Fediverse (`domain` for
/// the server's own accounts); on Bluesky, whose account ids are DIDs, the
/// handle is already whole (`alice.bsky.social`).
pub(crate) fn full_handle(account: &crate::network::Account, domain: &str) -> String {
    if account.id.starts_with("did:") {
        account.acct.clone()
    } else {
        account.handle(domain)
    }
}

/// Judges a page of statuses (a page of one for a single status) and
/// records it; returns, per status, what changed.
pub async fn ingest(
    store: &Store,
    clock: &dyn Clock,
    window: &RunWindow,
    posts: &RunPosts,
    page: Vec<Status>,
) -> anyhow::Result<Vec<Outcome>> {
    let judged = page.into_iter().map(|s| judge(window, posts, s)).collect();
    record(store, clock, window.run_id, judged).await
}

/// Records judged statuses in order: each stretch of kept ones in one
/// transaction (the store decides whether a copy is new or a newer edit),
/// each deletion on its own, stamped by `clock`. Returns, per input, what
/// changed.
pub async fn record(
    store: &Store,
    clock: &dyn Clock,
    run_id: i64,
    judged: Vec<Judged>,
) -> anyhow::Result<Vec<Outcome>> {
    let mut outcomes = Vec::with_capacity(judged.len());
    let mut stretch: Vec<Answered> = Vec::new();
    let mut stretch_at = Vec::new();
    for item in judged {
        match item {
            Judged::Kept(row) => {
                stretch_at.push(outcomes.len());
                stretch.push(*row);
                outcomes.push(Outcome::Ignored);
            }
            Judged::Ignored => outcomes.push(Outcome::Ignored),
            Judged::Gone(id) => {
                record_stretch(store, run_id, &mut stretch, &mut stretch_at, &mut outcomes).await?;
                let deleted = store.mark_deleted(run_id, &id, clock.now()).await?;
                if deleted {
                    tracing::info!(status_id = %id, "a post was deleted");
                }
                outcomes.push(if deleted {
                    Outcome::Deleted
                } else {
                    Outcome::Ignored
                });
            }
        }
    }
    record_stretch(store, run_id, &mut stretch, &mut stretch_at, &mut outcomes).await?;
    Ok(outcomes)
}

/// Stores the kept statuses gathered so far and fills in their outcomes.
async fn record_stretch(
    store: &Store,
    run_id: i64,
    stretch: &mut Vec<Answered>,
    at: &mut Vec<usize>,
    outcomes: &mut [Outcome],
) -> anyhow::Result<()> {
    if stretch.is_empty() {
        return Ok(());
    }
    let recorded = store.record_statuses(run_id, stretch).await?;
    for ((index, (row, answers)), recorded) in at.iter().zip(stretch.iter()).zip(recorded) {
        let outcome = match recorded {
            Recorded::New => Outcome::New,
            Recorded::Edited => Outcome::Edited,
            Recorded::Unchanged => Outcome::Unchanged,
        };
        log_recorded(row, answers, outcome);
        outcomes[*index] = outcome;
    }
    stretch.clear();
    at.clear();
    Ok(())
}

/// The run's log line for a status stored anew or edited.
fn log_recorded(stored: &StoredStatus, answers: &[u32], outcome: Outcome) {
    let what = match outcome {
        Outcome::New => "recorded a post",
        Outcome::Edited => "recorded an edit",
        _ => return,
    };
    tracing::info!(status_id = %stored.status_id, account = %stored.account, ?answers, "{what}");
}

/// The row stored for a kept status, taking the status apart rather than
/// copying its content.
fn row(status: Status, account: String, text: String, window: &RunWindow) -> StoredStatus {
    // An id of a watched instance, as stored: apart from the bot's server's.
    let key = |id: String| window.stored_id(id);
    // `Status::link`, by value.
    let url = status.url.unwrap_or_else(|| status.uri.clone());
    let status_id = key(status.id);
    // Its identity: a server that gives no uri has only the id.
    let uri = if status.uri.is_empty() {
        status_id.clone()
    } else {
        status.uri
    };
    StoredStatus {
        status_id,
        instance: window.instance.clone(),
        uri,
        account_id: key(status.account.id),
        account,
        display_name: status.account.display_name,
        url,
        html: status.content,
        text,
        created_at: status.created_at,
        edited_at: status.edited_at,
        in_reply_to_id: status.in_reply_to_id.map(key),
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
            instance: None,
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
            favourites_count: 0,
            reblogs_count: 0,
        }
    }

    fn posts() -> RunPosts {
        RunPosts::from([
            ("10".into(), None),
            ("11".into(), Some(1)),
            ("12".into(), Some(2)),
        ])
    }

    fn answers_of(v: Judged) -> Option<Vec<u32>> {
        match v {
            Judged::Kept(row) => Some(row.1),
            _ => None,
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
                answers_of(judge(&window(), &posts(), status.clone())),
                *expected,
                "{name}"
            );
        }
    }

    #[test]
    fn a_boost_is_never_part_of_the_run() {
        let mut boost = status("2", "<p>A1 #1QEdChat</p>", 6, None);
        boost.reblog = Some(Box::new(serde_json::json!({"id": "3"})));
        assert_eq!(judge(&window(), &posts(), boost), Judged::Ignored);
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

    #[tokio::test]
    async fn a_page_in_gives_new_edited_unchanged_deleted_or_ignored_out() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("h.db")).await.unwrap();
        let run = store.open_run("chat", at(0), at(50)).await.unwrap();
        let window = window_of(run.id);
        let clock = crate::clock::ManualClock::new(at(30));
        let with_id = |id: &str, html: &str| Status {
            id: id.into(),
            ..status("2", html, 6, None)
        };
        let first = vec![
            with_id("1", "<p>A1 yes #1QEdChat</p>"),
            with_id("2", "<p>A2 no tag</p>"),
            with_id("3", "<p>A3 #1QEdChat</p>"),
        ];
        let outcomes = ingest(&store, &clock, &window, &posts(), first.clone())
            .await
            .unwrap();
        use Outcome::*;
        assert_eq!(outcomes, vec![New, Ignored, New]);
        let mut edit = with_id("1", "<p>A2 changed #1QEdChat</p>");
        edit.edited_at = Some(at(8));
        let page = vec![
            judge(&window, &posts(), edit),
            judge(&window, &posts(), first[2].clone()),
            Judged::Gone("3".into()),
            Judged::Gone("99".into()),
        ];
        let outcomes = record(&store, &clock, run.id, page).await.unwrap();
        assert_eq!(outcomes, vec![Edited, Unchanged, Deleted, Ignored]);
        let rows = store.statuses(run.id).await.unwrap();
        assert_eq!(rows[0].answers, vec![2]);
        assert_eq!(rows[1].deleted_at, Some(at(30)), "stamped by the clock");
    }
}
