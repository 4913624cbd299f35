//! Matching posts to questions: answer labels (`A1:`, `a 2)`, `A1b`…)
//! found in a status's plain text (see [`crate::network::html_to_text`]),
//! and whether it carries the chat's hashtag. Pure functions: no
//! I/O, no allocation beyond the result, and no panic on any input (posts
//! are written by strangers and arrive from remote servers unsanitised).

use crate::chats::Hashtag;
use crate::network::Status;

/// The question numbers (1..=question_count, ascending, unique) that `text`
/// labels an answer for.
///
/// A label is `A` or `a`, an optional single space (or no-break space), 1–3
/// ASCII digits, an optional sub-part letter (`A1b`; not after a space, as
/// `A 3D printer` is prose), then a terminator: the end of a word
/// (whitespace or end of text), `:`, `)`, `,`, `.` (not followed by a digit:
/// `A1.5` is a number), or a dash (`-`, `–`, `—`) ending the word (`A1 -`,
/// `A1- x`, but not `A 1-hour`). `A1/A2` labels both. Where it counts:
/// - at the start of the post or of a line, after any @mentions and
///   #hashtags (`@chatbot #1QEdChat A1: …`);
/// - at the start of a sentence: the previous word ends with `.` `!` `?` `…`
///   (closing quotes or brackets aside);
/// - anywhere else after whitespace, only the strict form `A<n>:` (capital,
///   no space, colon), so that `A2: yes A3: no` answers both while prose such
///   as `a 1 hour chat` or `plan a 2` mid-sentence does not.
///
/// Being a whole word is what keeps `CA1` and `A10` from labelling `1`.
/// Zero-width and direction marks count as whitespace, so RTL posts match.
pub fn answered_questions(text: &str, question_count: u32) -> Vec<u32> {
    let words = words(text);
    let mut found = Vec::new();
    let mut leading = true;
    for (i, word) in words.iter().enumerate() {
        if word.after_newline {
            leading = true;
        }
        let place = if leading {
            Place::Leading
        } else if i > 0 && ends_sentence(words[i - 1].text) {
            Place::SentenceStart
        } else {
            Place::MidSentence
        };
        leading = leading && word.text.starts_with(['@', '#', '＃']);
        let next = words.get(i + 1).filter(|w| w.after_single_space);
        label_at(word.text, next.map(|w| w.text), place, &mut found);
    }
    found.retain(|&n| (1..=question_count).contains(&n));
    found.sort_unstable();
    found.dedup();
    found
}

#[derive(Clone, Copy, PartialEq)]
enum Place {
    Leading,
    SentenceStart,
    MidSentence,
}

struct Word<'a> {
    text: &'a str,
    after_newline: bool,
    /// Separated from the previous word by exactly one plain space.
    after_single_space: bool,
}

fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}' | '\u{061C}')
}

fn words(text: &str) -> Vec<Word<'_>> {
    let mut words = Vec::new();
    let mut start = None;
    // What separated the word being read from the previous one.
    let (mut gap_len, mut gap_newline, mut gap_space) = (0, false, false);
    for (i, c) in text.char_indices() {
        match (is_separator(c), start) {
            (true, Some(s)) => {
                words.push(Word {
                    text: &text[s..i],
                    after_newline: gap_newline,
                    after_single_space: gap_len == 1 && gap_space,
                });
                (gap_len, gap_newline, gap_space) = (0, false, false);
                start = None;
            }
            (false, Some(_)) => continue,
            (false, None) => start = Some(i),
            (true, None) => {}
        }
        if start.is_none() {
            gap_len += 1;
            gap_newline |= c == '\n';
            gap_space = matches!(c, ' ' | '\u{A0}');
        }
    }
    if let Some(s) = start {
        words.push(Word {
            text: &text[s..],
            after_newline: gap_newline,
            after_single_space: gap_len == 1 && gap_space,
        });
    }
    words
}

fn ends_sentence(word: &str) -> bool {
    word.trim_end_matches(['"', '\'', '”', '’', ')', ']', '»'])
        .ends_with(['.', '!', '?', '…', '。', '！', '？'])
}

