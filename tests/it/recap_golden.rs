//! Golden files for every recap format, rendered from one fixed run built
//! by hand: a dozen answers, an edit, a post answering two questions, an
//! answer without a label, an other post, right-to-left text and emoji, a
//! deleted post (counted, absent), Mastodon's HTML for mentions, hashtags
//! and links, and a participant (and their server) doing their worst with
//! HTML, Markdown, links and formulas.
//! `HASHCHAT_BLESS=1 cargo test --test it recap_golden` rewrites the files.

use std::path::PathBuf;

use chrono::{DateTime, TimeZone, Utc};
use hashchat::recap::{
    mark_top_answers, stats, Answer, Format, OtherPost, Participant, QuestionRecap, Recap, RunInfo,
    Stats,
};

const HOSTILE_NAME: &str = "\"><b>Eve</b>";

fn at(minute: u32) -> DateTime<Utc> {
    // 19:00 UTC is 20:00 in London in June (BST), so zone handling shows.
    Utc.with_ymd_and_hms(2026, 6, 4, 19, 0, 0)
        .single()
        .expect("a valid time")
        + chrono::Duration::minutes(i64::from(minute))
}

/// The HTML Mastodon makes of typed text: escaped, `<p>` per paragraph,
/// `<br>` per line.
fn mastodon_html(text: &str) -> String {
    text.split("\n\n")
        .map(|paragraph| {
            let escaped = paragraph
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;");
            format!("<p>{}</p>", escaped.replace('\n', "<br>"))
        })
        .collect()
}

fn answer(id: u32, who: (&str, &str), minute: u32, text: &str) -> Answer {
    let (account, display_name) = who;
    let user = account.split('@').next().unwrap_or_default();
    Answer {
        status_id: format!("1100{id:02}"),
        account: account.into(),
        display_name: display_name.into(),
        text: text.into(),
        html: mastodon_html(text),
        created_at: at(minute),
        edited_at: None,
        url: format!("https://mastodon.example/@{user}/1100{id:02}"),
        hidden: false,
        favourites: 0,
        boosts: 0,
        top: false,
    }
}

/// An answer by someone who opted out, as `recap::build` leaves it.
fn hidden_answer(id: u32, minute: u32) -> Answer {
    Answer {
        status_id: format!("1100{id:02}"),
        account: String::new(),
        display_name: "A participant".into(),
        text: hashchat::recap::HIDDEN.into(),
        html: String::new(),
        created_at: at(minute),
        edited_at: None,
        url: String::new(),
        hidden: true,
        favourites: 0,
        boosts: 0,
        top: false,
    }
}

fn question(number: u32, text: &str, minute: u32, answers: Vec<Answer>) -> QuestionRecap {
    QuestionRecap {
        number,
        text: text.into(),
        status_id: Some(format!("1000{number:02}")),
        url: Some(format!("https://mastodon.example/@chatbot/1000{number:02}")),
        posted_at: Some(at(minute)),
        answers,
    }
}

fn participant(
    account: &str,
    display_name: &str,
    answers: u32,
    posts: u32,
    first_time: bool,
) -> Participant {
    Participant {
        account: account.into(),
        display_name: display_name.into(),
        answers,
        posts,
        first_time,
    }
}

