//! Helpers shared by the recap renderers: the chat's clock, answers in
//! reading order, counts, and the escaping every participant string goes
//! through. Pure functions of a [`Recap`]; no I/O.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::{Answer, Contributor, Participant, QuestionCount, QuestionRecap, Recap, Stats};

/// The chat's zone; UTC when the recap names none or an unknown one, so
/// that an old row with a retired zone name still renders.
pub fn zone(recap: &Recap) -> Tz {
    recap.timezone.parse().unwrap_or(Tz::UTC)
}

/// `Thursday 4 June 2026`
pub fn long_date(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%A %-d %B %Y").to_string()
}

/// `20:06`
pub fn clock(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%H:%M").to_string()
}

/// `BST`, the zone's abbreviation at that moment.
pub fn zone_abbrev(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%Z").to_string()
}

/// `2026-06-04T19:06:00Z`, for machines (CSV, `datetime=` attributes).
pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// When the run began and ended: the recorded times, else the span of the
/// posts themselves (a run interrupted before its intro was stored).
pub fn span(recap: &Recap) -> Option<(DateTime<Utc>, Option<DateTime<Utc>>)> {
    let posted = recap.questions.iter().filter_map(|q| q.posted_at);
    let answered = recap
        .questions
        .iter()
        .flat_map(|q| &q.answers)
        .map(|a| a.created_at);
    let start = recap
        .run
        .started_at
        .or_else(|| posted.chain(answered).min())?;
    Some((start, recap.run.ended_at))
}

/// A question's answers in the order they were posted.
pub fn answers_in_order(question: &QuestionRecap) -> Vec<&Answer> {
    let mut answers: Vec<&Answer> = question.answers.iter().collect();
    answers.sort_by(|a, b| (a.created_at, &a.status_id).cmp(&(b.created_at, &b.status_id)));
    answers
}

/// Most answers first, then most posts, then by handle: a stable order
/// for the "who took part" lists.
pub fn participants_ranked(recap: &Recap) -> Vec<&Participant> {
    let mut people: Vec<&Participant> = recap.participants.iter().collect();
    people.sort_by(|a, b| (b.answers, b.posts, &a.account).cmp(&(a.answers, a.posts, &b.account)));
    people
}

pub const TOP_CONTRIBUTORS: usize = 5;

/// The counts of a recap whose questions, participants and other posts
/// are filled in; `deleted` comes from the store, as deleted posts are
/// not in the recap.
pub fn stats(recap: &Recap, deleted: usize) -> Stats {
    let all = recap.questions.iter().flat_map(|q| &q.answers);
    let answers: BTreeSet<&str> = all.clone().map(|a| a.status_id.as_str()).collect();
    let edited: BTreeSet<&str> = all
        .filter(|a| a.edited_at.is_some())
        .map(|a| a.status_id.as_str())
        .chain(
            recap
                .other_posts
                .iter()
                .filter(|p| p.edited_at.is_some())
                .map(|p| p.status_id.as_str()),
        )
        .collect();
    let first_timers = recap.participants.iter().filter(|p| p.first_time).count();
    Stats {
        participants: recap.participants.len(),
        answers: answers.len(),
        other_posts: recap.other_posts.len(),
        edited: edited.len(),
        deleted,
        first_timers,
        returning: recap.participants.len() - first_timers,
        per_question: recap
            .questions
            .iter()
            .map(|q| QuestionCount {
                number: q.number,
                answers: q.answers.len(),
            })
            .collect(),
        top_contributors: participants_ranked(recap)
            .into_iter()
            .filter(|p| p.answers > 0)
            .take(TOP_CONTRIBUTORS)
            .map(|p| Contributor {
                account: p.account.clone(),
                display_name: p.display_name.clone(),
                answers: p.answers,
                posts: p.posts,
            })
            .collect(),
    }
}

/// The display name, unless it is blank (then renderers show the handle
/// alone rather than the handle twice).
pub fn display_name(display_name: &str) -> Option<&str> {
    Some(display_name.trim()).filter(|name| !name.is_empty())
}

