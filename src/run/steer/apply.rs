//! What each command does to a run (in the store), and the reply that
//! says what changed and what comes next.

use chrono::{DateTime, Utc};

use super::parse::{Steer, HELP};
use crate::chats::Chat;
use crate::run::daemon::Daemon;
use crate::schedule::{self, PostKind};
use crate::store::{PostRow, PostState, RunRow};

/// The run in progress (started, not over), if any.
pub(super) async fn current_run(
    daemon: &Daemon,
    chat: &Chat,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<RunRow>> {
    Ok(daemon
        .store
        .unfinished_runs(chat.id())
        .await?
        .into_iter()
        .find(|r| r.planned_start <= now))
}

/// Carries out `command`; returns the reply: what changed, what is next.
pub(super) async fn apply(
    daemon: &Daemon,
    chat: &Chat,
    run: Option<RunRow>,
    command: &Steer,
    sender: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let store = &daemon.store;
    let tag = chat.content().hashtag().to_string();
    let Some(run) = run else {
        return not_running(daemon, chat, command, sender, now).await;
    };
    let posts = store.posts(run.id).await?;
    let next_question = posts
        .iter()
        .find(|p| p.kind == PostKind::Question && is_unsent(p));
    let reply = match command {
        Steer::Status => String::new(),
        Steer::Cancel => format!("{tag} is already running; send stop to post the closing now."),
        Steer::Pause => pause(daemon, chat, &run, &tag, now).await?,
        Steer::Resume => resume(daemon, &run, &tag, now).await?,
        Steer::Next => bring_next_forward(daemon, run.id, next_question, now).await?,
        Steer::Skip => match next_question {
            None => "No questions are left to skip.".into(),
            Some(q) => {
                let reason = format!("skipped by @{sender}");
                store.skip_post(run.id, q.seq, &reason).await?;
                format!("Dropped Q{}.", q.number.unwrap_or_default())
            }
        },
        Steer::Extend(by) => {
            let by = chrono::Duration::from_std(*by).unwrap_or_default();
            store.shift_unsent(run.id, by).await?;
            format!("Extended {tag} by {}.", minutes(by))
        }
        Steer::Stop => stop(daemon, chat, run.id, &posts, &tag, sender, now).await?,
        Steer::OptOut | Steer::OptIn | Steer::Unknown(_) => HELP.into(),
    };
    let next = describe_next(daemon, chat, run.id).await?;
    Ok(format!("{reply} {next}").trim().to_string())
}

async fn pause(
    daemon: &Daemon,
    chat: &Chat,
    run: &RunRow,
    tag: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    Ok(match run.paused_at {
        Some(since) => format!("{tag} has been paused since {}.", local_time(chat, since)),
        None => {
            daemon.store.set_paused(run.id, Some(now)).await?;
            format!("Paused {tag}: nothing more is posted until you send resume.")
        }
    })
}

async fn resume(
    daemon: &Daemon,
    run: &RunRow,
    tag: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let store = &daemon.store;
    Ok(match run.paused_at {
        None => format!("{tag} is not paused."),
        Some(since) => {
            let paused_for = now - since;
            store.shift_unsent(run.id, paused_for).await?;
            store.set_paused(run.id, None).await?;
            format!(
                "Resumed {tag}; the rest moved {} later.",
                minutes(paused_for)
            )
        }
    })
}

/// Moves the rest earlier so that the next question is due now.
async fn bring_next_forward(
    daemon: &Daemon,
    run_id: i64,
    next_question: Option<&PostRow>,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    Ok(match next_question {
        None => "No questions are left; send stop to post the closing now.".into(),
        Some(q) => {
            let earlier = q.planned_at - now;
            if earlier > chrono::Duration::zero() {
                daemon.store.shift_unsent(run_id, -earlier).await?;
            }
            format!(
                "Posting Q{} now; the rest moved {} earlier.",
                q.number.unwrap_or_default(),
                minutes(earlier.max(chrono::Duration::zero()))
            )
        }
    })
}

/// Skips the questions still to come and moves the closing to now.
async fn stop(
    daemon: &Daemon,
    chat: &Chat,
    run_id: i64,
    posts: &[PostRow],
    tag: &str,
    sender: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let reason = format!("skipped: @{sender} stopped the chat");
    let questions: Vec<u32> = posts
        .iter()
        .filter(|p| p.kind == PostKind::Question && is_unsent(p))
        .map(|p| p.seq)
        .collect();
    let closing = posts
        .iter()
        .find(|p| p.kind == PostKind::Closing && is_unsent(p))
        .map(|p| p.seq);
    let until = now + chrono::Duration::from_std(chat.timing().collect_after()).unwrap_or_default();
    // One transaction: the driver must never see the closing moved
    // to now with the end of collection not yet moved with it.
    daemon
        .store
        .stop_run(run_id, &questions, closing, now, until, &reason)
        .await?;
    Ok(match closing {
        Some(_) => format!("Posting the closing of {tag} now."),
        None => format!("The closing of {tag} is already out."),
    })
}

/// A post still to come. A `sending` post is in flight (its request has
/// left, or is being retried): it is not "next", and commands leave it be.
fn is_unsent(post: &PostRow) -> bool {
    post.state == PostState::Planned
}

fn minutes(d: chrono::Duration) -> String {
    let secs = d.num_seconds().max(0) as u64;
    humantime::format_duration(std::time::Duration::from_secs(secs)).to_string()
}

/// "Next: Q3 at 20:41 GMT." (or the closing, or the end of collection).
async fn describe_next(daemon: &Daemon, chat: &Chat, run_id: i64) -> anyhow::Result<String> {
    let Some(run) = daemon.store.run(run_id).await? else {
        return Ok(String::new());
    };
    let posts = daemon.store.posts(run_id).await?;
    let paused = run
        .paused_at
        .map(|since| format!(" Paused since {}.", local_time(chat, since)))
        .unwrap_or_default();
    let next = posts
        .iter()
        .filter(|p| is_unsent(p))
        .min_by_key(|p| (p.planned_at, p.seq));
    Ok(match next {
        Some(p) => {
            let what = match (p.kind, p.number) {
                (PostKind::Question, Some(n)) => format!("Q{n}"),
                (PostKind::Closing, _) => "the closing".into(),
                _ => "the intro".into(),
            };
            format!(
                "Next: {what} at {}.{paused}",
                local_time(chat, p.planned_at)
            )
        }
        None => format!(
            "Everything is posted; answers count until {}.",
            local_time(chat, run.collect_until)
        ),
    })
}

/// Replies when no run is in progress: `cancel` calls off the next run,
/// `status` says when it is, anything else says there is nothing to steer.
async fn not_running(
    daemon: &Daemon,
    chat: &Chat,
    command: &Steer,
    sender: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let tag = chat.content().hashtag().to_string();
    let upcoming = crate::run::chat::upcoming_starts(daemon, chat, now, 2).await?;
    let when = |s: DateTime<Utc>| {
        s.with_timezone(&chat.timing().timezone())
            .format("%a %-d %b %H:%M %Z")
            .to_string()
    };
    Ok(match (command, upcoming.as_slice()) {
        (Steer::Cancel, [next, rest @ ..]) => {
            let until = schedule::timeline(chat, *next).collect_until;
            let opened = daemon
                .store
                .unfinished_runs(chat.id())
                .await?
                .into_iter()
                .find(|r| r.planned_start == *next);
            let cancelled = match opened {
                // Already opened for its reminders: its driver is told.
                Some(run) => daemon.store.cancel_open_run(run.id, sender, now).await?,
                None => {
                    daemon
                        .store
                        .cancel_run(chat.id(), *next, until, sender, now)
                        .await?
                }
            };
            if cancelled {
                let after = rest
                    .first()
                    .map(|s| format!(" The next one is {}.", when(*s)))
                    .unwrap_or_default();
                format!("Called off the {tag} run of {}.{after}", when(*next))
            } else {
                format!(
                    "The {tag} run of {} cannot be called off any more.",
                    when(*next)
                )
            }
        }
        (Steer::Cancel, []) => format!("{tag} has no upcoming run to call off."),
        (_, [next, ..]) => format!("{tag} is not running. The next run starts {}.", when(*next)),
        (_, []) => format!("{tag} is not running and has no upcoming run."),
    })
}

/// A short local time for replies: "20:41 GMT".
fn local_time(chat: &Chat, at: DateTime<Utc>) -> String {
    at.with_timezone(&chat.timing().timezone())
        .format("%H:%M %Z")
        .to_string()
}
