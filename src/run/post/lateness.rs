//! When a post is too late to go out: the `TimeAway` rule (lateness is
//! time away, not the bot's own work) and each post's give-up time. Pure
//! time arithmetic: no store, no network.

use chrono::{DateTime, Utc};

use crate::chats::Chat;
use crate::schedule::PostKind;
use crate::store::PostRow;

/// What counts as lateness: time away, not the bot's own work.
/// `late_limit` is about posts missed while hashchat was down, so a post
/// is judged at its due time, or at the end of the last time away if that
/// came after: when this process began driving the run, or a wake-up that
/// came late (the machine slept). Time spent on the bot's own work (an
/// earlier post's retries, an upload) does not count.
pub(super) struct TimeAway {
    back_at: DateTime<Utc>,
}

impl TimeAway {
    pub(super) fn since(started: DateTime<Utc>) -> Self {
        Self { back_at: started }
    }

    /// The time post due at `planned_at` is judged at; `woke_at` is when
    /// the driver woke from sleeping until it, if it had to sleep.
    pub(super) fn judged_at(
        &mut self,
        planned_at: DateTime<Utc>,
        woke_at: Option<DateTime<Utc>>,
    ) -> DateTime<Utc> {
        if let Some(woke) = woke_at {
            // A wake-up a moment after the due time is the timer's own
            // latency, not time away: a closing due exactly at the end of
            // collection (`collect_after: 0s`) was skipped as "0s late".
            if woke - planned_at > timer_slack() {
                self.back_at = self.back_at.max(woke);
            }
        }
        planned_at.max(self.back_at)
    }
}

/// How late a timer may fire before the wake-up counts as time away (the
/// machine slept, the process was stopped).
fn timer_slack() -> chrono::Duration {
    chrono::Duration::seconds(5)
}

/// The latest time a post may still go out: its planned time plus the
/// chat's `late_limit`, and never after the run ends. A reminder ("starts
/// in 15 minutes") is only true near its time: at most a tenth of its lead
/// late, and never after the start.
pub(super) fn give_up_time(
    chat: &Chat,
    post: &PostRow,
    start: DateTime<Utc>,
    run_end: DateTime<Utc>,
) -> DateTime<Utc> {
    if post.kind == PostKind::Reminder {
        let grace = (start - post.planned_at) / 10;
        return (post.planned_at + grace).min(start);
    }
    match chat.timing().late_limit() {
        Some(limit) => {
            (post.planned_at + chrono::Duration::from_std(limit).unwrap_or_default()).min(run_end)
        }
        None => run_end,
    }
}

pub(super) fn to_std(d: chrono::Duration) -> std::time::Duration {
    let secs = d.num_seconds().max(0) as u64;
    std::time::Duration::from_secs(secs)
}

#[cfg(test)]
mod tests {
    use super::TimeAway;
    use chrono::{DateTime, Duration, TimeZone, Utc};

    fn at(minutes: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, 20, 0, 0).unwrap() + Duration::minutes(minutes)
    }

    #[test]
    fn the_bots_own_work_is_not_lateness() {
        let mut away = TimeAway::since(at(0));
        assert_eq!(away.judged_at(at(5), Some(at(5))), at(5), "woke on time");
        // Q1's send took until 20:40: the closing, due at 20:35, is on time.
        assert_eq!(away.judged_at(at(35), None), at(35));
    }

    #[test]
    fn a_start_after_the_due_time_is_time_away() {
        let mut away = TimeAway::since(at(8));
        assert_eq!(away.judged_at(at(0), None), at(8));
        assert_eq!(away.judged_at(at(5), None), at(8));
        assert_eq!(away.judged_at(at(15), Some(at(15))), at(15));
    }

    /// Regression: with `collect_after: 0s` the closing is due at the run's
    /// end, and the few milliseconds the timer took made it "0s late, past
    /// the late limit".
    #[test]
    fn a_wake_up_a_moment_after_the_due_time_is_on_time() {
        let mut away = TimeAway::since(at(0));
        let late_by_the_timer = at(35) + Duration::milliseconds(3);
        assert_eq!(away.judged_at(at(35), Some(late_by_the_timer)), at(35));
    }

    #[test]
    fn posts_slept_through_are_judged_from_the_late_wake_up() {
        let mut away = TimeAway::since(at(0));
        // The machine slept from before Q1 (20:05) until 20:17.
        assert_eq!(away.judged_at(at(5), Some(at(17))), at(17));
        assert_eq!(away.judged_at(at(15), None), at(17), "Q2 too");
        assert_eq!(away.judged_at(at(25), Some(at(25))), at(25));
    }
}
