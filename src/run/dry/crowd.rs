//! The dry run's simulated participants: a handful of made-up people
//! (display names "Sim … (simulated)", accounts on the reserved
//! `example.invalid` domain) who answer each question as real people do: by
//! label with the hashtag, by reply, two answers in one post, an edit, a
//! delete, an answer after the closing. Their posts are scheduled when the
//! bot's own post appears, at times relative to it on the run's clock, and
//! are served through the stand-in server's reads (tag timeline, replies,
//! single status, hashtag stream), so they take the same path to the store
//! as real answers. Only [`super::DryRun`] holds a `Crowd`, and only
//! `--dry-run` makes a `DryRun`: nothing here can happen in a real run.

use std::collections::HashSet;
use std::io::Write as _;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use tokio::sync::{mpsc, watch};

use crate::clock::SharedClock;
use crate::network::{Account, Page, Status, StreamEvent};
use crate::store::id_order;

/// The reserved domain (RFC 2606) of every simulated account.
pub(crate) const DOMAIN: &str = "example.invalid";

/// Who takes part: (user, first name).
const PEOPLE: [(&str, &str); 4] = [
    ("ada", "Ada"),
    ("ben", "Ben"),
    ("cleo", "Cleo"),
    ("dev", "Dev"),
];
const ADA: usize = 0;
const BEN: usize = 1;
const CLEO: usize = 2;
const DEV: usize = 3;

/// The line that says, before anything else, that the people are made up.
pub(crate) fn announcement() -> String {
    let names: Vec<String> = PEOPLE
        .iter()
        .map(|(_, name)| format!("Sim {name}"))
        .collect();
    format!(
        "Dry run: {} are simulated participants (accounts @…@{DOMAIN}); their answers are made up, \
         nothing is read from or posted to a server.",
        names.join(", ")
    )
}

/// One simulated post and what happens to it.
struct Planned {
    id: String,
    who: usize,
    at: DateTime<Utc>,
    text: String,
    in_reply_to: Option<String>,
    /// The edit, if any: when, and the new text.
    edit: Option<(DateTime<Utc>, String)>,
    deleted_at: Option<DateTime<Utc>>,
    favourites: u64,
    boosts: u64,
}

/// Something that happens at a time: a post appears, is edited, or is
/// deleted (by index into the posts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Happening {
    Posted(usize),
    Edited(usize),
    Deleted(usize),
}

#[derive(Default)]
struct Script {
    posts: Vec<Planned>,
    /// Questions seen so far (number → the bot's status id).
    questions: Vec<(u32, String)>,
    closed: bool,
    /// Happenings already printed, so a reconnected stream prints none twice.
    printed: HashSet<Happening>,
}

pub(crate) struct Crowd {
    hashtag: String,
    interval: chrono::Duration,
    collect_after: chrono::Duration,
    zone: Tz,
    clock: SharedClock,
    script: Mutex<Script>,
    /// Bumped whenever posts are added, so open streams re-plan.
    added: watch::Sender<u64>,
}

impl Crowd {
    pub(crate) fn new(
        hashtag: &str,
        interval: std::time::Duration,
        collect_after: std::time::Duration,
        zone: Tz,
        clock: SharedClock,
    ) -> Arc<Self> {
        let duration = |d: std::time::Duration| {
            chrono::Duration::from_std(d).unwrap_or(chrono::Duration::zero())
        };
        Arc::new(Self {
            hashtag: hashtag.to_string(),
            interval: duration(interval),
            collect_after: duration(collect_after),
            zone,
            clock,
            script: Mutex::new(Script::default()),
            added: watch::Sender::new(0),
        })
    }

    /// The bot posted `text` as `status_id` at `now`: a question gets its
    /// answers, the closing a late one.
    pub(crate) fn bot_posted(
        &self,
        text: &str,
        status_id: &str,
        in_reply_to: Option<&str>,
        now: DateTime<Utc>,
    ) {
        let mut script = self.lock();
        if let Some(number) = question_number(text) {
            script.questions.push((number, status_id.to_string()));
            self.answer(&mut script, number, status_id, now);
        } else if in_reply_to.is_none() && !script.questions.is_empty() && !script.closed {
            script.closed = true;
            self.late_answer(&mut script, now);
        } else {
            return;
        }
        drop(script);
        self.added.send_modify(|v| *v += 1);
    }

