//! The calendar: the chats' next runs as an iCalendar feed (RFC 5545) that
//! people subscribe to, one for every chat and one per chat. Each run is an
//! event from the intro to the closing post, with the hashtag, the
//! session's topic and host, how to answer, and the address of its room.
//! Runs called off (a day in `skip_dates`, a moderator's `cancel`) stay in
//! the feed as cancelled events, so calendars that already show them say so.
//!
//! Pure: the caller passes the clock reading and the cancelled runs (read
//! from the store); this module reads no database and serves nothing.

mod ics;

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::chats::Chat;
use crate::schedule::{self, Slot};
use ics::Ics;

/// How many runs of each chat a feed holds at least (called-off runs are
/// listed besides).
pub const RUNS: usize = 8;

/// Runs a moderator called off: (chat id, planned start), as the store's
/// `runs` table keeps them.
#[derive(Debug, Clone, Default)]
pub struct Cancelled(HashSet<(String, DateTime<Utc>)>);

impl Cancelled {
    pub fn none() -> Self {
        Self::default()
    }

    pub fn contains(&self, chat: &str, start: DateTime<Utc>) -> bool {
        self.0.contains(&(chat.to_string(), start))
    }
}

impl FromIterator<(String, DateTime<Utc>)> for Cancelled {
    fn from_iter<I: IntoIterator<Item = (String, DateTime<Utc>)>>(runs: I) -> Self {
        Self(runs.into_iter().collect())
    }
}

/// The feed of every chat (`/calendar.ics`). `base_url` is the public
/// root of the pages: a run's room is `<base_url>/chats/<id>`.
pub fn feed(
    chats: &[Arc<Chat>],
    now: DateTime<Utc>,
    base_url: &url::Url,
    cancelled: &Cancelled,
) -> String {
    let chats: Vec<&Chat> = chats.iter().map(AsRef::as_ref).collect();
    write("hashchat", &chats, now, base_url, cancelled)
}

/// The feed of one chat (`/chats/<id>/calendar.ics`).
pub fn chat_feed(
    chat: &Chat,
    now: DateTime<Utc>,
    base_url: &url::Url,
    cancelled: &Cancelled,
) -> String {
    let name = chat.content().hashtag().to_string();
    write(&name, &[chat], now, base_url, cancelled)
}

/// Why an event is in the feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Confirmed,
    /// Its day is in `skip_dates`.
    Skipped,
    /// A moderator called it off.
    Cancelled,
}

fn write(
    name: &str,
    chats: &[&Chat],
    now: DateTime<Utc>,
    base_url: &url::Url,
    cancelled: &Cancelled,
) -> String {
    let mut events: Vec<(&Chat, Slot, Status)> = chats
        .iter()
        .flat_map(|chat| {
            events(chat, now, cancelled)
                .into_iter()
                .map(move |(slot, status)| (*chat, slot, status))
        })
        .collect();
    events.sort_by(|a, b| (a.1.start, a.0.id()).cmp(&(b.1.start, b.0.id())));
    let mut ics = Ics::new();
    ics.raw("BEGIN", "VCALENDAR");
    ics.raw("VERSION", "2.0");
    ics.text(
        "PRODID",
        &format!("-//hashchat//hashchat {}//EN", env!("CARGO_PKG_VERSION")),
    );
    ics.raw("CALSCALE", "GREGORIAN");
    ics.text("X-WR-CALNAME", name);
    // RFC 7986: how often subscribers should fetch the feed again.
    ics.raw("REFRESH-INTERVAL;VALUE=DURATION", "PT6H");
    for (chat, slot, status) in events {
        event(&mut ics, chat, slot.start, status, now, base_url);
    }
    ics.raw("END", "VCALENDAR");
    ics.finish()
}

