//! Classic 5-field cron as moderators write it (`0 20 * * 4`, Sunday = 0
//! or 7), parsed field by field and translated for the `cron` crate. Pure
//! parsing of a chats.yaml value; `schedule` evaluates the result.

use chrono::{TimeZone, Utc};

/// Translates classic 5-field cron (`0 20 * * 4`, Sunday = 0 or 7) into a
/// schedule for the `cron` crate (seconds first, Sunday = 1).
pub fn classic_cron(expr: &str) -> Result<cron::Schedule, String> {
    parse_classic(expr).map_err(|e| e.message)
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
