//! When things happen: a chat's run starts (cron in the chat's zone, or a
//! one-off start) and the timeline of posts inside one run. Pure functions:
//! no clock, no I/O. The cron dialect moderators write (classic 5-field,
//! Sunday = 0 or 7) is translated here for the `cron` crate.
//!
//! Daylight saving: the cron is evaluated on the chat's wall clock, so a
//! weekly 20:00 chat stays at 20:00 local and moves in UTC. A wall-clock
//! time that does not exist (02:30 on a spring-forward night) runs at the
//! end of the gap (03:00 local): the chat still happens that day, as close
//! to its time as the clock allows, and runs stay in order. A time that
//! happens twice (01:30 on a fall-back night) runs once, at the first.

//!
//! The classic cron dialect is parsed by `chats` (it is a value of chats.yaml)
//! and re-exported here. Submodules: `content` (what a run posts:
//! its session, texts and reminders), `timeline` (when each post goes out),
//! `plan` (a run's timeline with its bodies, keys and images, made once).

mod content;
mod plan;
#[cfg(test)]
mod tests;
mod timeline;

pub use crate::chats::{classic_cron, parse_classic, CronError, CRON_HINT};
pub use content::{
    content, content_of, human, placeholders, question_text, session_for, with_hashtag, RunContent,
    REMINDER_PLACEHOLDERS, TEXT_PLACEHOLDERS,
};
pub use plan::{PlanPost, RunPlan};
pub use timeline::timeline;

use chrono::{DateTime, Duration as TimeDelta, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::chats::{Chat, When};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PostKind {
    Intro,
    Question,
    Closing,
    /// Before the start: "#tag starts in 15 minutes…".
    Reminder,
}

/// One post of a run's timeline. `seq`: 0 intro, 1..=n questions, n+1
/// closing, n+2.. reminders in the order `reminders:` lists them.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedPost {
    pub seq: u32,
    pub kind: PostKind,
    /// The question number (1-based) for questions.
    pub number: Option<u32>,
    pub at: DateTime<Utc>,
    /// Exactly what will be posted (hashtag included).
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    pub start: DateTime<Utc>,
    pub posts: Vec<PlannedPost>,
    /// The run stops collecting answers at this time.
    pub collect_until: DateTime<Utc>,
}

/// The next `n` run starts strictly after `after` (a one-off chat has at
/// most one). With `require_session`, only dates that have a session run;
/// days of `skip_dates` never do.
pub fn next_starts(chat: &Chat, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
    next_slots(chat, after, n)
        .into_iter()
        .filter(|s| !s.skipped)
        .map(|s| s.start)
        .collect()
}

/// A start of the schedule: a run, or one `skip_dates` calls off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub start: DateTime<Utc>,
    /// Its day (in the chat's zone) is one of `skip_dates`.
    pub skipped: bool,
}

/// [`next_starts`] with the starts `skip_dates` removed before the last of
/// them, in time order, so that `plan` and calendars can say "skipped".
pub fn next_slots(chat: &Chat, after: DateTime<Utc>, n: usize) -> Vec<Slot> {
    let tz = chat.timing().timezone();
    let day = |t: DateTime<Utc>| t.with_timezone(&tz).date_naive();
    let last_session = chat.timing().sessions().last().map(|s| s.date);
    let require = chat.timing().require_session();
    if require && last_session.is_none() {
        return Vec::new();
    }
    scheduled(chat, after, n, |t| {
        if require && last_session.is_some_and(|last| day(t) > last) {
            Step::Stop
        } else if require && session_for(chat, t).is_none() {
            // Not a run at all, so not a skipped one either.
            Step::Pass
        } else if chat.timing().skips(day(t)) {
            Step::Skipped
        } else {
            Step::Run
        }
    })
}

/// Whether the schedule has a run on `day` (in the chat's zone), session
/// or not: `check` warns about sessions dated on no run.
pub fn runs_on(chat: &Chat, day: NaiveDate) -> bool {
    let tz = chat.timing().timezone();
    let Some(midnight) = day.and_hms_opt(0, 0, 0).and_then(|t| resolve(tz, t)) else {
        return false;
    };
    let local_day = |t: DateTime<Utc>| t.with_timezone(&tz).date_naive();
    let found = scheduled(chat, midnight - TimeDelta::seconds(1), 1, |t| {
        if local_day(t) > day {
            Step::Stop
        } else {
            Step::Run
        }
    });
    found.first().is_some_and(|s| local_day(s.start) == day)
}

/// What [`scheduled`] does with a start.
enum Step {
    /// A run: kept, and counted towards `n`.
    Run,
    /// Kept as a skipped slot, not counted.
    Skipped,
    /// Left out.
    Pass,
    /// Left out, and nothing after it runs.
    Stop,
}

impl Step {
    fn slot(&self, start: DateTime<Utc>) -> Option<Slot> {
        match self {
            Step::Run => Some(Slot {
                start,
                skipped: false,
            }),
            Step::Skipped => Some(Slot {
                start,
                skipped: true,
            }),
            Step::Pass | Step::Stop => None,
        }
    }
}

/// Up to `n` runs strictly after `after`, as `step` decides, with the
/// skipped slots before the last of them.
fn scheduled(
    chat: &Chat,
    after: DateTime<Utc>,
    n: usize,
    step: impl Fn(DateTime<Utc>) -> Step,
) -> Vec<Slot> {
    let schedule = match &chat.timing().when() {
        When::Once(start) if *start > after && n > 0 => {
            return step(*start).slot(*start).into_iter().collect();
        }
        When::Once(_) => return Vec::new(),
        When::Recurring { schedule, .. } => schedule,
    };
    let tz = chat.timing().timezone();
    // The cron crate walks wall-clock times of a UTC stand-in, so it never
    // meets a gap or an overlap; `resolve` maps each to the real instant.
    // Start a little early: a shifted gap time may land after `after`.
    let local = after.with_timezone(&tz).naive_local() - TimeDelta::hours(3);
    let mut out: Vec<Slot> = Vec::with_capacity(n.min(1024));
    let mut runs = 0;
    let mut last: Option<DateTime<Utc>> = None;
    for wall in schedule
        .after(&Utc.from_utc_datetime(&local))
        .take(n + 20_000)
    {
        if runs >= n {
            break;
        }
        let Some(instant) = resolve(tz, wall.naive_utc()) else {
            continue;
        };
        // Several gap times resolve to the same instant: post once.
        if instant <= after || last.is_some_and(|l| instant <= l) {
            continue;
        }
        last = Some(instant);
        let step = step(instant);
        if matches!(step, Step::Stop) {
            break;
        }
        runs += usize::from(matches!(step, Step::Run));
        out.extend(step.slot(instant));
    }
    out
}

/// The instant of wall-clock `local` in `tz`: the first of two when the
/// clock repeats, the end of the gap when the clock skips it.
fn resolve(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    if let Some(t) = tz.from_local_datetime(&local).earliest() {
        return Some(t.with_timezone(&Utc));
    }
    // Gaps are whole minutes and at most a few hours in every zone, so the
    // first wall-clock minute that exists is where the gap ends.
    (1..=24 * 60).find_map(|m| {
        let later = local.checked_add_signed(TimeDelta::minutes(m))?;
        let t = tz.from_local_datetime(&later).earliest()?;
        Some(t.with_timezone(&Utc))
    })
}
