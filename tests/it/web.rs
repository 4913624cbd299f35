//! The pages over HTTP (`crate::web`): served before any database exists,
//! 404s, the security headers, opted-out authors absent from the room and
//! its events, and an answer stored pushed to an open room.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use hashchat::chats::Chat;
use hashchat::run::Liveness;
use hashchat::schedule::{PlanPost, PlannedPost, PostKind};
use hashchat::store::{DbLocation, PostgresUrl, Store, StoredStatus};
use hashchat::web::{self, Db, Site};
use tokio_util::sync::CancellationToken;

use crate::helpers::within;

const CHAT: &str = "id: room\nhashtag: RoomChat\nserver: https://mastodon.example\n\
schedule: \"0 20 * * 4\"\ntimezone: Europe/Berlin\nquestions: [\"First?\", \"NOT-YET-ASKED?\"]\n\
description: Teachers talk shop <b>weekly</b>.\n";

const SECRET: &str = "SECRET-WORDS";

/// The pages of `chats` on a free port, until the returned token is cancelled.
pub async fn serve_pages(db: Db, liveness: Option<Liveness>) -> (String, CancellationToken) {
    let stop = CancellationToken::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let base = format!("http://{}", listener.local_addr().expect("bound"));
    let site = Site {
        chats: vec![room_chat()],
        db,
        public_url: base.clone(),
        liveness,
        metrics: None,
        shutdown: stop.clone(),
    };
    tokio::spawn(web::serve(listener, web::router(site), stop.clone()));
    (base, stop)
}

pub fn room_chat() -> Arc<Chat> {
    Arc::new(Chat::from_yaml(CHAT).expect("a valid chat"))
}

async fn get(url: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let response = reqwest::get(url).await.expect("the server answers");
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    (status, headers, response.text().await.expect("a body"))
}

pub fn answer(id: &str, who: &str, html: &str, at: DateTime<Utc>) -> StoredStatus {
    StoredStatus {
        status_id: id.into(),
        instance: None,
        uri: format!("https://fake.example/users/{who}/statuses/{id}"),
        account_id: who.into(),
        account: format!("{who}@fake.example"),
        display_name: who.into(),
        url: format!("https://fake.example/@{who}/{id}"),
        html: html.into(),
        text: html.into(),
        created_at: at,
        edited_at: None,
        in_reply_to_id: None,
        visibility: "public".into(),
    }
}

/// A running run of the room chat: Q1 sent, Q2 planned for later; an
/// answer by alice, one by mallory (who opted out) and one by eve (hostile).
pub async fn running_room(store: &Store) -> i64 {
    let start = Utc::now() - Duration::minutes(5);
    let run = store
        .open_run("room", start, start + Duration::hours(1))
        .await
        .expect("run");
    store
        .mark_run_started(run.id, start)
        .await
        .expect("started");
    let plan = |seq: u32, number: u32, body: &str, at| PlanPost {
        post: PlannedPost {
            seq,
            kind: PostKind::Question,
            number: Some(number),
            at,
            text: format!("Q{number}: {body} #RoomChat"),
        },
        body: body.into(),
        idempotency_key: format!("k-{seq}"),
        image: None,
    };
    let later = Utc::now() + Duration::minutes(10);
    store
        .plan_posts(
            run.id,
            &[
                plan(1, 1, "First?", start),
                plan(2, 2, "NOT-YET-ASKED?", later),
            ],
        )
        .await
        .expect("plan");
    store
        .mark_sent(run.id, 1, "100", "https://fake.example/@bot/100", start)
        .await
        .expect("sent");
    let at = start + Duration::minutes(1);
    for (id, who, html) in [
        ("201", "alice", "<p>A1 visible-words</p>"),
        ("202", "mallory", "<p>A1 SECRET-WORDS</p>"),
        (
            "203",
            "eve",
            "<p>A1 hostile<script>alert(1)</script><img src=x onerror=alert(2)></p>",
        ),
    ] {
        store
            .record_status(run.id, &answer(id, who, html, at), &[1])
            .await
            .expect("answer");
    }
    store
        .set_opted_out("mallory@fake.example", true, "300", at)
        .await
        .expect("opt out");
    run.id
}

/// What a room must never contain.
fn assert_clean(what: &str, text: &str) {
    for forbidden in [
        SECRET,
        "mallory",
        "NOT-YET-ASKED",
        "onerror",
        "<script>alert",
    ] {
        assert!(
            !text.contains(forbidden),
            "{what} contains `{forbidden}`:\n{text}"
        );
    }
}

