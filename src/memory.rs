//! Giving back memory that start-up and runs used, once every chat has
//! slept for a while. Reading chats.yaml, migrating the database,
//! connecting, preparing statements, a run and its recap touch megabytes
//! of code that an idle daemon does not run again, and the kernel maps
//! each touched page of the executable, with its neighbours, into the
//! process until memory runs short. Most of an idle daemon's resident set
//! was those pages (docs/PERFORMANCE.md, figure 5).
//!
//! [`release_idle_memory`] unmaps the executable's read-only segments
//! (`MADV_DONTNEED`) and returns freed heap to the system (`malloc_trim`).
//! Nothing is lost: the code stays in the page cache, shared, and the
//! little an idle daemon runs (timers, stream pings) is
//! mapped back on its next use by a minor fault, without disk I/O. Writable
//! segments are never touched, so relocated data stays as it is.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// How long every chat must have slept before memory is given back: past
/// the one-off work that follows start-up or a run (the database's idle
/// connections closing, 60 s after their last use).
pub const IDLE_SETTLE: Duration = Duration::from_secs(90);

/// One chat task's share in whether the daemon is busy: at work while it
/// sets up or runs, at rest while it sleeps until its next run. Dropping
/// it counts as rest.
#[derive(Debug)]
pub struct Activity {
    shared: Arc<Busy>,
    working: bool,
}

#[derive(Debug)]
struct Busy {
    working: AtomicUsize,
    /// Bumped each time the last working chat comes to rest.
    idle: watch::Sender<u64>,
}

/// Watches for the daemon to be idle: every chat at rest.
#[derive(Debug)]
pub struct Idleness {
    shared: Arc<Busy>,
    idle: watch::Receiver<u64>,
}

impl Activity {
    /// One activity per chat, each at work (start-up is work), and the
    /// watch that sees them all come to rest.
    pub fn for_chats(chats: usize) -> (Vec<Activity>, Idleness) {
        let (idle, watching) = watch::channel(0);
        let shared = Arc::new(Busy {
            working: AtomicUsize::new(chats),
            idle,
        });
        let activities = (0..chats)
            .map(|_| Activity {
                shared: Arc::clone(&shared),
                working: true,
            })
            .collect();
        let idleness = Idleness {
            shared,
            idle: watching,
        };
        (activities, idleness)
    }

    /// The chat sleeps until its next run.
    pub fn rest(&mut self) {
        if std::mem::replace(&mut self.working, false)
            && self.shared.working.fetch_sub(1, Ordering::AcqRel) == 1
        {
            self.shared.idle.send_modify(|times| *times += 1);
        }
    }

    /// The chat wakes for a run.
    pub fn work(&mut self) {
        if !std::mem::replace(&mut self.working, true) {
            self.shared.working.fetch_add(1, Ordering::AcqRel);
        }
    }
}

impl Drop for Activity {
    fn drop(&mut self) {
        self.rest();
    }
}

impl Idleness {
    /// Calls `release` each time every chat has been at rest for `settle`
    /// without a break; runs until its task is dropped with the daemon.
    pub async fn release_when_idle(mut self, settle: Duration, mut release: impl FnMut()) {
        // Cannot end with an error: the sender lives in `shared`, held here.
        while self.idle.changed().await.is_ok() {
            let became_idle = *self.idle.borrow_and_update();
            tokio::time::sleep(settle).await;
            let still = self.working() == 0 && *self.idle.borrow() == became_idle;
            if still {
                release();
            }
        }
    }

    fn working(&self) -> usize {
        self.shared.working.load(Ordering::Acquire)
    }
}

/// Gives memory back and says so in the log.
pub fn release_and_log() {
    let released = release_idle_memory();
    tracing::debug!(
        code_kib = released.code_bytes / 1024,
        heap_trimmed = released.heap_trimmed,
        "every chat has been asleep for a while: gave back memory"
    );
}

/// What [`release_idle_memory`] gave back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Released {
    /// Bytes of the executable's read-only segments unmapped.
    pub code_bytes: usize,
    /// Whether the allocator returned memory to the system.
    pub heap_trimmed: bool,
}

