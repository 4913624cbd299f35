//! Chat leases: at most one process runs a chat at a time.
//!
//! A lease is an exclusive lock (`flock`) on the chat's file in a folder
//! beside the database, `<db>-leases/<chat>.lease`, held for as long as
//! the process runs the chat. The kernel lets go of it when the process
//! ends, however it ends (`kill -9`, a crash, a container removed), so
//! there is nothing to renew and nothing to expire: an idle daemon does no
//! periodic work for its leases, and a restarted one takes its chats back
//! at once. The file holds the holder's name and since when, for
//! `hashchat status` and for the error a second process gets.
//!
//! A private in-memory database (dry runs) keeps its leases in the process.

use std::collections::HashMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};

/// Who holds a chat, when another process asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHolder {
    /// `host:pid:random` (see `run::process_holder`), or "an unknown
    /// process" when the lease file cannot be read.
    pub holder: String,
    pub acquired_at: Option<DateTime<Utc>>,
}

/// A chat's lease, held until dropped.
#[derive(Debug)]
pub struct Lease {
    held: Held,
}

impl Lease {
    /// Whether the lock still guards the chat: its file is still the one
    /// locked. Someone removing the file or the folder while its holder
    /// runs (a cleaner of old files) would let another process lock a new
    /// file; the holder checks before each run and takes the lease again.
    pub fn is_intact(&self) -> bool {
        match &self.held {
            Held::File(file) => file.is_intact(),
            Held::Memory(_) => true,
        }
    }
}

#[derive(Debug)]
#[expect(dead_code, reason = "kept only to be dropped: the lock goes with it")]
enum Held {
    File(HeldFile),
    Memory(HeldInMemory),
}

/// Where a store keeps its leases.
#[derive(Debug, Clone)]
pub(super) enum Leases {
    /// One lock file per chat in this folder, made on the first lease.
    Files(PathBuf),
    /// Chat id → holder, for a store no other process can open.
    Memory(Arc<Mutex<HashMap<String, LeaseHolder>>>),
}

impl Leases {
    /// Beside the database file `db`: `<db>-leases`, as SQLite's own
    /// `<db>-wal` and `<db>-shm`.
    pub(super) fn beside(db: &Path) -> Self {
        let mut folder = db.as_os_str().to_owned();
        folder.push("-leases");
        Self::Files(folder.into())
    }

    pub(super) fn in_memory() -> Self {
        Self::Memory(Arc::default())
    }
}

/// How often a lease found locked is tried again before it counts as
/// held: `hashchat status` locks a lease file for a moment to read it.
const ATTEMPTS: u32 = 5;
const RETRY_AFTER: Duration = Duration::from_millis(20);

impl Leases {
    /// Takes the lease on `chat_id` for `holder`; when another holder has
    /// it, returns who. Never waits for the other holder.
    pub(super) async fn take(
        &self,
        chat_id: &str,
        holder: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Result<Lease, LeaseHolder>> {
        let folder = match self {
            Leases::Files(folder) => folder,
            Leases::Memory(table) => {
                let taken = take_in_memory(table, chat_id, holder, now);
                return Ok(taken.map(|held| Lease {
                    held: Held::Memory(held),
                }));
            }
        };
        let mut attempt = 1;
        loop {
            match take_file(folder, chat_id, holder, now)? {
                Ok(held) => {
                    return Ok(Ok(Lease {
                        held: Held::File(held),
                    }))
                }
                Err(other) if attempt == ATTEMPTS => return Ok(Err(other)),
                Err(_) => attempt += 1,
            }
            tokio::time::sleep(RETRY_AFTER).await;
        }
    }

    /// Who holds the chat's lease now, if anyone.
    pub(super) fn holder_of(&self, chat_id: &str) -> anyhow::Result<Option<LeaseHolder>> {
        match self {
            Leases::Files(folder) => file_lease_of(&lease_file(folder, chat_id)),
            Leases::Memory(table) => Ok(lock(table).get(chat_id).cloned()),
        }
    }
}

/// The lease file of `chat_id`. Chat ids are validated to lowercase
/// letters, digits, `-` and `_`; anything else is escaped all the same.
pub(super) fn lease_file(folder: &Path, chat_id: &str) -> PathBuf {
    let mut name = String::with_capacity(chat_id.len() + 6);
    for c in chat_id.chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_' {
            name.push(c);
        } else {
            name.push_str(&format!("%{:x}", u32::from(c)));
        }
    }
    name.push_str(".lease");
    folder.join(name)
}

