use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::DateTime;
use chrono_tz::Tz;

use super::*;
use crate::chats::{defaults, Platform, TokenSource, Visibility, When};
use proptest::prelude::*;

const CHAT: &str = "server: https://mastodon.example\nchats:\n  - id: a\n    hashtag: A\n    schedule: \"0 20 * * 4\"\n    questions: [One?]\n";

/// The messages `parse` gives for `source`, located as `line:col`.
fn messages(source: &str) -> Vec<String> {
    match parse(Path::new("chats.yaml"), source) {
        Ok(_) => Vec::new(),
        Err(d) => d
            .errors
            .iter()
            .map(|e| format!("{}:{} {}", e.line, e.column, e.message))
            .collect(),
    }
}

#[test]
fn each_bad_value_gets_its_own_located_message() {
    let cases = [
        (
            "    timezone: Europe/Londn\n",
            "7:15 unknown time zone `Europe/Londn`",
        ),
        (
            "    schedule2: x\n",
            "7:5 unknown key `schedule2` in a chat",
        ),
        (
            "    question_interval: 0s\n",
            "7:24 `question_interval` must be longer than zero",
        ),
        ("    collect_after: 0s\n", ""),
        ("    late_limit: 0s\n", ""),
        (
            "    visibility: direct\n",
            "7:17 a chat cannot post `direct`: only `public` or `unlisted`",
        ),
        ("    platform: Akkoma\n", ""),
        ("    server: http://localhost:3000\n", ""),
        (
            "    server: https://\n",
            "7:13 `server` should be an http(s) URL, not `https://`",
        ),
        (
            "    max_characters: -5\n",
            "7:21 `max_characters` should be a whole number, not the number `-5`",
        ),
        ("    max_characters: \"5000\"\n", ""),
        ("    moderators: [\"alice@example.org\"]\n", ""),
        ("    token_file: /run/secrets/hashchat\n", ""),
        (
            "    token_env: \"\"\n",
            "7:5 `token_env` should name an environment variable, like `HASHCHAT_TOKEN`",
        ),
        (
            "    question_interval: 40d\n",
            "7:24 `question_interval` is longer than 31 days",
        ),
        (
            "    question_interval: 20d\n    collect_after: 20d\n",
            "3:5 chat `a` would last 40d 5m from intro to end of collection",
        ),
        ("    intro: \"\"\n", "7:12 `intro` is empty"),
        ("    hashtag2: A\n", "7:5 unknown key `hashtag2` in a chat"),
    ];
    for (extra, expected) in cases {
        let source = format!("{CHAT}{extra}");
        let expected: Vec<&str> = [expected].into_iter().filter(|e| !e.is_empty()).collect();
        assert_eq!(messages(&source), expected, "for {extra:?}");
    }
}

#[test]
fn a_valid_chat_gets_every_default() {
    let config = parse(Path::new("chats.yaml"), CHAT).expect("valid");
    let chat = &config.chats[0];
    assert_eq!(chat.timing().timezone(), Tz::UTC);
    assert_eq!(chat.account().platform(), Platform::Mastodon);
    assert_eq!(
        *chat.account().token(),
        TokenSource::Env("HASHCHAT_TOKEN".into())
    );
    assert_eq!(chat.account().max_characters(), 500);
    assert_eq!(chat.policy().recap_dir(), PathBuf::from("recaps"));
    assert_eq!(
        chat.timing().first_question_after(),
        Duration::from_secs(300)
    );
    assert_eq!(chat.timing().question_interval(), Duration::from_secs(600));
    assert_eq!(chat.timing().collect_after(), Duration::from_secs(1800));
    assert_eq!(chat.account().visibility(), Visibility::Public);
    assert_eq!(chat.timing().late_limit(), None);
    assert_eq!(chat.content().intro(), defaults::INTRO);
    assert_eq!(chat.content().closing(), defaults::CLOSING);
}

