//! Figure 6, recap: the time to build a 5,000-answer run's recap from the
//! store and render it, in each format, against the 200 ms target.
//!
//!     cargo bench --bench recap

mod common;

use std::time::Instant;

use common::corpus::{self, HASHTAG, QUESTIONS};
use hashchat::network::Status;
use hashchat::recap::{self, Format};
use hashchat::schedule;
use hashchat::store::{Store, StoredStatus};

const TARGET_MS: f64 = 200.0;

fn main() {
    let answers_wanted = common::scaled(5_000);
    let runs = common::runs();
    let rt = common::runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let chat = common::chat(
        "bench",
        HASHTAG,
        corpus::opens(),
        QUESTIONS as usize,
        "https://bench.example/".parse().expect("url"),
        "",
    );
    let (store, run_id, answers, statuses) = rt.block_on(fill(&dir, &chat, answers_wanted));
    println!("recap: a run with {answers} answers ({statuses} posts), median of {runs} runs");
    println!("machine: {}", common::machine());

    let mut build_ms = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        rt.block_on(recap::build(&store, &chat, run_id))
            .expect("recap");
        build_ms.push(common::millis(start.elapsed()));
    }
    let build = common::median(&build_ms);
    println!("  {:<28} {build:>8.1} ms", "build from the store");
    for format in Format::ALL {
        let mut total = Vec::new();
        let mut render = Vec::new();
        let mut size = 0;
        for _ in 0..runs {
            let start = Instant::now();
            let built = rt
                .block_on(recap::build(&store, &chat, run_id))
                .expect("recap");
            let rendering = Instant::now();
            size = built.render(format).len();
            render.push(common::millis(rendering.elapsed()));
            total.push(common::millis(start.elapsed()));
        }
        let t = common::median(&total);
        println!(
            "  {:<28} {t:>8.1} ms (render {:.1} ms, {} KiB)  target < {TARGET_MS} ms: {:.2}x {}",
            format!("build + render {}", format.extension()),
            common::median(&render),
            size / 1024,
            t / TARGET_MS,
            if t < TARGET_MS { "MET" } else { "MISSED" }
        );
    }
}

/// A store holding one finished run: every question posted, then the
/// corpus's statuses (five answers for every other post).
async fn fill(
    dir: &tempfile::TempDir,
    chat: &hashchat::chats::Chat,
    answers_wanted: usize,
) -> (Store, i64, usize, usize) {
    let store = Store::open(&dir.path().join("recap.db"))
        .await
        .expect("store");
    let timeline = schedule::timeline(chat, corpus::opens());
    let run = store
        .open_run(chat.id(), timeline.start, timeline.collect_until)
        .await
        .expect("a run");
    let planned: Vec<_> = timeline
        .posts
        .iter()
        .map(|p| schedule::PlanPost {
            post: p.clone(),
            body: p.text.clone(),
            idempotency_key: format!("bench-{}", p.seq),
            image: None,
        })
        .collect();
    store.plan_posts(run.id, &planned).await.expect("plan");
    for post in &timeline.posts {
        let id = match post.number {
            Some(n) => corpus::question_post_id(n),
            None => (900 + post.seq).to_string(),
        };
        let url = format!("https://bench.example/@chatbot/{id}");
        store
            .mark_sent(run.id, post.seq, &id, &url, post.at)
            .await
            .expect("sent");
    }
    let count = answers_wanted * 6 / 5;
    let page: Vec<(StoredStatus, Vec<u32>)> = corpus::statuses(count, 5.0 / 6.0)
        .iter()
        .map(|json| {
            let status = Status::from_json(json).expect("the corpus decodes");
            let text = hashchat::network::html_to_text(&status.content);
            let answers = hashchat::answers::answered_questions(&text, QUESTIONS);
            let stored = StoredStatus {
                status_id: status.id.clone(),
                instance: None,
                uri: status.uri.clone(),
                account_id: status.account.id.clone(),
                account: status.account.handle(corpus::DOMAIN),
                display_name: status.account.display_name.clone(),
                url: status.link().to_string(),
                html: status.content.clone(),
                text,
                created_at: status.created_at,
                edited_at: status.edited_at,
                in_reply_to_id: status.in_reply_to_id.clone(),
                visibility: status.visibility.clone(),
            };
            (stored, answers)
        })
        .collect();
    let answers = page.iter().filter(|(_, a)| !a.is_empty()).count();
    store.record_statuses(run.id, &page).await.expect("stored");
    store
        .mark_run_started(run.id, timeline.start)
        .await
        .expect("started");
    store
        .finish_run(run.id, timeline.collect_until)
        .await
        .expect("finished");
    (store, run.id, answers, count)
}