/// The slots of `chat` in the feed: runs not yet over, until [`RUNS`] of
/// them that will happen, and the called-off ones among them.
fn events(chat: &Chat, now: DateTime<Utc>, cancelled: &Cancelled) -> Vec<(Slot, Status)> {
    // A run in progress stays in the feed until its closing post.
    let longest = schedule::timeline(chat, now).collect_until - now;
    let since = now - longest;
    let mut asked = RUNS;
    loop {
        let slots = schedule::next_slots(chat, since, asked);
        let exhausted = slots.iter().filter(|s| !s.skipped).count() < asked;
        let mut out = Vec::new();
        let mut live = 0;
        for slot in slots {
            if closing(chat, slot.start) <= now {
                continue;
            }
            let status = if slot.skipped {
                Status::Skipped
            } else if cancelled.contains(chat.id(), slot.start) {
                Status::Cancelled
            } else {
                live += 1;
                Status::Confirmed
            };
            out.push((slot, status));
            if live == RUNS {
                return out;
            }
        }
        if exhausted {
            return out;
        }
        // Cancelled and finished runs took places: ask for that many more.
        asked += RUNS - live;
    }
}

/// When the run of `chat` starting at `start` posts its closing.
fn closing(chat: &Chat, start: DateTime<Utc>) -> DateTime<Utc> {
    schedule::timeline(chat, start)
        .posts
        .iter()
        .find(|p| p.kind == schedule::PostKind::Closing)
        .map_or(start, |p| p.at)
}

fn event(
    ics: &mut Ics,
    chat: &Chat,
    start: DateTime<Utc>,
    status: Status,
    now: DateTime<Utc>,
    base_url: &url::Url,
) {
    let tag = chat.content().hashtag();
    let session = schedule::session_for(chat, start);
    let topic = session.and_then(|s| s.topic.as_deref());
    let room = room(base_url, chat.id());
    let title = match topic {
        Some(topic) => format!("{tag}: {topic}"),
        None => tag.to_string(),
    };
    let summary = match status {
        Status::Confirmed => title,
        Status::Skipped => format!("No {tag} this time"),
        Status::Cancelled => format!("Cancelled: {title}"),
    };
    let host = session.and_then(|s| s.host.as_deref());
    ics.raw("BEGIN", "VEVENT");
    ics.text("UID", &uid(chat, start, base_url));
    ics.time("DTSTAMP", now);
    ics.time("DTSTART", start);
    ics.time("DTEND", closing(chat, start));
    ics.text("SUMMARY", &summary);
    ics.text(
        "DESCRIPTION",
        &description(chat, status, topic, host, &room),
    );
    ics.raw("URL", room.as_str());
    let (state, sequence) = match status {
        Status::Confirmed => ("CONFIRMED", "0"),
        // A calendar that has the event takes the change for a newer one.
        Status::Skipped | Status::Cancelled => ("CANCELLED", "1"),
    };
    ics.raw("STATUS", state);
    ics.raw("SEQUENCE", sequence);
    ics.raw("TRANSP", "TRANSPARENT");
    ics.raw("END", "VEVENT");
}

/// Why a run is called off, its topic and host, how to answer, the room.
fn description(
    chat: &Chat,
    status: Status,
    topic: Option<&str>,
    host: Option<&str>,
    room: &url::Url,
) -> String {
    let tag = chat.content().hashtag();
    let mut text = match status {
        Status::Confirmed => String::new(),
        Status::Skipped => "No chat on this day: it is one of the chat's skip dates.\n\n".into(),
        Status::Cancelled => "This run was called off by a moderator.\n\n".into(),
    };
    if let Some(topic) = topic {
        text.push_str(&format!("Topic: {topic}\n"));
    }
    if let Some(host) = host {
        text.push_str(&format!("Hosted by {host}\n"));
    }
    if topic.is_some() || host.is_some() {
        text.push('\n');
    }
    text.push_str(&format!(
        "Questions are posted as Q1, Q2 … with {tag}. Reply with A1, A2 … and {tag}.\n\nFollow the chat live: {room}"
    ));
    text
}

/// `<base>/chats/<id>`; a base without a trailing `/` still keeps its path.
fn room(base_url: &url::Url, id: &str) -> url::Url {
    let mut base = base_url.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    // Chat ids are lowercase letters, digits, `-` and `_`: a valid path.
    base.join(&format!("chats/{id}"))
        .unwrap_or_else(|_| base_url.clone())
}

/// The same for every feed of the same run, whatever else changed: the
/// chat, the planned start, and the host serving it.
fn uid(chat: &Chat, start: DateTime<Utc>, base_url: &url::Url) -> String {
    let host = base_url.host_str().unwrap_or("hashchat");
    format!("{}-{}@{host}", chat.id(), ics::utc(start))
}

#[cfg(test)]
mod tests;