/// Up to two letters for an avatar: the first letter or digit of the
/// first two words of the name (emoji and punctuation skipped).
pub fn initials(name: &str) -> String {
    let letters: String = name
        .split_whitespace()
        .filter_map(|word| word.chars().find(|c| c.is_alphanumeric()))
        .take(2)
        .flat_map(char::to_uppercase)
        .collect();
    if letters.is_empty() {
        "?".into()
    } else {
        letters
    }
}

/// The URL, normalised, when it is an absolute http(s) URL; anything else
/// (`javascript:`, `data:`, relative, garbage) is not linked at all.
pub fn http_url(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw.trim()).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| url.into())
}

/// Text safe inside HTML elements and double- or single-quoted attributes.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Controls other than line breaks have no business in a page.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// One line of participant text as inert Markdown: every character that
/// could open a link, image, HTML, code or emphasis is backslash-escaped,
/// and so is whatever would make the line a heading, list or rule.
pub fn escape_markdown_line(line: &str) -> String {
    let line = line.trim_start();
    let mut out = String::with_capacity(line.len() + 8);
    if line.starts_with(['#', '-', '+', '=']) {
        out.push('\\');
    }
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    for (i, c) in line.chars().enumerate() {
        let list_marker = digits > 0 && i == digits && matches!(c, '.' | ')');
        if list_marker
            || matches!(
                c,
                '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&'
            )
        {
            out.push('\\');
        }
        if c.is_control() {
            out.push('\u{FFFD}');
        } else {
            out.push(c);
        }
    }
    out
}

/// A URL as a Markdown link destination: only http(s), with the characters
/// that could end the destination or the link percent-encoded.
pub fn markdown_url(raw: &str) -> Option<String> {
    let url = http_url(raw)?;
    let mut out = String::with_capacity(url.len());
    for c in url.chars() {
        if c.is_ascii_alphanumeric() || "-._~:/?#@!$&'*+,;=%".contains(c) {
            out.push(c);
        } else {
            let mut buf = [0; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    Some(out)
}

/// Paragraphs of plain text (split at blank lines), each a list of lines.
pub fn paragraphs(text: &str) -> Vec<Vec<&str>> {
    let mut paragraphs = vec![];
    let mut current = vec![];
    for line in text.lines().map(str::trim_end) {
        if line.trim().is_empty() {
            if !current.is_empty() {
                paragraphs.push(std::mem::take(&mut current));
            }
        } else {
            current.push(line);
        }
    }
    if !current.is_empty() {
        paragraphs.push(current);
    }
    paragraphs
}

/// "5 favourites, 1 boost": a top answer's reactions, in words.
pub(crate) fn reactions(favourites: u64, boosts: u64) -> String {
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    format!(
        "{}, {}",
        plural(favourites, "favourite", "favourites"),
        plural(boosts, "boost", "boosts")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_escaping_leaves_nothing_live() {
        let cases = [
            ("[x](javascript:alert(1))", "\\[x\\](javascript:alert(1))"),
            ("<img src=x>", "\\<img src=x\\>"),
            ("# heading", "\\# heading"),
            ("1. item", "1\\. item"),
            ("- item", "\\- item"),
            (
                "*a* _b_ `c` ~d~ |e| &amp;",
                "\\*a\\* \\_b\\_ \\`c\\` \\~d\\~ \\|e\\| \\&amp;",
            ),
            ("ends with \\", "ends with \\\\"),
            ("    code", "code"),
        ];
        for (input, expected) in cases {
            assert_eq!(escape_markdown_line(input), expected, "{input}");
        }
    }

    #[test]
    fn only_http_urls_are_linked() {
        assert_eq!(http_url("javascript:alert(1)"), None);
        assert_eq!(http_url("data:text/html,x"), None);
        assert_eq!(http_url("/relative"), None);
        assert_eq!(
            markdown_url("https://x.example/a b(c)<d>").as_deref(),
            Some("https://x.example/a%20b%28c%29%3Cd%3E")
        );
    }

    #[test]
    fn initials_skip_emoji_and_punctuation() {
        assert_eq!(initials("Alice Example"), "AE");
        assert_eq!(initials("🎉 party \"><b>Eve</b>"), "PB");
        assert_eq!(initials("🎉"), "?");
        assert_eq!(initials("ليلى"), "ل");
    }
}
