//! A generated Jetstream firehose of `app.bsky.feed.post` (what
//! `wantedCollections=app.bsky.feed.post` delivers): Jetstream's own JSON
//! shape and key order (`did`, `time_us`, `kind`, then the commit's `rev`,
//! `operation`, `collection`, `rkey`, `record`, `cid`), with the identity
//! and account events every subscriber gets. Posts are in many languages,
//! with facets, langs, replies and embeds in about the shares seen on the
//! public Jetstream; one in `CHAT_EVERY` is the chat's (its tag or a reply
//! to one of the bot's questions).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

pub const BOT: &str = "did:plc:hashchatbot00000000000000";
pub const TAG: &str = "EduSkyChat";
/// One event in this many is the chat's.
pub const CHAT_EVERY: usize = 10_000;

/// The bot's posts (the intro and three questions): replies to them count.
pub fn questions() -> Vec<String> {
    (0..4)
        .map(|n| format!("at://{BOT}/app.bsky.feed.post/3ldqbot{n}aaaaa"))
        .collect()
}

const TEXTS: &[(&str, &[&str])] = &[
    (
        "en",
        &[
            "Just finished my morning coffee and the sun is finally out.",
            "Can't believe how fast this semester went by, honestly.",
            "Hot take: the sequel was better than the original movie.",
            "Anyone else watching the game tonight? That last play was wild!",
            "New blog post about teaching fractions with pizza slices 🍕",
            "My cat knocked the plant off the shelf again. Third time this week.",
        ],
    ),
    (
        "ja",
        &[
            "今日はとても良い天気ですね。散歩に行きたいです。",
            "新しいイラストを描きました！見てください✨",
            "電車が遅れていて会社に遅刻しそう…",
            "このラーメン屋さん、本当に美味しかった🍜",
        ],
    ),
    (
        "pt",
        &[
            "Bom dia! Hoje o dia vai ser longo, mas vamos lá.",
            "Alguém sabe onde comprar ingressos para o show?",
            "Que jogo incrível ontem, o time jogou demais!",
        ],
    ),
    (
        "de",
        &[
            "Guten Morgen! Heute regnet es schon wieder in Berlin.",
            "Wer hat Tipps für gute Bücher über Didaktik?",
            "Die Schüler·innen haben heute großartige Fragen gestellt.",
        ],
    ),
    (
        "es",
        &[
            "¿Alguien más piensa que el lunes debería ser opcional?",
            "Hoy aprendí a hacer pan casero y salió perfecto 🍞",
            "La clase de hoy fue un desastre, pero aprendimos mucho.",
        ],
    ),
    (
        "ko",
        &[
            "오늘 점심 뭐 먹을까요? 추천해 주세요!",
            "새 앨범 너무 좋아요. 계속 듣고 있어요 🎧",
        ],
    ),
    (
        "fr",
        &[
            "Quelle belle journée pour une balade au parc !",
            "Je prépare mes cours pour la rentrée, beaucoup de travail.",
        ],
    ),
    (
        "zh",
        &[
            "今天的会议开了三个小时，太累了。",
            "这本书真的很值得一读，推荐给大家。",
        ],
    ),
    ("tr", &["Bugün hava çok güzel, dışarı çıkmak lazım."]),
];
const TAGS: &[&str] = &[
    "art",
    "photography",
    "bluesky",
    "EduSky",
    "EduSkyChatter",
    "TLSkyChat",
    "booksky",
    "teachers",
    "イラスト",
    "fotografia",
];

pub struct Firehose {
    rng: StdRng,
    time_us: u64,
    dids: Vec<String>,
    made: usize,
}

impl Firehose {
    pub fn new(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let dids = (0..20_000)
            .map(|_| format!("did:plc:{}", base32(&mut rng, 24)))
            .collect();
        Self {
            rng,
            time_us: 1_765_137_600_000_000,
            dids,
            made: 0,
        }
    }

    /// `n` frames; the chat's are those with `CHAT_EVERY`'s spacing.
    pub fn frames(&mut self, n: usize) -> Vec<String> {
        (0..n).map(|_| self.next_frame()).collect()
    }

