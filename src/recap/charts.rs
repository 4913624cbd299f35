//! Inline SVG charts for the HTML pages: each an `<svg role="img">` with a
//! title and a description that says in words what the picture shows, so
//! a screen reader (or a text browser) gets the same facts. Pure string
//! building; colours come from the page's CSS custom properties.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::markdown::plural;
use super::text::{self, escape_html as esc};
use super::Recap;

/// Horizontal bars, one per question, with the numbers written on them
/// and the same numbers as the chart's text alternative.
pub fn answers_per_question(out: &mut String, counts: &[super::QuestionCount]) {
    if counts.is_empty() {
        return;
    }
    const ROW: usize = 28;
    const LABEL: usize = 44;
    const WIDTH: usize = 320;
    let max = counts.iter().map(|q| q.answers).max().unwrap_or(0).max(1);
    let height = counts.len() * ROW;
    let description: Vec<String> = counts
        .iter()
        .map(|q| {
            format!(
                "Q{}: {} {}",
                q.number,
                q.answers,
                plural(q.answers, "answer", "answers")
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "<figure>\n<svg class=\"chart\" role=\"img\" aria-labelledby=\"chart-title chart-desc\" \
         viewBox=\"0 0 {} {height}\" width=\"100%\" preserveAspectRatio=\"xMinYMin meet\">\n\
         <title id=\"chart-title\">Answers per question</title>\n<desc id=\"chart-desc\">{}</desc>",
        LABEL + WIDTH + 40,
        esc(&description.join("; ")),
    );
    for (i, q) in counts.iter().enumerate() {
        let y = i * ROW;
        let w = (q.answers * WIDTH / max).max(1);
        let _ = writeln!(
            out,
            "<text x=\"0\" y=\"{}\">Q{}</text><rect x=\"{LABEL}\" y=\"{}\" width=\"{w}\" height=\"{}\" rx=\"3\"/>\
             <text x=\"{}\" y=\"{}\">{}</text>",
            y + 19,
            q.number,
            y + 5,
            ROW - 10,
            LABEL + w + 6,
            y + 19,
            q.answers,
        );
    }
    out.push_str("</svg>\n<figcaption>Answers per question</figcaption>\n</figure>\n");
}

/// Posts per minute over the run with the question times marked: when the
/// chat was busy and how answers followed each question.
pub fn activity(out: &mut String, recap: &Recap, tz: Tz) {
    let Some((start, end)) = text::span(recap) else {
        return;
    };
    let times = post_times(recap);
    let per_minute = per_minute(&times, start, end);
    let minutes = per_minute.len();
    let Some((busiest, &peak)) = per_minute
        .iter()
        .enumerate()
        .max_by_key(|&(i, n)| (n, std::cmp::Reverse(i)))
    else {
        return;
    };
    if peak == 0 {
        return;
    }
    let asked: Vec<(u32, i64)> = recap
        .questions
        .iter()
        .filter_map(|q| Some((q.number, (q.posted_at? - start).num_minutes())))
        .collect();
    let busiest_at = start + chrono::Duration::minutes(busiest as i64);
    let description = format!(
        "{} posts over {minutes} minutes; busiest at {} with {peak} {}; {}",
        times.len(),
        text::clock(busiest_at, tz),
        plural(peak, "post", "posts"),
        asked
            .iter()
            .map(|(n, m)| format!("Q{n} asked {m} minutes in"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    let _ = writeln!(
        out,
        "<figure>\n<svg class=\"chart activity\" role=\"img\" aria-labelledby=\"act-title act-desc\" \
         viewBox=\"0 0 {} 76\" width=\"100%\" preserveAspectRatio=\"xMinYMin meet\">\n\
         <title id=\"act-title\">Posts per minute</title>\n<desc id=\"act-desc\">{}</desc>",
        minutes * 4,
        esc(&description),
    );
    minute_bars(out, &per_minute, peak);
    question_marks(out, &asked, minutes);
    out.push_str(
        "</svg>\n<figcaption>Posts per minute, questions marked</figcaption>\n</figure>\n",
    );
}

/// When each post of the run was made: every answer once (however many
/// questions it answers) and every other post.
fn post_times(recap: &Recap) -> Vec<DateTime<Utc>> {
    let mut seen = std::collections::BTreeSet::new();
    let answers = recap.questions.iter().flat_map(|q| &q.answers);
    answers
        .filter(|a| seen.insert(a.status_id.as_str()))
        .map(|a| a.created_at)
        .chain(recap.other_posts.iter().map(|p| p.created_at))
        .collect()
}

/// How many of `times` fall in each minute from `start` to the end of the
/// run or the last post, whichever is later.
fn per_minute(
    times: &[DateTime<Utc>],
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
) -> Vec<usize> {
    let last = end
        .into_iter()
        .chain(times.iter().copied())
        .max()
        .unwrap_or(start);
    // A day at most: a recap of a runaway run stays a reasonable size.
    let minutes = ((last - start).num_minutes() + 1).clamp(1, 24 * 60) as usize;
    let mut per_minute = vec![0usize; minutes];
    for t in times {
        let m = (*t - start).num_minutes();
        if let Some(slot) = usize::try_from(m).ok().and_then(|m| per_minute.get_mut(m)) {
            *slot += 1;
        }
    }
    per_minute
}

/// One bar per minute that had posts, scaled to the busiest minute.
fn minute_bars(out: &mut String, per_minute: &[usize], peak: usize) {
    for (m, &n) in per_minute.iter().enumerate().filter(|(_, &n)| n > 0) {
        let h = (n * 56 / peak).max(2);
        let _ = write!(
            out,
            "<rect x=\"{}\" y=\"{}\" width=\"3\" height=\"{h}\"/>",
            m * 4,
            60 - h
        );
    }
    out.push('\n');
}

/// A line and a label at each minute a question was asked in the chart.
fn question_marks(out: &mut String, asked: &[(u32, i64)], minutes: usize) {
    for (n, m) in asked
        .iter()
        .filter(|(_, m)| (0..minutes as i64).contains(m))
    {
        let x = m * 4 + 1;
        let _ = writeln!(
            out,
            "<line x1=\"{x}\" x2=\"{x}\" y1=\"0\" y2=\"60\"/><text x=\"{x}\" y=\"74\" text-anchor=\"middle\">Q{n}</text>"
        );
    }
}

/// One bar split in two: participants here for the first time, and those
/// who came back, with a legend that carries the numbers.
pub fn new_vs_returning(out: &mut String, first: usize, returning: usize) {
    let total = first + returning;
    if total == 0 {
        return;
    }
    const WIDTH: usize = 360;
    let first_w = first * WIDTH / total;
    let description = format!(
        "{first} first-time {}, {returning} returning; {}% new",
        plural(first, "participant", "participants"),
        (first * 100 + total / 2) / total,
    );
    let _ = writeln!(
        out,
        "<figure>\n<svg class=\"chart split\" role=\"img\" aria-labelledby=\"nvr-title nvr-desc\" \
         viewBox=\"0 0 {WIDTH} 56\" width=\"100%\" preserveAspectRatio=\"xMinYMin meet\">\n\
         <title id=\"nvr-title\">First-timers and returning participants</title>\n\
         <desc id=\"nvr-desc\">{}</desc>\n\
         <rect class=\"first\" x=\"0\" y=\"0\" width=\"{first_w}\" height=\"24\"/>\
         <rect class=\"back\" x=\"{first_w}\" y=\"0\" width=\"{}\" height=\"24\"/>\n\
         <rect class=\"first\" x=\"0\" y=\"36\" width=\"12\" height=\"12\"/><text x=\"18\" y=\"47\">{first} first-time</text>\
         <rect class=\"back\" x=\"180\" y=\"36\" width=\"12\" height=\"12\"/><text x=\"198\" y=\"47\">{returning} returning</text>\n\
         </svg>\n<figcaption>First-timers and returning participants</figcaption>\n</figure>",
        esc(&description),
        WIDTH - first_w,
    );
}

/// One run of a chat in the participation chart.
pub struct RunBar {
    /// Short, under the bar (`4 Jun`).
    pub label: String,
    pub first: usize,
    pub returning: usize,
}

/// The participation chart's column width and bar height.
const RUN_STEP: usize = 32;
const RUN_HEIGHT: usize = 120;

/// Participants per run over time, each bar split into first-timers
/// (bottom) and returning participants.
pub fn participation(out: &mut String, runs: &[RunBar]) {
    let Some(peak) = runs.iter().map(|r| r.first + r.returning).max() else {
        return;
    };
    let peak = peak.max(1);
    // At most a dozen dates under the bars, so they never overlap.
    let every = if runs.len() <= 6 {
        1
    } else {
        runs.len().div_ceil(12).max(2)
    };
    let description: Vec<String> = runs
        .iter()
        .map(|r| {
            format!(
                "{}: {} ({} new, {} returning)",
                r.label,
                r.first + r.returning,
                r.first,
                r.returning
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "<figure>\n<svg class=\"chart runs\" role=\"img\" aria-labelledby=\"runs-title runs-desc\" \
         viewBox=\"0 0 {} {}\" width=\"100%\" preserveAspectRatio=\"xMinYMin meet\">\n\
         <title id=\"runs-title\">Participants per run</title>\n<desc id=\"runs-desc\">{}</desc>",
        runs.len() * RUN_STEP,
        RUN_HEIGHT + 20,
        esc(&description.join("; ")),
    );
    run_bars(out, runs, peak, every);
    out.push_str(
        "</svg>\n<figcaption>Participants per run: first-timers, then returning</figcaption>\n</figure>\n",
    );
}

/// Each run's bar, first-timers at the bottom, with every `every`th date
/// under it.
fn run_bars(out: &mut String, runs: &[RunBar], peak: usize, every: usize) {
    for (i, run) in runs.iter().enumerate() {
        let x = i * RUN_STEP + 2;
        let first = run.first * RUN_HEIGHT / peak;
        let back = run.returning * RUN_HEIGHT / peak;
        let _ = write!(
            out,
            "<rect class=\"first\" x=\"{x}\" y=\"{}\" width=\"{}\" height=\"{first}\"/>\
             <rect class=\"back\" x=\"{x}\" y=\"{}\" width=\"{}\" height=\"{back}\"/>",
            RUN_HEIGHT - first,
            RUN_STEP - 4,
            RUN_HEIGHT - first - back,
            RUN_STEP - 4,
        );
        if i % every == 0 {
            let _ = write!(
                out,
                "<text x=\"{x}\" y=\"{}\">{}</text>",
                RUN_HEIGHT + 14,
                esc(&run.label)
            );
        }
        out.push('\n');
    }
}