pub(crate) fn fixed_recap() -> Recap {
    let alice = ("alice@mastodon.example", "Alice Example");
    let bob = ("bob@social.example", "Bob 🎉");
    let carol = ("carol@mastodon.example", "Carol");
    let dan = ("dan@school.example", "");
    let eve = ("eve@evil.example", HOSTILE_NAME);
    let layla = ("layla@rtl.example", "ليلى");

    let mut edited = answer(
        1,
        alice,
        6,
        "A1: I follow people whose posts I'd share.\nThen I reply, a lot.",
    );
    edited.edited_at = Some(at(9));
    edited.favourites = 3;
    // Favourites and boosts read at the end: the three with the most are
    // top answers (`both` under each of its two questions); one with
    // fewer is not.
    let mut both = answer(5, carol, 12, "A1/A2: blogs, and the #EdChat crowd");
    (both.favourites, both.boosts) = (6, 2);
    let mut bad_link = answer(13, eve, 29, "A3: click [here](https://evil.example)");
    bad_link.url = "javascript:alert(1)".into();
    // A hostile server sends what no Mastodon would: every way to load,
    // run, restyle or escape the page.
    bad_link.html = concat!(
        r#"<p onmouseover="alert(1)">A3: click <a href="data:text/html,<script>alert(1)</script>">here</a></p>"#,
        r#"<base href="https://evil.example/"><meta http-equiv="refresh" content="0;url=https://evil.example/">"#,
        r#"<link rel="stylesheet" href="https://evil.example/x.css"><iframe src="https://evil.example/"></iframe>"#,
        r#"<form action="https://evil.example/"><input name="q"></form><svg onload="alert(1)"><image href="https://evil.example/i.png"/></svg>"#,
        r#"<object data="https://evil.example/x.swf"></object><video src="https://evil.example/v.mp4" autoplay></video>"#,
    )
    .into();
    let mut mention = answer(2, bob, 7, "@alice A1 Lists! 🎉🎉");
    mention.html = concat!(
        r#"<p><span class="h-card" translate="no"><a href="https://mastodon.example/@alice" class="u-url mention">@<span>alice</span></a></span> "#,
        "A1 Lists! 🎉🎉</p>",
    )
    .into();
    let mut hashtags = answer(
        7,
        alice,
        17,
        "A2: #1QEdChat of course\n\nAnd #edchat on Tuesdays.",
    );
    hashtags.html = concat!(
        r#"<p>A2: <a href="https://mastodon.example/tags/1QEdChat" class="mention hashtag" rel="tag">#<span>1QEdChat</span></a> of course</p>"#,
        r#"<p>And <a href="https://mastodon.example/tags/edchat" class="mention hashtag" rel="tag">#<span>edchat</span></a> on Tuesdays.</p>"#,
    )
    .into();
    let mut raw = answer(
        8,
        eve,
        18,
        "A2 <img src=http://evil/x> & friends &amp; \"quotes\"",
    );
    raw.html = concat!(
        r#"<p>A2 <img src=http://evil/x onerror=alert(1)> &amp; friends &amp;amp; "quotes"<script>alert(1)</script>"#,
        r#"<style>body{display:none}</style> <a href="javascript:alert(1)">click</a> "#,
        r#"<a href="https://evil.example/" target="_blank" class="big" style="font-size:99em" onclick="alert(1)">win</a></p>"#,
    )
    .into();
    let mut link = answer(
        10,
        alice,
        26,
        "A3: try a 1-hour chat https://blog.example/posts/hour",
    );
    link.html = concat!(
        r#"<p>A3: try a 1-hour chat <a href="https://blog.example/posts/hour" target="_blank" rel="nofollow noopener" translate="no">"#,
        r#"<span class="invisible">https://</span><span class="">blog.example/posts/hour</span><span class="invisible"></span></a></p>"#,
    )
    .into();
    (link.favourites, link.boosts) = (4, 1);
    let mut lurking = answer(12, bob, 28, "A3 - more lurking, less posting");
    lurking.favourites = 1;

    let q1 = vec![
        answer(3, eve, 8, "A1: <script>alert(1)</script>"),
        edited,
        mention,
        answer(4, layla, 10, "A1: أتعلم من زملائي كل يوم"),
        both.clone(),
    ];
    let q2 = vec![
        both,
        answer(
            6,
            dan,
            16,
            "A2 [click](javascript:alert(1)) *bold* _it_ `code`\n# not a heading\n1. not a list",
        ),
        hashtags,
        raw,
        answer(9, bob, 19, "=HYPERLINK(\"http://evil.example/\",\"win\")"),
        // Grace opted out: her answer counts but shows neither her nor it.
        hidden_answer(20, 20),
    ];
    let q3 = vec![
        link,
        answer(11, layla, 27, "A3: مرحبا 👋 (RTL and emoji)"),
        lurking,
        bad_link,
    ];
    let mut recap = Recap {
        chat: "1qedchat".into(),
        hashtag: "1QEdChat".into(),
        timezone: "Europe/London".into(),
        run: RunInfo {
            id: 7,
            started_at: Some(at(0)),
            ended_at: Some(at(70)),
        },
        questions: vec![
            question(1, "How do you build an online PLN?", 5, q1),
            question(2, "Which chats or groups help you most?", 15, q2),
            question(3, "What will you try this week?", 25, q3),
        ],
        participants: vec![
            participant(alice.0, alice.1, 3, 3, false),
            participant(bob.0, bob.1, 3, 3, false),
            participant(carol.0, carol.1, 1, 1, false),
            participant(dan.0, dan.1, 1, 1, true),
            participant(eve.0, eve.1, 3, 3, true),
            participant("frank@mastodon.example", "Frank", 0, 1, false),
            participant(layla.0, layla.1, 2, 2, true),
        ],
        other_posts: vec![OtherPost {
            status_id: "110099".into(),
            account: "frank@mastodon.example".into(),
            display_name: "Frank".into(),
            text: "Hi all, lurking tonight #1QEdChat".into(),
            html: "<p>Hi all, lurking tonight #1QEdChat</p>".into(),
            created_at: at(2),
            edited_at: None,
            url: "https://mastodon.example/@frank/110099".into(),
            hidden: false,
        }],
        stats: Stats::default(),
    };
    // One of the run's posts was deleted: counted, shown nowhere.
    recap.stats = stats(&recap, 1);
    mark_top_answers(&mut recap);
    recap
}

