//! What a chat's room shows at one moment ([`Room`]), read from the store:
//! the run in progress with its questions already posted (never one
//! planned but not sent) and the answers under each, hidden and sanitised
//! exactly as in the recap (it is built by `recap::build`); the run's
//! state (paused, extended, the next post); the past runs.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use minijinja::context;
use serde::Serialize;

use super::templates;
use crate::chats::Chat;
use crate::recap;
use crate::schedule::PostKind;
use crate::store::{PostState, RunRow, RunState, Store};

/// The live part of a room; `crate::web::live` sends what changed in it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Room {
    /// The run in progress, if any.
    pub run: Option<i64>,
    /// The status block: live or not, paused, extended, next post.
    pub state: String,
    pub questions: Vec<Question>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    pub number: u32,
    /// The question's heading and time, before its list of answers.
    pub head: String,
    /// (element id, list item), in the recap's order.
    pub answers: Vec<(String, String)>,
}

/// A time as the pages show it: machine-readable, and in the chat's zone.
#[derive(Debug, Serialize)]
struct When {
    utc: String,
    local: String,
}

fn when(at: DateTime<Utc>, tz: Tz) -> When {
    let local = at.with_timezone(&tz);
    When {
        utc: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        local: format!(
            "{} {}",
            local.format("%a %-d %b %Y, %H:%M"),
            local.format("%Z")
        ),
    }
}

/// The room now: `None` store (no database yet) is a room with no run.
pub async fn snapshot(
    store: Option<&Store>,
    chat: &Chat,
    now: DateTime<Utc>,
) -> anyhow::Result<Room> {
    let tz = chat.timing().timezone();
    let run = match store {
        Some(store) => store.latest_run(chat.id()).await?,
        None => None,
    };
    let (Some(store), Some(run)) = (store, run.filter(|r| r.state == RunState::Running)) else {
        let next = crate::schedule::next_starts(chat, now, 1)
            .first()
            .map(|at| when(*at, tz));
        let state = templates::render("state.html", context! { live => false, next })?;
        return Ok(Room {
            run: None,
            state,
            questions: Vec::new(),
        });
    };
    let recap = recap::build(store, chat, run.id).await?;
    let posts = store.posts(run.id).await?;
    let extended = extensions(store, run.id).await?;
    let state = state(chat, &run, &posts, extended, tz)?;
    let mut questions = Vec::new();
    // Only questions sent: a planned one never shows before its time.
    for q in recap.questions.iter().filter(|q| q.posted_at.is_some()) {
        let posted = q.posted_at.map(|at| when(at, tz));
        let head = templates::render(
            "question.html",
            context! { number => q.number, text => q.text, posted, url => q.url.as_deref().and_then(http_url) },
        )?;
        questions.push(Question {
            number: q.number,
            head,
            answers: recap::html::answer_items(q, tz),
        });
    }
    Ok(Room {
        run: Some(run.id),
        state,
        questions,
    })
}

fn state(
    chat: &Chat,
    run: &RunRow,
    posts: &[crate::store::PostRow],
    extended: Vec<String>,
    tz: Tz,
) -> anyhow::Result<String> {
    let next = posts
        .iter()
        .filter(|p| p.state == PostState::Planned)
        .min_by_key(|p| p.planned_at)
        .map(|p| {
            let what = match (p.kind, p.number) {
                (PostKind::Question, Some(n)) => format!("Q{n}"),
                (PostKind::Question, None) => "the next question".to_string(),
                _ => "the closing post".to_string(),
            };
            context! { what, at => when(p.planned_at, tz) }
        });
    templates::render(
        "state.html",
        context! {
            live => true,
            hashtag => chat.content().hashtag().as_str(),
            started => run.started_at.map(|at| when(at, tz)),
            paused => run.paused_at.map(|at| when(at, tz)),
            extended,
            next,
            until => when(run.collect_until, tz),
        },
    )
}

/// The `extend` commands the moderators gave in this run, as they wrote them.
async fn extensions(store: &Store, run_id: i64) -> anyhow::Result<Vec<String>> {
    store.extend_commands(run_id).await
}

fn http_url(raw: &str) -> Option<String> {
    url::Url::parse(raw)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .map(String::from)
}

impl Room {
    /// The whole live part, as first rendered in the page and sent again
    /// when a new run starts.
    pub fn html(&self) -> String {
        let questions: Vec<_> = self
            .questions
            .iter()
            .map(|q| minijinja::Value::from_safe_string(q.section()))
            .collect();
        templates::render(
            "live.html",
            context! { state => minijinja::Value::from_safe_string(self.state.clone()), questions, live => self.run.is_some() },
        )
        .unwrap_or_default()
    }
}

impl Question {
    /// The question's section with its answers.
    pub fn section(&self) -> String {
        let answers: String = self.answers.iter().map(|(_, item)| item.as_str()).collect();
        let n = self.number;
        format!(
            "<section id=\"q{n}\" aria-labelledby=\"h-q{n}\">\n{}<ol class=\"posts\" id=\"answers-q{n}\" aria-label=\"Answers to Q{n}\" aria-live=\"polite\" aria-relevant=\"additions\">\n{answers}</ol>\n</section>\n",
            self.head
        )
    }
}

/// The past runs of a chat (finished), newest first: (run id, start).
pub async fn past_runs(store: &Store, chat: &Chat) -> anyhow::Result<Vec<(i64, String, String)>> {
    let tz = chat.timing().timezone();
    Ok(store
        .recent_runs(chat.id(), 50)
        .await?
        .into_iter()
        .filter(|r| r.state == RunState::Done)
        .map(|r| {
            let at = when(r.started_at.unwrap_or(r.planned_start), tz);
            (r.id, at.utc, at.local)
        })
        .collect())
}
