//! Recording a page of statuses at once (what reconciliation reads: 40 per
//! timeline page, thousands in a long backfill), the part both databases
//! share: given what is stored of a page, what to write. Each backend reads
//! the stored versions and writes the plan in one transaction of its own
//! (`sqlite/batch.rs`, `postgres/batch.rs`). This is the one place for the
//! rules of recording a status: idempotent on the status's identity (its
//! uri), only a newer edit replaces a stored status, a deleted one is never
//! revived, and a status that comes back under a new id (snac2 re-ids an
//! edit) is that edit: the row moves to the new id. A copy of a stored
//! status read from another instance (the bot's server and a watched one,
//! or two watched ones) is the same status: it never moves the row, and a
//! newer edit of it is written under the row's own key.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::{Answered, Recorded, StoredStatus};

/// Rows per statement. A statement of exactly this many rows is prepared
/// once per connection and kept; a shorter remainder is prepared for its
/// one use. sqlx keeps up to 100 statements per connection: keeping one
/// multi-row statement per batch size that a flood produces would hold up
/// to 100 statements of hundreds of rows, and prepare nearly every one.
pub(crate) const ROWS_PER_STATEMENT: usize = 100;

/// Whether a statement over `rows` rows is one to keep prepared.
pub(crate) fn kept_prepared(rows: usize) -> bool {
    rows == ROWS_PER_STATEMENT
}

/// What is stored of a status that decides whether a newer copy replaces it.
#[derive(Clone)]
pub(crate) struct Held {
    /// The id it is stored under.
    id: String,
    /// The instance that id belongs to (`None`: the bot's server).
    instance: Option<String>,
    edited_at: Option<DateTime<Utc>>,
    deleted: bool,
}

/// What to write for a page, given what is stored of it.
pub(crate) struct Plan<'p> {
    /// For each input in order, what recording it did.
    pub outcomes: Vec<Recorded>,
    /// The page, with copies from another instance under their row's key.
    pub page: Cow<'p, [Answered]>,
    /// (index in `page`, whether answers may be stored for it already) of
    /// each version to write, one per status, in input order.
    pub rows: Vec<(usize, bool)>,
    /// (stored id, index in `page`) of each row whose id moves first.
    pub moves: Vec<(String, usize)>,
}

/// Decides, for a page and what is stored of it (by uri), what recording
/// its statuses one after the other does: the one place for the rules.
pub(crate) fn plan<'p>(page: &'p [Answered], stored: &HashMap<&'p str, Held>) -> Plan<'p> {
    let mut held = stored.clone();
    let mut outcomes = Vec::with_capacity(page.len());
    // Which input holds the version to write, per status uri (the last
    // accepted one), and whether answers may already be stored for it
    // (from the database or an earlier copy in this page).
    let mut to_write: HashMap<&str, (usize, bool)> = HashMap::new();
    // Copies from another instance than the row's, by input: the row's key.
    let mut rekeyed: HashMap<usize, Held> = HashMap::new();
    for (index, (status, _)) in page.iter().enumerate() {
        let uri = status.uri.as_str();
        let before = held.get(uri);
        let outcome = decide(before, status);
        if outcome != Recorded::Unchanged {
            let had = before.is_some();
            let mut now = Held {
                id: status.status_id.clone(),
                instance: status.instance.clone(),
                edited_at: status.edited_at,
                deleted: false,
            };
            if let Some(row) = before.filter(|b| b.instance != status.instance) {
                (now.id, now.instance) = (row.id.clone(), row.instance.clone());
                rekeyed.insert(index, now.clone());
            }
            held.insert(uri, now);
            to_write.insert(uri, (index, had));
        }
        outcomes.push(outcome);
    }
    let page = under_row_keys(page, &rekeyed);
    let mut rows: Vec<(usize, bool)> = to_write.into_values().collect();
    rows.sort_unstable();
    let moves = rows
        .iter()
        .filter_map(|&(index, _)| {
            let status = &page[index].0;
            let old = stored.get(status.uri.as_str())?;
            (old.id != status.status_id).then(|| (old.id.clone(), index))
        })
        .collect();
    Plan {
        outcomes,
        page,
        rows,
        moves,
    }
}

/// The page with each copy in `rekeyed` under its row's key and instance;
/// the page itself when there is none (the common case: one source).
fn under_row_keys<'p>(page: &'p [Answered], rekeyed: &HashMap<usize, Held>) -> Cow<'p, [Answered]> {
    if rekeyed.is_empty() {
        return Cow::Borrowed(page);
    }
    let mut owned = page.to_vec();
    for (index, row) in rekeyed {
        owned[*index].0.status_id = row.id.clone();
        owned[*index].0.instance = row.instance.clone();
    }
    Cow::Owned(owned)
}

/// The one "newer edit wins" rule: new, a newer edit, or unchanged
/// (already stored at this or a newer version, or deleted). A copy under
/// another id than the stored one on the same instance is an edit unless
/// it is older: snac2 gives an edited status a new id, and the old id is
/// retired. On another instance, another id is only another copy.
fn decide(stored: Option<&Held>, copy: &StoredStatus) -> Recorded {
    let Some(stored) = stored else {
        return Recorded::New;
    };
    if stored.deleted {
        return Recorded::Unchanged;
    }
    let (newer, older) = match (copy.edited_at, stored.edited_at) {
        (Some(c), Some(s)) => (c > s, c < s),
        (Some(_), None) => (true, false),
        (None, Some(_)) => (false, true),
        (None, None) => (false, false),
    };
    let moved = copy.status_id != stored.id && copy.instance == stored.instance;
    if newer || (moved && !older) {
        Recorded::Edited
    } else {
        Recorded::Unchanged
    }
}

/// (status_id, instance, uri, edited_at, deleted_at) of the copies stored.
pub(crate) type Stored = (
    String,
    Option<String>,
    Option<String>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

/// Adds the stored `rows` of `chunk` to `held`, keyed by the chunk's uris.
pub(crate) fn hold<'p>(
    held: &mut HashMap<&'p str, Held>,
    chunk: &'p [Answered],
    rows: Vec<Stored>,
) {
    let wanted: HashSet<&'p str> = chunk.iter().map(|(s, _)| s.uri.as_str()).collect();
    let uri_of_id: HashMap<&str, &'p str> = chunk
        .iter()
        .map(|(s, _)| (s.status_id.as_str(), s.uri.as_str()))
        .collect();
    for (id, instance, uri, edited_at, deleted_at) in rows {
        let deleted = deleted_at.is_some();
        // Keyed by the page's own string so the map outlives the rows.
        match uri {
            Some(uri) => {
                if let Some(&key) = wanted.get(uri.as_str()) {
                    held.insert(
                        key,
                        Held {
                            id,
                            instance,
                            edited_at,
                            deleted,
                        },
                    );
                }
            }
            // A row matched by uri wins over one matched by id.
            None => {
                if let Some(&key) = uri_of_id.get(id.as_str()) {
                    held.entry(key).or_insert(Held {
                        id,
                        instance,
                        edited_at,
                        deleted,
                    });
                }
            }
        }
    }
}
