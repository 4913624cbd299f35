//! The recap as one self-contained HTML page: semantic and accessible,
//! readable on a phone and on paper, light and dark, with the counts and an
//! inline SVG chart. It loads nothing and runs nothing: no scripts, no
//! remote fonts or images (avatars are initials), and a Content Security
//! Policy that would block either anyway. Post bodies are Mastodon's HTML
//! through a strict allow-list (`sanitize`); every other participant
//! string is escaped; links are only made from http(s) URLs.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::text::{self, escape_html as esc};
use super::Recap;
use super::{charts, sanitize};

/// Small on purpose: system fonts, custom properties for light and dark,
/// and a print sheet that drops the card backgrounds.
pub(crate) const STYLE: &str = "\
:root{--bg:#fff;--fg:#1b1b1f;--muted:#5c5c66;--card:#f3f3f7;--line:#d8d8e0;--accent:#4f3fd0;--back:#c9a227}
@media (prefers-color-scheme:dark){:root{--bg:#15151a;--fg:#e8e8ee;--muted:#a6a6b3;--card:#212129;--line:#363641;--accent:#a59bff;--back:#e0bf4a}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:44rem;padding:1rem;background:var(--bg);color:var(--fg);font:1rem/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;overflow-wrap:anywhere}
h1{font-size:1.6rem;margin:.5rem 0}
h2{font-size:1.25rem;margin:2rem 0 .5rem;padding-bottom:.25rem;border-bottom:1px solid var(--line)}
a{color:var(--accent)}
.qn{color:var(--accent)}
.when,.asked,.acct,.none,.top,footer{color:var(--muted)}
.top-answer{color:var(--accent)}
.new{font-size:.75rem;padding:0 .4rem;border-radius:1rem;border:1px solid var(--accent);color:var(--accent);white-space:nowrap}
.acct,footer{font-size:.875rem}
ol.posts{list-style:none;margin:0;padding:0}
ol.posts>li{margin:.75rem 0;padding:.75rem 1rem;border-radius:.5rem;background:var(--card);break-inside:avoid}
article>header{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem}
article p{margin:.5rem 0}
.name{font-weight:600}
.avatar{display:inline-grid;place-items:center;width:2rem;height:2rem;border-radius:50%;color:#fff;font-size:.8rem;font-weight:700}
.av0{background:#4f3fd0}.av1{background:#b0306a}.av2{background:#1f7a4d}.av3{background:#a85a00}
.av4{background:#1d6fa5}.av5{background:#7a3fb0}.av6{background:#5f6b00}.av7{background:#a33a2a}
.stats{display:flex;flex-wrap:wrap;gap:.5rem;margin:0}
.stats div{min-width:7rem;padding:.5rem .75rem;border-radius:.5rem;background:var(--card)}
.stats dt{font-size:.8rem;color:var(--muted)}
.stats dd{margin:0;font-size:1.4rem;font-weight:700}
figure{margin:1rem 0}
.chart{max-width:28rem;height:auto}
.chart rect{fill:var(--accent)}
.chart rect.back{fill:var(--back)}
.chart text{fill:var(--fg);font-size:14px}
.activity text{font-size:9px}.chart line{stroke:var(--muted);stroke-dasharray:2 2}
figcaption{font-size:.875rem;color:var(--muted)}
table{width:100%;border-collapse:collapse}
th,td{padding:.35rem .5rem;border-bottom:1px solid var(--line);text-align:left}
td,thead th+th{text-align:right}
@media print{:root{--bg:#fff;--fg:#000;--muted:#444;--card:#fff;--accent:#000;--back:#999}
body{max-width:none}ol.posts>li{border:1px solid #bbb}h2{break-after:avoid}}
";

pub fn render(recap: &Recap) -> String {
    let tz = text::zone(recap);
    let hashtag = format!("#{}", recap.hashtag.trim_start_matches('#'));
    let span = text::span(recap);
    let mut out = String::with_capacity(16 * 1024);
    let date = span.map(|(start, _)| format!(" – {}", text::long_date(start, tz)));
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n<meta name=\"color-scheme\" content=\"light dark\">\n\
         <meta name=\"generator\" content=\"hashchat\">\n\
         <title>{} chat recap{}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n",
        esc(&hashtag),
        esc(date.as_deref().unwrap_or_default()),
    );
    let _ = writeln!(out, "<header>\n<h1>{} chat recap</h1>", esc(&hashtag));
    if let Some((start, end)) = span {
        let _ = writeln!(out, "<p class=\"when\">{}</p>", when(start, end, tz));
    }
    out.push_str("</header>\n<main>\n");
    summary(&mut out, recap, tz);
    for question in &recap.questions {
        question_section(&mut out, question, tz);
    }
    if !recap.other_posts.is_empty() {
        out.push_str("<section aria-labelledby=\"other\">\n<h2 id=\"other\">Other posts</h2>\n<ol class=\"posts\">\n");
        for p in &recap.other_posts {
            let post = Post {
                name: &p.display_name,
                account: &p.account,
                text: &p.text,
                html: &p.html,
                url: &p.url,
                at: p.created_at,
                edited: p.edited_at,
                top: None,
            };
            post_item(&mut out, &post, tz);
        }
        out.push_str("</ol>\n</section>\n");
    }
    participants(&mut out, recap);
    out.push_str("</main>\n<footer><p>Recap made by hashchat.</p></footer>\n</body>\n</html>\n");
    out
}

fn when(start: DateTime<Utc>, end: Option<DateTime<Utc>>, tz: Tz) -> String {
    let mut s = format!(
        "<time datetime=\"{}\">{}, {}</time>",
        text::rfc3339(start),
        text::long_date(start, tz),
        text::clock(start, tz)
    );
    if let Some(end) = end {
        let _ = write!(
            s,
            "–<time datetime=\"{}\">{}</time>",
            text::rfc3339(end),
            text::clock(end, tz)
        );
    }
    let _ = write!(
        s,
        " {} ({})",
        esc(&text::zone_abbrev(start, tz)),
        esc(tz.name())
    );
    s
}

fn summary(out: &mut String, recap: &Recap, tz: Tz) {
    let stats = &recap.stats;
    out.push_str("<section aria-labelledby=\"summary\">\n<h2 id=\"summary\">At a glance</h2>\n<dl class=\"stats\">\n");
    for (label, n) in [
        ("Participants", stats.participants),
        ("First-timers", stats.first_timers),
        ("Returning", stats.returning),
        ("Answers", stats.answers),
        ("Other posts", stats.other_posts),
        ("Edited", stats.edited),
        ("Deleted", stats.deleted),
    ] {
        let _ = writeln!(out, "<div><dt>{label}</dt><dd>{n}</dd></div>");
    }
    out.push_str("</dl>\n");
    if !stats.top_contributors.is_empty() {
        let names: Vec<String> = stats
            .top_contributors
            .iter()
            .map(|c| format!("{} ({})", author(&c.display_name, &c.account), c.answers))
            .collect();
        let _ = writeln!(
            out,
            "<p class=\"top\">Most answers: {}</p>",
            names.join(", ")
        );
    }
    charts::answers_per_question(out, &stats.per_question);
    charts::activity(out, recap, tz);
    charts::new_vs_returning(out, stats.first_timers, stats.returning);
    out.push_str("</section>\n");
}

fn question_section(out: &mut String, question: &super::QuestionRecap, tz: Tz) {
    let n = question.number;
    let _ = writeln!(
        out,
        "<section aria-labelledby=\"q{n}\">\n<h2 id=\"q{n}\"><span class=\"qn\">Q{n}</span> {}</h2>",
        esc(&question.text)
    );
    if let Some(posted) = question.posted_at {
        let time = timed(posted, tz);
        let time = match question.url.as_deref().and_then(text::http_url) {
            Some(url) => format!("<a href=\"{}\">{time}</a>", esc(&url)),
            None => time,
        };
        let _ = writeln!(out, "<p class=\"asked\">Asked at {time}</p>");
    }
    let answers = text::answers_in_order(question);
    if answers.is_empty() {
        out.push_str("<p class=\"none\">No answers.</p>\n</section>\n");
        return;
    }
    let _ = writeln!(out, "<ol class=\"posts\" aria-label=\"Answers to Q{n}\">");
    for a in answers {
        post_item(out, &Post::of(a), tz);
    }
    out.push_str("</ol>\n</section>\n");
}

struct Post<'a> {
    name: &'a str,
    account: &'a str,
    text: &'a str,
    html: &'a str,
    url: &'a str,
    at: DateTime<Utc>,
    edited: Option<DateTime<Utc>>,
    /// A top answer's favourites and boosts.
    top: Option<(u64, u64)>,
}

impl<'a> Post<'a> {
    /// An answer as the recap and the live room show it.
    fn of(a: &'a super::Answer) -> Self {
        Post {
            name: &a.display_name,
            account: &a.account,
            text: &a.text,
            html: &a.html,
            url: &a.url,
            at: a.created_at,
            edited: a.edited_at,
            top: a.top.then_some((a.favourites, a.boosts)),
        }
    }
}

fn timed(at: DateTime<Utc>, tz: Tz) -> String {
    format!(
        "<time datetime=\"{}\">{}</time>",
        text::rfc3339(at),
        text::clock(at, tz)
    )
}

fn post_item(out: &mut String, post: &Post, tz: Tz) {
    let initials = text::initials(text::display_name(post.name).unwrap_or(post.account));
    let _ = writeln!(
        out,
        "<li><article>\n<header><span class=\"avatar av{}\" aria-hidden=\"true\">{}</span> {}</header>",
        palette(post.account),
        esc(&initials),
        author(post.name, post.account),
    );
    // `dir="auto"`: a right-to-left post reads right to left, in any page.
    match sanitize::post_html(post.html) {
        Some(html) => {
            let _ = writeln!(out, "<div class=\"body\" dir=\"auto\">{html}</div>");
        }
        // No HTML stored (or none left): the plain text, escaped.
        None => {
            for paragraph in text::paragraphs(post.text) {
                let lines: Vec<String> = paragraph.iter().map(|l| esc(l)).collect();
                let _ = writeln!(out, "<p dir=\"auto\">{}</p>", lines.join("<br>\n"));
            }
        }
    }
    let time = timed(post.at, tz);
    let time = match text::http_url(post.url) {
        Some(url) => format!("<a href=\"{}\" rel=\"nofollow ugc\">{time}</a>", esc(&url)),
        None => time,
    };
    let _ = write!(out, "<footer>{time}");
    if let Some(edited) = post.edited {
        let _ = write!(
            out,
            " · <span class=\"edited\">edited {}</span>",
            timed(edited, tz)
        );
    }
    if let Some((favourites, boosts)) = post.top {
        let _ = write!(
            out,
            " · <strong class=\"top-answer\">★ Top answer</strong> ({})",
            text::reactions(favourites, boosts)
        );
    }
    out.push_str("</footer>\n</article></li>\n");
}

/// The name (isolated, so an RTL name cannot reorder what follows) and the
/// handle; the handle alone when the display name is blank.
fn author(display_name: &str, account: &str) -> String {
    if account.is_empty() {
        // A post hidden at its author's request: no handle to show.
        return format!("<span class=\"name hidden\">{}</span>", esc(display_name));
    }
    let account = esc(account);
    match text::display_name(display_name) {
        Some(name) => format!(
            "<bdi class=\"name\">{}</bdi> <span class=\"acct\">@{account}</span>",
            esc(name)
        ),
        None => format!("<bdi class=\"name\">@{account}</bdi>"),
    }
}

/// One of eight avatar colours, fixed per account so a person keeps theirs.
fn palette(account: &str) -> u32 {
    account
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
        % 8
}

fn participants(out: &mut String, recap: &Recap) {
    let people = text::participants_ranked(recap);
    if people.is_empty() {
        return;
    }
    out.push_str(
        "<section aria-labelledby=\"people\">\n<h2 id=\"people\">Participants</h2>\n<table>\n\
         <thead><tr><th scope=\"col\">Participant</th><th scope=\"col\">Answers</th><th scope=\"col\">Posts</th></tr></thead>\n<tbody>\n",
    );
    for p in people {
        let first = if p.first_time {
            " <span class=\"new\">first chat</span>"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "<tr><th scope=\"row\">{}{first}</th><td>{}</td><td>{}</td></tr>",
            author(&p.display_name, &p.account),
            p.answers,
            p.posts,
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

/// A question's answers as the live room (`crate::web`) shows them: the
/// recap's own list items, through the same sanitiser and escaping, in the
/// recap's order, each with the id the page updates it by:
/// `a-q<number>-<status id>`.
pub(crate) fn answer_items(question: &super::QuestionRecap, tz: Tz) -> Vec<(String, String)> {
    text::answers_in_order(question)
        .into_iter()
        .map(|a| {
            let id = format!("a-q{}-{}", question.number, a.status_id);
            let mut item = String::new();
            post_item(&mut item, &Post::of(a), tz);
            let item = item.replacen("<li>", &format!("<li id=\"{}\">", esc(&id)), 1);
            (id, item)
        })
        .collect()
}
