//! Lists of values in a chat (reminders, ignore, exclude, skip_dates,
//! also_watch), each item checked on its own, and reminders or watched
//! instances that repeat. Their `{placeholders}` are checked by
//! `commands::check`.

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

    /// An instance listed twice, or the chat's own server, would be read
    /// twice for nothing.
    pub(super) fn distinct_watched(
        &mut self,
        path: &str,
        home: Option<&url::Url>,
        watched: Vec<url::Url>,
    ) -> Option<Vec<url::Url>> {
        let mut ok = true;
        for (i, url) in watched.iter().enumerate() {
            let at = format!("{path}.also_watch[{i}]");
            if home.is_some_and(|h| same_instance(h, url)) {
                ok = false;
                let p = Problem::new(format!("`{url}` is the chat's own `server`"))
                    .hint("its tag timeline is read already; list only other instances");
                self.report(&at, p);
            } else if watched[..i].iter().any(|w| same_instance(w, url)) {
                ok = false;
                let p = Problem::new(format!("`{url}` is listed twice in `also_watch`"))
                    .hint("remove one of them");
                self.report(&at, p);
            }
        }
        ok.then_some(watched)
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

/// Whether two addresses name one instance (scheme, host and port).
fn same_instance(a: &url::Url, b: &url::Url) -> bool {
    a.origin() == b.origin()
}