/// Reads server-sent events until `done` holds for one; returns them all.
struct Events(reqwest::Response, String);

impl Events {
    async fn open(url: &str) -> Self {
        let response = reqwest::get(url).await.expect("the stream opens");
        assert_eq!(response.status().as_u16(), 200);
        Self(response, String::new())
    }

    async fn until(&mut self, done: impl Fn(&str) -> bool) -> Vec<String> {
        let mut seen = Vec::new();
        within("the event", async {
            loop {
                while let Some(end) = self.1.find("\n\n") {
                    let event: String = self.1.drain(..end + 2).collect();
                    let hit = done(&event);
                    seen.push(event);
                    if hit {
                        return;
                    }
                }
                let chunk = self.0.chunk().await.expect("the stream").expect("open");
                self.1.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await;
        seen
    }
}

#[tokio::test]
async fn serve_starts_before_any_database_and_lists_every_chat() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("hashchat.db");
    let (base, stop) = serve_pages(
        Db::watch(DbLocation::Sqlite(path.clone()), CancellationToken::new()),
        None,
    )
    .await;

    let (status, _, page) = get(&format!("{base}/")).await;
    assert_eq!(status, 200);
    assert!(page.contains("#RoomChat"), "{page}");
    assert!(
        page.contains("Teachers talk shop &lt;b&gt;weekly&lt;"),
        "escaped description:\n{page}"
    );
    assert!(
        page.contains("<time class=\"visitor\" datetime=\""),
        "{page}"
    );
    assert!(page.contains("Berlin)"), "the chat's zone:\n{page}");
    assert!(
        page.contains("href=\"/chats/room\"") && page.contains("href=\"/chats/room/calendar.ics\"")
    );

    let (status, _, room) = get(&format!("{base}/chats/room")).await;
    assert_eq!(status, 200);
    assert!(room.contains("No chat right now"), "{room}");
    let canonical = format!("<link rel=\"canonical\" href=\"{base}/chats/room\">");
    assert!(
        room.contains(&canonical.replace('/', "&#x2f;")),
        "absolute link from --public-url:\n{room}"
    );
    let (status, _, health) = get(&format!("{base}/healthz")).await;
    assert_eq!(
        (status, health.contains("not created yet")),
        (200, true),
        "{health}"
    );
    let (status, headers, feed) = get(&format!("{base}/chats/room/calendar.ics")).await;
    assert_eq!(status, 200, "{feed}");
    assert_eq!(headers["content-type"], "text/calendar; charset=utf-8");
    assert!(
        feed.starts_with("BEGIN:VCALENDAR\r\n") && feed.contains("#RoomChat"),
        "{feed}"
    );
    assert!(
        feed.contains(&format!("URL:{base}/chats/room\r\n")),
        "the room's address from --public-url:\n{feed}"
    );
    let (status, _, all) = get(&format!("{base}/calendar.ics")).await;
    assert_eq!(
        (status, all.matches("BEGIN:VEVENT").count()),
        (200, feed.matches("BEGIN:VEVENT").count()),
        "one chat, one feed's events:\n{all}"
    );
    let (status, _, why) = get(&format!("{base}/metrics")).await;
    assert_eq!(status, 404, "serve alone runs no chat and counts nothing");
    assert!(why.contains("hashchat run --serve"), "{why}");
    assert!(!path.exists(), "serve created the database");
    stop.cancel();
}

#[tokio::test]
async fn unknown_chats_runs_and_paths_get_404() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("h.db")).await.expect("store");
    let other = store
        .open_run("other", Utc::now(), Utc::now())
        .await
        .expect("a run of another chat");
    let (base, stop) = serve_pages(Db::shared(store), None).await;
    for path in [
        "/chats/nope".to_string(),
        "/chats/nope/events".into(),
        "/chats/nope/runs/1".into(),
        "/chats/nope/calendar.ics".into(),
        format!("/chats/room/runs/{}", other.id),
        "/chats/room/runs/999".into(),
        "/chats/room/runs/latest".into(),
        "/assets/".into(),
        "/assets".into(),
        "/nothing".into(),
    ] {
        let (status, headers, _) = get(&format!("{base}{path}")).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
    }
    stop.cancel();
}