    /// Answers to question `n`, posted at `at` as `question`: by label,
    /// by reply, and one of an edit (Q1), a two-answer post and a delete
    /// (Q2), or a plain answer (later questions).
    fn answer(&self, script: &mut Script, n: u32, question: &str, at: DateTime<Utc>) {
        let tag = &self.hashtag;
        let after = |fraction: f64| at + self.interval_fraction(fraction);
        let label =
            format!("A{n} Here is my answer: labelled A{n} and tagged, the usual way. #{tag}");
        let ada = self.push(script, ADA, after(0.15), label, None);
        script.posts[ada].favourites = 3 + u64::from(n % 3);
        script.posts[ada].boosts = u64::from(n % 2);
        let reply = format!("Replying to Q{n} directly works too: no label, no hashtag.");
        let ben = self.push(script, BEN, after(0.3), reply, Some(question));
        script.posts[ben].favourites = 1;
        match n {
            1 => {
                let first = format!("A1 First thought: keep it short. #{tag}");
                let cleo = self.push(script, CLEO, after(0.45), first, None);
                let edited =
                    format!("A1 First thought, after an edit: keep it short and kind. #{tag}");
                script.posts[cleo].edit = Some((after(0.7), edited));
                script.posts[cleo].favourites = 2;
            }
            2 => {
                let two = format!(
                    "A1 Catching up on Q1: yes! A2 And one post can answer two questions. #{tag}"
                );
                let dev = self.push(script, DEV, after(0.4), two, None);
                script.posts[dev].favourites = 9;
                script.posts[dev].boosts = 4;
                let oops = format!("A2 Oops, this was meant for another chat. #{tag}");
                let cleo = self.push(script, CLEO, after(0.5), oops, None);
                script.posts[cleo].deleted_at = Some(after(0.75));
            }
            _ => {
                let plain = format!("A{n} Listening more than talking, mostly. #{tag}");
                let cleo = self.push(script, CLEO, after(0.45), plain, None);
                script.posts[cleo].favourites = 2;
            }
        }
    }

    /// Adds a post by `who` at `at`; returns its index.
    fn push(
        &self,
        script: &mut Script,
        who: usize,
        at: DateTime<Utc>,
        text: String,
        in_reply_to: Option<&str>,
    ) -> usize {
        let index = script.posts.len();
        script.posts.push(Planned {
            // Ids grow with time, as Mastodon's do: the collector's cursor
            // relies on it.
            id: format!("{}{:04}", at.timestamp_millis(), index),
            who,
            at,
            text,
            in_reply_to: in_reply_to.map(str::to_string),
            edit: None,
            deleted_at: None,
            favourites: 0,
            boosts: 0,
        });
        index
    }

    /// After the closing, while answers still count: someone late.
    fn late_answer(&self, script: &mut Script, closing: DateTime<Utc>) {
        let Some(&(last, _)) = script.questions.iter().max_by_key(|(n, _)| *n) else {
            return;
        };
        if self.collect_after <= chrono::Duration::zero() {
            return;
        }
        let at = closing + self.collect_after / 2;
        let text = format!(
            "A{last} Sorry I'm late! Answers still count until collection ends. #{}",
            self.hashtag
        );
        self.push(script, DEV, at, text, None);
    }

    fn interval_fraction(&self, fraction: f64) -> chrono::Duration {
        let millis = self.interval.num_milliseconds() as f64 * fraction;
        chrono::Duration::milliseconds(millis as i64)
    }

    /// The tag timeline as the server would serve it now: visible, tagged,
    /// newest first, within the page.
    pub(crate) fn tag_timeline(&self, page: &Page) -> Vec<Status> {
        let now = self.clock.now();
        let script = self.lock();
        let after = page.min_id.as_deref().or(page.since_id.as_deref());
        let mut found: Vec<Status> = script
            .posts
            .iter()
            .filter_map(|p| self.visible(p, now))
            .filter(|s| s.text().contains(&format!("#{}", self.hashtag)))
            .filter(|s| after.is_none_or(|a| id_order(&s.id, a).is_gt()))
            .filter(|s| {
                page.max_id
                    .as_deref()
                    .is_none_or(|m| id_order(&s.id, m).is_lt())
            })
            .collect();
        found.sort_by(|a, b| id_order(&b.id, &a.id));
        if page.limit > 0 {
            found.truncate(page.limit as usize);
        }
        found
    }

    /// Replies below `id` visible now.
    pub(crate) fn replies(&self, id: &str) -> Vec<Status> {
        let now = self.clock.now();
        let script = self.lock();
        script
            .posts
            .iter()
            .filter(|p| p.in_reply_to.as_deref() == Some(id))
            .filter_map(|p| self.visible(p, now))
            .collect()
    }

    /// One simulated status as it is now; `None` if unknown, not yet
    /// posted or deleted.
    pub(crate) fn status(&self, id: &str) -> Option<Status> {
        let now = self.clock.now();
        let script = self.lock();
        script
            .posts
            .iter()
            .find(|p| p.id == id)
            .and_then(|p| self.visible(p, now))
    }