#[test]
fn a_chat_overrides_the_top_level_and_inherits_the_rest() {
    let source = "server: https://a.example\ntimezone: Europe/London\ntoken_file: /tok\nlate_limit: 10m\nchats:\n  - id: a\n    hashtag: A\n    start: \"2026-12-03T20:00:00+01:00\"\n    questions: [One?]\n    server: https://b.example\n    token_env: OTHER\n";
    let config = parse(Path::new("chats.yaml"), source).expect("valid");
    let chat = &config.chats[0];
    assert_eq!(chat.account().server().as_str(), "https://b.example/");
    assert_eq!(chat.timing().timezone(), chrono_tz::Europe::London);
    assert_eq!(*chat.account().token(), TokenSource::Env("OTHER".into()));
    assert_eq!(chat.timing().late_limit(), Some(Duration::from_secs(600)));
    let start = DateTime::parse_from_rfc3339("2026-12-03T19:00:00Z").expect("time");
    assert!(matches!(chat.timing().when(), When::Once(t) if *t == start));
}

#[test]
fn aliases_nested_deeply_do_not_hang_or_panic() {
    let mut source = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 0..12 {
        let prev = if i == 0 {
            "a".to_string()
        } else {
            format!("b{}", i - 1)
        };
        source.push_str(&format!("b{i}: &b{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
    }
    assert!(!messages(&source).is_empty());
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    for source in [
        "[".repeat(100_000),
        "a:\n".to_string() + &"- ".repeat(50_000) + "x\n",
    ] {
        assert!(!messages(&source).is_empty());
    }
}

/// Text that looks like chats.yaml: its keys, YAML punctuation, values.
fn yamlish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("server: https://mastodon.example\n".to_string()),
        Just("chats:\n".to_string()),
        Just("  - id: a\n".to_string()),
        Just("    hashtag: A\n".to_string()),
        Just("    schedule: \"0 20 * * 4\"\n".to_string()),
        Just("    questions:\n      - One?\n".to_string()),
        Just("    start: 2026-12-03T20:00:00Z\n".to_string()),
        "[a-z_]{1,20}: ".prop_map(String::from),
        "[ \\-:#&*!|>%@`\"'\\[\\]{},?\n\t0-9a-zA-Z/.]{0,12}".prop_map(String::from),
        "\\PC{0,8}".prop_map(String::from),
    ];
    prop::collection::vec(token, 0..40).prop_map(|parts| parts.concat())
}

