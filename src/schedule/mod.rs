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
//! Submodules: `cron` (the classic dialect), `timeline` (the posts of one
//! run).

mod cron;
#[cfg(test)]
mod tests;
mod timeline;

pub use self::cron::{classic_cron, parse_classic, CronError, CRON_HINT};
pub use timeline::{question_text, timeline, with_hashtag};

use chrono::{DateTime, Duration as TimeDelta, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::chats::{Chat, When};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PostKind {
    Intro,
    Question,
    Closing,
}

/// One post of a run's timeline. `seq`: 0 intro, 1..=n questions, n+1 closing.
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

/// The next `n` run starts strictly after `after` (a one-off chat has at most one).
pub fn next_starts(chat: &Chat, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
    let schedule = match &chat.when {
        When::Once(start) if *start > after && n > 0 => return vec![*start],
        When::Once(_) => return Vec::new(),
        When::Recurring { schedule, .. } => schedule,
    };
    let tz = chat.timezone;
    // The cron crate walks wall-clock times of a UTC stand-in, so it never
    // meets a gap or an overlap; `resolve` maps each to the real instant.
    // Start a little early: a shifted gap time may land after `after`.
    let local = after.with_timezone(&tz).naive_local() - TimeDelta::hours(3);
    let mut out: Vec<DateTime<Utc>> = Vec::with_capacity(n.min(1024));
    for wall in schedule
        .after(&Utc.from_utc_datetime(&local))
        .take(n + 20_000)
    {
        if out.len() >= n {
            break;
        }
        let Some(instant) = resolve(tz, wall.naive_utc()) else {
            continue;
        };
        // Several gap times resolve to the same instant: post once.
        if instant > after && out.last().is_none_or(|last| instant > *last) {
            out.push(instant);
        }
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
