//! Mastodon HTML to the plain text a reader sees: what a status's
//! `content` says once its markup is gone. Pure, linear in the input and
//! without a panic on any input (statuses are written by strangers and
//! arrive from remote servers unsanitised).
/// Plain text of Mastodon HTML: tags removed, entities decoded, `<br>` and
/// paragraph breaks kept as line breaks.
///
/// Hand-rolled rather than a full HTML parser because it runs on every post
/// of every stream and only needs text. Runs of source whitespace collapse
/// to one space as a browser would show them (except inside `<pre>`); the
/// text of `<script>`/`<style>` and comments is dropped. A `<` that starts
/// no complete tag is kept as text. Linear in the input.
pub fn html_to_text(html: &str) -> String {
    let mut out = TextOut::with_capacity(html.len());
    let bytes = html.as_bytes();
    // Once a tag runs to the end unclosed, every later `<` would too: from
    // then on `<` is text, which keeps broken input linear, not quadratic.
    let mut tags_close = true;
    let mut i = 0;
    while i < bytes.len() {
        let run_end = bytes[i..]
            .iter()
            .position(|&b| matches!(b, b'<' | b'&') || b.is_ascii_whitespace())
            .map_or(bytes.len(), |p| i + p);
        // Slicing is safe: every stop is an ASCII byte, hence a char boundary.
        out.text(&html[i..run_end]);
        i = run_end;
        let Some(&b) = bytes.get(i) else { break };
        i = match b {
            b'<' => match tags_close.then(|| tag_end(bytes, i)) {
                Some(TagEnd::At(end)) => handle_tag(html, i, end, &mut out),
                found => {
                    tags_close &= !matches!(found, Some(TagEnd::Unclosed));
                    out.text("<");
                    i + 1
                }
            },
            b'&' => {
                let (decoded, next) = decode_entity(html, i);
                out.text_char(decoded);
                next
            }
            _ => {
                out.space(b);
                i + 1
            }
        };
    }
    out.finish()
}

#[derive(Clone, Copy)]
enum Break {
    Line,
    Block,
    Paragraph,
}

/// Output buffer that collapses whitespace the way a browser renders it.
struct TextOut {
    buf: String,
    pending_space: bool,
    pre_depth: u32,
}

impl TextOut {
    fn with_capacity(n: usize) -> Self {
        Self {
            buf: String::with_capacity(n),
            pending_space: false,
            pre_depth: 0,
        }
    }

    fn flush_space(&mut self) {
        if self.pending_space && !self.buf.is_empty() && !self.buf.ends_with('\n') {
            self.buf.push(' ');
        }
        self.pending_space = false;
    }

    fn text(&mut self, s: &str) {
        if !s.is_empty() {
            self.flush_space();
            self.buf.push_str(s);
        }
    }

    fn text_char(&mut self, c: char) {
        self.flush_space();
        self.buf.push(c);
    }

    fn space(&mut self, b: u8) {
        if self.pre_depth > 0 {
            if b != b'\r' {
                self.buf.push(b as char);
            }
        } else {
            self.pending_space = true;
        }
    }

    /// A line break from markup: `Line` always adds one (`<br>`), `Block`
    /// and `Paragraph` only make sure the text ends in one or two.
    fn newline(&mut self, kind: Break) {
        self.pending_space = false;
        let kept = self.buf.trim_end_matches([' ', '\t']).len();
        self.buf.truncate(kept);
        if self.buf.is_empty() {
            return;
        }
        let have = self
            .buf
            .bytes()
            .rev()
            .take(2)
            .take_while(|&b| b == b'\n')
            .count();
        let wanted = match kind {
            Break::Line => have + 1,
            Break::Block => 1,
            Break::Paragraph => 2,
        };
        for _ in have..wanted {
            self.buf.push('\n');
        }
    }

    fn finish(self) -> String {
        let trimmed = self.buf.trim();
        if trimmed.len() == self.buf.len() {
            self.buf
        } else {
            trimmed.to_string()
        }
    }
}

