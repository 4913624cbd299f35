//! Figure 11: hashchat's Jetstream filter over a generated firehose of
//! every post (benches/common/firehose.rs; one event in 10,000 is the
//! chat's), against bare `serde_json::Value` decoding of the same events,
//! and the CPU it takes at 500 events/s (about a quarter of what the public
//! Jetstream sends for `app.bsky.feed.post`):
//!
//! - throughput: `Jetstream::accept` (the cheap byte check, then the full
//!   decode and judgement of the few frames that pass, the cursor, the
//!   dedup window), the same function `Jetstream::next` calls per frame;
//! - CPU, filter: the same, one event every 2 ms for a few seconds (caches
//!   cold between events, as in the daemon), the time spent inside `accept`
//!   over the wall time (the thread's own CPU time there would mostly be the
//!   pacing loop's 500 sleeps and wake-ups a second, not the filter);
//! - CPU, client: hashchat's whole Jetstream client reading a loopback
//!   WebSocket server that sends 500 frames/s (socket, framing, filter),
//!   the client's own thread's CPU time; the server runs on another thread.
//!
//!     cargo bench --bench firehose

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::firehose::{self, Firehose, CHAT_EVERY};
use futures_util::SinkExt;
use hashchat::chats::Hashtag;
use hashchat::network::bluesky::{Filter, JetEvent, Jetstream};
use url::Url;

const EVENTS: usize = 200_000;
const RATE: u64 = 500;
/// The goals: the filter at least half as fast as bare decoding, and under
/// 2% of a core at 500 events/s.
const SPEED_GOAL: f64 = 0.5;
const CPU_GOAL: f64 = 2.0;

fn main() {
    let n = common::scaled(EVENTS);
    let feed_for = Duration::from_secs(common::scaled(5) as u64);
    let frames = Firehose::new(7).frames(n);
    let bytes: usize = frames.iter().map(String::len).sum();
    println!(
        "firehose: {n} Jetstream events ({:.0} bytes each on average), one in {CHAT_EVERY} the chat's; median of {} runs",
        bytes as f64 / n as f64,
        common::runs()
    );
    println!("machine: {}", common::machine());

    let mut bare = Vec::new();
    let mut filtered = Vec::new();
    let mut mentions = Vec::new();
    for _ in 0..common::runs() {
        mentions.push(per_second(n, || {
            let url = Url::parse("ws://127.0.0.1:1").expect("url");
            let mut jet = Jetstream::new(url, Filter::mentioning(firehose::BOT), None);
            black_box(frames.iter().filter(|f| jet.accept(f).is_some()).count());
        }));
        bare.push(per_second(n, || decode_all(&frames)));
        filtered.push(per_second(n, || {
            let kept = filter_all(&frames);
            assert_eq!(kept, expected_chat_events(n), "the chat's events, no more");
        }));
    }
    let (bare, filtered) = (common::median(&bare), common::median(&filtered));
    let mentions = common::median(&mentions);
    let ratio = filtered / bare;
    println!("  bare serde_json::Value decode: {bare:.0} events/s");
    println!(
        "  hashchat's filter: {filtered:.0} events/s = {ratio:.2}x bare decode (goal ≥ {SPEED_GOAL}x): {}",
        verdict(ratio >= SPEED_GOAL)
    );

    println!(
        "  the bot's mention filter (its second socket): {mentions:.0} events/s = {:.2}x bare decode",
        mentions / bare
    );

    let alone = filter_cpu_at_rate(&frames, feed_for);
    println!(
        "  CPU at {RATE} events/s for {feed_for:?}, filter alone (time inside accept): {alone:.3}% of a core (goal < {CPU_GOAL}%): {}; from the throughput above: {:.3}%",
        verdict(alone < CPU_GOAL),
        100.0 * RATE as f64 / filtered
    );
    let client = client_cpu_at_rate(&frames, feed_for);
    println!(
        "  CPU at {RATE} events/s for {feed_for:?}, whole client over a loopback WebSocket: {client:.3}% of a core (goal < {CPU_GOAL}%): {}",
        verdict(client < CPU_GOAL)
    );
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "NOT met"
    }
}

