//! `skip_dates` that change nothing: a chat's own entry on which no run
//! falls, and a session dated on a skipped day (never used). Inherited
//! top-level dates are not checked: holidays shared by chats on different
//! days always miss some of them.

use super::posts::{join, session_path, Checker};
use crate::chats::{Chat, Diagnostic};
use crate::schedule;

impl Checker<'_> {
    pub(super) fn skip_dates(&mut self, path: &str, chat: &Chat) {
        let own = join(path, "skip_dates");
        if self.at.has(&own) {
            for (i, skip) in chat.timing().skip_dates().iter().enumerate() {
                let mut days = skip.first.iter_days().take_while(|d| *d <= skip.last);
                if days.any(|d| schedule::runs_on(chat, d)) {
                    continue;
                }
                let e = Diagnostic::new(
                    self.at.value(&format!("{own}[{i}]")),
                    format!("no run of chat `{}` falls on {skip}: skipping it changes nothing", chat.id()),
                )
                .hint("check the date against the schedule (`hashchat plan --runs 10` lists the runs)")
                .warning();
                self.warnings.push(e);
            }
        }
        for (i, s) in chat.timing().sessions().iter().enumerate() {
            if !chat.timing().skips(s.date) {
                continue;
            }
            let e = Diagnostic::new(
                self.at.value(&join(&session_path(path, i), "date")),
                format!(
                    "{} is in `skip_dates` of chat `{}`: this session is never used",
                    s.date,
                    chat.id()
                ),
            )
            .hint("move the session to another date, or take the day out of `skip_dates`")
            .warning();
            self.warnings.push(e);
        }
    }
}