/// Unmaps the executable's read-only segments (they fault back in when
/// used) and trims the heap. A no-op where this is not supported.
pub fn release_idle_memory() -> Released {
    imp::release()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod imp {
    use std::ffi::c_void;

    use super::Released;

    pub fn release() -> Released {
        let code_bytes = release_code();
        // SAFETY: malloc_trim only returns free memory of the allocator's
        // own arenas to the system; it touches no memory in use.
        let heap_trimmed = unsafe { libc::malloc_trim(0) } == 1;
        Released {
            code_bytes,
            heap_trimmed,
        }
    }

    /// The whole pages of the main program's loaded segments that are
    /// neither writable nor ever written: its code and read-only data.
    fn release_code() -> usize {
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        // SAFETY: the callback only reads the program headers it is given,
        // and `data` is the `ranges` vector, alive for the whole call.
        unsafe {
            libc::dl_iterate_phdr(Some(main_program), (&raw mut ranges).cast::<c_void>());
        }
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        let mut released = 0;
        for (start, end) in ranges {
            // Only whole pages inside the segment: a page shared with a
            // writable segment keeps its contents.
            let first = start.div_ceil(page) * page;
            let last = end / page * page;
            if last <= first {
                continue;
            }
            // SAFETY: the range lies inside a read-only, file-backed segment
            // of the running executable. MADV_DONTNEED drops the mappings;
            // the next access maps the same file contents back, so no code
            // or data in use changes.
            let done =
                unsafe { libc::madvise(first as *mut c_void, last - first, libc::MADV_DONTNEED) };
            if done == 0 {
                released += last - first;
            }
            unsafe { libc::madvise(first as *mut c_void, last - first, libc::MADV_RANDOM) };
        }
        released
    }

    /// `dl_iterate_phdr` callback: collects the read-only `PT_LOAD`
    /// segments of the first object listed, the main program; then stops.
    unsafe extern "C" fn main_program(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut c_void,
    ) -> libc::c_int {
        // SAFETY: the loader hands a valid `info` for the duration of the
        // call, and `data` is the `Vec` passed by `release_code`.
        let (info, ranges) = unsafe { (&*info, &mut *data.cast::<Vec<(usize, usize)>>()) };
        let headers: &[libc::Elf64_Phdr] = if info.dlpi_phdr.is_null() {
            &[]
        } else {
            // SAFETY: `dlpi_phdr` points at `dlpi_phnum` program headers.
            unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) }
        };
        for header in headers {
            if header.p_type == libc::PT_LOAD && header.p_flags & libc::PF_W == 0 {
                let start = info.dlpi_addr as usize + header.p_vaddr as usize;
                ranges.push((start, start + header.p_memsz as usize));
            }
        }
        1 // the main program is listed first: no need for the others
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod imp {
    use super::Released;

    pub fn release() -> Released {
        Released::default()
    }
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    /// RssFile of this process, KiB.
    fn resident_file_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("RssFile:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap()
    }

    #[test]
    fn the_daemon_is_idle_only_when_every_chat_rests() {
        let (mut chats, idleness) = Activity::for_chats(2);
        let idle_times = || *idleness.idle.borrow();
        assert_eq!(idleness.working(), 2);
        chats[0].rest();
        chats[0].rest(); // twice counts once
        assert_eq!((idleness.working(), idle_times()), (1, 0));
        chats[1].work(); // already at work
        assert_eq!(idleness.working(), 1);
        chats[0].work();
        assert_eq!(idleness.working(), 2);
        chats[0].rest();
        let last = chats.pop().unwrap();
        drop(last); // a chat that ends rests for good
        assert_eq!((idleness.working(), idle_times()), (0, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn memory_is_given_back_only_after_every_chat_slept_for_the_settle_time() {
        let settle = Duration::from_secs(90);
        let (mut chats, idleness) = Activity::for_chats(2);
        let releases = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&releases);
        let watching = tokio::spawn(idleness.release_when_idle(settle, move || {
            counted.fetch_add(1, Ordering::SeqCst);
        }));
        let released = || releases.load(Ordering::SeqCst);
        chats[0].rest();
        chats[1].rest();
        // A chat wakes before the settle time is over: nothing is released.
        tokio::time::sleep(settle / 2).await;
        chats[0].work();
        tokio::time::sleep(settle).await;
        assert_eq!(released(), 0);
        // Both asleep again, this time for the whole settle time.
        chats[0].rest();
        tokio::time::sleep(settle + Duration::from_secs(1)).await;
        assert_eq!(released(), 1);
        // Staying asleep does not release again and again.
        tokio::time::sleep(settle * 10).await;
        assert_eq!(released(), 1);
        // A run later, and asleep again: released again.
        chats[1].work();
        chats[1].rest();
        tokio::time::sleep(settle + Duration::from_secs(1)).await;
        assert_eq!(released(), 2);
        watching.abort();
    }

    #[test]
    fn code_pages_are_given_back_and_fault_back_in() {
        let html = "<p>A1: <a href=\"https://example.org/tags/x\">#x</a> yes</p>";
        let text = crate::network::html_to_text(html);
        let before = resident_file_kib();
        let released = release_idle_memory();
        let after = resident_file_kib();
        assert!(released.code_bytes > 0, "{released:?}");
        assert!(
            after < before,
            "resident file pages should drop: {before} KiB -> {after} KiB"
        );
        // The same code runs again as before: its pages come back on use.
        assert_eq!(crate::network::html_to_text(html), text);
        assert_eq!(crate::answers::answered_questions(&text, 3), vec![1]);
    }
}
