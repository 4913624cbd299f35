//! The live room in headless Chromium: answers stored while the page is
//! open appear under their question without a reload, a question posted
//! meanwhile appears too, hostile HTML in an answer stays inert, nothing
//! is requested from anywhere but our server, and the console stays
//! clean. With `HASHCHAT_SCREENSHOTS=1` it saves docs/room.png and
//! docs/directory.png (shown in README).

use chrono::{Duration, Utc};
use serde_json::{json, Value};

use crate::browser::{Browser, CHROMIUM};
use crate::helpers::within;
use crate::web::{answer, running_room, serve_pages};
use hashchat::store::Store;
use hashchat::web::Db;

/// Resolves once element `id` is inside element `parent`, watching the DOM
/// (no polling); the page's own code is what puts it there.
fn appears(id: &str, parent: &str) -> String {
    format!(
        r#"new Promise(resolve => {{
  const found = () => {{ const el = document.getElementById({id:?});
    return el && el.closest('#' + {parent:?}) ? el.innerText : null; }};
  if (found()) return resolve(found());
  new MutationObserver((_, observer) => {{ const text = found();
    if (text) {{ observer.disconnect(); resolve(text); }} }})
    .observe(document.body, {{ subtree: true, childList: true }});
}})"#
    )
}

#[tokio::test]
async fn the_room_in_chromium_shows_each_answer_as_it_is_captured() {
    assert!(
        std::path::Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("h.db")).await.expect("store");
    let run = running_room(&store).await;
    let (base, stop) = serve_pages(Db::shared(store.clone()), None).await;

    let mut browser = Browser::launch(dir.path()).await;
    let session = open_page(&mut browser).await;
    let session = Some(session.as_str());
    browser
        .call(
            session,
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 430, "height": 1100, "deviceScaleFactor": 1, "mobile": true}),
        )
        .await;
    browser
        .call(
            session,
            "Page.navigate",
            json!({"url": format!("{base}/chats/room")}),
        )
        .await;
    browser
        .wait_for(|e| e["method"] == "Page.lifecycleEvent" && e["params"]["name"] == "load")
        .await;
    // Set in the page: still there at the end means no navigation.
    evaluate(
        &mut browser,
        session,
        "window.sameDocument = 1; document.getElementById('answers-q1') !== null",
    )
    .await;

    let at = Utc::now();
    store
        .record_status(
            run,
            &answer("301", "bob", "<p>A1 <b>live</b> one</p>", at),
            &[1],
        )
        .await
        .expect("answer");
    let shown = evaluate(&mut browser, session, &appears("a-q1-301", "answers-q1")).await;
    assert!(
        shown.as_str().unwrap_or_default().contains("A1 live one"),
        "{shown}"
    );

    store
        .mark_sent(run, 2, "101", "https://fake.example/@bot/101", at)
        .await
        .expect("Q2 sent");
    let hostile =
        "<p>A2 inert<img src=x onerror=\"window.pwned=1\"><script>window.pwned=2</script></p>";
    store
        .record_status(
            run,
            &answer("302", "eve", hostile, at + Duration::seconds(1)),
            &[2],
        )
        .await
        .expect("answer to Q2");
    let shown = evaluate(&mut browser, session, &appears("a-q2-302", "answers-q2")).await;
    assert!(
        shown.as_str().unwrap_or_default().contains("A2 inert"),
        "{shown}"
    );

    let page = evaluate(
        &mut browser,
        session,
        "({same: window.sameDocument === 1, pwned: window.pwned === undefined ? null : window.pwned,
          imgs: document.querySelectorAll('img').length,
          inline: [...document.scripts].filter(s => !s.src).length,
          q2: document.getElementById('h-q2')?.innerText ?? ''})",
    )
    .await;
    assert_eq!(page["same"], true, "the page was navigated: {page}");
    assert_eq!(
        (
            page["pwned"].clone(),
            page["imgs"].clone(),
            page["inline"].clone()
        ),
        (Value::Null, json!(0), json!(0)),
        "{page}"
    );
    assert!(
        page["q2"]
            .as_str()
            .unwrap_or_default()
            .contains("NOT-YET-ASKED"),
        "Q2 shown once sent: {page}"
    );

    if std::env::var_os("HASHCHAT_SCREENSHOTS").is_some() {
        screenshot(&mut browser, session, "docs/room.png").await;
        browser
            .call(session, "Page.navigate", json!({"url": format!("{base}/")}))
            .await;
        browser
            .wait_for(|e| e["method"] == "Page.lifecycleEvent" && e["params"]["name"] == "load")
            .await;
        evaluate(
            &mut browser,
            session,
            "document.fonts.ready.then(() => true)",
        )
        .await;
        screenshot(&mut browser, session, "docs/directory.png").await;
    }

    let requests: Vec<String> = events(&browser, "Network.requestWillBeSent")
        .filter_map(|e| e["request"]["url"].as_str().map(str::to_string))
        .collect();
    assert!(
        requests.iter().all(|url| url.starts_with(&base)),
        "requests that left: {requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|url| url.ends_with("/chats/room/events")),
        "{requests:?}"
    );
    let navigations = events(&browser, "Page.frameNavigated")
        .filter(|e| e["frame"]["parentId"].is_null())
        .count();
    assert!(navigations <= 2, "navigations: {navigations}");
    let problems: Vec<&Value> = events(&browser, "Runtime.consoleAPICalled")
        .filter(|e| matches!(e["type"].as_str(), Some("error" | "warning" | "assert")))
        .chain(events(&browser, "Runtime.exceptionThrown"))
        .chain(
            events(&browser, "Log.entryAdded")
                .filter(|e| matches!(e["entry"]["level"].as_str(), Some("error" | "warning"))),
        )
        .collect();
    assert!(problems.is_empty(), "console problems: {problems:#?}");
    browser.close().await;
    stop.cancel();
}

