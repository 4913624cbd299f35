//! Where each node of chats.yaml sits (line, column, length), so that
//! validation can point at the culprit. serde values carry no positions;
//! this index is built separately from yaml-rust2's marked events.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::diagnostics::Span;

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
        let child = join(path, name);
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
                Some((name, span)) => (join(path, &name), Some(span)),
                None => (join(path, "<key>"), None),
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

/// The YAML path of `key` under `parent`, as [`SourceMap`] spells it.
pub fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}