/// The example chats.yaml with a slice replaced by random text.
fn mutated() -> impl Strategy<Value = String> {
    let example = include_str!("../../../chats.yaml");
    let n = example.len();
    (0..n, 0..64usize, "\\PC{0,16}").prop_map(move |(at, len, insert)| {
        let start = (0..=at)
            .rev()
            .find(|i| example.is_char_boundary(*i))
            .unwrap_or(0);
        let end = ((start + len).min(n)..=n)
            .find(|i| example.is_char_boundary(*i))
            .unwrap_or(n);
        format!("{}{insert}{}", &example[..start], &example[end..])
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parse_never_panics_on_yamlish_text(source in yamlish()) {
        let _ = parse(Path::new("chats.yaml"), &source).map_err(|d| d.to_string());
    }

    #[test]
    fn parse_never_panics_on_a_mutated_example(source in mutated()) {
        let _ = parse(Path::new("chats.yaml"), &source).map_err(|d| d.to_string());
    }
}

#[test]
fn ignore_rules_match_accounts_domains_and_subdomains_ignoring_case() {
    let source =
        format!("{CHAT}    ignore: [\"@Spam@Bad.example\", quiet.example, \"*.bots.example\"]\n");
    let config = parse(Path::new("chats.yaml"), &source).expect("valid");
    let chat = &config.chats[0];
    let cases = [
        ("spam@bad.example", true),
        ("@SPAM@bad.example", true),
        ("other@bad.example", false),
        ("anyone@quiet.example", true),
        ("anyone@loud.quiet.example", false),
        ("x@bots.example", true),
        ("x@a.b.bots.example", true),
        ("x@notbots.example", false),
        ("alice@mastodon.example", false),
    ];
    for (handle, ignored) in cases {
        assert_eq!(chat.ignores(handle), ignored, "{handle}");
    }
}

/// snac2 names itself `host:port` (`localhost:8001`): handles took such
/// domains, `ignore:` rejected them.
#[test]
fn ignore_rules_take_host_port_domains_as_handles_do() {
    let source = format!(
        "{CHAT}    ignore: [\"localhost:8001\", \"@spam@127.0.0.1:8002\", \"*.example.org:8003\"]\n"
    );
    let config = parse(Path::new("chats.yaml"), &source).expect("valid");
    let chat = &config.chats[0];
    let cases = [
        ("anyone@localhost:8001", true),
        ("anyone@localhost:8002", false),
        ("anyone@localhost", false),
        ("spam@127.0.0.1:8002", true),
        ("other@127.0.0.1:8002", false),
        ("x@a.example.org:8003", true),
        ("x@example.org:8003", true),
        ("x@example.org", false),
    ];
    for (handle, ignored) in cases {
        assert_eq!(chat.ignores(handle), ignored, "{handle}");
    }
    for bad in [
        "localhost:0",
        "localhost:99999",
        "host:port",
        "spam",
        "a..b",
    ] {
        let source = format!("{CHAT}    ignore: [\"{bad}\"]\n");
        let err = parse(Path::new("chats.yaml"), &source)
            .expect_err(bad)
            .to_string();
        assert!(
            err.contains("neither an account nor a domain"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn new_keys_get_their_defaults_and_reminders_may_not_repeat() {
    let config = parse(Path::new("chats.yaml"), CHAT).expect("valid");
    let chat = &config.chats[0];
    assert!(
        chat.timing().sessions().is_empty()
            && !chat.timing().require_session()
            && !chat.policy().welcome_newcomers()
    );
    assert!(
        chat.timing().reminders().is_empty()
            && chat.policy().ignore().is_empty()
            && chat.policy().exclude().is_empty()
    );
    assert_eq!(chat.content().question_images(), vec![None]);
    assert_eq!(
        (chat.content().language(), chat.content().content_warning()),
        (None, None)
    );
    assert_eq!(
        messages(&format!("{CHAT}    reminders: [24h, 1d]\n")),
        ["7:22 this reminder is the same as reminder 1 (`24h`)"]
    );
}

#[test]
fn sessions_are_sorted_by_date_and_require_session_makes_questions_optional() {
    let source = "server: https://mastodon.example\nchats:\n  - id: a\n    hashtag: A\n    schedule: \"0 20 * * 4\"\n    require_session: true\n    sessions:\n      - date: 2026-12-10\n        questions: [Two?]\n      - date: 2026-12-03\n        questions: [One?]\n";
    let config = parse(Path::new("chats.yaml"), source).expect("valid");
    let dates: Vec<String> = config.chats[0]
        .timing()
        .sessions()
        .iter()
        .map(|s| s.date.to_string())
        .collect();
    assert_eq!(dates, ["2026-12-03", "2026-12-10"]);
    assert!(config.chats[0].content().questions().is_empty());
}

#[test]
fn a_chat_is_built_from_the_yaml_of_its_entry() {
    let chat = Chat::from_yaml(
        "id: a\nhashtag: A\nschedule: \"0 20 * * 4\"\nquestions:\n  - One?\nreminders: [1h]\n",
    )
    .expect("valid");
    assert_eq!(
        (chat.id.as_str(), chat.content().hashtag().as_str()),
        ("a", "A")
    );
    assert_eq!(
        chat.account().server().as_str(),
        "https://mastodon.example/"
    );
    assert_eq!(chat.content().questions(), ["One?"]);
    assert_eq!(chat.timing().reminders(), [Duration::from_secs(3600)]);
    let err = Chat::from_yaml("id: a\nhashtag: A\nquestions: [One?]\n").expect_err("no schedule");
    assert!(
        err.to_string()
            .contains("has neither `schedule` nor `start`"),
        "{err}"
    );
}

#[test]
fn a_top_level_value_is_inherited_unless_the_chat_sets_its_own() {
    let source = "server: https://a.example\ntoken_env: TOP\nmax_characters: 1000\nchats:\n  - id: a\n    hashtag: A\n    schedule: \"0 20 * * 4\"\n    questions: [One?]\n  - id: b\n    hashtag: B\n    schedule: \"0 20 * * 4\"\n    questions: [One?]\n    token_file: /run/b\n    max_characters: 300\n";
    let config = parse(Path::new("chats.yaml"), source).expect("valid");
    let (a, b) = (&config.chats[0], &config.chats[1]);
    assert_eq!(*a.account().token(), TokenSource::Env("TOP".into()));
    assert_eq!(a.account().max_characters(), 1000);
    // Setting either token key replaces both of the top level's.
    assert_eq!(*b.account().token(), TokenSource::File("/run/b".into()));
    assert_eq!(b.account().max_characters(), 300);
    assert_eq!(b.account().server().as_str(), "https://a.example/");
}

#[test]
fn skip_dates_are_days_or_ranges_inherited_from_the_top_unless_a_chat_sets_its_own() {
    let source = "server: https://mastodon.example\nskip_dates: [2026-12-24, \" 2026-12-28..2027-01-03 \"]\nchats:\n  - id: a\n    hashtag: A\n    schedule: \"0 20 * * 4\"\n    questions: [One?]\n  - id: b\n    hashtag: B\n    schedule: \"0 20 * * 4\"\n    questions: [One?]\n    skip_dates: [2026-12-31]\n";
    let config = parse(Path::new("chats.yaml"), source).expect("valid");
    let shown = |id: &str| -> Vec<String> {
        let chat = config.chat(id).expect("chat");
        chat.timing()
            .skip_dates()
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    assert_eq!(shown("a"), ["2026-12-24", "2026-12-28..2027-01-03"]);
    assert_eq!(shown("b"), ["2026-12-31"]);
    let a = config.chat("a").expect("chat");
    let day = |s: &str| s.parse::<chrono::NaiveDate>().expect("date");
    assert!(a.timing().skips(day("2026-12-28")) && a.timing().skips(day("2027-01-03")));
    assert!(!a.timing().skips(day("2027-01-04")) && !a.timing().skips(day("2026-12-25")));
}

#[test]
fn also_watch_lists_other_instances_by_address_each_once() {
    let cases = [
        (
            "    also_watch: [\"https://b.example\", \"http://localhost:8001\"]\n",
            "",
        ),
        (
            "    also_watch: [mastodon.social]\n",
            "7:18 `also_watch` lists instances by address, not `mastodon.social`",
        ),
        (
            "    also_watch: [\"@alice@b.example\"]\n",
            "7:18 `also_watch` lists instances by address, not `@alice@b.example`",
        ),
        (
            "    also_watch: [\"https://mastodon.example/\"]\n",
            "7:18 `https://mastodon.example/` is the chat's own `server`",
        ),
        (
            "    also_watch: [\"https://b.example\", \"https://b.example/\"]\n",
            "7:39 `https://b.example/` is listed twice in `also_watch`",
        ),
        (
            "    also_watch: https://b.example\n",
            "7:17 `also_watch` should be a list, not text",
        ),
    ];
    for (extra, expected) in cases {
        let source = format!("{CHAT}{extra}");
        let expected: Vec<&str> = [expected].into_iter().filter(|e| !e.is_empty()).collect();
        assert_eq!(messages(&source), expected, "for {extra:?}");
    }
}

#[test]
fn also_watch_is_inherited_from_the_top_level_and_empty_by_default() {
    let config = parse(Path::new("chats.yaml"), CHAT).expect("valid");
    assert!(config.chats[0].account().also_watch().is_empty());
    let source = format!("also_watch: [\"https://b.example\"]\n{CHAT}");
    let config = parse(Path::new("chats.yaml"), &source).expect("valid");
    let watched: Vec<&str> = config.chats[0]
        .account()
        .also_watch()
        .iter()
        .map(|u| u.as_str())
        .collect();
    assert_eq!(watched, ["https://b.example/"]);
}

#[test]
fn description_is_optional_and_kept_as_written() {
    let config = parse(Path::new("chats.yaml"), CHAT).expect("valid");
    assert_eq!(config.chats[0].content().description(), None);
    let source = format!("{CHAT}    description: Teachers talk shop, weekly.\n");
    let config = parse(Path::new("chats.yaml"), &source).expect("valid");
    assert_eq!(
        config.chats[0].content().description(),
        Some("Teachers talk shop, weekly.")
    );
    assert_eq!(
        messages(&format!("{CHAT}    description: \"\"\n")).len(),
        1,
        "an empty description is a mistake, like an empty intro"
    );
}