/// Compares with `tests/golden/<name>`, or rewrites it when blessing.
fn assert_golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("HASHCHAT_BLESS").is_some() {
        std::fs::write(&path, actual).expect("the golden directory is writable");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with HASHCHAT_BLESS=1 to create it",
            path.display()
        )
    });
    if expected == actual {
        return;
    }
    let (line, want, got) = expected
        .split('\n')
        .zip(actual.split('\n'))
        .enumerate()
        .find(|(_, (want, got))| want != got)
        .map(|(i, (want, got))| (i + 1, want, got))
        .unwrap_or((0, "(same prefix, different length)", ""));
    panic!(
        "{name} differs from {} at line {line}:\n  want: {want:?}\n  got:  {got:?}\n\
         If the change is intended, rerun with HASHCHAT_BLESS=1 and review the diff.",
        path.display()
    );
}

#[test]
fn markdown_recap_matches_its_golden_file() {
    assert_golden("recap.md", &fixed_recap().render(Format::Md));
}

#[test]
fn html_recap_matches_its_golden_file() {
    assert_golden("recap.html", &fixed_recap().render(Format::Html));
}

#[test]
fn json_recap_matches_its_golden_file() {
    assert_golden("recap.json", &fixed_recap().render(Format::Json));
}

#[test]
fn csv_recap_matches_its_golden_file() {
    assert_golden("recap.csv", &fixed_recap().render(Format::Csv));
}

#[test]
fn html_recap_lets_no_hostile_string_through() {
    let html = fixed_recap().render(Format::Html);
    let lower = html.to_lowercase();
    // Only the markup itself: escaped hostile text still reads `src=http`.
    let tags: Vec<&str> = lower
        .split('<')
        .skip(1)
        .filter_map(|t| t.split('>').next())
        .collect();

    for element in [
        "script", "img", "iframe", "object", "video", "form", "input", "base", "link", "image",
    ] {
        assert!(
            !tags
                .iter()
                .any(|t| t.split_whitespace().next() == Some(element)),
            "a <{element}> element"
        );
    }
    assert_eq!(
        lower.matches("<style").count(),
        1,
        "only the page's own style"
    );
    assert_eq!(lower.matches("<meta http-equiv").count(), 1, "only the CSP");
    for attribute in [
        "src=",
        "style=",
        "onerror",
        "onclick",
        "onmouseover",
        "onload",
        "target=",
    ] {
        assert!(
            !tags.iter().any(|t| t.contains(attribute)),
            "an attribute {attribute}"
        );
    }
    assert!(
        !tags.iter().any(|t| t.contains("class=\"big\"")),
        "a post's class"
    );
    assert!(!lower.contains("href=\"javascript"), "a javascript: link");
    assert!(!lower.contains("href=\"data:"), "a data: link");
    assert!(!lower.contains("display:none"), "a post's CSS");
    assert!(!lower.contains("<b>eve"), "the hostile name as markup");
    assert!(
        html.contains("&quot;&gt;&lt;b&gt;Eve&lt;/b&gt;"),
        "the hostile name, escaped"
    );
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "the typed text, escaped"
    );
}

