//! `sessions:`: dated sessions of a recurring chat, each with its own
//! questions and optionally a topic, a guest host, an intro and a closing.

use std::collections::HashMap;

use chrono::NaiveDate;
use yaml_serde::Value;

use super::{values, Setting, Validator};
use crate::chats::diagnostics::Diagnostic;
use crate::chats::locate::join;
use crate::chats::raw::{self, Level, RawSession, Shaped};
use crate::chats::Session;

impl Validator<'_> {
    /// The sessions of the chat at `path`, in the order written (the
    /// caller sorts them after its checks); `None` after reporting.
    pub(super) fn sessions(&mut self, path: &str, raw: Option<&[Value]>) -> Option<Vec<Session>> {
        let mut out = Vec::new();
        let mut ok = true;
        let mut dates: HashMap<NaiveDate, usize> = HashMap::new();
        for (i, item) in raw.unwrap_or_default().iter().enumerate() {
            let Some(map) = item.as_mapping() else {
                continue; // reported by `shape`
            };
            let at = format!("{path}.sessions[{i}]");
            let shaped: Shaped<RawSession> =
                raw::shape(map, &at, Level::Session, self.at, self.errors);
            match self.session(&at, &shaped) {
                Some(s) => {
                    let line = self.at.value(&join(&at, "date")).line;
                    if let Some(first) = dates.insert(s.date, line) {
                        ok = false;
                        let e = Diagnostic::new(
                            self.at.value(&join(&at, "date")),
                            format!("two sessions on {} (the first on line {first})", s.date),
                        )
                        .hint("a chat runs once a day at most: merge them or change a date");
                        self.errors.push(e);
                    }
                    out.push(s);
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn session(&mut self, at: &str, shaped: &Shaped<RawSession>) -> Option<Session> {
        let (s, broken) = (&shaped.raw, &shaped.broken);
        let date = self.value(s.date.as_ref(), at, "date", broken, values::date);
        let topic = self.value(s.topic.as_ref(), at, "topic", broken, |t| {
            values::non_empty(t, "topic").map(|t| t.trim().to_string())
        });
        let host = self.value(s.host.as_ref(), at, "host", broken, values::host);
        let intro = self.value(s.intro.as_ref(), at, "intro", broken, |t| {
            values::non_empty(t, "intro")
        });
        let closing = self.value(s.closing.as_ref(), at, "closing", broken, |t| {
            values::non_empty(t, "closing")
        });
        let questions = match &s.questions {
            Some(q) => self.question_list(&join(at, "questions"), q),
            None => {
                if !broken.contains("questions") {
                    let e = Diagnostic::new(self.at.key(at), "this session has no `questions`")
                        .hint("add `questions:` with one `- How do you …?` per line");
                    self.errors.push(e);
                }
                None
            }
        };
        if matches!(date, Setting::Unset) {
            let e = Diagnostic::new(self.at.key(at), "this session has no `date`")
                .hint("add `date: 2026-12-03` (the day of the run, in the chat's time zone)");
            self.errors.push(e);
        }
        let (questions, question_images) = questions?;
        Some(Session {
            date: date.required()?,
            topic: topic.optional()?,
            host: host.optional()?,
            questions,
            question_images,
            intro: intro.optional()?,
            closing: closing.optional()?,
        })
    }
}
