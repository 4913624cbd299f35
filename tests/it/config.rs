//! chats.yaml validation, pinned from the outside: every file in
//! `tests/fixtures/config/broken/` fails with exactly the diagnostics of its
//! `.expected` twin, and the example chats.yaml stays valid. Run with
//! `HASHCHAT_BLESS=1` to rewrite the `.expected` files after an intended
//! change of wording (then read the diff).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hashchat::chats::When;
use hashchat::commands::check;

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(kind);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

/// What `hashchat check` would print for `source`, shown as `chats.yaml`:
/// `check::parse` is `chats` plus the checks of each post (lengths,
/// placeholders), as every command loads the file.
fn diagnostics(source: &str) -> String {
    match check::parse(Path::new("chats.yaml"), source) {
        Ok(_) => "(valid)\n".into(),
        Err(d) => d.to_string(),
    }
}

#[test]
fn every_broken_config_fails_with_its_expected_diagnostics() {
    let files = fixtures("broken");
    assert!(files.len() >= 25, "the corpus shrank to {}", files.len());
    let bless = std::env::var_os("HASHCHAT_BLESS").is_some();
    let mut failures = Vec::new();
    for file in files {
        let source = fs::read_to_string(&file).expect("fixture is UTF-8");
        let got = diagnostics(&source);
        let expected_path = file.with_extension("expected");
        if bless {
            fs::write(&expected_path, &got).expect("write .expected");
            continue;
        }
        let expected = fs::read_to_string(&expected_path).unwrap_or_default();
        if got != expected {
            failures.push(format!(
                "{}\n--- expected\n{expected}--- got\n{got}",
                file.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_broken_config_is_an_error_not_a_pass() {
    for file in fixtures("broken") {
        let source = fs::read_to_string(&file).expect("fixture is UTF-8");
        let parsed = check::parse(Path::new("chats.yaml"), &source);
        let errors = parsed.err().map(|d| d.errors.len()).unwrap_or(0);
        assert!(errors > 0, "{} was accepted", file.display());
    }
}

#[test]
fn a_token_written_in_the_file_is_never_printed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config/broken");
    for (file, secrets) in [
        ("token_in_file.yaml", ["s3cr3t", "zzTopSecretValue99"]),
        ("token_pasted_into_token_env.yaml", ["Ab12Cd34", "Uv"]),
    ] {
        let source = fs::read_to_string(dir.join(file)).expect("fixture");
        let shown = diagnostics(&source);
        for secret in secrets {
            let leaked = shown
                .lines()
                .any(|l| l.contains(secret) && !l.contains("= hint"));
            assert!(!leaked, "{file} shows {secret}:\n{shown}");
        }
    }
}

#[test]
fn every_good_config_is_valid() {
    for file in fixtures("good") {
        if let Err(d) = check::load(&file) {
            panic!("{} is invalid:\n{d}", file.display());
        }
    }
}

#[test]
fn a_top_level_ca_file_is_read_at_check_and_every_chat_trusts_it() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config/good/every_key.yaml");
    let config = check::load(&path).unwrap_or_else(|d| panic!("{d}"));
    assert!(config.chats.len() > 1);
    for chat in &config.chats {
        let ca = chat
            .account()
            .ca_file()
            .expect("inherited from the top level");
        assert!(ca.path.ends_with("good/private-ca.pem"), "{:?}", ca.path);
        assert_eq!(chat.account().ca_certificates().len(), 1, "{}", chat.id());
    }
}

#[test]
fn the_example_chats_yaml_is_valid_and_its_demo_finishes_within_a_minute() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("chats.yaml");
    let config = check::load(&path).unwrap_or_else(|d| panic!("{d}"));
    let weekly = config.chat("1qedchat").expect("the weekly chat");
    assert!(
        matches!(&weekly.timing().when(), When::Recurring { expr, .. } if expr == "0 20 * * 4")
    );
    assert_eq!(weekly.timing().timezone(), chrono_tz::Europe::London);
    assert!((5..=6).contains(&weekly.content().questions().len()));
    let demo = config.chat("demo").expect("the demo chat");
    let start = chrono::Utc::now();
    let timeline = hashchat::schedule::timeline(demo, start);
    let length = (timeline.collect_until - start).to_std().expect("forward");
    assert!(length <= Duration::from_secs(45), "demo lasts {length:?}");
}

#[test]
fn a_missing_file_is_a_located_error() {
    let err = check::load(Path::new("no/such/chats.yaml")).expect_err("missing");
    assert_eq!(
        err.to_string(),
        "no/such/chats.yaml: error: `no/such/chats.yaml` does not exist\n  = hint: create it from the commented example in the hashchat repository, or pass `--config PATH`\n"
    );
}

#[test]
fn a_post_over_the_limit_stops_plan_as_it_stops_check() {
    // `chats` alone does not know what a run posts; every command loads
    // through `commands::check::load`, which does.
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config/broken/question_too_long.yaml");
    for command in ["check", "plan"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hashchat"))
            .arg("--config")
            .arg(&file)
            .arg(command)
            .env_remove("HASHCHAT_DB")
            .output()
            .expect("run hashchat");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            stderr.contains(
                ":8:9: error: question 2 is 547 characters once posted, over the limit of 500"
            ),
            "{command}: {stderr}"
        );
    }
}
