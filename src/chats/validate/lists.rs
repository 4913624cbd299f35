//! Lists of values in a chat (reminders, ignore, exclude, skip_dates), each item
//! checked on its own, and reminders that repeat. Their `{placeholders}`
//! are checked by `commands::check`.

use std::time::Duration;

use super::{Problem, Validator};
use crate::chats::diagnostics::Diagnostic;
use crate::chats::locate::join;
use crate::chats::raw::RawChat;

impl Validator<'_> {
    /// Each item of the text list `key`, parsed; `None` after reporting.
    pub(super) fn list<T>(
        &mut self,
        path: &str,
        key: &str,
        raw: Option<&[String]>,
        parse: impl Fn(&str) -> Result<T, Problem>,
    ) -> Option<Vec<T>> {
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in raw.unwrap_or_default().iter().enumerate() {
            match parse(item) {
                Ok(v) => out.push(v),
                Err(p) => {
                    ok = false;
                    self.report(&format!("{}[{i}]", join(path, key)), p);
                }
            }
        }
        if !ok {
            // A top-level list reported here is not inherited, nor
            // reported again for each chat (see `Inherited`).
            self.bad.insert(join(path, key));
        }
        ok.then_some(out)
    }

    /// Two equal reminders would post the same text twice.
    pub(super) fn distinct_reminders(
        &mut self,
        path: &str,
        c: &RawChat,
        reminders: Vec<Duration>,
    ) -> Option<Vec<Duration>> {
        let mut ok = true;
        for (i, d) in reminders.iter().enumerate() {
            if let Some(first) = reminders[..i].iter().position(|e| e == d) {
                ok = false;
                let written = c.reminders.as_ref().map_or("", |r| r[first].as_str());
                let e = Diagnostic::new(
                    self.at.value(&format!("{path}.reminders[{i}]")),
                    format!(
                        "this reminder is the same as reminder {} (`{written}`)",
                        first + 1
                    ),
                )
                .hint("remove one: both would post the same words at the same time");
                self.errors.push(e);
            }
        }
        ok.then_some(reminders)
    }
}
