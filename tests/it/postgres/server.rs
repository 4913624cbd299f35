//! A PostgreSQL server of the tests' own: one per test process, in a temp
//! dir, on 127.0.0.1 and a free port, with a fresh database per test.
//!
//! The server (`initdb`, then `postgres` itself) runs as the `postgres`
//! user when the tests run as root (initdb refuses root), else as the
//! caller. It is a child of this process rather than started by `pg_ctl`,
//! which would detach it: its parent-death signal stops it if the tests
//! are killed, and an exit hook stops it and removes its directory when
//! they end. Without PostgreSQL installed the tests fail, naming the Debian
//! package: CI installs it (`.ci/run`), so a skip would hide a gap.

use std::ffi::CString;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, OnceLock};

use sqlx::{Connection, Executor, PgConnection};

use crate::helpers::GUARD;

/// Where Debian installs each PostgreSQL major version, `<root>/<version>/bin`.
pub const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

pub struct Server {
    port: u16,
    pid: libc::pid_t,
    dir: PathBuf,
}

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();

/// The URL of a new, empty database on this process's server (started on
/// first use). Panics with the reason when there can be no server.
pub async fn fresh_database() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let server = match SERVER.get_or_init(start) {
        Ok(server) => server,
        Err(why) => panic!("{why}"),
    };
    let name = format!("t{}", NEXT.fetch_add(1, Ordering::Relaxed));
    let admin = format!("postgres://postgres@127.0.0.1:{}/postgres", server.port);
    let mut conn = PgConnection::connect(&admin)
        .await
        .expect("connect to the test server");
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create a test database");
    conn.close().await.expect("close the admin connection");
    format!("postgres://postgres@127.0.0.1:{}/{name}", server.port)
}

/// The newest `<root>/<version>/bin` holding `initdb` and `postgres`.
pub fn bin_dir(root: &Path) -> Result<PathBuf, String> {
    let newest = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            let complete = bin.join("initdb").is_file() && bin.join("postgres").is_file();
            complete.then_some((version, bin))
        })
        .max();
    newest.map(|(_, bin)| bin).ok_or_else(|| {
        format!(
            "PostgreSQL is not installed: no {}/<version>/bin/initdb. The PostgreSQL tests \
             start their own server: install the Debian package `postgresql` \
             (apt-get install postgresql), as .ci/run does when it is missing",
            root.display()
        )
    })
}

fn start() -> Result<Server, String> {
    let bin = bin_dir(Path::new(DEBIAN_ROOT))?;
    let (uid, gid) = server_user()?;
    let dir = std::env::temp_dir().join(format!("hashchat-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir); // left by a killed process with our pid
    std::fs::create_dir(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
        .map_err(|e| format!("chown {}: {e}", dir.display()))?;
    let data = dir.join("data");
    let initdb = Command::new(bin.join("initdb"))
        .arg("-D")
        .arg(&data)
        .args(["-U", "postgres", "--auth=trust", "--no-sync"])
        .args(["-E", "UTF8", "--locale=C"])
        .current_dir(&dir)
        .uid(uid)
        .gid(gid)
        .output()
        .map_err(|e| format!("cannot run initdb: {e}"))?;
    if !initdb.status.success() {
        return Err(format!(
            "initdb failed ({}):\n{}",
            initdb.status,
            String::from_utf8_lossy(&initdb.stderr)
        ));
    }
    let port = free_port()?;
    let mut postgres = Command::new(bin.join("postgres"));
    postgres
        .arg("-D")
        .arg(&data)
        .arg("-k")
        .arg(&dir)
        .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
        // A throw-away cluster: nothing needs to survive a crash.
        .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
        .args(["-c", "full_page_writes=off", "-c", "lc_messages=C"])
        .current_dir(&dir)
        .uid(uid)
        .gid(gid)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: prctl is async-signal-safe; it runs in the child after the
    // uid change (which would clear it) and before exec (which keeps it).
    unsafe {
        postgres.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let pid = spawn_until_ready(postgres)?;
    // SAFETY: registering a plain extern "C" function.
    unsafe { libc::atexit(stop_at_exit) };
    Ok(Server { port, pid, dir })
}

/// Spawns the server from a thread that lives as long as it does (the
/// parent-death signal follows the spawning thread, not the process) and
/// returns once its log says it accepts connections.
fn spawn_until_ready(mut postgres: Command) -> Result<libc::pid_t, String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut child = match postgres.spawn() {
            Ok(child) => child,
            Err(e) => return tx.send(Err(format!("cannot run postgres: {e}"))),
        };
        let pid = child.id() as libc::pid_t;
        let stderr = child.stderr.take().expect("piped stderr");
        let mut log = String::new();
        // Reading to the end also keeps the pipe from filling up.
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("ready to accept connections") {
                let _ = tx.send(Ok(pid));
            }
            log.push_str(&line);
            log.push('\n');
        }
        tx.send(Err(format!("postgres exited:\n{log}")))
    });
    rx.recv_timeout(GUARD)
        .map_err(|_| "postgres did not become ready".to_string())?
}

/// Who runs the server: `postgres` (or `nobody`) as root, else ourselves.
fn server_user() -> Result<(u32, u32), String> {
    // SAFETY: plain libc calls; the pointer from getpwnam is read at once.
    unsafe {
        if libc::geteuid() != 0 {
            return Ok((libc::geteuid(), libc::getegid()));
        }
        for name in ["postgres", "nobody"] {
            let name = CString::new(name).expect("no NUL");
            let entry = libc::getpwnam(name.as_ptr());
            if !entry.is_null() {
                return Ok(((*entry).pw_uid, (*entry).pw_gid));
            }
        }
    }
    Err(
        "running as root, and neither user `postgres` nor `nobody` exists to run \
         PostgreSQL as (initdb refuses root)"
            .into(),
    )
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// Immediate shutdown (SIGQUIT), then the cluster's directory goes.
extern "C" fn stop_at_exit() {
    if let Some(Ok(server)) = SERVER.get() {
        // SAFETY: our own child; waiting reaps it before its files go.
        unsafe {
            libc::kill(server.pid, libc::SIGQUIT);
            libc::waitpid(server.pid, std::ptr::null_mut(), 0);
        }
        let _ = std::fs::remove_dir_all(&server.dir);
    }
}
