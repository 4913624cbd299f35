//! The golden recap's HTML in a real browser: Debian's headless Chromium,
//! driven over the DevTools protocol so that the test sees what a reader's
//! browser would do: every request the page makes, every console message,
//! every script it parses, and the laid-out page. No silent skip: without
//! Chromium the test fails and says how to install it (`.ci/run` does).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::recap_golden::fixed_recap;
use hashchat::recap::Format;

pub const CHROMIUM: &str = "/usr/bin/chromium";

/// What the page is asked once loaded: what a reader sees and what the
/// document holds. Runs in DevTools, which the page's CSP does not govern.
const INSPECT: &str = r#"(() => {
  const shown = el => {
    const box = el.getBoundingClientRect(), style = getComputedStyle(el);
    return box.width > 0 && box.height > 0 && style.visibility !== 'hidden';
  };
  return {
    text: document.body.innerText,
    headings: [...document.querySelectorAll('h2')].filter(shown).map(h => h.innerText),
    posts: [...document.querySelectorAll('ol.posts > li')].filter(shown).length,
    charts: [...document.querySelectorAll('svg')].map(svg => {
      const box = svg.getBoundingClientRect();
      return { title: svg.querySelector('title')?.textContent, width: box.width,
               height: box.height, bars: svg.querySelectorAll('rect').length };
    }),
    scripts: document.querySelectorAll('script').length,
    csp: document.querySelector('meta[http-equiv="Content-Security-Policy"]')?.content ?? '',
    loaders: [...document.querySelectorAll('[src], [srcset], [data], [poster], link[href], base')]
      .map(el => el.outerHTML),
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    resources: performance.getEntriesByType('resource').map(r => r.name),
  };
})()"#;

#[tokio::test]
async fn the_html_recap_in_chromium_shows_everything_loads_nothing_runs_nothing() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: the browser test needs Debian's Chromium \
         (`apt-get install chromium`, which .ci/run does)"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let recap = fixed_recap();
    let page = dir.path().join("recap.html");
    std::fs::write(&page, recap.render(Format::Html)).expect("write the recap");
    let url = url::Url::from_file_path(&page)
        .expect("an absolute path")
        .to_string();

    let seen = tokio::time::timeout(Duration::from_secs(60), visit(dir.path(), &url))
        .await
        .expect("Chromium loaded and inspected the page within a minute");

    // Nothing but the page itself was requested, and nothing ran.
    let requests: Vec<&str> = seen
        .events("Network.requestWillBeSent")
        .filter_map(|e| e["request"]["url"].as_str())
        .collect();
    assert_eq!(requests, [url.as_str()], "requests the page made");
    assert_eq!(seen.page["resources"], json!([]), "resources loaded");
    assert_eq!(seen.page["loaders"], json!([]), "elements that load things");
    let scripts: Vec<&Value> = seen.events("Debugger.scriptParsed").collect();
    assert!(
        scripts.is_empty(),
        "scripts parsed by the page: {scripts:?}"
    );
    assert_eq!(seen.page["scripts"], 0, "<script> elements");
    let csp = seen.page["csp"].as_str().unwrap_or_default();
    assert!(csp.starts_with("default-src 'none';"), "CSP: {csp}");
    let links = seen.page["links"].as_array().expect("links");
    for link in links {
        let link = link.as_str().unwrap_or_default();
        assert!(link.starts_with("https://"), "a link to {link}");
    }

    // No errors or warnings: console, exceptions, CSP violations (logged).
    let problems: Vec<&Value> = seen
        .events("Runtime.consoleAPICalled")
        .filter(|e| matches!(e["type"].as_str(), Some("error" | "warning" | "assert")))
        .chain(seen.events("Runtime.exceptionThrown"))
        .chain(
            seen.events("Log.entryAdded")
                .filter(|e| matches!(e["entry"]["level"].as_str(), Some("error" | "warning"))),
        )
        .collect();
    assert!(problems.is_empty(), "console problems: {problems:#?}");

    // Every question and every post is on screen.
    let text = seen.page["text"].as_str().unwrap_or_default();
    let headings = seen.page["headings"].to_string();
    for question in &recap.questions {
        assert!(
            headings.contains(&question.text),
            "heading for Q{}",
            question.number
        );
        for answer in &question.answers {
            // Up to any markup the hostile server sent (sanitised away).
            let start: String = answer
                .text
                .chars()
                .take_while(|c| *c != '<')
                .take(9)
                .collect();
            assert!(text.contains(&start), "answer {} shown", answer.status_id);
        }
    }
    let posts: usize = recap
        .questions
        .iter()
        .map(|q| q.answers.len())
        .sum::<usize>()
        + recap.other_posts.len();
    assert_eq!(seen.page["posts"], posts, "posts laid out");

    // The three charts are laid out with their bars.
    let charts = seen.page["charts"].as_array().expect("charts");
    assert_eq!(charts.len(), 3, "{charts:?}");
    for chart in charts {
        let size = (chart["width"].as_f64(), chart["height"].as_f64());
        assert!(
            matches!(size, (Some(w), Some(h)) if w > 100.0 && h > 10.0),
            "chart laid out: {chart}"
        );
        assert!(chart["bars"].as_u64() > Some(0), "chart with bars: {chart}");
    }
}