enum TagEnd {
    /// The index of the `>` closing the tag.
    At(usize),
    /// The `<` starts no tag (`a < b`).
    NotATag,
    /// The tag never closes.
    Unclosed,
}

/// Where the tag starting at `start` ends, honouring quoted attribute values.
fn tag_end(bytes: &[u8], start: usize) -> TagEnd {
    let first = bytes.get(start + 1).copied().unwrap_or(b' ');
    let second = bytes.get(start + 2).copied().unwrap_or(b' ');
    let opens_tag = first.is_ascii_alphabetic()
        || matches!(first, b'!' | b'?')
        || (first == b'/' && second.is_ascii_alphabetic());
    if !opens_tag {
        return TagEnd::NotATag;
    }
    if bytes[start + 1..].starts_with(b"!--") {
        return find(bytes, start + 4, b"-->").map_or(TagEnd::Unclosed, |p| TagEnd::At(p + 2));
    }
    let mut quote = None;
    for (offset, &b) in bytes[start + 1..].iter().enumerate() {
        match (quote, b) {
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), _) if q == b => quote = None,
            (None, b'>') => return TagEnd::At(start + 1 + offset),
            _ => {}
        }
    }
    TagEnd::Unclosed
}

/// Acts on the tag `html[start..=end]`; returns where text resumes.
fn handle_tag(html: &str, start: usize, end: usize, out: &mut TextOut) -> usize {
    let bytes = html.as_bytes();
    let closing = bytes.get(start + 1) == Some(&b'/');
    let name_start = start + 1 + usize::from(closing);
    let name_len = bytes[name_start..end]
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric())
        .count();
    let name = &bytes[name_start..name_start + name_len];
    let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
    if is("br") {
        out.newline(Break::Line);
    } else if is("p") {
        out.newline(Break::Paragraph);
    } else if is("pre") {
        out.newline(Break::Block);
        out.pre_depth = if closing {
            out.pre_depth.saturating_sub(1)
        } else {
            out.pre_depth.saturating_add(1)
        };
    } else if [
        "div",
        "li",
        "ul",
        "ol",
        "blockquote",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
    ]
    .iter()
    .any(|n| is(n))
    {
        out.newline(Break::Block);
    } else if !closing && (is("script") || is("style")) {
        // Skip the element's content up to its end tag, or everything.
        let mut from = end + 1;
        while let Some(p) = find(bytes, from, b"</") {
            let rest = &bytes[p + 2..];
            if rest.len() >= name.len() && rest[..name.len()].eq_ignore_ascii_case(name) {
                return match tag_end(bytes, p) {
                    TagEnd::At(e) => e + 1,
                    _ => bytes.len(),
                };
            }
            from = p + 2;
        }
        return bytes.len();
    }
    end + 1
}

