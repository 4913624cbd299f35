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
    let (line, column) = e
        .location()
        .map_or((1, 1), |l| (l.line().max(1), l.column().max(1)));
    let line_text = source.lines().nth(line - 1).unwrap_or("");
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
    } else if text.contains("cannot start any token") {
        Some("put text starting with `@`, `` ` `` or `%` in double quotes")
    } else {
        None
    };
    let span = Span {
        line,
        column,
        length: 1,
    };
    vec![Diagnostic::new(span, format!("invalid YAML: {text}")).maybe_hint(hint.map(String::from))]
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
