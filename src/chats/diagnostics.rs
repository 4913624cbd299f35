//! Compiler-style configuration errors, rendered like casey/just's:
//! `file:line:col: error: message`, the offending line, a caret under the
//! culprit and an optional hint. This module renders and suggests; it does
//! not decide what is an error (that is `validate`).

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

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
        }
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
            render(f, &self.path.display().to_string(), &self.source, e)?;
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
    let line_text = match e.line {
        0 => None,
        n => source.lines().nth(n - 1),
    };
    let Some(text) = line_text else {
        writeln!(f, "{path}: error: {}", e.message)?;
        if let Some(hint) = &e.hint {
            writeln!(f, "  = hint: {hint}")?;
        }
        return Ok(());
    };
    writeln!(f, "{path}:{}:{}: error: {}", e.line, e.column, e.message)?;
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

/// The candidate closest to `word`, when close enough to be a likely typo:
/// an edit distance of at most a third of the word (at least 1, at most 3),
/// or `word` being a whole part of the candidate (`interval` for
/// `question_interval`). Comparison ignores case.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_lowercase();
    let limit = (word.chars().count() / 3).clamp(1, 3);
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let lower = candidate.to_lowercase();
        let distance = if lower == word {
            0
        } else if word.len() >= 4 && lower.split(['_', '/']).any(|part| part == word) {
            1
        } else {
            edit_distance(&word, &lower)
        };
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// Edit distance over characters where swapping two neighbours counts as
/// one edit (`dmeo` is one typo from `demo`): optimal string alignment.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// Where each YAML node of chats.yaml sits, by path (`chats[0].timezone`,
/// `chats[1].questions[2]`). serde values carry no positions, so this is
/// built separately from yaml-rust2's marked events; a path it does not
/// know (an alias, a merge) falls back to its nearest known ancestor.
#[derive(Debug, Default)]
pub struct SourceMap {
    nodes: HashMap<String, Node>,
    /// Keys written twice in one mapping, second occurrence first.
    pub duplicates: Vec<Duplicate>,
}

#[derive(Debug, Clone, Copy)]
struct Node {
    key: Option<Span>,
    value: Span,
    /// For a one-line scalar written verbatim: where its text starts inside
    /// the span (1 past an opening quote), so errors can point inside it.
    inner: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct Duplicate {
    pub path: String,
    pub key: Span,
    pub first_line: usize,
}

impl SourceMap {
    /// Indexes as much of `source` as parses; a syntax error is reported by
    /// the serde stage, so here it only ends the index early.
    pub fn build(source: &str) -> Self {
        // yaml-rust2 recurses once per level of block nesting and overflows
        // the stack somewhere past 600 levels (`- - - - …`); real files nest
        // a handful deep, so a pathological one simply goes unindexed.
        if nesting_bound(source) > 200 {
            return SourceMap::default();
        }
        let mut builder = Builder {
            lines: source.lines().collect(),
            frames: Vec::new(),
            map: SourceMap::default(),
        };
        let _ = Parser::new_from_str(source).load(&mut builder, false);
        builder.map
    }

    /// The span of the value at `path` (or its closest known ancestor).
    pub fn value(&self, path: &str) -> Span {
        self.find(path).map(|n| n.value).unwrap_or_default()
    }

    /// The span of the key of `path`, or of its value when it has no key.
    pub fn key(&self, path: &str) -> Span {
        self.find(path)
            .map(|n| n.key.unwrap_or(n.value))
            .unwrap_or_default()
    }

    /// Whether `path` itself (not an ancestor) is in the file.
    pub fn has(&self, path: &str) -> bool {
        self.nodes.contains_key(path)
    }

    /// `len` characters from character `start` of the scalar at `path`;
    /// the whole value when it is not a verbatim one-line scalar.
    pub fn inside(&self, path: &str, start: usize, len: usize) -> Span {
        match self.nodes.get(path) {
            Some(Node {
                value,
                inner: Some(offset),
                ..
            }) => Span {
                line: value.line,
                column: value.column + offset + start,
                length: len.max(1),
            },
            _ => self.value(path),
        }
    }