fn events<'a>(browser: &'a Browser, method: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    browser
        .events
        .iter()
        .filter(move |e| e["method"] == method)
        .map(|e| &e["params"])
}

async fn open_page(browser: &mut Browser) -> String {
    let target = browser
        .call(None, "Target.createTarget", json!({"url": "about:blank"}))
        .await;
    let attached = browser
        .call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        )
        .await;
    let session = attached["sessionId"]
        .as_str()
        .expect("a session")
        .to_string();
    for domain in ["Page", "Network", "Runtime", "Log"] {
        browser
            .call(Some(&session), &format!("{domain}.enable"), json!({}))
            .await;
    }
    browser
        .call(
            Some(&session),
            "Page.setLifecycleEventsEnabled",
            json!({"enabled": true}),
        )
        .await;
    session
}

async fn evaluate(browser: &mut Browser, session: Option<&str>, expression: &str) -> Value {
    let call = browser.call(
        session,
        "Runtime.evaluate",
        json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
    );
    let result = within("the page", call).await;
    assert!(
        result["exceptionDetails"].is_null(),
        "{expression}: {result}"
    );
    result["result"]["value"].clone()
}

async fn screenshot(browser: &mut Browser, session: Option<&str>, path: &str) {
    let shot = browser
        .call(
            session,
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true}),
        )
        .await;
    let data = decode_base64(shot["data"].as_str().expect("image data"));
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::write(&path, data).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// Standard base64, as DevTools sends images.
fn decode_base64(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut bits, mut count) = (0u32, 0);
    for byte in text.bytes().filter(|b| *b != b'=') {
        let value = ALPHABET.iter().position(|c| *c == byte).expect("base64") as u32;
        bits = ((bits << 6) | value) & 0xF_FFFF;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

/// The same, with the whole chain: `hashchat run --serve` posting to
/// mastodon-mock, participants answering there, the bot capturing from
/// the server, and the room (opened before Q1) showing each answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_room_follows_a_run_against_mastodon_mock_in_chromium() {
    use crate::mock_server::{MockServer, ALICE_TOKEN, BOB_TOKEN, BOT_TOKEN};
    use tokio::io::AsyncBufReadExt;
    assert!(
        std::path::Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing"
    );
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let start = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    std::fs::write(
        dir.path().join("chats.yaml"),
        format!(
            "server: {}\ntoken_env: HASHCHAT_TOKEN\nchats:\n  - id: live\n    hashtag: LiveChat\n    \
             start: \"{start}\"\n    first_question_after: 2s\n    question_interval: 3s\n    \
             questions: [\"First?\", \"Second?\"]\n    collect_after: 1h\n",
            server.url()
        ),
    )
    .expect("chats.yaml");
    let mut bot = tokio::process::Command::new(env!("CARGO_BIN_EXE_hashchat"))
        .current_dir(dir.path())
        .args(["--db", "h.db", "run", "--chat", "live", "--once", "--now"])
        .args(["--serve", "127.0.0.1:0"])
        .env("HASHCHAT_TOKEN", BOT_TOKEN)
        .env_remove("HASHCHAT_CONFIG")
        .env_remove("HASHCHAT_DB")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start hashchat run");
    let mut lines = tokio::io::BufReader::new(bot.stdout.take().expect("stdout")).lines();
    let first = within("the room's address", lines.next_line())
        .await
        .expect("stdout")
        .expect("a line");
    let room = first
        .strip_prefix("live room: ")
        .expect("the room's address")
        .to_string();
    let base = room.trim_end_matches("/chats/live").to_string();

    let mut browser = Browser::launch(dir.path()).await;
    let session = open_page(&mut browser).await;
    let session = Some(session.as_str());
    browser
        .call(session, "Page.navigate", json!({"url": room}))
        .await;
    browser
        .wait_for(|e| e["method"] == "Page.lifecycleEvent" && e["params"]["name"] == "load")
        .await;
    evaluate(&mut browser, session, "window.sameDocument = 1").await;

    // Each answer is posted once its question is on the page, and must
    // then appear under it, from the server through the bot to the room.
    evaluate(&mut browser, session, &appears("h-q1", "questions")).await;
    let hostile = "#LiveChat A1: <img src=x onerror=window.pwned=1> hello";
    let a1 = server.post_as(ALICE_TOKEN, hostile, None, "public").await;
    let a1_id = format!("a-q1-{}", a1["id"].as_str().expect("id"));
    let shown = evaluate(&mut browser, session, &appears(&a1_id, "answers-q1")).await;
    assert!(
        shown.as_str().unwrap_or_default().contains("hello"),
        "{shown}"
    );
    evaluate(&mut browser, session, &appears("h-q2", "questions")).await;
    let a2 = server
        .post_as(BOB_TOKEN, "#LiveChat A2: second", None, "public")
        .await;
    let a2_id = format!("a-q2-{}", a2["id"].as_str().expect("id"));
    let shown = evaluate(&mut browser, session, &appears(&a2_id, "answers-q2")).await;
    assert!(
        shown.as_str().unwrap_or_default().contains("second"),
        "{shown}"
    );

    let page = evaluate(
        &mut browser,
        session,
        "({same: window.sameDocument === 1, pwned: window.pwned === undefined ? null : 1,
          imgs: document.querySelectorAll('img').length})",
    )
    .await;
    assert_eq!(
        page,
        json!({"same": true, "pwned": null, "imgs": 0}),
        "{page}"
    );
    let requests: Vec<String> = events(&browser, "Network.requestWillBeSent")
        .filter_map(|e| e["request"]["url"].as_str().map(str::to_string))
        .collect();
    assert!(
        requests.iter().all(|url| url.starts_with(&base)),
        "requests that left: {requests:?}"
    );
    let problems: Vec<&Value> = events(&browser, "Runtime.consoleAPICalled")
        .filter(|e| matches!(e["type"].as_str(), Some("error" | "warning" | "assert")))
        .chain(events(&browser, "Runtime.exceptionThrown"))
        .chain(
            events(&browser, "Log.entryAdded")
                .filter(|e| matches!(e["entry"]["level"].as_str(), Some("error" | "warning"))),
        )
        .collect();
    assert!(problems.is_empty(), "console problems: {problems:#?}");
    browser.close().await;
    bot.kill().await.expect("stop the bot");
}
