//! The few lines of RFC 5545 the calendar needs: content lines ending in
//! CRLF, folded at 75 octets without splitting a character, TEXT values
//! escaped, times in UTC. No parsing: hashchat only writes calendars.

use chrono::{DateTime, Utc};

/// The longest physical line, in octets, CRLF not counted (RFC 5545 3.1).
const MAX_OCTETS: usize = 75;

/// An iCalendar object being written, one content line at a time.
#[derive(Debug, Default)]
pub struct Ics {
    out: String,
}

impl Ics {
    pub fn new() -> Self {
        Self::default()
    }

    /// `NAME:value` with `value` already in its type's form (a URI, a
    /// date-time, a keyword): written as is, folded.
    pub fn raw(&mut self, name: &str, value: &str) {
        fold(&format!("{name}:{value}"), &mut self.out);
    }

    /// `NAME:value` for a TEXT value, escaped.
    pub fn text(&mut self, name: &str, value: &str) {
        self.raw(name, &escape(value));
    }

    /// `NAME:20261203T200000Z`.
    pub fn time(&mut self, name: &str, at: DateTime<Utc>) {
        self.raw(name, &utc(at));
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// A DATE-TIME in UTC ("form #2"), which needs no VTIMEZONE.
pub fn utc(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

/// A TEXT value (RFC 5545 3.3.11): `\`, `;` and `,` escaped, line breaks
/// as `\n`; other control characters, which TEXT may not hold, dropped.
pub fn escape(value: &str) -> String {
    let value = value.replace("\r\n", "\n");
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' | '\r' => out.push_str("\\n"),
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends `line` and its CRLF, folded: a physical line holds at most 75
/// octets, continuation lines start with a space (counted in the 75), and
/// a multi-byte character is never split across two lines.
pub fn fold(line: &str, out: &mut String) {
    let mut octets = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if octets + len > MAX_OCTETS {
            out.push_str("\r\n ");
            octets = 1;
        }
        out.push(c);
        octets += len;
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folded(line: &str) -> String {
        let mut out = String::new();
        fold(line, &mut out);
        out
    }

    /// What a parser does: remove every CRLF followed by a space.
    fn unfold(text: &str) -> String {
        text.replace("\r\n ", "")
    }

    #[test]
    fn a_short_line_is_kept_whole_and_ends_in_crlf() {
        assert_eq!(folded("SUMMARY:#1QEdChat"), "SUMMARY:#1QEdChat\r\n");
        assert_eq!(folded(&"x".repeat(75)), format!("{}\r\n", "x".repeat(75)));
    }

    #[test]
    fn a_long_line_is_folded_at_75_octets_with_a_leading_space() {
        let line = "x".repeat(200);
        let out = folded(&line);
        let lines: Vec<&str> = out
            .strip_suffix("\r\n")
            .expect("crlf")
            .split("\r\n")
            .collect();
        assert_eq!(lines[0].len(), 75);
        assert!(lines[1..]
            .iter()
            .all(|l| l.starts_with(' ') && l.len() <= 75));
        assert_eq!(lines[1].len(), 75);
        assert_eq!(unfold(&out), format!("{line}\r\n"));
    }

    #[test]
    fn folding_counts_octets_and_never_splits_a_multibyte_character() {
        // 'é' is 2 octets, '€' 3, '🎉' 4: character counts would be wrong
        // on every line, and a split at the 75th octet would cut one.
        for piece in ["é", "€", "🎉", "a€", "ab🎉"] {
            let line = format!("DESCRIPTION:{}", piece.repeat(60));
            let out = folded(&line);
            for physical in out.split("\r\n").filter(|l| !l.is_empty()) {
                assert!(physical.len() <= 75, "{piece}: {} octets", physical.len());
            }
            assert_eq!(unfold(&out), format!("{line}\r\n"), "{piece}");
            // Each line is whole UTF-8: the split happened between chars.
            assert!(out
                .split("\r\n")
                .all(|l| std::str::from_utf8(l.as_bytes()).is_ok()));
        }
        // A line of 2-octet characters fills 74 octets, not 75: the next
        // character does not fit, and it is not cut in half.
        let out = folded(&format!("X:{}", "é".repeat(40)));
        let first = out.split("\r\n").next().expect("a line");
        assert_eq!(first.len(), 74, "{first}");
    }

    #[test]
    fn text_escapes_backslash_semicolon_comma_and_newlines() {
        let cases = [
            ("plain", "plain"),
            ("a, b; c", "a\\, b\\; c"),
            ("back\\slash", "back\\\\slash"),
            ("two\nlines", "two\\nlines"),
            ("windows\r\nline", "windows\\nline"),
            ("bell\u{7}gone", "bellgone"),
            ("colon: kept", "colon: kept"),
        ];
        for (input, expected) in cases {
            assert_eq!(escape(input), expected, "{input:?}");
        }
    }

    #[test]
    fn every_line_of_an_object_ends_in_crlf_and_times_are_utc() {
        let mut ics = Ics::new();
        ics.raw("BEGIN", "VCALENDAR");
        ics.text("SUMMARY", "a,b");
        let at = DateTime::parse_from_rfc3339("2026-12-03T20:00:00+01:00")
            .expect("time")
            .with_timezone(&Utc);
        ics.time("DTSTART", at);
        let out = ics.finish();
        assert_eq!(
            out,
            "BEGIN:VCALENDAR\r\nSUMMARY:a\\,b\r\nDTSTART:20261203T190000Z\r\n"
        );
        assert!(!out.replace("\r\n", "").contains('\n'));
    }
}
