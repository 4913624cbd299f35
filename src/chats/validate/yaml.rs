//! The YAML document as a value, and YAML syntax errors told as a
//! moderator would need them (a key written twice, a tab, a stray `---`).

use yaml_serde::Value;

use super::EXAMPLE_HINT;
use crate::chats::diagnostics::{Diagnostic, Span};
use crate::chats::locate::SourceMap;

/// The YAML document as a value, or `None` after reporting why not.
pub(super) fn document(
    source: &str,
    at: &SourceMap,
    errors: &mut Vec<Diagnostic>,
) -> Option<Value> {
    let empty = || Diagnostic::new(Span::default(), "the file is empty").hint(EXAMPLE_HINT);
    if source.trim().is_empty() {
        errors.push(empty());
        return None;
    }
    let mut value = match yaml_serde::from_str::<Value>(source) {
        Ok(value) => value,
        Err(e) => {
            errors.extend(syntax(&e, source, at));
            return None;
        }
    };
    if value.is_null() {
        errors.push(empty());
        return None;
    }
    if let Err(e) = value.apply_merge() {
        errors.push(Diagnostic::new(
            at.value(""),
            format!("cannot apply a `<<` merge: {e}"),
        ));
        return None;
    }
    Some(value)
}

/// A YAML syntax error, or one per key written twice in a mapping.
fn syntax(e: &yaml_serde::Error, source: &str, at: &SourceMap) -> Vec<Diagnostic> {
    let text = strip_locations(&e.to_string());
    if text.contains("duplicate entry") && !at.duplicates.is_empty() {
        return at
            .duplicates
            .iter()
            .map(|d| {
                let key = d.path.rsplit('.').next().unwrap_or(&d.path);
                Diagnostic::new(
                    d.key,
                    format!("`{key}` is written twice (first on line {})", d.first_line),
                )
                .hint("keep one: YAML does not allow a key twice in the same mapping")
            })
            .collect();
    }
    let raw = e.to_string();
    let (line, column) = e
        .location()
        .map_or((1, 1), |l| (l.line().max(1), l.column().max(1)));
    let span = within(source, line, column);
    let line_text = source.lines().nth(span.line - 1).unwrap_or("");
    let opened = opening(&raw, source);
    let hint = if line_text.contains('\t') {
        Some("indent with spaces: YAML does not allow tabs")
    } else if text.contains("more than one document") {
        Some("chats.yaml holds one document: remove the `---` separators")
    } else if text.contains("mapping values are not allowed") {
        Some("put text containing `: ` in double quotes")
    } else if text.contains("flow sequence") {
        Some("a list opened with `[` needs its closing `]`; quote text that contains `,` or `]`")
    } else if text.contains("flow mapping") {
        Some("a mapping opened with `{` needs its closing `}`")
    } else if text.contains("quoted scalar") {
        Some(match opened.as_ref().map(|o| o.quote) {
            Some('\'') => {
                "close the quote with `'`; inside single quotes an apostrophe is written `''`"
            }
            _ => "close the quote with `\"`; inside double quotes a quote is written `\\\"`",
        })
    } else if text.contains("block collection") || text.contains("block mapping") {
        Some("indent each key of a chat, and each `- ` item of a list, by the same number of spaces as the others")
    } else if text.contains("cannot start any token") {
        Some("put text starting with `@`, `` ` `` or `%` in double quotes")
    } else {
        None
    };
    let mut d =
        Diagnostic::new(span, format!("invalid YAML: {text}")).maybe_hint(hint.map(String::from));
    if let Some(o) = opened.filter(|o| o.at != span) {
        d = d.note(o.at, o.message);
    }
    vec![d]
}

/// A 1-based place clamped into `source`: the scanner reports the end of
/// the stream one line past the last, where there is no text to show, so
/// that becomes the end of the last line.
fn within(source: &str, line: usize, column: usize) -> Span {
    let lines: Vec<&str> = source.lines().collect();
    let span = |line, column| Span {
        line,
        column,
        length: 1,
    };
    match lines.get(line - 1) {
        Some(_) => span(line, column),
        None => {
            let last = lines.len().max(1);
            let end = lines.last().map_or(0, |l| l.trim_end().chars().count());
            span(last, end + 1)
        }
    }
}

/// Where the construct the scanner was inside opened, as libyaml's context
/// mark tells it (", while scanning a quoted scalar at line 5 column 15").
struct Opening {
    at: Span,
    message: String,
    /// The character at the opening (`"`, `'`, `[`…).
    quote: char,
}

fn opening(raw: &str, source: &str) -> Option<Opening> {
    let (_, context) = raw.split_once(", while ")?;
    let (what, mark) = context.split_once(" at line ")?;
    let (line, column) = mark.split_once(" column ")?;
    let (line, column): (usize, usize) = (line.trim().parse().ok()?, column.trim().parse().ok()?);
    let at = within(source, line.max(1), column.max(1));
    let quote = source
        .lines()
        .nth(at.line - 1)
        .and_then(|l| l.chars().nth(at.column - 1))
        .unwrap_or(' ');
    let thing = what
        .trim_start_matches("scanning ")
        .trim_start_matches("parsing ");
    let message = match thing {
        "a quoted scalar" => format!("the quote `{quote}` opened here"),
        "a flow sequence" => "the list `[` opened here".to_string(),
        "a flow mapping" => "the mapping `{` opened here".to_string(),
        "a block collection" | "a block mapping" => {
            "the list or mapping this line should belong to started here".to_string()
        }
        other => format!("{other} started here"),
    };
    Some(Opening { at, message, quote })
}

/// "x at line 2 column 1, while y at line 1 column 4" becomes "x, while y
/// started on line 1": the first location is the diagnostic's own.
fn strip_locations(message: &str) -> String {
    let mut out = message.to_string();
    let mut first = true;
    while let Some(i) = out.find(" at line ") {
        let rest = &out[i + " at line ".len()..];
        let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let n = digits(rest);
        let Some(after) = rest[n..].strip_prefix(" column ") else {
            break;
        };
        let m = digits(after);
        let end = i + " at line ".len() + n + " column ".len() + m;
        let replacement = if first {
            String::new()
        } else {
            format!(" started on line {}", &rest[..n])
        };
        out.replace_range(i..end, &replacement);
        first = false;
    }
    out
}