fn per_second(n: usize, f: impl FnOnce()) -> f64 {
    let ((), took) = common::time(f);
    n as f64 / took.as_secs_f64()
}

fn decode_all(frames: &[String]) {
    for frame in frames {
        let value: serde_json::Value = serde_json::from_str(frame).expect("a frame decodes");
        black_box(value);
    }
}

/// The chat's filter as the Bluesky platform sets it up: the tag, and
/// replies to any of the bot's posts.
fn chat_filter() -> Filter {
    let mut filter = Filter::new(Hashtag::parse(firehose::TAG).expect("a valid tag"));
    filter.watch_replies_to(firehose::BOT);
    filter
}

fn consumer(base: Url) -> Jetstream {
    Jetstream::new(base, chat_filter(), None)
}

fn filter_all(frames: &[String]) -> usize {
    let mut jet = consumer(Url::parse("ws://127.0.0.1:1").expect("url"));
    frames
        .iter()
        .filter(|frame| black_box(jet.accept(frame)).is_some())
        .count()
}

fn expected_chat_events(n: usize) -> usize {
    (1..=n).filter(|i| i % CHAT_EVERY == CHAT_EVERY / 2).count()
}

/// This thread's CPU time so far.
fn thread_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_THREAD, &mut usage);
        usage
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

fn share(cpu: Duration, wall: Duration) -> f64 {
    100.0 * cpu.as_secs_f64() / wall.as_secs_f64()
}

/// One frame every 1/RATE s, each deadline slept to, as frames would come;
/// the share of the wall time spent inside `accept`.
fn filter_cpu_at_rate(frames: &[String], feed_for: Duration) -> f64 {
    let mut jet = consumer(Url::parse("ws://127.0.0.1:1").expect("url"));
    let count = (RATE * feed_for.as_secs()) as usize;
    let step = Duration::from_secs(1) / RATE as u32;
    let start = Instant::now();
    let mut inside = Duration::ZERO;
    for (i, frame) in frames.iter().cycle().take(count).enumerate() {
        let deadline = start + step * i as u32;
        std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
        let began = Instant::now();
        black_box(jet.accept(frame));
        inside += began.elapsed();
    }
    share(inside, start.elapsed())
}

/// The client on a thread of its own (a current-thread runtime, as a
/// chat's listener task would mostly run), reading until the server's last
/// frame, a tagged post with the record key `end`.
fn client_cpu_at_rate(frames: &[String], feed_for: Duration) -> f64 {
    let count = (RATE * feed_for.as_secs()) as usize;
    let mut sent: Vec<String> = frames.iter().cycle().take(count).cloned().collect();
    sent.push(format!(
        r##"{{"did":"did:plc:x","time_us":9999999999999999,"kind":"commit","commit":{{"rev":"e","operation":"create","collection":"app.bsky.feed.post","rkey":"end","record":{{"$type":"app.bsky.feed.post","text":"#{}","createdAt":"2026-12-07T20:00:00Z"}},"cid":"bafyend"}}}}"##,
        firehose::TAG
    ));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base =
        Url::parse(&format!("ws://{}", listener.local_addr().expect("address"))).expect("url");
    let server = std::thread::spawn(move || serve_at_rate(listener, sent));
    let client = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let mut jet = consumer(base);
            let (start, cpu) = (Instant::now(), thread_cpu());
            loop {
                let event = jet.next().await.expect("the Jetstream URL is usable");
                if matches!(&event, JetEvent::Created(post) if post.rkey == "end") {
                    return share(thread_cpu() - cpu, start.elapsed());
                }
            }
        })
    });
    let figure = client.join().expect("client thread");
    server.join().expect("server thread");
    figure
}

fn serve_at_rate(listener: std::net::TcpListener, frames: Vec<String>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        listener.set_nonblocking(true).expect("nonblocking");
        let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
        let (stream, _) = listener.accept().await.expect("accept");
        let mut socket = tokio_tungstenite::accept_async(stream)
            .await
            .expect("handshake");
        let mut ticks = tokio::time::interval(Duration::from_secs(1) / RATE as u32);
        for frame in frames {
            ticks.tick().await;
            socket.send(frame.into()).await.expect("send");
        }
        socket.close(None).await.ok();
    });
}