#[tokio::test]
async fn pages_are_self_contained_with_a_strict_policy() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("h.db")).await.expect("store");
    let run = running_room(&store).await;
    let (base, stop) = serve_pages(Db::shared(store.clone()), None).await;
    // A run in progress has no recap page yet (the room shows it)...
    let (status, _, _) = get(&format!("{base}/chats/room/runs/{run}")).await;
    assert_eq!(status, 404);
    // ...a finished one has: the recap's own policy, inline style, no script.
    store.finish_run(run, Utc::now()).await.expect("finished");
    let (status, headers, recap) = get(&format!("{base}/chats/room/runs/{run}")).await;
    assert_eq!(status, 200, "{recap}");
    assert!(
        recap.contains("chat recap") && !recap.contains("<script"),
        "{recap}"
    );
    let policy = headers["content-security-policy"].to_str().expect("ascii");
    assert!(
        policy.starts_with("default-src 'none'; style-src 'unsafe-inline'"),
        "{policy}"
    );
    assert!(
        !recap.contains(SECRET) && !recap.contains("onerror"),
        "{recap}"
    );
    for (path, kind) in [
        ("/", "text/html"),
        ("/chats/room", "text/html"),
        ("/assets/site.js", "text/javascript"),
        ("/assets/site.css", "text/css"),
    ] {
        let (status, headers, body) = get(&format!("{base}{path}")).await;
        assert_eq!(status, 200, "{path}");
        let policy = headers["content-security-policy"].to_str().expect("ascii");
        assert!(policy.starts_with("default-src 'self'"), "{path}: {policy}");
        assert!(!policy.contains("unsafe"), "{path}: {policy}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        let content_type = headers["content-type"].to_str().expect("ascii");
        assert!(content_type.starts_with(kind), "{path}: {content_type}");
        if kind == "text/html" {
            assert_eq!(body.matches("<script").count(), 1, "{path}: one script");
            assert!(
                body.contains("<script src=\"/assets/site.js\" defer></script>"),
                "{path}"
            );
            assert!(
                body.contains("<main id=\"main\">") && body.contains("<h1>"),
                "{path}: landmarks"
            );
        }
    }
    stop.cancel();
}

#[tokio::test]
async fn opted_out_text_never_reaches_the_room_nor_its_events() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("h.db")).await.expect("store");
    running_room(&store).await;
    let (base, stop) = serve_pages(Db::shared(store), None).await;

    let (_, _, room) = get(&format!("{base}/chats/room")).await;
    assert!(room.contains("visible-words"), "{room}");
    // The recap's escaping of `'` in "author's".
    assert!(room.contains("Hidden at the author"), "{room}");
    assert!(room.contains("aria-live=\"polite\""), "{room}");
    assert_clean("the room", &room);

    let mut events = Events::open(&format!("{base}/chats/room/events")).await;
    let first = events.until(|e| e.starts_with("event: reset")).await;
    assert!(first[0].contains("visible-words"), "{first:?}");
    assert_clean("the first event", &first.concat());
    stop.cancel();
}

#[tokio::test]
async fn an_answer_stored_is_pushed_to_an_open_room() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("h.db")).await.expect("store");
    let run = running_room(&store).await;
    let (base, stop) = serve_pages(Db::shared(store.clone()), None).await;
    let mut events = Events::open(&format!("{base}/chats/room/events")).await;
    events.until(|e| e.starts_with("event: reset")).await;
    // Once the room's feed has read the store (the first answer arrives
    // either way, in a `reset` if the feed had not read it yet), every
    // later answer can only come through the store's change signal.
    let at = Utc::now();
    store
        .record_status(run, &answer("200", "bob", "<p>A1 warm-up</p>", at), &[1])
        .await
        .expect("first answer");
    events.until(|e| e.contains("warm-up")).await;

    store
        .record_status(
            run,
            &answer("204", "mallory", "<p>A1 SECRET-WORDS again</p>", at),
            &[1],
        )
        .await
        .expect("hidden answer");
    store
        .record_status(run, &answer("205", "bob", "<p>A1 just-now</p>", at), &[1])
        .await
        .expect("answer");
    let seen = events.until(|e| e.contains("just-now")).await;
    let pushed = seen.last().expect("an event");
    assert!(pushed.starts_with("event: upsert"), "{pushed}");
    assert!(pushed.contains("answers-q1"), "{pushed}");
    assert_clean("the events", &seen.concat());
    stop.cancel();
}

#[tokio::test]
async fn healthz_fails_when_a_chat_task_has_stopped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("h.db")).await.expect("store");
    let liveness = Liveness::default();
    let running = liveness.alive("room");
    let (base, stop) = serve_pages(Db::shared(store), Some(liveness.clone())).await;
    let (status, _, body) = get(&format!("{base}/healthz")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"room\":\"running\""), "{body}");
    drop(running);
    let (status, _, body) = get(&format!("{base}/healthz")).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("\"room\":\"stopped\""), "{body}");
    stop.cancel();
}