    fn next_frame(&mut self) -> String {
        self.made += 1;
        // ~2,000 events/s on the public Jetstream: a few hundred µs apart.
        self.time_us += self.rng.gen_range(50..900);
        let did = self.dids[self.rng.gen_range(0..self.dids.len())].clone();
        let chat = self.made % CHAT_EVERY == CHAT_EVERY / 2;
        let roll: f64 = if chat { 0.0 } else { self.rng.gen() };
        let (t, rev) = (self.time_us, tid(&mut self.rng));
        let rkey = tid(&mut self.rng);
        let head = format!(r#"{{"did":"{did}","time_us":{t},"kind":"#);
        if roll < 0.90 || (0.985..0.99).contains(&roll) {
            let op = if roll < 0.90 { "create" } else { "update" };
            let record = if chat { self.chat_post() } else { self.post() };
            let cid = cid(&mut self.rng);
            format!(
                r#"{head}"commit","commit":{{"rev":"{rev}","operation":"{op}","collection":"app.bsky.feed.post","rkey":"{rkey}","record":{record},"cid":"{cid}"}}}}"#
            )
        } else if roll < 0.97 {
            format!(
                r#"{head}"commit","commit":{{"rev":"{rev}","operation":"delete","collection":"app.bsky.feed.post","rkey":"{rkey}"}}}}"#
            )
        } else if roll < 0.985 {
            let seq = self.made * 7;
            format!(
                r#"{head}"identity","identity":{{"did":"{did}","handle":"user{seq}.bsky.social","seq":{seq},"time":"2026-12-07T20:00:00.000Z"}}}}"#
            )
        } else {
            let seq = self.made * 7;
            format!(
                r#"{head}"account","account":{{"active":true,"did":"{did}","seq":{seq},"time":"2026-12-07T20:00:00.000Z"}}}}"#
            )
        }
    }

    fn post(&mut self) -> Value {
        let (lang, texts) = TEXTS[self.rng.gen_range(0..TEXTS.len())];
        let mut text = String::new();
        for _ in 0..self.rng.gen_range(1..4) {
            text.push_str(texts[self.rng.gen_range(0..texts.len())]);
            text.push(' ');
        }
        let mut facets = Vec::new();
        if self.rng.gen_bool(0.12) {
            let tag = TAGS[self.rng.gen_range(0..TAGS.len())];
            facets.push(facet(
                &mut text,
                &format!("#{tag}"),
                json!({"$type": "app.bsky.richtext.facet#tag", "tag": tag}),
            ));
        }
        if self.rng.gen_bool(0.10) {
            let did = self.did();
            facets.push(facet(
                &mut text,
                "@someone.bsky.social",
                json!({"$type": "app.bsky.richtext.facet#mention", "did": did}),
            ));
        }
        if self.rng.gen_bool(0.08) {
            let uri = format!("https://example.com/{}", base32(&mut self.rng, 10));
            facets.push(facet(
                &mut text,
                &uri,
                json!({"$type": "app.bsky.richtext.facet#link", "uri": uri}),
            ));
        }
        let mut record = json!({"$type": "app.bsky.feed.post", "createdAt": "2026-12-07T20:00:00.000Z",
            "langs": [lang], "text": text.trim_end()});
        if !facets.is_empty() {
            record["facets"] = Value::Array(facets);
        }
        if self.rng.gen_bool(0.45) {
            let (root, parent) = (self.strong_ref(), self.strong_ref());
            record["reply"] = json!({"root": root, "parent": parent});
        }
        let embed: f64 = self.rng.gen();
        if embed < 0.20 {
            let blob = self.blob("image/jpeg");
            record["embed"] = json!({"$type": "app.bsky.embed.images", "images": [{"alt": "a photo of the view from my window",
                "aspectRatio": {"height": 1536, "width": 2048}, "image": blob}]});
        } else if embed < 0.30 {
            let thumb = self.blob("image/jpeg");
            record["embed"] = json!({"$type": "app.bsky.embed.external", "external": {"uri": "https://news.example.org/2026/12/07/story",
                "title": "A headline about something that happened today", "description": "The first lines of the article, as the card shows them.", "thumb": thumb}});
        } else if embed < 0.38 {
            record["embed"] =
                json!({"$type": "app.bsky.embed.record", "record": self.strong_ref()});
        }
        record
    }

    /// The chat's: half tagged (text and facet), half an untagged reply to a question.
    fn chat_post(&mut self) -> Value {
        let mut record = json!({"$type": "app.bsky.feed.post", "createdAt": "2026-12-07T20:00:00.000Z", "langs": ["en"]});
        if (self.made / CHAT_EVERY).is_multiple_of(2) {
            record["text"] = json!(format!("A1: we start with questions, not answers #{TAG}"));
            record["facets"] = json!([{"index": {"byteStart": 42, "byteEnd": 53},
                "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": TAG}]}]);
        } else {
            let question = json!({"uri": questions()[1], "cid": cid(&mut self.rng)});
            record["text"] = json!("A1: small groups, every week");
            record["reply"] = json!({"root": question, "parent": question});
        }
        record
    }

    fn did(&mut self) -> String {
        self.dids[self.rng.gen_range(0..self.dids.len())].clone()
    }

    fn strong_ref(&mut self) -> Value {
        let uri = format!(
            "at://{}/app.bsky.feed.post/{}",
            self.did(),
            tid(&mut self.rng)
        );
        json!({"cid": cid(&mut self.rng), "uri": uri})
    }

    fn blob(&mut self, mime: &str) -> Value {
        json!({"$type": "blob", "mimeType": mime, "ref": {"$link": cid(&mut self.rng)},
            "size": self.rng.gen_range(20_000..900_000)})
    }
}

fn facet(text: &mut String, span: &str, feature: Value) -> Value {
    let start = text.len();
    text.push_str(span);
    text.push(' ');
    json!({"index": {"byteStart": start, "byteEnd": start + span.len()}, "features": [feature]})
}

fn base32(rng: &mut StdRng, n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    (0..n)
        .map(|_| ALPHABET[rng.gen_range(0..32)] as char)
        .collect()
}

fn tid(rng: &mut StdRng) -> String {
    format!("3l{}", base32(rng, 11))
}

fn cid(rng: &mut StdRng) -> String {
    format!("bafyrei{}", base32(rng, 52))
}
