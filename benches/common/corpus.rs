//! Generated Mastodon statuses, as the server sends them: the full JSON
//! entity (account, mentions, tags, counters), HTML content with mention
//! and hashtag links, URLs, entities and several paragraphs. A fixed seed
//! makes every run see the same corpus.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;

pub const DOMAIN: &str = "bench.example";
pub const HASHTAG: &str = "BenchChat";
pub const BOT_ACCOUNT: &str = "1";
pub const QUESTIONS: u32 = 8;

pub fn opens() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 3, 20, 0, 0).unwrap()
}

pub fn closes() -> DateTime<Utc> {
    opens() + Duration::hours(2)
}

/// The bot's question posts: ids `1000 + n` for question n.
pub fn question_post_id(n: u32) -> String {
    (1000 + n).to_string()
}

/// xorshift64*: deterministic and dependency-free.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const WORDS: &[&str] = &[
    "I",
    "think",
    "our",
    "students",
    "really",
    "learn",
    "best",
    "when",
    "they",
    "can",
    "talk",
    "with",
    "peers",
    "about",
    "the",
    "work",
    "and",
    "share",
    "ideas",
    "openly",
    "feedback",
    "matters",
    "more",
    "than",
    "grades",
    "for",
    "most",
    "of",
    "us",
    "here",
    "café",
    "naïve",
    "résumé",
    "teaching",
    "online",
    "PLN",
    "community",
    "week",
    "try",
];

const SERVERS: &[&str] = &["mastodon.social", "fosstodon.org", "hachyderm.io", DOMAIN];

/// `count` statuses as JSON text; `answer_share` of them (0..=1) carry an
/// answer label, the rest are tagged posts without one. One in ten replies
/// to a question post instead of carrying the hashtag.
pub fn statuses(count: usize, answer_share: f64) -> Vec<String> {
    let mut rng = Rng::new(0x5eed);
    let span = (closes() - opens()).num_milliseconds() as u64;
    (0..count)
        .map(|i| {
            let answer = (rng.below(1000) as f64) < answer_share * 1000.0;
            let reply = rng.below(10) == 0;
            let created = opens() + Duration::milliseconds((span * i as u64 / count as u64) as i64);
            status(&mut rng, 200_000 + i as u64, created, answer, reply).to_string()
        })
        .collect()
}

fn status(
    rng: &mut Rng,
    id: u64,
    created: DateTime<Utc>,
    answer: bool,
    reply: bool,
) -> serde_json::Value {
    let user = format!("user{}", rng.below(5000));
    let server = rng.pick(SERVERS);
    let acct = if server == DOMAIN {
        user.clone()
    } else {
        format!("{user}@{server}")
    };
    let question = 1 + rng.below(u64::from(QUESTIONS)) as u32;
    let sentence: Vec<&str> = (0..8 + rng.below(30)).map(|_| rng.pick(WORDS)).collect();
    let sentence = sentence.join(" ");
    let mention = format!(
        r#"<span class="h-card" translate="no"><a href="https://{DOMAIN}/@chatbot" class="u-url mention">@<span>chatbot</span></a></span>"#
    );
    let tag_link = format!(
        r#"<a href="https://{DOMAIN}/tags/{}" class="mention hashtag" rel="tag">#<span>{HASHTAG}</span></a>"#,
        HASHTAG.to_lowercase()
    );
    let link = format!(
        r#"<a href="https://example.org/blog/{id}/notes" target="_blank" rel="nofollow noopener noreferrer"><span class="invisible">https://</span><span class="ellipsis">example.org/blog/{id}/</span><span class="invisible">notes</span></a>"#
    );
    let label = if answer {
        format!("A{question}: ")
    } else {
        String::new()
    };
    let tag_part = if reply {
        String::new()
    } else {
        format!(" {tag_link}")
    };
    let content = format!(
        "<p>{mention} {label}{sentence} &amp; more, see {link}{tag_part}</p><p>Thanks all &quot;for&quot; this!<br />Looking forward to next week.</p>"
    );
    let tags = if reply {
        json!([])
    } else {
        json!([{"name": HASHTAG.to_lowercase(), "url": format!("https://{DOMAIN}/tags/{}", HASHTAG.to_lowercase())}])
    };
    let account = json!({
        "id": (10_000 + rng.below(5000)).to_string(),
        "username": user,
        "acct": acct,
        "display_name": format!("{} {}", rng.pick(WORDS), rng.pick(WORDS)),
        "locked": false, "bot": false, "discoverable": true, "group": false,
        "created_at": "2022-11-05T00:00:00.000Z",
        "note": "<p>Teacher, learner. Opinions my own.</p>",
        "url": format!("https://{server}/@{user}"),
        "avatar": format!("https://files.{server}/accounts/avatars/{user}.png"),
        "avatar_static": format!("https://files.{server}/accounts/avatars/{user}.png"),
        "header": format!("https://{server}/headers/original/missing.png"),
        "header_static": format!("https://{server}/headers/original/missing.png"),
        "followers_count": rng.below(2000), "following_count": rng.below(900),
        "statuses_count": rng.below(9000), "last_status_at": "2026-12-03",
        "emojis": [], "fields": []
    });
    let at = created.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    json!({
        "id": id.to_string(),
        "created_at": at,
        "in_reply_to_id": reply.then(|| question_post_id(question)),
        "in_reply_to_account_id": reply.then_some(BOT_ACCOUNT),
        "sensitive": false,
        "spoiler_text": "",
        "visibility": "public",
        "language": "en",
        "uri": format!("https://{server}/users/{user}/statuses/{id}"),
        "url": format!("https://{server}/@{user}/{id}"),
        "replies_count": rng.below(3),
        "reblogs_count": rng.below(5),
        "favourites_count": rng.below(20),
        "edited_at": null,
        "favourited": false, "reblogged": false, "muted": false, "bookmarked": false,
        "content": content,
        "filtered": [],
        "reblog": null,
        "application": {"name": "Web", "website": null},
        "account": account,
        "media_attachments": [],
        "mentions": [{"id": BOT_ACCOUNT, "username": "chatbot", "url": format!("https://{DOMAIN}/@chatbot"), "acct": "chatbot"}],
        "tags": tags,
        "emojis": [],
        "card": null,
        "poll": null
    })
}
