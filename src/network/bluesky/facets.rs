//! Rich-text facets of a post: byte ranges over the UTF-8 text (end
//! exclusive) for every `#tag`, link and `@mention`, and the 300-grapheme
//! limit of a post.
//!
//! Tags follow hashchat's one rule ([`Hashtag::found_in`]), so a tag the
//! bot links is a tag the judge counts. Mentions need the handle's DID: this
//! module finds them, the client resolves them ([`super::BlueskyClient::facets`]).

use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

use crate::chats::Hashtag;

/// Most graphemes in a post's text (the lexicon's `maxGraphemes`).
pub const MAX_GRAPHEMES: usize = 300;
/// Most bytes in a post's text (the lexicon's `maxLength`).
pub const MAX_BYTES: usize = 3000;

/// Graphemes as people count characters: an emoji with skin tone is one.
pub fn graphemes(text: &str) -> usize {
    text.graphemes(true).count()
}

/// Whether `text` fits in one post.
pub fn fits(text: &str) -> bool {
    text.len() <= MAX_BYTES && graphemes(text) <= MAX_GRAPHEMES
}

/// `app.bsky.richtext.facet`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facet {
    pub index: ByteSlice,
    pub features: Vec<Feature>,
}

/// `app.bsky.richtext.facet#byteSlice`: `text.as_bytes()[start..end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ByteSlice {
    pub byte_start: usize,
    pub byte_end: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "$type")]
pub enum Feature {
    #[serde(rename = "app.bsky.richtext.facet#mention")]
    Mention { did: String },
    #[serde(rename = "app.bsky.richtext.facet#link")]
    Link { uri: String },
    #[serde(rename = "app.bsky.richtext.facet#tag")]
    Tag { tag: String },
    /// A feature from a newer lexicon; kept so a read never fails on it.
    #[serde(other)]
    Other,
}

/// What a facet will be once mentions are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Tag(String),
    Link(String),
    /// A handle without `@`, still to be resolved to a DID.
    Mention(String),
}

/// Every tag, link and mention in `text` with its byte range, in order.
pub fn find(text: &str) -> Vec<(ByteSlice, Found)> {
    let mut found = Vec::new();
    let mut previous: Option<char> = None;
    let mut skip_to = 0;
    for (i, c) in text.char_indices() {
        let before = previous.replace(c);
        if i < skip_to {
            continue;
        }
        let hit = match c {
            '#' | '＃' => tag_at(text, i, before),
            'h' => link_at(text, i, before),
            '@' => mention_at(text, i, before),
            _ => None,
        };
        if let Some((end, what)) = hit {
            found.push((
                ByteSlice {
                    byte_start: i,
                    byte_end: end,
                },
                what,
            ));
            skip_to = end;
        }
    }
    found
}

/// A tag starting at the `#` at `i`: the longest name after it that
/// hashchat's rule finds there, checked on the text around it.
fn tag_at(text: &str, i: usize, before: Option<char>) -> Option<(usize, Found)> {
    let hash = text[i..].chars().next()?.len_utf8();
    let rest = &text[i + hash..];
    let len = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    let name = &rest[..len];
    let tag = Hashtag::parse(name).ok()?;
    let end = i + hash + len;
    // The rule looks at the character before `#` and the one after the
    // name: hand it exactly those.
    let from = i - before.map_or(0, char::len_utf8);
    let to = end + text[end..].chars().next().map_or(0, char::len_utf8);
    (tag.found_in(&text[from..to]) && graphemes(name) <= 64)
        .then(|| (end, Found::Tag(name.to_string())))
}

/// `http://` or `https://` up to white space, without trailing punctuation
/// (and without a closing parenthesis it did not open).
fn link_at(text: &str, i: usize, before: Option<char>) -> Option<(usize, Found)> {
    let rest = &text[i..];
    let scheme = ["https://", "http://"]
        .into_iter()
        .find(|s| rest.starts_with(s))?;
    if before.is_some_and(|b| b.is_alphanumeric()) {
        return None;
    }
    let mut len = rest.find(char::is_whitespace).unwrap_or(rest.len());
    loop {
        let url = &rest[..len];
        let trim = match url.chars().last() {
            Some('.' | ',' | ';' | ':' | '!' | '?' | '"' | '\'') => true,
            Some(')') => url.matches('(').count() < url.matches(')').count(),
            _ => false,
        };
        if !trim {
            break;
        }
        len -= 1;
    }
    (len > scheme.len()).then(|| (i + len, Found::Link(rest[..len].to_string())))
}