#[test]
fn html_recap_keeps_paragraphs_links_mentions_and_hashtags() {
    let html = fixed_recap().render(Format::Html);
    let expected = [
        r#"<a href="https://mastodon.example/@alice" rel="nofollow noopener ugc">@<span>alice</span></a>"#,
        r#"<p>A2: <a href="https://mastodon.example/tags/1QEdChat" rel="nofollow noopener ugc">#<span>1QEdChat</span></a> of course</p><p>And "#,
        r#"<a href="https://blog.example/posts/hour" rel="nofollow noopener ugc"><span>https://</span>"#,
        "A1: I follow people whose posts I'd share.<br>Then I reply, a lot.",
    ];
    for fragment in expected {
        assert!(html.contains(fragment), "missing {fragment}");
    }
    // Every link a post makes is marked as user content.
    let post_links = html.matches(r#"rel="nofollow noopener ugc""#).count();
    assert!(post_links >= 4, "{post_links} links marked");
}

#[test]
fn markdown_recap_keeps_hostile_text_inert() {
    let md = fixed_recap().render(Format::Md);

    assert!(!md.contains("<script>"), "raw HTML");
    assert!(
        !md.contains("[click](javascript"),
        "a live javascript: link"
    );
    assert!(md.contains("\\<script\\>"), "the hostile text, escaped");
    assert!(md.contains("\"\\>\\<b\\>Eve"), "the hostile name, escaped");
}

#[test]
fn csv_recap_has_a_row_per_answer_that_reads_back() {
    let recap = fixed_recap();
    let csv = recap.render(Format::Csv);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let rows: Vec<csv::StringRecord> = reader
        .records()
        .collect::<Result<_, _>>()
        .expect("the CSV parses");

    let answers: usize = recap.questions.iter().map(|q| q.answers.len()).sum();
    assert_eq!(rows.len(), answers);
    let edited = rows
        .iter()
        .find(|r| r.get(7) == Some("https://mastodon.example/@alice/110001"));
    let edited = edited.expect("the edited answer has a row");
    assert_eq!(edited.get(6), Some("2026-06-04T19:09:00Z"));
    assert_eq!(
        edited.get(8),
        Some("A1: I follow people whose posts I'd share.\nThen I reply, a lot.")
    );
}

/// Every format marks the same top answers: the three posts with the most
/// favourites plus boosts (one of them under two questions), not the
/// fourth, and the JSON keeps its old fields beside the new ones.
#[test]
fn every_format_marks_the_top_answers() {
    let recap = fixed_recap();
    let md = recap.render(Format::Md);
    assert_eq!(md.matches("**★ top answer**").count(), 4, "{md}");
    assert!(
        md.contains("**★ top answer** (6 favourites, 2 boosts)"),
        "{md}"
    );
    let html = recap.render(Format::Html);
    assert_eq!(html.matches("class=\"top-answer\"").count(), 4);
    assert!(html.contains("★ Top answer</strong> (4 favourites, 1 boost)"));

    let json: serde_json::Value = serde_json::from_str(&recap.render(Format::Json)).unwrap();
    let tops: Vec<(String, u64)> = json["questions"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|q| q["answers"].as_array().unwrap())
        .filter(|a| a["top"] == true)
        .map(|a| {
            assert!(a["text"].is_string() && a["status_id"].is_string(), "{a}");
            let score = a["favourites"].as_u64().unwrap() + a["boosts"].as_u64().unwrap();
            (a["status_id"].as_str().unwrap().to_string(), score)
        })
        .collect();
    assert_eq!(
        tops,
        [
            ("110001".to_string(), 3),
            ("110005".to_string(), 8),
            ("110005".to_string(), 8),
            ("110010".to_string(), 5),
        ]
    );

    let csv = recap.render(Format::Csv);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header = reader.headers().unwrap().clone();
    let tail: Vec<&str> = header.iter().skip(header.len() - 3).collect();
    assert_eq!(
        tail,
        ["favourites", "boosts", "top"],
        "new columns at the end"
    );
    let top_rows = reader
        .records()
        .filter(|r| r.as_ref().unwrap().get(header.len() - 1) == Some("true"))
        .count();
    assert_eq!(top_rows, 4);
}