#[tokio::test]
async fn a_room_opened_before_any_run_follows_the_database_another_process_writes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("hashchat.db");
    let (base, stop) = serve_pages(
        Db::watch(DbLocation::Sqlite(path.clone()), CancellationToken::new()),
        None,
    )
    .await;
    let mut events = Events::open(&format!("{base}/chats/room/events")).await;
    events.until(|e| e.contains("No chat right now")).await;

    // Another handle on the file, as `hashchat run` in its own process:
    // its writes reach the pages only through the file.
    let writer = Store::open(&path)
        .await
        .expect("the run creates the database");
    let run = running_room(&writer).await;
    let seen = events.until(|e| e.contains("visible-words")).await;
    assert!(
        seen.last().expect("an event").starts_with("event: reset"),
        "{seen:?}"
    );
    writer
        .record_status(
            run,
            &answer("206", "bob", "<p>A1 from-elsewhere</p>", Utc::now()),
            &[1],
        )
        .await
        .expect("answer");
    let seen = events.until(|e| e.contains("from-elsewhere")).await;
    assert_clean("the events", &seen.concat());
    stop.cancel();
}

/// `serve` on PostgreSQL: another replica's writes reach the room through
/// the database's change counter (no file, no `data_version`).
#[tokio::test]
async fn a_room_served_from_postgresql_follows_the_writes_of_another_process() {
    let url = PostgresUrl::new(crate::postgres::server::fresh_database().await);
    let (base, stop) = serve_pages(
        Db::watch(DbLocation::Postgres(url.clone()), CancellationToken::new()),
        None,
    )
    .await;
    let mut events = Events::open(&format!("{base}/chats/room/events")).await;
    events.until(|e| e.contains("No chat right now")).await;

    let writer = Store::open_postgres(&url).await.expect("another replica");
    let run = running_room(&writer).await;
    events.until(|e| e.contains("visible-words")).await;
    writer
        .record_status(
            run,
            &answer("206", "bob", "<p>A1 from-elsewhere</p>", Utc::now()),
            &[1],
        )
        .await
        .expect("answer");
    let seen = events.until(|e| e.contains("from-elsewhere")).await;
    assert_clean("the events", &seen.concat());
    let (status, _, health) = get(&format!("{base}/healthz")).await;
    assert_eq!(
        (status, health.contains("\"database\":\"ok\"")),
        (200, true),
        "{health}"
    );
    stop.cancel();
}

/// `run --dry-run --serve 127.0.0.1:0`: the rehearsal prints its room's
/// address, and the room is served by the same process while it runs.
#[tokio::test]
async fn a_dry_run_prints_its_live_room_and_serves_it_with_its_metrics() {
    use tokio::io::AsyncBufReadExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let start = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    std::fs::write(
        dir.path().join("chats.yaml"),
        format!(
            "server: https://mastodon.example\nchats:\n  - id: tiny\n    hashtag: TinyChat\n    \
             start: \"{start}\"\n    questions: [\"Ready?\"]\n    collect_after: 1h\n"
        ),
    )
    .expect("chats.yaml");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hashchat"))
        .current_dir(dir.path())
        // No --serve: a rehearsal shows its room by itself, on a free port.
        .args(["run", "--chat", "tiny", "--now", "--once", "--dry-run"])
        .env_remove("HASHCHAT_CONFIG")
        .env_remove("HASHCHAT_DB")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start hashchat");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let first = within("the room's address", lines.next_line())
        .await
        .expect("stdout")
        .expect("a line");
    let room = first
        .strip_prefix("live room: ")
        .unwrap_or_else(|| panic!("first line: {first}"));
    assert!(
        room.starts_with("http://127.0.0.1:") && room.ends_with("/chats/tiny"),
        "{room}"
    );
    assert!(!room.contains(":0/"), "the bound port, not 0: {room}");
    let (status, _, page) = get(room).await;
    assert_eq!(status, 200);
    assert!(page.contains("#TinyChat live room"), "{page}");
    let health = room.replace("/chats/tiny", "/healthz");
    let (status, _, body) = get(&health).await;
    assert_eq!(
        (status, body.contains("\"tiny\":\"running\"")),
        (200, true),
        "{body}"
    );
    let metrics = room.replace("/chats/tiny", "/metrics");
    let (status, headers, body) = get(&metrics).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "{headers:?}"
    );
    assert!(
        body.contains("# TYPE hashchat_posts_sent_total counter"),
        "{body}"
    );
    child.kill().await.expect("stop the rehearsal");
}
