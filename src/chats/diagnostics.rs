//! Compiler-style configuration errors, rendered like casey/just's:
//! `file:line:col: error: message`, the offending line, a caret under the
//! culprit and an optional hint. This module renders; it does not decide
//! what is an error (that is `validate`), nor where (that is `locate`).

use std::fmt;
use std::path::PathBuf;

/// A place in chats.yaml: 1-based line and column (in characters), and how
/// many characters to underline. Line 0 means "the whole file".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub line: usize,
    pub column: usize,
    pub length: usize,
}

/// One problem in `chats.yaml`, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// 1-based; 0 when the problem is the file as a whole (missing, empty).
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub message: String,
    pub hint: Option<String>,
    /// Characters underlined by the caret (at least one is drawn).
    pub length: usize,
    /// The line holds a secret (a pasted token): the snippet shows it masked.
    pub secret: bool,
    /// Rendered as `warning:`: worth a look, but the file is valid.
    pub warning: bool,
    /// A second place that explains the first (where an unclosed quote
    /// opened), rendered after it as `note:`.
    pub note: Option<Box<Note>>,
}

/// A located remark attached to a [`Diagnostic`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub at: Span,
    pub message: String,
}

impl Diagnostic {
    pub fn new(at: Span, message: impl Into<String>) -> Self {
        Self {
            line: at.line,
            column: at.column,
            message: message.into(),
            hint: None,
            length: at.length,
            secret: false,
            warning: false,
            note: None,
        }
    }

    pub fn note(mut self, at: Span, message: impl Into<String>) -> Self {
        self.note = Some(Box::new(Note {
            at,
            message: message.into(),
        }));
        self
    }

    /// The same message, as a warning rather than an error.
    pub fn warning(mut self) -> Self {
        self.warning = true;
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn maybe_hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }

    pub fn secret(mut self) -> Self {
        self.secret = true;
        self
    }
}

/// Every problem found in one file; `Display` prints them all as
/// `file:line:col: error: message` plus the source line, a caret and the hint.
/// `Debug` leaves `source` out: it may hold a token pasted into the file.
#[derive(Clone)]
pub struct Diagnostics {
    pub path: PathBuf,
    pub source: String,
    pub errors: Vec<Diagnostic>,
}

impl Diagnostics {
    /// A single file-level problem (unreadable, empty…).
    pub fn whole_file(path: PathBuf, message: impl Into<String>, hint: Option<String>) -> Self {
        Self {
            path,
            source: String::new(),
            errors: vec![Diagnostic::new(Span::default(), message).maybe_hint(hint)],
        }
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            let path = self.path.display().to_string();
            render(f, &path, &self.source, e)?;
            if let Some(note) = &e.note {
                let note = Diagnostic::new(note.at, note.message.clone());
                render_labelled(f, &path, &self.source, &note, "note")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Diagnostics")
            .field("path", &self.path)
            .field("errors", &self.errors)
            .finish_non_exhaustive()
    }
}

impl std::error::Error for Diagnostics {}

fn render(f: &mut fmt::Formatter<'_>, path: &str, source: &str, e: &Diagnostic) -> fmt::Result {
    let label = if e.warning { "warning" } else { "error" };
    render_labelled(f, path, source, e, label)
}

fn render_labelled(
    f: &mut fmt::Formatter<'_>,
    path: &str,
    source: &str,
    e: &Diagnostic,
    label: &str,
) -> fmt::Result {
    let line_text = match e.line {
        0 => None,
        n => source.lines().nth(n - 1),
    };
    let Some(text) = line_text else {
        writeln!(f, "{path}: {label}: {}", e.message)?;
        if let Some(hint) = &e.hint {
            writeln!(f, "  = hint: {hint}")?;
        }
        return Ok(());
    };
    writeln!(f, "{path}:{}:{}: {label}: {}", e.line, e.column, e.message)?;
    let number = e.line.to_string();
    let gutter = " ".repeat(number.len());
    let shown = if e.secret {
        mask(text, e.column + e.length)
    } else {
        text.to_string()
    };
    writeln!(f, "{gutter} |")?;
    writeln!(f, "{number} | {}", shown.trim_end())?;
    writeln!(f, "{gutter} | {}", caret(text, e.column, e.length))?;
    if let Some(hint) = &e.hint {
        writeln!(f, "{gutter} = hint: {hint}")?;
    }
    Ok(())
}

/// Padding that keeps tabs as tabs, so the caret lines up in any terminal.
fn caret(text: &str, column: usize, length: usize) -> String {
    let pad: String = text
        .chars()
        .take(column.saturating_sub(1))
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    format!("{pad}{}", "^".repeat(length.max(1)))
}

/// Keeps the line up to the end of the highlighted key, hides the rest.
fn mask(text: &str, keep_until: usize) -> String {
    let kept: String = text.chars().take(keep_until.saturating_sub(1)).collect();
    if text.chars().count() > kept.chars().count() {
        format!("{kept}: <hidden>")
    } else {
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diagnostics(source: &str, errors: Vec<Diagnostic>) -> String {
        Diagnostics {
            path: "chats.yaml".into(),
            source: source.into(),
            errors,
        }
        .to_string()
    }

    #[test]
    fn an_error_shows_the_line_a_caret_and_the_hint() {
        let source = "chats:\n  - id: a\n    timezone: Europe/Londn\n";
        let at = Span {
            line: 3,
            column: 15,
            length: 12,
        };
        let e = Diagnostic::new(at, "unknown time zone `Europe/Londn`")
            .hint("did you mean `Europe/London`?");
        assert_eq!(
            diagnostics(source, vec![e]),
            "chats.yaml:3:15: error: unknown time zone `Europe/Londn`\n  |\n3 |     timezone: Europe/Londn\n  |               ^^^^^^^^^^^^\n  = hint: did you mean `Europe/London`?\n"
        );
    }

    #[test]
    fn a_file_level_error_has_no_snippet() {
        let e = Diagnostic::new(Span::default(), "the file is empty").hint("add `chats:`");
        assert_eq!(
            diagnostics("", vec![e]),
            "chats.yaml: error: the file is empty\n  = hint: add `chats:`\n"
        );
    }

    #[test]
    fn a_secret_line_is_masked_after_the_key() {
        let at = Span {
            line: 1,
            column: 1,
            length: 5,
        };
        let e = Diagnostic::new(at, "token").secret();
        let out = diagnostics("token: abcdef123\n", vec![e]);
        assert!(out.contains("1 | token: <hidden>\n"), "{out}");
        assert!(!out.contains("abcdef"));
    }

    #[test]
    fn debug_output_leaves_the_source_out() {
        let d = Diagnostics {
            path: "chats.yaml".into(),
            source: "token: s3cr3t\n".into(),
            errors: Vec::new(),
        };
        assert!(!format!("{d:?}").contains("s3cr3t"));
    }
}