/// A held lock on a chat's lease file; closing the file lets go of it.
#[derive(Debug)]
struct HeldFile {
    file: File,
    path: PathBuf,
}

impl HeldFile {
    /// Whether `path` still names the file this lock is on.
    #[cfg(unix)]
    fn is_intact(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        match (self.file.metadata(), std::fs::metadata(&self.path)) {
            (Ok(locked), Ok(named)) => locked.dev() == named.dev() && locked.ino() == named.ino(),
            _ => false,
        }
    }

    #[cfg(not(unix))]
    fn is_intact(&self) -> bool {
        self.path.exists()
    }
}

impl Drop for HeldFile {
    fn drop(&mut self) {
        // Not needed for correctness (an unlocked file is a free lease,
        // whatever it says); it keeps the folder honest for a reader.
        let _ = self.file.set_len(0);
    }
}

fn take_file(
    folder: &Path,
    chat_id: &str,
    holder: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Result<HeldFile, LeaseHolder>> {
    std::fs::create_dir_all(folder)
        .with_context(|| format!("cannot make the lease folder {}", folder.display()))?;
    let path = lease_file(folder, chat_id);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open the lease file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Ok(Err(read_holder(&mut file))),
        Err(TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock the lease file {}", path.display()))
        }
    }
    // One write, then the length: a reader sees the new first line, never
    // half of it.
    let record = format!("{holder}\n{}\n", now.to_rfc3339());
    file.write_all(record.as_bytes())
        .and_then(|()| file.set_len(record.len() as u64))
        .with_context(|| format!("cannot write the lease file {}", path.display()))?;
    Ok(Ok(HeldFile { file, path }))
}

fn file_lease_of(path: &Path) -> anyhow::Result<Option<LeaseHolder>> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot open the lease file {}", path.display()))
        }
    };
    match file.try_lock_shared() {
        // Nobody holds it; the lock goes with the file.
        Ok(()) => Ok(None),
        Err(TryLockError::WouldBlock) => Ok(Some(read_holder(&mut file))),
        Err(TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot test the lease file {}", path.display()))
        }
    }
}

/// The holder a locked lease file names.
fn read_holder(file: &mut File) -> LeaseHolder {
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    let mut lines = text.lines();
    let holder = lines
        .next()
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .unwrap_or("an unknown process");
    LeaseHolder {
        holder: holder.to_string(),
        acquired_at: lines
            .next()
            .and_then(|at| DateTime::parse_from_rfc3339(at.trim()).ok())
            .map(|at| at.with_timezone(&Utc)),
    }
}

/// A lease in a store's in-process table, given back when dropped.
#[derive(Debug)]
struct HeldInMemory {
    table: Arc<Mutex<HashMap<String, LeaseHolder>>>,
    chat_id: String,
}

impl Drop for HeldInMemory {
    fn drop(&mut self) {
        lock(&self.table).remove(&self.chat_id);
    }
}

fn take_in_memory(
    table: &Arc<Mutex<HashMap<String, LeaseHolder>>>,
    chat_id: &str,
    holder: &str,
    now: DateTime<Utc>,
) -> Result<HeldInMemory, LeaseHolder> {
    let mut leases = lock(table);
    if let Some(other) = leases.get(chat_id) {
        return Err(other.clone());
    }
    leases.insert(
        chat_id.to_string(),
        LeaseHolder {
            holder: holder.to_string(),
            acquired_at: Some(now),
        },
    );
    Ok(HeldInMemory {
        table: Arc::clone(table),
        chat_id: chat_id.to_string(),
    })
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