fn find(haystack: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

/// Decodes the entity at `html[at]` (`&`); unknown or malformed entities
/// stay as a literal `&`. Returns the character and where text resumes.
fn decode_entity(html: &str, at: usize) -> (char, usize) {
    const LONGEST: usize = 10;
    let bytes = html.as_bytes();
    let window = &bytes[at + 1..bytes.len().min(at + 2 + LONGEST)];
    let Some(semi) = window.iter().position(|&b| b == b';') else {
        return ('&', at + 1);
    };
    let name = &window[..semi];
    let decoded = match name {
        [b'#', b'x' | b'X', hex @ ..] => numeric(hex, 16),
        [b'#', dec @ ..] => numeric(dec, 10),
        _ => named_entity(name),
    };
    match decoded {
        Some(c) => (c, at + 2 + semi),
        None => ('&', at + 1),
    }
}

fn numeric(digits: &[u8], radix: u32) -> Option<char> {
    let text = std::str::from_utf8(digits).ok()?;
    if text.is_empty() || !text.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let code = u32::from_str_radix(text, radix).ok()?;
    // As browsers do: NUL, surrogates and out-of-range become U+FFFD.
    Some(
        char::from_u32(code)
            .filter(|&c| c != '\0')
            .unwrap_or('\u{FFFD}'),
    )
}

fn named_entity(name: &[u8]) -> Option<char> {
    Some(match name {
        b"amp" => '&',
        b"lt" => '<',
        b"gt" => '>',
        b"quot" => '"',
        b"apos" => '\'',
        b"nbsp" => '\u{A0}',
        b"hellip" => '…',
        b"mdash" => '—',
        b"ndash" => '–',
        b"lsquo" => '‘',
        b"rsquo" => '’',
        b"ldquo" => '“',
        b"rdquo" => '”',
        b"laquo" => '«',
        b"raquo" => '»',
        b"copy" => '©',
        b"reg" => '®',
        b"trade" => '™',
        b"euro" => '€',
        b"pound" => '£',
        b"deg" => '°',
        b"middot" => '·',
        b"bull" => '•',
        b"times" => '×',
        b"zwj" => '\u{200D}',
        b"zwnj" => '\u{200C}',
        b"lrm" => '\u{200E}',
        b"rlm" => '\u{200F}',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAG: &str = r#"<a href="https://mastodon.example/tags/1qedchat" class="mention hashtag" rel="tag">#<span>1QEdChat</span></a>"#;
    const BOT: &str = r#"<span class="h-card" translate="no"><a href="https://mastodon.example/@chatbot" class="u-url mention">@<span>chatbot</span></a></span>"#;

    fn html(template: &str) -> String {
        template.replace("{TAG}", TAG).replace("{BOT}", BOT)
    }

    /// (why, html, expected text)
    const HTML: &[(&str, &str, &str)] = &[
        ("paragraphs", "<p>one</p><p>two</p>", "one\n\ntwo"),
        (
            "line breaks",
            "<p>one<br>two<br />three</p>",
            "one\ntwo\nthree",
        ),
        ("two line breaks", "<p>one<br><br>two</p>", "one\n\ntwo"),
        (
            "source whitespace collapses",
            "<p> one \n  two </p>",
            "one two",
        ),
        ("space around a break", "<p>one <br> two</p>", "one\ntwo"),
        (
            "hashtag and mention links keep their text",
            "<p>{BOT} {TAG} A1</p>",
            "@chatbot #1QEdChat A1",
        ),
        (
            "hidden parts of a link are kept",
            r#"<p><a href="https://example.com/very/long/path" rel="nofollow noopener noreferrer" target="_blank"><span class="invisible">https://</span><span class="ellipsis">example.com/very/lo</span><span class="invisible">ng/path</span></a></p>"#,
            "https://example.com/very/long/path",
        ),
        (
            "named entities",
            "&lt;b&gt; &amp; &quot;x&quot; &hellip;",
            "<b> & \"x\" …",
        ),
        (
            "numeric entities",
            "it&#39;s it&#x27;s it&#X27;s",
            "it's it's it's",
        ),
        (
            "unknown entity stays",
            "AT&T &bogus; &amp",
            "AT&T &bogus; &amp",
        ),
        (
            "invalid code point",
            "a&#0;b&#xD800;c&#99999999;",
            "a\u{FFFD}b\u{FFFD}c\u{FFFD}",
        ),
        (
            "a bare less-than",
            "<p>3 < 5 and 5 > 3</p>",
            "3 < 5 and 5 > 3",
        ),
        ("an unclosed tag", "<p>hello <b", "hello <b"),
        ("a quoted >", r#"<a title="a>b">link</a>"#, "link"),
        (
            "script text is dropped",
            "<p>a<script>alert(1)</script>b</p>",
            "ab",
        ),
        ("comments are dropped", "a<!-- hidden -->b", "ab"),
        (
            "emoji and RTL pass through",
            "<p>🎉 مرحبا\u{200D}</p>",
            "🎉 مرحبا\u{200D}",
        ),
        ("pre keeps its lines", "<pre>a\n  b</pre>", "a\n  b"),
        ("empty", "", ""),
        ("only tags", "<p></p><br>", ""),
    ];

    #[test]
    fn html_becomes_the_text_a_reader_sees() {
        let mut failures = Vec::new();
        for (why, input, expected) in HTML {
            let got = html_to_text(&html(input));
            if got != *expected {
                failures.push(format!("{why}: {got:?}, want {expected:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
