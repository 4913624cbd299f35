//! Participants' Mastodon HTML, made safe for the HTML recap. What a post
//! means survives (paragraphs, line breaks, links, mentions, hashtags);
//! nothing else does: no scripts, styles, classes, images or other remote
//! loads, and links only to http(s), marked as user content. `ammonia`
//! parses like a browser, so malformed markup cannot smuggle anything past.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use ammonia::{Builder, UrlRelative};

/// Built once: the allow-list is fixed.
static POLICY: LazyLock<Builder<'static>> = LazyLock::new(|| {
    let mut policy = Builder::empty();
    policy
        // Mastodon's own vocabulary: `<p>`, `<br>`, links, and the spans
        // inside mentions and hashtags (`@<span>alice</span>`).
        .tags(HashSet::from(["p", "br", "a", "span"]))
        .tag_attributes(HashMap::from([("a", HashSet::from(["href"]))]))
        .generic_attributes(HashSet::new())
        .allowed_classes(HashMap::new())
        // Their content is code, not text: dropped whole rather than shown.
        .clean_content_tags(HashSet::from([
            "script", "style", "template", "iframe", "noscript", "object",
        ]))
        .url_schemes(HashSet::from(["http", "https"]))
        // A relative link would resolve against wherever the file is opened.
        .url_relative(UrlRelative::Deny)
        .link_rel(Some("nofollow noopener ugc"))
        .strip_comments(true);
    policy
});

/// The post's HTML, sanitised; `None` when nothing visible is left (or
/// there was none), so the caller can fall back to the plain text.
pub fn post_html(html: &str) -> Option<String> {
    if html.trim().is_empty() {
        return None;
    }
    let clean = POLICY.clean(html).to_string();
    let visible = clean
        .split('<')
        .map(|chunk| chunk.split_once('>').map_or(chunk, |(_, text)| text))
        .any(|text| !text.trim().is_empty());
    visible.then_some(clean)
}

#[cfg(test)]
mod tests {
    use super::post_html;

    #[test]
    fn mastodon_markup_keeps_its_meaning_without_its_classes() {
        let html = concat!(
            r#"<p><span class="h-card" translate="no"><a href="https://x.example/@bob" class="u-url mention">@<span>bob</span></a></span> "#,
            r#"A1: yes<br>and <a href="https://x.example/tags/edchat" class="mention hashtag" rel="tag">#<span>edchat</span></a></p>"#,
        );
        assert_eq!(
            post_html(html).as_deref(),
            Some(concat!(
                r#"<p><span><a href="https://x.example/@bob" rel="nofollow noopener ugc">@<span>bob</span></a></span> "#,
                r#"A1: yes<br>and <a href="https://x.example/tags/edchat" rel="nofollow noopener ugc">#<span>edchat</span></a></p>"#,
            ))
        );
    }

    #[test]
    fn hostile_markup_is_removed() {
        let cases = [
            ("<script>alert(1)</script>x", "x"),
            ("<style>body{display:none}</style>x", "x"),
            ("<img src=http://evil/x onerror=alert(1)>x", "x"),
            (
                r#"<a href="javascript:alert(1)">x</a>"#,
                r#"<a rel="nofollow noopener ugc">x</a>"#,
            ),
            (
                r#"<a href="/relative">x</a>"#,
                r#"<a rel="nofollow noopener ugc">x</a>"#,
            ),
            (
                r#"<p style="color:red" class="big" onclick="alert(1)">x</p>"#,
                "<p>x</p>",
            ),
            (
                r#"<a href="https://ok.example/" target="_blank" rel="opener">x</a>"#,
                r#"<a href="https://ok.example/" rel="nofollow noopener ugc">x</a>"#,
            ),
            ("<iframe src=https://evil.example></iframe>x", "x"),
            ("<svg><circle r=9 /></svg>x", "x"),
            ("<!-- note -->x", "x"),
            ("<b>bold</b> &lt;i&gt;", "bold &lt;i&gt;"),
        ];
        for (input, expected) in cases {
            assert_eq!(post_html(input).as_deref(), Some(expected), "{input}");
        }
    }

    #[test]
    fn nothing_visible_left_means_none() {
        assert_eq!(post_html(""), None);
        assert_eq!(post_html("<img src=http://evil/x>"), None);
        assert_eq!(post_html("<p> </p>"), None);
    }
}
