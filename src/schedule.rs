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

use chrono::{DateTime, Duration as TimeDelta, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::chats::{Chat, Hashtag, When};

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

/// The timeline of a run of `chat` starting at `start`.
pub fn timeline(chat: &Chat, start: DateTime<Utc>) -> Timeline {
    let tag = &chat.hashtag;
    let interval = delta(chat.question_interval);
    let mut posts = vec![PlannedPost {
        seq: 0,
        kind: PostKind::Intro,
        number: None,
        at: start,
        text: with_hashtag(&chat.intro, tag),
    }];
    let mut at = add(start, delta(chat.first_question_after));
    for (i, question) in chat.questions.iter().enumerate() {
        let number = u32::try_from(i + 1).unwrap_or(u32::MAX);
        posts.push(PlannedPost {
            seq: number,
            kind: PostKind::Question,
            number: Some(number),
            at,
            text: question_text(i + 1, question, tag),
        });
        at = add(at, interval);
    }
    // After the loop `at` is one interval past the last question.
    posts.push(PlannedPost {
        seq: u32::try_from(posts.len()).unwrap_or(u32::MAX),
        kind: PostKind::Closing,
        number: None,
        at,
        text: with_hashtag(&chat.closing, tag),
    });
    Timeline {
        start,
        posts,
        collect_until: add(at, delta(chat.collect_after)),
    }
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

/// Translates classic 5-field cron (`0 20 * * 4`, Sunday = 0 or 7) into a
/// schedule for the `cron` crate (seconds first, Sunday = 1).
pub fn classic_cron(expr: &str) -> Result<cron::Schedule, String> {
    parse_classic(expr).map_err(|e| e.message)
}

/// `Q<n>: <text> #<hashtag>`, the tag added only when the text lacks it.
pub fn question_text(number: usize, text: &str, tag: &Hashtag) -> String {
    with_hashtag(&format!("Q{number}: {}", text.trim()), tag)
}

/// `text` with ` #<hashtag>` appended unless it already carries the tag
/// (case-insensitive, as a whole tag: `#1QEdChatter` is another tag).
pub fn with_hashtag(text: &str, tag: &Hashtag) -> String {
    let text = text.trim();
    if has_hashtag(text, tag) {
        text.to_string()
    } else {
        format!("{text} {tag}")
    }
}

fn has_hashtag(text: &str, tag: &Hashtag) -> bool {
    let text = text.to_lowercase();
    let needle = format!("#{}", tag.as_str().to_lowercase());
    text.match_indices(&needle).any(|(i, _)| {
        text[i + needle.len()..]
            .chars()
            .next()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
    })
}

fn delta(d: std::time::Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

/// Saturating: validated chats never get near the end of time, but a
/// timeline must not panic whatever it is given.
fn add(t: DateTime<Utc>, d: TimeDelta) -> DateTime<Utc> {
    t.checked_add_signed(d).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A classic cron error, with the characters of the expression at fault
/// so `check` can point its caret inside the schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronError {
    pub message: String,
    /// Character offset into the expression, and length.
    pub start: usize,
    pub len: usize,
}

/// What every cron error's hint teaches.
pub const CRON_HINT: &str = "a schedule is `minute hour day-of-month month day-of-week`, e.g. `0 20 * * 4` = Thursdays 20:00";

struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MONTHS: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const DAYS: &[&str] = &[
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

const FIELDS: [FieldSpec; 5] = [
    FieldSpec {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
    },
    FieldSpec {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
    },
    FieldSpec {
        name: "day of month",
        min: 1,
        max: 31,
        names: &[],
    },
    FieldSpec {
        name: "month",
        min: 1,
        max: 12,
        names: MONTHS,
    },
    FieldSpec {
        name: "day of week",
        min: 0,
        max: 7,
        names: DAYS,
    },
];

/// Parses classic cron into the `cron` crate's dialect, field by field, so
/// that an error names the field and the characters at fault.
pub fn parse_classic(expr: &str) -> Result<cron::Schedule, CronError> {
    let whole = |message: String| CronError {
        message,
        start: 0,
        len: expr.chars().count(),
    };
    let trimmed = expr.trim();
    let source = match trimmed.strip_prefix('@') {
        Some(name) => shorthand(name).ok_or_else(|| {
            whole(format!(
                "unknown shorthand `{trimmed}`; use @hourly, @daily, @weekly, @monthly or @yearly"
            ))
        })?,
        None => trimmed,
    };
    let fields = words(expr, source);
    if fields.len() != 5 {
        let seconds = if fields.len() > 5 && fields.len() <= 7 {
            "; it looks like a cron with seconds: drop the first field"
        } else {
            ""
        };
        return Err(whole(format!(
            "a schedule has 5 fields (minute hour day-of-month month day-of-week), this one has {}{seconds}",
            fields.len()
        )));
    }
    let mut sets = Vec::with_capacity(5);
    for ((start, text), spec) in fields.iter().zip(&FIELDS) {
        let set = parse_field(text, spec).map_err(|mut e| {
            e.start += start;
            e
        })?;
        sets.push(set);
    }
    // Classic cron runs when *either* day field matches if both are given;
    // the cron crate requires both. Refuse rather than run on other days.
    if !fields[2].1.starts_with('*') && !fields[4].1.starts_with('*') {
        let e = whole("a schedule cannot restrict both the day of month and the day of week (classic cron would run when either matches); put `*` in one of them".into());
        return Err(e);
    }
    let dow: Vec<u32> = (0..7)
        .filter(|d| sets[4].contains(d) || (*d == 0 && sets[4].contains(&7)))
        .collect();
    let list = |set: &[u32], spec: &FieldSpec| {
        if set.len() as u32 == spec.max - spec.min + 1 {
            "*".to_string()
        } else {
            set.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
        }
    };
    let days = if dow.len() == 7 {
        "*".to_string()
    } else {
        dow.iter()
            .map(|d| (d + 1).to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let translated = format!(
        "0 {} {} {} {} {days}",
        list(&sets[0], &FIELDS[0]),
        list(&sets[1], &FIELDS[1]),
        list(&sets[2], &FIELDS[2]),
        list(&sets[3], &FIELDS[3]),
    );
    let schedule: cron::Schedule = translated
        .parse()
        .map_err(|e| whole(format!("cannot translate `{trimmed}`: {e}")))?;
    // February 30th and friends: valid fields, never a date.
    let epoch = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).single();
    if epoch.is_some_and(|t| schedule.after(&t).next().is_none()) {
        return Err(whole(format!(
            "`{trimmed}` never happens: no month has that day"
        )));
    }
    Ok(schedule)
}

fn shorthand(name: &str) -> Option<&'static str> {
    Some(match name.to_lowercase().as_str() {
        "yearly" | "annually" => "0 0 1 1 *",
        "monthly" => "0 0 1 * *",
        "weekly" => "0 0 * * 0",
        "daily" | "midnight" => "0 0 * * *",
        "hourly" => "0 * * * *",
        _ => return None,
    })
}

/// The whitespace-separated words of `source` with their character offsets
/// in `expr` (the same text unless `source` is a shorthand's expansion).
fn words<'a>(expr: &str, source: &'a str) -> Vec<(usize, &'a str)> {
    let base = expr.find(source).map(|b| expr[..b].chars().count());
    let mut out = Vec::new();
    let mut start = None;
    for (i, (byte, c)) in source.char_indices().enumerate() {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some((i, byte)),
            (true, Some((ci, b))) => {
                out.push((base.map_or(0, |o| o + ci), &source[b..byte]));
                start = None;
            }
            _ => {}
        }
    }
    if let Some((ci, b)) = start {
        out.push((base.map_or(0, |o| o + ci), &source[b..]));
    }
    out
}

/// The values one field allows, sorted.
fn parse_field(text: &str, spec: &FieldSpec) -> Result<Vec<u32>, CronError> {
    let mut values = std::collections::BTreeSet::new();
    let mut offset = 0;
    for item in text.split(',') {
        let len = item.chars().count();
        let at = |message: String| CronError {
            message,
            start: offset,
            len: len.max(1),
        };
        if item.is_empty() {
            return Err(at(format!("the {} field has an empty item", spec.name)));
        }
        let (base, step) = match item.split_once('/') {
            Some((base, step)) => (base, Some(step)),
            None => (item, None),
        };
        let step = match step {
            None => 1,
            Some(s) => match s.parse::<u32>() {
                Ok(n) if (1..=spec.max).contains(&n) => n,
                _ => {
                    return Err(at(format!(
                        "step `{s}` in the {} field should be a number from 1 to {}",
                        spec.name, spec.max
                    )))
                }
            },
        };
        let (low, high) = if base == "*" {
            (spec.min, spec.max)
        } else if let Some((a, b)) = base.split_once('-') {
            let (a, b) = (value(a, spec).map_err(at)?, value(b, spec).map_err(at)?);
            if a > b {
                return Err(at(format!(
                    "the range `{base}` in the {} field goes backwards",
                    spec.name
                )));
            }
            (a, b)
        } else {
            let a = value(base, spec).map_err(at)?;
            // `5/15` is Vixie cron for `5-59/15`.
            (a, if item.contains('/') { spec.max } else { a })
        };
        values.extend((low..=high).step_by(step as usize));
        offset += len + 1;
    }
    Ok(values.into_iter().collect())
}

fn value(token: &str, spec: &FieldSpec) -> Result<u32, String> {
    let range = format!("{}-{}", spec.min, spec.max);
    if let Ok(n) = token.parse::<u32>() {
        return if (spec.min..=spec.max).contains(&n) {
            Ok(n)
        } else {
            Err(format!("{} `{token}` is out of range {range}", spec.name))
        };
    }
    let lower = token.to_lowercase();
    let named = spec
        .names
        .iter()
        .position(|name| lower.len() >= 3 && name.starts_with(&lower));
    match named {
        Some(i) => Ok(i as u32 + spec.min),
        None if spec.names.is_empty() => {
            Err(format!("{} `{token}` is not a number {range}", spec.name))
        }
        None => Err(format!(
            "{} `{token}` is neither a number {range} nor a name like `{}`",
            spec.name,
            &spec.names[0][..3]
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chats::test_chat;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test time")
            .with_timezone(&Utc)
    }

    fn weekly(expr: &str, zone: &str) -> Chat {
        let schedule = Box::new(classic_cron(expr).expect("test cron"));
        let when = When::Recurring {
            expr: expr.into(),
            schedule,
        };
        test_chat(when, zone.parse().expect("test zone"))
    }

    fn starts(expr: &str, zone: &str, after: &str, n: usize) -> Vec<String> {
        next_starts(&weekly(expr, zone), utc(after), n)
            .iter()
            .map(|t| t.to_rfc3339())
            .collect()
    }

    #[test]
    fn classic_weekday_numbers_follow_unix_cron() {
        // 2026-12-03 is a Thursday; every case starts looking on Monday 2026-11-30.
        let cases = [
            ("0 20 * * 4", "2026-12-03T20:00:00+00:00", "4 is Thursday"),
            ("0 20 * * 0", "2026-12-06T20:00:00+00:00", "0 is Sunday"),
            ("0 20 * * 7", "2026-12-06T20:00:00+00:00", "7 is Sunday too"),
            ("0 20 * * 6", "2026-12-05T20:00:00+00:00", "6 is Saturday"),
            ("0 20 * * thu", "2026-12-03T20:00:00+00:00", "names work"),
            (
                "0 20 * * 5-7",
                "2026-12-04T20:00:00+00:00",
                "ranges reach Sunday",
            ),
            ("0 8 * * 1-5", "2026-11-30T08:00:00+00:00", "weekdays"),
            ("0 20 * * 3,4", "2026-12-02T20:00:00+00:00", "lists"),
        ];
        for (expr, expected, why) in cases {
            let got = starts(expr, "UTC", "2026-11-30T00:00:00Z", 1);
            assert_eq!(got, [expected], "{expr}: {why}");
        }
    }

    #[test]
    fn one_to_five_covers_monday_to_friday_only() {
        let got = starts("0 8 * * 1-5", "UTC", "2026-11-29T00:00:00Z", 6);
        let days: Vec<&str> = got.iter().map(|s| &s[..10]).collect();
        assert_eq!(
            days,
            [
                "2026-11-30",
                "2026-12-01",
                "2026-12-02",
                "2026-12-03",
                "2026-12-04",
                "2026-12-07"
            ]
        );
    }

    #[test]
    fn shorthands_and_steps_are_understood() {
        let cases = [
            ("@weekly", "2026-12-06T00:00:00+00:00"),
            ("@daily", "2026-12-01T00:00:00+00:00"),
            ("*/20 9 * * *", "2026-11-30T09:00:00+00:00"),
            ("30 9 1 dec *", "2026-12-01T09:30:00+00:00"),
        ];
        for (expr, expected) in cases {
            assert_eq!(
                starts(expr, "UTC", "2026-11-30T00:00:00Z", 1),
                [expected],
                "{expr}"
            );
        }
    }

    #[test]
    fn bad_cron_names_the_field_at_fault() {
        let cases = [
            ("0 25 * * 4", "hour `25` is out of range 0-23", 2, 2),
            ("0 20 * * 8", "day of week `8` is out of range 0-7", 9, 1),
            ("0 20 * * fr", "day of week `fr` is neither a number 0-7 nor a name like `sun`", 9, 2),
            ("x 20 * * 4", "minute `x` is not a number 0-59", 0, 1),
            ("0 20 * 13 4", "month `13` is out of range 1-12", 7, 2),
            ("0 20 * * 5-1", "the range `5-1` in the day of week field goes backwards", 9, 3),
            ("*/0 20 * * 4", "step `0` in the minute field should be a number from 1 to 59", 0, 3),
            ("0 20 * *", "a schedule has 5 fields (minute hour day-of-month month day-of-week), this one has 4", 0, 8),
            ("0 0 20 * * 4", "a schedule has 5 fields (minute hour day-of-month month day-of-week), this one has 6; it looks like a cron with seconds: drop the first field", 0, 12),
            ("0 20 1 * 4", "a schedule cannot restrict both the day of month and the day of week (classic cron would run when either matches); put `*` in one of them", 0, 10),
            ("0 0 30 2 *", "`0 0 30 2 *` never happens: no month has that day", 0, 10),
            ("@reboot", "unknown shorthand `@reboot`; use @hourly, @daily, @weekly, @monthly or @yearly", 0, 7),
            ("0 20,,21 * * 4", "the hour field has an empty item", 5, 1),
        ];
        for (expr, message, start, len) in cases {
            let e = parse_classic(expr).expect_err(expr);
            assert_eq!(
                (e.message.as_str(), e.start, e.len),
                (message, start, len),
                "{expr}"
            );
        }
    }

    #[test]
    fn a_weekly_london_chat_keeps_its_local_time_across_both_changes() {
        // BST starts 2026-03-29 and ends 2026-10-25.
        let spring = starts("0 20 * * 4", "Europe/London", "2026-03-20T00:00:00Z", 2);
        assert_eq!(
            spring,
            ["2026-03-26T20:00:00+00:00", "2026-04-02T19:00:00+00:00"]
        );
        let autumn = starts("0 20 * * 4", "Europe/London", "2026-10-20T00:00:00Z", 2);
        assert_eq!(
            autumn,
            ["2026-10-22T19:00:00+00:00", "2026-10-29T20:00:00+00:00"]
        );
    }

    #[test]
    fn a_weekly_new_york_chat_keeps_its_local_time_across_both_changes() {
        // EDT starts 2026-03-08 and ends 2026-11-01.
        let spring = starts("0 20 * * 4", "America/New_York", "2026-03-01T00:00:00Z", 2);
        assert_eq!(
            spring,
            ["2026-03-06T01:00:00+00:00", "2026-03-13T00:00:00+00:00"]
        );
        let autumn = starts("0 20 * * 4", "America/New_York", "2026-10-25T00:00:00Z", 2);
        assert_eq!(
            autumn,
            ["2026-10-30T00:00:00+00:00", "2026-11-06T01:00:00+00:00"]
        );
    }

    #[test]
    fn a_time_skipped_by_spring_forward_runs_when_the_gap_ends() {
        // New York has no 02:30 on 2026-03-08: the chat runs at 03:00 EDT.
        let ny = starts("30 2 * * 0", "America/New_York", "2026-03-02T00:00:00Z", 3);
        assert_eq!(
            ny,
            [
                "2026-03-08T07:00:00+00:00",
                "2026-03-15T06:30:00+00:00",
                "2026-03-22T06:30:00+00:00"
            ]
        );
        // London has no 01:30 on 2026-03-29: the chat runs at 02:00 BST.
        let london = starts("30 1 * * 0", "Europe/London", "2026-03-23T00:00:00Z", 2);
        assert_eq!(
            london,
            ["2026-03-29T01:00:00+00:00", "2026-04-05T00:30:00+00:00"]
        );
    }

    #[test]
    fn a_time_repeated_by_fall_back_runs_once_at_the_first() {
        // 01:30 happens twice in New York on 2026-11-01 (EDT, then EST).
        let got = starts("30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", 3);
        assert_eq!(
            got,
            [
                "2026-11-01T05:30:00+00:00",
                "2026-11-02T06:30:00+00:00",
                "2026-11-03T06:30:00+00:00"
            ]
        );
        // Asked from between the two 01:30s, the repeat is not a new run.
        let between = starts("30 1 * * *", "America/New_York", "2026-11-01T06:00:00Z", 1);
        assert_eq!(between, ["2026-11-02T06:30:00+00:00"]);
    }

    #[test]
    fn an_hourly_chat_skips_nothing_and_doubles_nothing_around_the_gap() {
        let got = starts("30 * * * *", "America/New_York", "2026-03-08T05:00:00Z", 3);
        // 00:30 EST, 01:30 EST, then 03:00 EDT (for 02:30) and 03:30 EDT.
        assert_eq!(
            got,
            [
                "2026-03-08T05:30:00+00:00",
                "2026-03-08T06:30:00+00:00",
                "2026-03-08T07:00:00+00:00"
            ]
        );
        let next = starts("30 * * * *", "America/New_York", "2026-03-08T07:00:00Z", 1);
        assert_eq!(next, ["2026-03-08T07:30:00+00:00"]);
    }

    #[test]
    fn a_one_off_chat_starts_once_and_only_in_the_future() {
        let chat = test_chat(When::Once(utc("2026-12-03T20:00:00Z")), Tz::UTC);
        assert_eq!(
            next_starts(&chat, utc("2026-12-01T00:00:00Z"), 5),
            [utc("2026-12-03T20:00:00Z")]
        );
        assert!(next_starts(&chat, utc("2026-12-03T20:00:00Z"), 5).is_empty());
        assert!(next_starts(&chat, utc("2026-12-01T00:00:00Z"), 0).is_empty());
    }

    #[test]
    fn the_timeline_spaces_questions_and_tags_every_post() {
        let mut chat = weekly("0 20 * * 4", "Europe/London");
        chat.questions = vec!["First?".into(), "Second? #1qedchat".into(), "Third?".into()];
        chat.intro = "Welcome to #1QEdChat!".into();
        chat.closing = "Thanks!".into();
        let t = timeline(&chat, utc("2026-12-03T20:00:00Z"));
        let got: Vec<(u32, PostKind, Option<u32>, String, &str)> = t
            .posts
            .iter()
            .map(|p| {
                (
                    p.seq,
                    p.kind,
                    p.number,
                    p.at.format("%H:%M").to_string(),
                    p.text.as_str(),
                )
            })
            .collect();
        let expected = [
            (0, PostKind::Intro, None, "20:00", "Welcome to #1QEdChat!"),
            (
                1,
                PostKind::Question,
                Some(1),
                "20:05",
                "Q1: First? #1QEdChat",
            ),
            (
                2,
                PostKind::Question,
                Some(2),
                "20:15",
                "Q2: Second? #1qedchat",
            ),
            (
                3,
                PostKind::Question,
                Some(3),
                "20:25",
                "Q3: Third? #1QEdChat",
            ),
            (4, PostKind::Closing, None, "20:35", "Thanks! #1QEdChat"),
        ];
        let expected: Vec<_> = expected
            .into_iter()
            .map(|(s, k, n, at, text)| (s, k, n, at.to_string(), text))
            .collect();
        assert_eq!(got, expected);
        assert_eq!(t.collect_until, utc("2026-12-03T21:05:00Z"));
    }

    #[test]
    fn a_longer_tag_is_not_the_chat_tag() {
        let tag = Hashtag::parse("1QEdChat").expect("tag");
        assert_eq!(
            with_hashtag("Join #1QEdChatter", &tag),
            "Join #1QEdChatter #1QEdChat"
        );
        assert_eq!(with_hashtag("Join #1qedchat.", &tag), "Join #1qedchat.");
    }
}