    /// A hashtag stream: what happens from now on, at its time on the
    /// run's clock, until the receiver is dropped.
    pub(crate) fn stream(self: &Arc<Self>) -> mpsc::Receiver<StreamEvent> {
        let (tx, rx) = mpsc::channel(64);
        let crowd = Arc::clone(self);
        // Detached on purpose: the task ends as soon as the collector drops
        // the stream (`tx.closed()`), which it always does by the run's end.
        tokio::spawn(async move { crowd.feed(tx).await });
        rx
    }

    async fn feed(&self, tx: mpsc::Sender<StreamEvent>) {
        let opened = self.clock.now();
        let mut done: HashSet<Happening> = self
            .happenings()
            .into_iter()
            .filter(|(at, _)| *at <= opened)
            .map(|(_, h)| h)
            .collect();
        let mut added = self.added.subscribe();
        loop {
            let next = self
                .happenings()
                .into_iter()
                .filter(|(_, h)| !done.contains(h))
                .map(|(at, _)| at)
                .min();
            tokio::select! {
                _ = tx.closed() => return,
                _ = added.changed() => continue,
                _ = async {
                    match next {
                        Some(at) => self.clock.sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                } => {}
            }
            let now = self.clock.now();
            let mut due: Vec<(DateTime<Utc>, Happening)> = self
                .happenings()
                .into_iter()
                .filter(|(at, h)| *at <= now && !done.contains(h))
                .collect();
            due.sort_by_key(|(at, _)| *at);
            for (_, happening) in due {
                done.insert(happening);
                self.print(happening);
                if let Some(event) = self.event(happening, now) {
                    if tx.send(event).await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    fn happenings(&self) -> Vec<(DateTime<Utc>, Happening)> {
        let script = self.lock();
        let mut all = Vec::new();
        for (i, p) in script.posts.iter().enumerate() {
            all.push((p.at, Happening::Posted(i)));
            if let Some((at, _)) = &p.edit {
                all.push((*at, Happening::Edited(i)));
            }
            if let Some(at) = p.deleted_at {
                all.push((at, Happening::Deleted(i)));
            }
        }
        all
    }

    /// What the hashtag stream carries of a happening: tagged posts and
    /// their edits, every delete.
    fn event(&self, happening: Happening, now: DateTime<Utc>) -> Option<StreamEvent> {
        let script = self.lock();
        let tagged = |s: &Status| s.text().contains(&format!("#{}", self.hashtag));
        match happening {
            Happening::Posted(i) => {
                let status = self.visible(&script.posts[i], now)?;
                tagged(&status).then_some(StreamEvent::Update(status))
            }
            Happening::Edited(i) => {
                let status = self.visible(&script.posts[i], now)?;
                tagged(&status).then_some(StreamEvent::Edit(status))
            }
            Happening::Deleted(i) => Some(StreamEvent::Delete(script.posts[i].id.clone())),
        }
    }

    /// Shows a happening in the dry run's output, once, marked simulated.
    fn print(&self, happening: Happening) {
        let mut script = self.lock();
        if !script.printed.insert(happening) {
            return;
        }
        let (i, what) = match happening {
            Happening::Posted(i) => (i, "posted"),
            Happening::Edited(i) => (i, "edited"),
            Happening::Deleted(i) => (i, "deleted"),
        };
        let post = &script.posts[i];
        let text = match (happening, &post.edit) {
            (Happening::Edited(_), Some((_, text))) => text.as_str(),
            _ => post.text.as_str(),
        };
        let (at, local) = (self.clock.now(), self.clock.now().with_timezone(&self.zone));
        let (user, name) = PEOPLE[post.who];
        let reply = if post.in_reply_to.is_some() {
            " (a reply)"
        } else {
            ""
        };
        // As for the bot's posts: a reader that left must not panic us.
        let _ = writeln!(
            std::io::stdout().lock(),
            "[{} {} | {} UTC]   simulated: Sim {name} @{user}@{DOMAIN} {what}{reply}: {text}",
            local.format("%Y-%m-%d %H:%M:%S"),
            local.format("%Z"),
            at.format("%H:%M:%S"),
        );
    }

    /// The post as the server would show it at `now`: `None` before it is
    /// made or after it is deleted.
    fn visible(&self, post: &Planned, now: DateTime<Utc>) -> Option<Status> {
        if post.at > now || post.deleted_at.is_some_and(|at| at <= now) {
            return None;
        }
        let (text, edited_at) = match &post.edit {
            Some((at, text)) if *at <= now => (text.as_str(), Some(*at)),
            _ => (post.text.as_str(), None),
        };
        let (user, name) = PEOPLE[post.who];
        let url = format!("https://{DOMAIN}/@{user}/{}", post.id);
        Some(Status {
            id: post.id.clone(),
            uri: url.clone(),
            url: Some(url),
            account: Account {
                id: format!("simulated-{user}"),
                acct: format!("{user}@{DOMAIN}"),
                display_name: format!("Sim {name} (simulated)"),
                url: Some(format!("https://{DOMAIN}/@{user}")),
                bot: false,
            },
            content: format!("<p>{}</p>", crate::recap::escape_html(text)),
            created_at: post.at,
            edited_at,
            in_reply_to_id: post.in_reply_to.clone(),
            visibility: if post.in_reply_to.is_some() {
                "unlisted"
            } else {
                "public"
            }
            .into(),
            reblog: None,
            tags: Vec::new(),
            favourites_count: post.favourites,
            reblogs_count: post.boosts,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// `n` for a question post (`Q<n>: …`, as `schedule::content` writes it).
fn question_number(text: &str) -> Option<u32> {
    let rest = text.strip_prefix('Q')?;
    let (number, _) = rest.split_once(": ")?;
    number.parse().ok()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::clock::ManualClock;

    fn crowd() -> (ManualClock, Arc<Crowd>, DateTime<Utc>) {
        let t0 = Utc.with_ymd_and_hms(2026, 12, 3, 20, 0, 0).unwrap();
        let clock = ManualClock::new(t0);
        let crowd = Crowd::new(
            "Demo",
            std::time::Duration::from_secs(10),
            std::time::Duration::from_secs(4),
            chrono_tz::UTC,
            Arc::new(clock.clone()),
        );
        (clock, crowd, t0)
    }

    fn secs(n: f64) -> chrono::Duration {
        chrono::Duration::milliseconds((n * 1000.0) as i64)
    }

    #[tokio::test]
    async fn simulated_posts_appear_at_their_time_and_a_delete_hides_one() {
        let (clock, crowd, t0) = crowd();
        crowd.bot_posted("Q1: Ready? #Demo", "q1", None, t0);
        assert!(crowd.tag_timeline(&Page::default()).is_empty());

        clock.set(t0 + secs(1.5));
        let timeline = crowd.tag_timeline(&Page::default());
        assert_eq!(timeline.len(), 1, "{timeline:?}");
        assert!(timeline[0].account.display_name.ends_with("(simulated)"));
        assert_eq!(timeline[0].account.acct, "ada@example.invalid");
        assert!(crowd.replies("q1").is_empty(), "not before its time");

        clock.set(t0 + secs(3.0));
        let replies = crowd.replies("q1");
        assert_eq!(replies.len(), 1);
        assert!(
            !replies[0].text().contains("#Demo"),
            "a reply without the tag"
        );

        clock.set(t0 + secs(10.0));
        crowd.bot_posted("Q2: Steady? #Demo", "q2", None, t0 + secs(10.0));
        clock.set(t0 + secs(15.0));
        let oops = crowd
            .tag_timeline(&Page::default())
            .into_iter()
            .find(|s| s.text().contains("Oops"))
            .expect("the post to be deleted, visible first");
        clock.set(t0 + secs(17.5));
        assert_eq!(crowd.status(&oops.id), None);
        assert!(crowd
            .tag_timeline(&Page::default())
            .iter()
            .all(|s| s.id != oops.id));
    }

    #[tokio::test]
    async fn the_stream_carries_tagged_posts_edits_and_deletes_as_they_happen() {
        let (clock, crowd, t0) = crowd();
        let mut events = crowd.stream();
        // The stream opens now (before the question), as the listener's
        // does at the run's start.
        tokio::task::yield_now().await;
        crowd.bot_posted("Q1: Ready? #Demo", "q1", None, t0);
        tokio::task::yield_now().await;
        clock.set(t0 + secs(7.0));
        let mut seen = Vec::new();
        // Ada's answer, Cleo's answer, Cleo's edit; Ben's reply carries no
        // tag, so no hashtag stream has it.
        for _ in 0..3 {
            seen.push(events.recv().await.expect("an event"));
        }
        assert!(
            matches!(&seen[0], StreamEvent::Update(s) if s.account.acct == "ada@example.invalid")
        );
        assert!(
            matches!(&seen[1], StreamEvent::Update(s) if s.account.acct == "cleo@example.invalid")
        );
        assert!(matches!(&seen[2], StreamEvent::Edit(s) if s.edited_at == Some(t0 + secs(7.0))));
        assert!(events.try_recv().is_err(), "nothing else yet");
    }

    #[test]
    fn a_question_post_is_known_by_its_number() {
        assert_eq!(question_number("Q12: Why? #Demo"), Some(12));
        assert_eq!(question_number("Quiet night #Demo"), None);
        assert_eq!(question_number("Welcome! Q1 comes soon"), None);
    }
}
