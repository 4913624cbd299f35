//! The recap as Markdown ready to paste into a blog post: a title, the
//! date in the chat's zone, a section per question with its answers quoted
//! in time order, then who took part and the counts. Participant text is
//! escaped so that it reads as written and cannot inject links or HTML.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::text::{self, escape_markdown_line as esc};
use super::Recap;

pub fn render(recap: &Recap) -> String {
    let tz = text::zone(recap);
    let mut out = String::with_capacity(4096);
    let hashtag = format!("#{}", esc(recap.hashtag.trim_start_matches('#')));
    let _ = writeln!(out, "# {hashtag} chat recap\n");
    if let Some((start, end)) = text::span(recap) {
        let _ = writeln!(out, "{}\n", when(start, end, tz));
    }
    for question in &recap.questions {
        let _ = writeln!(
            out,
            "## Q{}: {}\n",
            question.number,
            one_line(&question.text)
        );
        if let Some(posted) = question.posted_at {
            let time = text::clock(posted, tz);
            let time = match question.url.as_deref().and_then(text::markdown_url) {
                Some(url) => format!("[{time}]({url})"),
                None => time,
            };
            let _ = writeln!(out, "*Asked at {time}*\n");
        }
        let answers = text::answers_in_order(question);
        if answers.is_empty() {
            out.push_str("*No answers.*\n\n");
        }
        for a in answers {
            let byline = Byline {
                name: &a.display_name,
                account: &a.account,
                url: &a.url,
                at: a.created_at,
                edited: a.edited_at,
                top: a.top.then_some((a.favourites, a.boosts)),
            };
            quote(&mut out, &a.text, &byline, tz);
        }
    }
    if !recap.other_posts.is_empty() {
        out.push_str("## Other posts\n\n");
        for p in &recap.other_posts {
            let byline = Byline {
                name: &p.display_name,
                account: &p.account,
                url: &p.url,
                at: p.created_at,
                edited: p.edited_at,
                top: None,
            };
            quote(&mut out, &p.text, &byline, tz);
        }
    }
    participants(&mut out, recap);
    stats(&mut out, recap);
    out
}

/// `**Thursday 4 June 2026**, 20:00–21:10 BST (Europe/London)`
fn when(start: DateTime<Utc>, end: Option<DateTime<Utc>>, tz: Tz) -> String {
    let mut line = format!(
        "**{}**, {}",
        text::long_date(start, tz),
        text::clock(start, tz)
    );
    if let Some(end) = end {
        let _ = write!(line, "–{}", text::clock(end, tz));
    }
    let _ = write!(
        line,
        " {} ({})",
        text::zone_abbrev(start, tz),
        esc(tz.name())
    );
    line
}

fn one_line(s: &str) -> String {
    esc(&s.split_whitespace().collect::<Vec<_>>().join(" "))
}

struct Byline<'a> {
    name: &'a str,
    account: &'a str,
    url: &'a str,
    at: DateTime<Utc>,
    edited: Option<DateTime<Utc>>,
    /// A top answer's favourites and boosts.
    top: Option<(u64, u64)>,
}

/// A post as a blockquote: its lines kept (CommonMark hard breaks), its
/// paragraphs kept, and the author, time, link and edit marker beneath.
fn quote(out: &mut String, body: &str, by: &Byline, tz: Tz) {
    for (i, paragraph) in text::paragraphs(body).iter().enumerate() {
        if i > 0 {
            out.push_str(">\n");
        }
        let lines: Vec<String> = paragraph.iter().map(|l| esc(l)).collect();
        let _ = writeln!(out, "> {}", lines.join("\\\n> "));
    }
    let time = text::clock(by.at, tz);
    let time = match text::markdown_url(by.url) {
        Some(url) => format!("[{time}]({url})"),
        None => time,
    };
    let _ = write!(out, ">\n> — {} · {time}", author(by.name, by.account));
    if let Some(edited) = by.edited {
        let _ = write!(out, " · *edited {}*", text::clock(edited, tz));
    }
    if let Some((favourites, boosts)) = by.top {
        let _ = write!(
            out,
            " · **★ top answer** ({})",
            text::reactions(favourites, boosts)
        );
    }
    out.push_str("\n\n");
}

/// `**Alice** (@alice@example.social)`, or `**@alice@example.social**`.
fn author(display_name: &str, account: &str) -> String {
    if account.is_empty() {
        // A post hidden at its author's request: no handle to show.
        return format!("*{}*", esc(display_name));
    }
    match text::display_name(display_name) {
        Some(name) => format!("**{}** (@{})", esc(name), esc(account)),
        None => format!("**@{}**", esc(account)),
    }
}

fn participants(out: &mut String, recap: &Recap) {
    let people = text::participants_ranked(recap);
    if people.is_empty() {
        return;
    }
    out.push_str("## Participants\n\n");
    for p in people {
        let _ = writeln!(
            out,
            "- {}: {} {}, {} {}{}",
            author(&p.display_name, &p.account),
            p.answers,
            plural(p.answers as usize, "answer", "answers"),
            p.posts,
            plural(p.posts as usize, "post", "posts"),
            if p.first_time { " · first chat" } else { "" },
        );
    }
    out.push('\n');
}

fn stats(out: &mut String, recap: &Recap) {
    let stats = &recap.stats;
    out.push_str("## Stats\n\n");
    let _ = writeln!(
        out,
        "- Participants: {} ({} first-time, {} returning)",
        stats.participants, stats.first_timers, stats.returning
    );
    let _ = writeln!(out, "- Posts answering a question: {}", stats.answers);
    let _ = writeln!(out, "- Other posts: {}", stats.other_posts);
    let _ = writeln!(out, "- Edited posts: {}", stats.edited);
    let _ = writeln!(out, "- Deleted posts: {}", stats.deleted);
    if !stats.per_question.is_empty() {
        out.push_str("- Answers per question:\n");
        for q in &stats.per_question {
            let _ = writeln!(out, "  - Q{}: {}", q.number, q.answers);
        }
    }
    if !stats.top_contributors.is_empty() {
        out.push_str("- Top contributors:\n");
        for c in &stats.top_contributors {
            let _ = writeln!(
                out,
                "  - {}: {} {}",
                author(&c.display_name, &c.account),
                c.answers,
                plural(c.answers as usize, "answer", "answers"),
            );
        }
    }
}

pub(super) fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 {
        one
    } else {
        many
    }
}