/// Adds the numbers labelled by `word` (and, for `A 1`, the `next` word).
fn label_at(word: &str, next: Option<&str>, place: Place, found: &mut Vec<u32>) {
    let Some(rest) = word.strip_prefix(['A', 'a']) else {
        return;
    };
    if place == Place::MidSentence {
        if word.starts_with('A') && rest.starts_with(|c: char| c.is_ascii_digit()) {
            if let Some((n, after)) = number(rest, true) {
                if after.starts_with(':') {
                    found.push(n);
                }
            }
        }
        return;
    }
    let (rest, spaced) = match (rest.is_empty(), next) {
        (true, Some(next)) => (next, true),
        _ => (rest, false),
    };
    let Some((n, mut after)) = number(rest, !spaced) else {
        return;
    };
    let mut labelled = vec![n];
    // `A1/A2`, `A1/A2/A3`: one post answering several questions at once.
    while let Some((m, tail)) = after
        .strip_prefix(['/'])
        .and_then(|t| t.strip_prefix(['A', 'a']))
        .and_then(|t| number(t, true))
    {
        labelled.push(m);
        after = tail;
    }
    if terminates(after) {
        found.extend(labelled);
    }
}

/// The number (and, when `sub_part`, an optional sub-part letter) at the
/// start of `s`, and what follows it. The spaced form takes no sub-part, or
/// every post opening "A 3D printer…" would answer question 3.
fn number(s: &str, sub_part: bool) -> Option<(u32, &str)> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 3 {
        return None;
    }
    let n = s[..digits].parse().ok()?;
    let mut after = &s[digits..];
    if let Some(sub) = after.strip_prefix(|c: char| sub_part && c.is_ascii_alphabetic()) {
        if terminates(sub) || sub.starts_with('/') {
            after = sub;
        }
    }
    Some((n, after))
}

/// Whether what follows a label's number ends the label (see
/// [`answered_questions`]).
fn terminates(after: &str) -> bool {
    let mut chars = after.chars();
    match chars.next() {
        None | Some(':' | ')' | ',') => true,
        Some('.') => !chars.next().is_some_and(|c| c.is_ascii_digit()),
        Some('-' | '–' | '—') => chars.all(|c| matches!(c, '-' | '–' | '—' | ':')),
        Some(_) => false,
    }
}