/// What the browser reported while loading the page, and the page's answer
/// to [`INSPECT`] once the network was idle.
struct Seen {
    events: Vec<Value>,
    page: Value,
}

impl Seen {
    fn events<'a>(&'a self, method: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.events
            .iter()
            .filter(move |e| e["method"] == method)
            .map(|e| &e["params"])
    }
}

async fn visit(dir: &Path, url: &str) -> Seen {
    let mut browser = Browser::launch(dir).await;
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
    let session = Some(session.as_str());
    for domain in ["Page", "Network", "Runtime", "Log", "Debugger"] {
        browser
            .call(session, &format!("{domain}.enable"), json!({}))
            .await;
    }
    browser
        .call(
            session,
            "Page.setLifecycleEventsEnabled",
            json!({"enabled": true}),
        )
        .await;
    browser.events.clear();
    browser
        .call(session, "Page.navigate", json!({"url": url}))
        .await;
    // Chromium says networkIdle once nothing has loaded for 500 ms: any
    // late request would have been reported by then.
    browser
        .wait_for(|e| e["method"] == "Page.lifecycleEvent" && e["params"]["name"] == "networkIdle")
        .await;
    let events = std::mem::take(&mut browser.events);
    let page = browser
        .call(
            session,
            "Runtime.evaluate",
            json!({"expression": INSPECT, "returnByValue": true}),
        )
        .await;
    browser.close().await;
    Seen {
        events,
        page: page["result"]["value"].clone(),
    }
}

/// A headless Chromium and a DevTools connection to it.
pub struct Browser {
    child: Child,
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// Events received so far (answers to calls are not kept).
    pub events: Vec<Value>,
}

impl Browser {
    pub async fn launch(dir: &Path) -> Self {
        let profile = dir.join("profile");
        let mut child = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-default-apps",
                "--no-first-run",
                "--no-default-browser-check",
                "--enable-logging=stderr",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMIUM}: {e}"));
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr is piped")).lines();
        let mut log = Vec::new();
        let endpoint = loop {
            match stderr.next_line().await {
                Ok(Some(line)) => match line.split_once("DevTools listening on ") {
                    Some((_, ws)) => break ws.trim().to_string(),
                    None => log.push(line),
                },
                _ => panic!("Chromium exited before listening:\n{}", log.join("\n")),
            }
        };
        // Keep draining stderr so that Chromium never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = stderr.next_line().await {} });
        let (socket, _) = tokio_tungstenite::connect_async(endpoint.as_str())
            .await
            .expect("connect to Chromium's DevTools");
        Self {
            child,
            socket,
            next_id: 0,
            events: Vec::new(),
        }
    }

    /// Sends a command and waits for its answer, keeping events that
    /// arrive meanwhile.
    pub async fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut command = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            command["sessionId"] = json!(session);
        }
        self.socket
            .send(Message::Text(command.to_string().into()))
            .await
            .expect("send to Chromium");
        loop {
            let message = self.receive().await;
            if message["id"] == id {
                assert!(message["error"].is_null(), "{method}: {}", message["error"]);
                return message["result"].clone();
            }
            self.events.push(message);
        }
    }

    pub async fn wait_for(&mut self, done: impl Fn(&Value) -> bool) {
        loop {
            let message = self.receive().await;
            let found = done(&message);
            self.events.push(message);
            if found {
                return;
            }
        }
    }

    async fn receive(&mut self) -> Value {
        loop {
            let frame = self
                .socket
                .next()
                .await
                .expect("Chromium closed DevTools")
                .expect("read from Chromium");
            if let Message::Text(text) = frame {
                return serde_json::from_str(text.as_str()).expect("DevTools speaks JSON");
            }
        }
    }

    /// Asks Chromium to quit, and waits for it (killed if it will not).
    pub async fn close(mut self) {
        let _ = self
            .socket
            .send(Message::Text(
                json!({"id": 0, "method": "Browser.close"})
                    .to_string()
                    .into(),
            ))
            .await;
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}
