//! Post lengths as Mastodon counts them. Whether each post of a chat fits
//! its instance's limit is checked by `commands::check`, which knows what
//! a run posts.

/// Length of a Bluesky post: user-perceived characters (extended grapheme
/// clusters), links and mentions included as written.
pub fn graphemes(text: &str) -> usize {
    unicode_segmentation::UnicodeSegmentation::graphemes(text, true).count()
}

/// Length of a post as Mastodon counts it: every URL is 23 characters, a
/// mention `@user@domain` counts as `@user`, and user-perceived characters
/// are approximated (combining marks, variation selectors, skin tones and
/// emoji joined by zero-width joiners add nothing).
pub fn post_length(text: &str) -> usize {
    let chars: Vec<char> = text.chars().collect();
    let mut count = 0;
    let mut i = 0;
    while i < chars.len() {
        let prev = i.checked_sub(1).map(|p| chars[p]);
        let starts_word =
            prev.is_none_or(|p| !(p.is_alphanumeric() || p == '_' || p == '/' || p == '='));
        if starts_word {
            if let Some(end) = url_end(&chars, i) {
                count += 23;
                i = end;
                continue;
            }
            if let Some((user, end)) = mention(&chars, i) {
                count += 1 + user;
                i = end;
                continue;
            }
        }
        let joined = prev == Some('\u{200d}');
        let regional_pair = is_regional(chars[i])
            && prev.is_some_and(is_regional)
            && regional_run(&chars, i) % 2 == 1;
        if !(joined || extends(chars[i]) || regional_pair) {
            count += 1;
        }
        i += 1;
    }
    count
}

fn url_end(chars: &[char], i: usize) -> Option<usize> {
    let rest: String = chars[i..].iter().take(8).collect::<String>().to_lowercase();
    let scheme = ["https://", "http://"]
        .into_iter()
        .find(|s| rest.starts_with(s))?;
    let mut end = i + scheme.len();
    while end < chars.len() && !chars[end].is_whitespace() {
        end += 1;
    }
    // Trailing punctuation ends a sentence, not the URL.
    while end > i + scheme.len() && ".,:;!?'\")]".contains(chars[end - 1]) {
        end -= 1;
    }
    (end > i + scheme.len()).then_some(end)
}

/// `@user@domain` at `i`: the user's length and where the mention ends.
fn mention(chars: &[char], i: usize) -> Option<(usize, usize)> {
    if chars[i] != '@' {
        return None;
    }
    let word = |c: &char| c.is_alphanumeric() || *c == '_';
    let user = chars[i + 1..].iter().take_while(|c| word(c)).count();
    let at = i + 1 + user;
    if user == 0 || chars.get(at) != Some(&'@') {
        return None;
    }
    let domain = chars[at + 1..]
        .iter()
        .take_while(|c| word(c) || **c == '.' || **c == '-')
        .count();
    // A domain ends in a word character: `@a@b.org.` ends before the dot.
    let trimmed = chars[at + 1..at + 1 + domain]
        .iter()
        .rposition(word)
        .map_or(0, |p| p + 1);
    (trimmed > 0).then_some((user, at + 1 + trimmed))
}

fn extends(c: char) -> bool {
    matches!(c as u32,
        0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F
        | 0xFE00..=0xFE0F | 0x200D | 0x1F3FB..=0x1F3FF | 0xE0020..=0xE007F)
}

fn is_regional(c: char) -> bool {
    matches!(c as u32, 0x1F1E6..=0x1F1FF)
}

/// How many regional indicators precede `i` in an unbroken run.
fn regional_run(chars: &[char], i: usize) -> usize {
    chars[..i]
        .iter()
        .rev()
        .take_while(|c| is_regional(**c))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posts_are_counted_as_mastodon_counts_them() {
        let cases = [
            ("hello", 5),
            (
                "see https://example.com/a/very/long/path?with=query",
                4 + 23,
            ),
            ("see https://example.com.", 4 + 23 + 1),
            ("hi @alice@very.long.example.org!", 3 + 6 + 1),
            ("mail me@example.org", 8 + 11),
            ("café", 4),
            ("cafe\u{301}", 4),
            ("👩‍💻", 1),
            ("👍🏽", 1),
            ("🇬🇧🇫🇷", 2),
            ("#1QEdChat", 9),
        ];
        for (text, expected) in cases {
            assert_eq!(post_length(text), expected, "{text:?}");
        }
    }
}