/// Whether the status carries the hashtag: in its `tags`, or in its text
/// by the one rule of [`Hashtag::found_in`].
pub fn carries_hashtag(status: &Status, text: &str, tag: &Hashtag) -> bool {
    status.tags.iter().any(|t| tag.matches(&t.name)) || tag.found_in(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::html_to_text;

    const TAG: &str = r#"<a href="https://mastodon.example/tags/1qedchat" class="mention hashtag" rel="tag">#<span>1QEdChat</span></a>"#;
    const BOT: &str = r#"<span class="h-card" translate="no"><a href="https://mastodon.example/@chatbot" class="u-url mention">@<span>chatbot</span></a></span>"#;

    fn html(template: &str) -> String {
        template.replace("{TAG}", TAG).replace("{BOT}", BOT)
    }

    /// (why, post as Mastodon HTML or plain text, question count, expected)
    const LABELS: &[(&str, &str, u32, &[u32])] = &[
        (
            "a colon label",
            "<p>A1: Twitter lists, then Mastodon</p>",
            3,
            &[1],
        ),
        ("a bare label", "<p>A1 Twitter lists</p>", 3, &[1]),
        (
            "a full stop after the number",
            "<p>A1. I use Mastodon</p>",
            3,
            &[1],
        ),
        ("a closing bracket", "<p>A1) blogs</p>", 3, &[1]),
        ("a spaced dash", "<p>A1 - blogs</p>", 3, &[1]),
        ("a dash touching the number", "<p>A1- blogs</p>", 3, &[1]),
        ("an em dash", "<p>A1— blogs</p>", 3, &[1]),
        ("a comma", "<p>A1, definitely blogs</p>", 3, &[1]),
        (
            "a space between A and the number",
            "<p>A 1 I think blogs</p>",
            3,
            &[1],
        ),
        ("a spaced label with a colon", "<p>A 1: blogs</p>", 3, &[1]),
        ("lowercase", "<p>a1 blogs</p>", 3, &[1]),
        ("a sub-part letter", "<p>A1a: blogs</p>", 3, &[1]),
        (
            "two sub-parts of one question",
            "<p>A1a: blogs. A1b: podcasts</p>",
            3,
            &[1],
        ),
        ("A10 is not A1", "<p>A10: the last one</p>", 12, &[10]),
        (
            "A10 in a 3-question chat answers nothing",
            "<p>A10: hmm</p>",
            3,
            &[],
        ),
        ("a number beyond the questions", "<p>A4: early</p>", 3, &[]),
        ("A0 answers nothing", "<p>A0: zero</p>", 3, &[]),
        ("a huge number", "<p>A99999: overflow?</p>", 3, &[]),
        (
            "CA1 is a road, not a label",
            "<p>CA1 is a great road</p>",
            3,
            &[],
        ),
        (
            "a 1-hour chat is prose",
            "<p>A 1-hour chat is long</p>",
            3,
            &[],
        ),
        ("A1-hour is prose too", "<p>A1-hour chat</p>", 3, &[]),
        (
            "a decimal is a number",
            "<p>A1.5 million people</p>",
            3,
            &[],
        ),
        ("a Q label is not an answer", "<p>Q1 was hard</p>", 3, &[]),
        (
            "mention and hashtag first",
            "<p>{BOT} {TAG} A1: lists!</p>",
            3,
            &[1],
        ),
        ("hashtag last", "<p>A2: my PLN {TAG}</p>", 3, &[2]),
        (
            "a label after <br>",
            "<p>Great question<br>A3 I lurk first</p>",
            3,
            &[3],
        ),
        (
            "one paragraph per answer",
            "<p>A1: first</p><p>A2: second {TAG}</p>",
            3,
            &[1, 2],
        ),
        (
            "hashtag alone on the first line",
            "<p>{TAG}<br>A2 yes</p>",
            3,
            &[2],
        ),
        (
            "two labels, two sentences",
            "<p>A2: yes. A3: no {TAG}</p>",
            3,
            &[2, 3],
        ),
        (
            "two strict labels in one sentence",
            "<p>A2: yes A3: no</p>",
            3,
            &[2, 3],
        ),
        ("mixed case labels", "<p>A2 yes! a3 no</p>", 3, &[2, 3]),
        ("a slash pair", "<p>A1/A2: both, really</p>", 3, &[1, 2]),
        (
            "a 3D printer is prose",
            "<p>A 3D printer is my PLN</p>",
            3,
            &[],
        ),
        (
            "a sub-part in a slash pair",
            "<p>A1a/A2: both</p>",
            3,
            &[1, 2],
        ),
        ("after an exclamation", "<p>Love this! A2 yes</p>", 3, &[2]),
        (
            "after a quoted sentence",
            "<p>She said \"go.\" A2 I went</p>",
            3,
            &[2],
        ),
        (
            "a label mentioned mid-sentence",
            "<p>A1 I agree with A2 from Sam</p>",
            3,
            &[1],
        ),
        (
            "vitamin A1 mid-sentence",
            "<p>I take vitamin A1 daily</p>",
            3,
            &[],
        ),
        (
            "a 2 mid-sentence is prose",
            "<p>I planned a 2 hour session</p>",
            3,
            &[],
        ),
        (
            "a strict label needs a capital",
            "<p>yes a2: no</p>",
            3,
            &[],
        ),
        ("a label in brackets is prose", "<p>(A1) maybe</p>", 3, &[]),
        ("a lone A", "<p>{TAG} A</p>", 3, &[]),
        (
            "a remote mention first",
            "@chatbot@mastodon.example A3 text",
            3,
            &[3],
        ),
        (
            "entities after the label",
            "<p>A1: I&#39;d say &quot;blogs&quot;</p>",
            3,
            &[1],
        ),
        (
            "right-to-left text with a mark",
            "<p>\u{200F}A1: أتعلم من زملائي</p>",
            3,
            &[1],
        ),
        ("a zero-width space first", "<p>\u{200B}A2 hi</p>", 3, &[2]),
        (
            "an emoji before a strict label",
            "<p>🎉 A1: party</p>",
            3,
            &[1],
        ),
        ("an emoji before a bare label", "<p>🎉 A1 party</p>", 3, &[]),
        ("no questions at all", "<p>A1: hello</p>", 0, &[]),
    ];

    #[test]
    fn answer_labels_are_found_where_the_issue_says() {
        let mut failures = Vec::new();
        for (why, post, count, expected) in LABELS {
            let text = html_to_text(&html(post));
            let got = answered_questions(&text, *count);
            if got != *expected {
                failures.push(format!("{why}: {text:?} gave {got:?}, want {expected:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn pathological_html_is_handled_in_linear_time() {
        let nasty = ["<a '", "<!--", "<", "&#", "<br>", "<script>"];
        for piece in nasty {
            let input = piece.repeat(200_000);
            let started = std::time::Instant::now();
            let _ = html_to_text(&input);
            let _ = answered_questions(&input, 3);
            let took = started.elapsed();
            assert!(took.as_secs() < 2, "{piece:?} x 200k took {took:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn no_input_panics(s in "\\PC*") {
            let text = html_to_text(&s);
            let _ = answered_questions(&text, 5);
            let _ = answered_questions(&s, u32::MAX);
        }

        #[test]
        fn no_html_like_input_panics(s in "([<>&;#/!\"'a-zA0-9 \n\u{200F}é🎉-]|<br>|</p>|&#x)*") {
            let text = html_to_text(&s);
            proptest::prop_assert_eq!(text.trim(), text.as_str());
            let _ = answered_questions(&text, 5);
        }
    }

    fn status(content: &str, tags: &[&str]) -> Status {
        let tags: Vec<_> = tags
            .iter()
            .map(|t| serde_json::json!({ "name": t }))
            .collect();
        let json = serde_json::json!({
            "id": "1",
            "account": { "id": "9", "acct": "alice" },
            "content": content,
            "created_at": "2026-12-03T20:06:00Z",
            "tags": tags,
        });
        Status::from_json(&json.to_string()).expect("a valid test status")
    }

    #[test]
    fn the_hashtag_is_found_in_tags_or_as_a_whole_word() {
        let tag = Hashtag::parse("1QEdChat").expect("a valid tag");
        let cases: &[(&str, &str, &[&str], bool)] = &[
            ("listed in tags", "A1: hi", &["1qedchat"], true),
            ("in the text, other case", "A1: hi #1qedCHAT", &[], true),
            ("followed by punctuation", "#1QEdChat!", &[], true),
            ("fullwidth sign", "＃1QEdChat", &[], true),
            ("a longer tag", "#1QEdChatter", &[], false),
            (
                "another tag listed",
                "#1QEdChatter",
                &["1qedchatter"],
                false,
            ),
            ("lower case", "#1qedchat", &[], true),
            ("an apostrophe ends the tag", "#1QEdChat's", &[], true),
            ("an ellipsis ends the tag", "#1QEdChat…", &[], true),
            ("a middle dot at the end", "#1QEdChat·", &[], true),
            ("a middle dot inside", "#1QEdChat·x", &[], false),
            (
                "a URL's fragment",
                "see https://x.example/#1QEdChat",
                &[],
                false,
            ),
            (
                "a URL's tag page",
                "https://x.example/tags/1QEdChat",
                &[],
                false,
            ),
            ("a query parameter", "x.example/?q=#1QEdChat", &[], false),
            ("after a bracket", "(#1QEdChat)", &[], true),
            ("inside a word", "x#1QEdChat", &[], false),
            ("no sign", "1QEdChat", &[], false),
            ("other tags only", "#edchat", &["edchat"], false),
        ];
        for (why, text, tags, expected) in cases {
            let got = carries_hashtag(&status(text, tags), text, &tag);
            assert_eq!(got, *expected, "{why}");
        }
    }
}