/// `@handle` where the handle is a domain name (`alice.bsky.social`), not
/// inside a word (so not an e-mail address).
fn mention_at(text: &str, i: usize, before: Option<char>) -> Option<(usize, Found)> {
    if before.is_some_and(|b| b.is_alphanumeric() || b == '_' || b == '.') {
        return None;
    }
    let rest = &text[i + 1..];
    let len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
        .unwrap_or(rest.len());
    let handle = rest[..len].trim_end_matches(['.', '-']);
    let labels: Vec<&str> = handle.split('.').collect();
    let domain_like = labels.len() >= 2
        && labels.iter().all(|l| !l.is_empty() && !l.starts_with('-'))
        && labels
            .last()
            .is_some_and(|tld| tld.starts_with(|c: char| c.is_ascii_alphabetic()));
    domain_like.then(|| (i + 1 + handle.len(), Found::Mention(handle.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text each range covers, to compare with what was meant.
    fn covered(text: &str) -> Vec<(String, Found)> {
        find(text)
            .into_iter()
            .map(|(r, f)| {
                let bytes = &text.as_bytes()[r.byte_start..r.byte_end];
                (String::from_utf8(bytes.to_vec()).unwrap(), f)
            })
            .collect()
    }

    #[test]
    fn ranges_are_bytes_not_characters_in_multibyte_text() {
        let text = "Q1 🎓 Schüler*innen? #EduSkyChat réponse https://ex.test/ä @alice.test";
        let found = find(text);
        assert_eq!(found[0].0.byte_start, text.find("#Edu").unwrap());
        assert_eq!(
            covered(text),
            vec![
                ("#EduSkyChat".into(), Found::Tag("EduSkyChat".into())),
                (
                    "https://ex.test/ä".into(),
                    Found::Link("https://ex.test/ä".into())
                ),
                ("@alice.test".into(), Found::Mention("alice.test".into())),
            ]
        );
    }

    #[test]
    fn only_what_the_hashtag_rule_calls_a_tag_is_faceted() {
        let cases: &[(&str, &[&str], &str)] = &[
            ("#EduSkyChat.", &["#EduSkyChat"], "punctuation ends a tag"),
            ("a#b c", &[], "inside a word"),
            ("#123", &[], "digits only"),
            (
                "#Ünïcödé_1 #two",
                &["#Ünïcödé_1", "#two"],
                "letters of any script",
            ),
            ("(#tag)", &["#tag"], "in parentheses"),
            ("＃全角", &["＃全角"], "full-width sign"),
        ];
        for (text, want, case) in cases {
            let got: Vec<String> = covered(text).into_iter().map(|(s, _)| s).collect();
            assert_eq!(&got, want, "{case}");
        }
    }

    #[test]
    fn links_lose_trailing_punctuation_and_unopened_parentheses() {
        let cases: &[(&str, &str)] = &[
            ("see https://ex.test/a.", "https://ex.test/a"),
            ("(https://ex.test/a)", "https://ex.test/a"),
            ("https://en.wiki.test/X_(y)", "https://en.wiki.test/X_(y)"),
            (
                "http://127.0.0.1:8080/x?y=1, then",
                "http://127.0.0.1:8080/x?y=1",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(covered(text)[0].1, Found::Link(want.to_string()), "{text}");
        }
    }

    #[test]
    fn mentions_are_domain_handles_and_never_e_mail_addresses() {
        assert_eq!(covered("hi @bob.bsky.social!")[0].0, "@bob.bsky.social");
        assert!(covered("mail me@bob.test or @nodot").is_empty());
    }

    #[test]
    fn the_limit_counts_graphemes_not_bytes_or_code_points() {
        let family = "👨‍👩‍👧"; // five code points, one grapheme
        assert_eq!(graphemes(family), 1);
        assert!(fits(&family.repeat(150)));
        assert!(fits(&"é".repeat(300)));
        assert!(!fits(&"e".repeat(301)));
    }
}