    fn find(&self, mut path: &str) -> Option<&Node> {
        loop {
            if let Some(node) = self.nodes.get(path) {
                return Some(node);
            }
            path = &path[..path.rfind(['.', '[']).or((!path.is_empty()).then_some(0))?];
        }
    }
}

/// An upper bound of the YAML nesting depth of `source`: a nested block
/// collection starts further right than its parent (by indentation or by a
/// compact `- `, `? ` or `: ` on the same line), and flow collections nest
/// by brackets.
fn nesting_bound(source: &str) -> usize {
    let block = source
        .lines()
        .map(|line| {
            let indent = line.len() - line.trim_start().len();
            indent
                + line.matches("- ").count()
                + line.matches("? ").count()
                + line.matches(": ").count()
        })
        .max()
        .unwrap_or(0);
    let (mut depth, mut flow) = (0usize, 0usize);
    for c in source.chars() {
        match c {
            '[' | '{' => {
                depth += 1;
                flow = flow.max(depth);
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    block + flow
}

enum Frame {
    Map {
        path: String,
        key: Option<(String, Span)>,
        seen: HashMap<String, usize>,
    },
    Seq {
        path: String,
        next: usize,
    },
}

struct Builder<'a> {
    lines: Vec<&'a str>,
    frames: Vec<Frame>,
    map: SourceMap,
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::Scalar(value, style, ..) => {
                let (span, inner) = self.scalar_span(mark, style, &value);
                if !self.take_key(&value, span) {
                    self.child(span, inner);
                }
            }
            Event::Alias(_) => {
                let span = self.point(mark);
                if !self.take_key("*", span) {
                    self.child(span, None);
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let span = self.point(mark);
                // A mapping or list used as a key: remember a placeholder
                // key so the value that follows still gets a path.
                if let Some(Frame::Map {
                    key: key @ None, ..
                }) = self.frames.last_mut()
                {
                    *key = Some(("<key>".into(), span));
                }
                let path = self.child(span, None);
                self.frames.push(match event {
                    Event::MappingStart(..) => Frame::Map {
                        path,
                        key: None,
                        seen: HashMap::new(),
                    },
                    _ => Frame::Seq { path, next: 0 },
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.frames.pop();
            }
            _ => {}
        }
    }
}

impl Builder<'_> {
    /// Records `name` as the pending key when a mapping awaits one.
    fn take_key(&mut self, name: &str, span: Span) -> bool {
        let Some(Frame::Map { path, key, seen }) = self.frames.last_mut() else {
            return false;
        };
        if key.is_some() {
            return false;
        }
        if seen.is_empty() {
            // Block mappings start where their first key does.
            if let Some(node) = self.map.nodes.get_mut(path.as_str()) {
                node.value = span;
            } else {
                let node = Node {
                    key: None,
                    value: span,
                    inner: None,
                };
                self.map.nodes.insert(path.clone(), node);
            }
        }
        let child = super::raw::join(path, name);
        match seen.get(name) {
            Some(first_line) => self.map.duplicates.push(Duplicate {
                path: child,
                key: span,
                first_line: *first_line,
            }),
            None => {
                seen.insert(name.to_string(), span.line);
            }
        }
        *key = Some((name.to_string(), span));
        true
    }

    /// Records a value node under the current container; returns its path.
    fn child(&mut self, value: Span, inner: Option<usize>) -> String {
        let (path, key) = match self.frames.last_mut() {
            None => (String::new(), None),
            Some(Frame::Seq { path, next }) => {
                *next += 1;
                (format!("{path}[{}]", *next - 1), None)
            }
            Some(Frame::Map { path, key, .. }) => match key.take() {
                Some((name, span)) => (super::raw::join(path, &name), Some(span)),
                None => (super::raw::join(path, "<key>"), None),
            },
        };
        // The first record wins: a duplicate key must not move the first.
        self.map
            .nodes
            .entry(path.clone())
            .or_insert(Node { key, value, inner });
        path
    }

    fn point(&self, mark: Marker) -> Span {
        Span {
            line: mark.line(),
            column: mark.col() + 1,
            length: 1,
        }
    }

    fn scalar_span(&self, mark: Marker, style: TScalarStyle, value: &str) -> (Span, Option<usize>) {
        let rest: Vec<char> = self
            .lines
            .get(mark.line().wrapping_sub(1))
            .map(|l| l.chars().skip(mark.col()).collect())
            .unwrap_or_default();
        let (length, inner) = match style {
            TScalarStyle::Plain => {
                let text: String = rest.iter().collect();
                if !value.contains('\n') && text.starts_with(value) {
                    (value.chars().count(), Some(0))
                } else {
                    let end = text.find(" #").unwrap_or(text.len());
                    (text[..end].trim_end().chars().count(), None)
                }
            }
            TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => {
                let length = quoted_length(&rest);
                let body: String = rest.iter().skip(1).take(length.saturating_sub(2)).collect();
                (length, (body == value).then_some(1))
            }
            _ => (
                rest.iter().collect::<String>().trim_end().chars().count(),
                None,
            ),
        };
        let span = Span {
            length: length.max(1),
            ..self.point(mark)
        };
        (span, inner)
    }
}

/// Characters from an opening quote through its closing quote, or to the
/// end of the line for a scalar continued on the next one.
fn quoted_length(rest: &[char]) -> usize {
    let Some(&quote) = rest.first() else {
        return 1;
    };
    let mut i = 1;
    while i < rest.len() {
        match rest[i] {
            '\\' if quote == '"' => i += 1,
            '\'' if quote == '\'' && rest.get(i + 1) == Some(&'\'') => i += 1,
            c if c == quote => return i + 1,
            _ => {}
        }
        i += 1;
    }
    rest.len()
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

    #[test]
    fn suggestions_catch_typos_and_partial_names_but_not_strangers() {
        let keys = ["question_interval", "questions", "timezone", "intro"];
        let cases = [
            ("question_intervall", Some("question_interval")),
            ("interval", Some("question_interval")),
            ("time_zone", Some("timezone")),
            ("Intro", Some("intro")),
            ("questons", Some("questions")),
            ("itnro", Some("intro")),
            ("colour", None),
            ("x", None),
        ];
        for (word, expected) in cases {
            assert_eq!(suggest(word, keys), expected, "for {word}");
        }
    }
}
