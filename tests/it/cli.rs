//! The command line as a moderator uses it: the real binary, its exit
//! codes (0 ok, 1 run-time failure, 2 invalid config or usage), its help,
//! and the JSON of `plan`.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

mod postgres;

fn hashchat(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hashchat"))
        .current_dir(dir)
        .args(args)
        .env_remove("HASHCHAT_CONFIG")
        .env_remove("HASHCHAT_DB")
        .output()
        .expect("run hashchat")
}

fn example_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("chats.yaml"),
        dir.path().join("chats.yaml"),
    )
    .unwrap();
    dir
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_teaches_by_example_for_the_program_and_each_command() {
    let dir = example_dir();
    let top = hashchat(dir.path(), &["--help"]);
    assert!(top.status.success());
    assert!(
        text(&top.stdout).contains("Examples:"),
        "{}",
        text(&top.stdout)
    );
    for command in ["check", "plan", "run", "recap", "status", "stats"] {
        let help = hashchat(dir.path(), &[command, "--help"]);
        let out = text(&help.stdout);
        assert!(help.status.success(), "{command}");
        assert!(
            out.contains("hashchat"),
            "{command} help shows no example:\n{out}"
        );
    }
}

#[test]
fn the_example_chats_yaml_checks_clean_and_a_broken_one_exits_2_with_a_location() {
    let dir = example_dir();
    let ok = hashchat(dir.path(), &["check"]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    std::fs::write(
        dir.path().join("broken.yaml"),
        "server: https://mastodon.example\nchats:\n  - id: x\n    hashtag: X\n    schedule: \"0 20 * * 4\"\n    timezone: Europe/Londn\n    questions: [\"Q?\"]\n",
    )
    .unwrap();
    let broken = hashchat(dir.path(), &["--config", "broken.yaml", "check"]);
    assert_eq!(broken.status.code(), Some(2));
    let err = text(&broken.stderr);
    assert!(
        err.contains("broken.yaml:6:15: error: unknown time zone"),
        "{err}"
    );
    assert!(err.contains("Europe/London"), "a did-you-mean hint: {err}");
}

#[test]
fn an_unknown_chat_on_the_command_line_exits_2_with_a_suggestion() {
    let dir = example_dir();
    for args in [
        &["run", "--chat", "demoo", "--dry-run"][..],
        &["plan", "--chat", "demoo"][..],
    ] {
        let out = hashchat(dir.path(), args);
        let err = text(&out.stderr);
        assert!(err.contains("did you mean `demo`?"), "{args:?}: {err}");
        assert_ne!(out.status.code(), Some(0), "{args:?}");
    }
    assert_eq!(
        hashchat(dir.path(), &["run", "--chat", "demoo", "--dry-run"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn a_recap_without_a_database_is_a_clear_run_time_error() {
    let dir = example_dir();
    let out = hashchat(dir.path(), &["recap", "1qedchat"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no database at hashchat.db"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !dir.path().join("hashchat.db").exists(),
        "reading must not create a database"
    );
}

#[test]
fn plan_json_has_the_contract_shape() {
    let dir = example_dir();
    let out = hashchat(
        dir.path(),
        &[
            "plan", "--chat", "1qedchat", "--runs", "2", "--format", "json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let runs: Value = serde_json::from_slice(&out.stdout).unwrap();
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for run in runs {
        assert_eq!(run["chat"], "1qedchat");
        for key in ["start_utc", "start_local"] {
            assert!(run[key].as_str().is_some(), "{key} in {run}");
        }
        let posts = run["posts"].as_array().unwrap();
        assert_eq!(posts.first().unwrap()["kind"], "intro");
        assert_eq!(posts.last().unwrap()["kind"], "closing");
        let q1 = &posts[1];
        assert_eq!(
            (q1["kind"].as_str(), q1["number"].as_u64()),
            (Some("question"), Some(1))
        );
        assert!(q1["text"].as_str().unwrap().starts_with("Q1: "));
        for key in ["at_utc", "at_local"] {
            assert!(q1[key].as_str().is_some(), "{key}");
        }
    }
}

/// Regression (defect 3): `hashchat plan --runs 500 | head -2` panicked
/// with exit 101. A reader that stops early ends the command quietly.
#[test]
fn plan_into_a_pipe_closed_after_two_lines_exits_0_quietly() {
    use std::io::{BufRead, BufReader};
    let dir = example_dir();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hashchat"))
        .current_dir(dir.path())
        .args(["plan", "--runs", "500"])
        .env_remove("HASHCHAT_CONFIG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Far more than a pipe holds, so hashchat is still writing when the
    // reader leaves.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for _ in 0..2 {
        lines.next().unwrap().unwrap();
    }
    drop(lines);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
}

/// Every command that prints to stdout, with stdout a pipe nobody reads.
#[tokio::test]
async fn every_command_with_its_stdout_closed_exits_0_quietly() {
    let dir = example_dir();
    let store = hashchat::store::Store::open(&dir.path().join("hashchat.db"))
        .await
        .unwrap();
    let start = chrono::Utc::now();
    store
        .open_run("demo", start, start + chrono::Duration::minutes(1))
        .await
        .unwrap();
    drop(store);
    for args in [
        &["check"][..],
        &["plan"][..],
        &["plan", "--format", "json"][..],
        &["status"][..],
        &["recap", "demo"][..],
        &["stats", "demo"][..],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_hashchat"))
            .current_dir(dir.path())
            .args(args)
            .env_remove("HASHCHAT_CONFIG")
            .env_remove("HASHCHAT_DB")
            .stdout(writer)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stderr), "", "{args:?}");
    }
}

/// Regression (defect 4): an unknown chat exited 2 in `run` but 1 in
/// `plan`, `recap` and `stats`, and `status` complained about the database.
/// One table for every command: a usage mistake exits 2, names the id and
/// the known ones, and creates no database.
#[test]
fn an_unknown_chat_exits_2_in_every_command_before_any_database_is_made() {
    let dir = example_dir();
    let cases: [&[&str]; 7] = [
        &["plan", "--chat", "nosuch"],
        &["run", "--chat", "nosuch"],
        &["run", "--chat", "demo", "--chat", "nosuch", "--once"],
        &["status", "--chat", "nosuch"],
        &["recap", "nosuch"],
        &["recap", "nosuch", "--run", "3"],
        &["stats", "nosuch"],
    ];
    for args in cases {
        let out = hashchat(dir.path(), args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(
            err, "error: no chat `nosuch` in chats.yaml; known chats: `1qedchat`, `demo`\n",
            "{args:?}"
        );
        assert_eq!(text(&out.stdout), "", "{args:?}");
        assert!(
            !dir.path().join("hashchat.db").exists(),
            "{args:?} created a database"
        );
    }
}

#[test]
fn other_command_line_mistakes_exit_2_before_any_database_is_made() {
    let dir = example_dir();
    let cases: [(&[&str], &str); 4] = [
        (
            &["recap", "demo", "--run", "last"],
            "error: --run takes `latest` or a run id, not `last`\n",
        ),
        (&["plan", "--runs", "many"], "invalid value 'many'"),
        (&["stats"], "required arguments were not provided"),
        (
            &[
                "login",
                "--server",
                "https://x.example",
                "--platform",
                "myspace",
            ],
            "error: unknown platform `myspace`",
        ),
    ];
    for (args, message) in cases {
        let out = hashchat(dir.path(), args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(!dir.path().join("hashchat.db").exists(), "{args:?}");
    }
}

#[test]
fn help_gives_the_exit_status_table() {
    let out = hashchat(Path::new("."), &["--help"]);
    let help = text(&out.stdout);
    assert!(help.contains("Exit status (every command):"), "{help}");
    for row in ["\n  0 ", "\n  1 ", "\n  2 ", "\n  130 "] {
        assert!(help.contains(row), "no {row:?} row in:\n{help}");
    }
    assert!(help.contains("an unknown chat id included"), "{help}");
}

/// A one-question chat that a `--now --once --dry-run` finishes in about
/// two seconds, posting nothing.
fn tiny_chat_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let start = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    std::fs::write(
        dir.path().join("chats.yaml"),
        format!(
            "server: https://mastodon.example\n\
             chats:\n  \
               - id: tiny\n    \
                 hashtag: TinyChat\n    \
                 start: \"{start}\"\n    \
                 intro: \"Hello\"\n    \
                 first_question_after: 1s\n    \
                 question_interval: 1s\n    \
                 questions: [\"Ready?\"]\n    \
                 closing: \"Bye\"\n    \
                 collect_after: 2s\n"
        ),
    )
    .unwrap();
    dir
}

/// `hashchat run --chat tiny --now --once --dry-run` with stderr to a pipe.
fn dry_run(dir: &Path, log_format: Option<&str>, env_format: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hashchat"));
    command
        .current_dir(dir)
        .args(["run", "--chat", "tiny", "--now", "--once", "--dry-run"])
        .env_remove("HASHCHAT_CONFIG")
        .env_remove("HASHCHAT_LOG_FORMAT")
        .env_remove("NO_COLOR")
        .env_remove("RUST_LOG");
    if let Some(format) = log_format {
        command.args(["--log-format", format]);
    }
    if let Some(format) = env_format {
        command.env("HASHCHAT_LOG_FORMAT", format);
    }
    let out = command.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    out
}

/// Regression: a chat with `collect_after: 0s` never posted its closing:
/// due exactly at the run's end, it was skipped as "0s late, past the late
/// limit" because the timer woke a few milliseconds after it.
#[test]
fn a_closing_due_at_the_very_end_of_the_run_is_posted() {
    let dir = tiny_chat_dir();
    let config = dir.path().join("chats.yaml");
    let yaml = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        yaml.replace("collect_after: 2s", "collect_after: 0s"),
    )
    .unwrap();
    let out = dry_run(dir.path(), None, None);
    let posts = text(&out.stdout);
    assert!(
        posts.contains("Bye #TinyChat"),
        "{posts}\n{}",
        text(&out.stderr)
    );
    assert!(
        !text(&out.stderr).contains("not posted"),
        "{}",
        text(&out.stderr)
    );
}

/// A rehearsal whose reader left: `hashchat run --dry-run | head -1`
/// panicked in the post that found the pipe closed, and exited 1.
#[test]
fn a_dry_run_with_its_stdout_closed_finishes_quietly() {
    let dir = tiny_chat_dir();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_hashchat"))
        .current_dir(dir.path())
        .args([
            "-qq",
            "run",
            "--chat",
            "tiny",
            "--now",
            "--once",
            "--dry-run",
        ])
        .env_remove("HASHCHAT_CONFIG")
        .env_remove("RUST_LOG")
        .stdout(writer)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
}

/// Regression (defect 8): logs carried ANSI colour codes into files and
/// pipes (Docker, systemd, `2> run.log`).
#[test]
fn logs_to_a_pipe_carry_no_colour_codes() {
    let dir = tiny_chat_dir();
    let out = dry_run(dir.path(), None, None);
    let logs = text(&out.stderr);
    assert!(logs.contains("run finished"), "{logs}");
    assert!(!out.stderr.contains(&0x1b), "an ESC byte in:\n{logs:?}");
}

/// JSON lines for log collectors: every line an object, and a run's lines
/// carry its span's fields.
#[test]
fn json_logs_are_one_object_a_line_with_the_runs_fields() {
    let dir = tiny_chat_dir();
    let by_flag = dry_run(dir.path(), Some("json"), None);
    let by_env = dry_run(dir.path(), None, Some("json"));
    for out in [by_flag, by_env] {
        let logs = text(&out.stderr);
        assert!(!out.stderr.contains(&0x1b), "{logs:?}");
        let lines: Vec<Value> = logs
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect();
        let posted: Vec<&Value> = lines
            .iter()
            .filter(|l| l["fields"]["message"] == "posted")
            .collect();
        assert_eq!(posted.len(), 3, "intro, Q1, closing:\n{logs}");
        for line in posted {
            assert_eq!(line["level"], "INFO", "{line}");
            assert_eq!(line["span"]["name"], "run", "{line}");
            assert_eq!(line["span"]["chat"], "tiny", "{line}");
            assert!(line["span"]["run"].is_i64(), "{line}");
            assert!(line["fields"]["status_id"].is_string(), "{line}");
        }
    }
}

/// The token never reaches hashchat's own output, even at -vv (trace) and
/// in JSON: a whole run against the independent mastodon-mock, which does
/// not redact anything itself. (The fake server's redaction is no proof.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_never_in_the_output_at_trace_level_in_text_or_json() {
    use crate::mock_server::{MockServer, BOT_TOKEN};
    let server = MockServer::start().await;
    for (n, format) in ["text", "json"].into_iter().enumerate() {
        let dir = tiny_chat_dir();
        let config = std::fs::read_to_string(dir.path().join("chats.yaml")).unwrap();
        let config = config
            .replace("https://mastodon.example", &server.url())
            // Each run its own chat, so no idempotency key is shared.
            .replace("id: tiny", &format!("id: tiny{n}"));
        std::fs::write(dir.path().join("chats.yaml"), config).unwrap();
        let chat = format!("tiny{n}");
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_hashchat"))
            .current_dir(dir.path())
            .args(["-vv", "--log-format", format, "run", "--once", "--now"])
            .args(["--chat", &chat])
            .env("HASHCHAT_TOKEN", BOT_TOKEN)
            .env_remove("HASHCHAT_CONFIG")
            .env_remove("HASHCHAT_DB")
            .env_remove("HASHCHAT_LOG_FORMAT")
            .env_remove("RUST_LOG")
            .output()
            .await
            .unwrap();
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(0), "{format}: {stderr}");
        // The run really talked to the server, and -vv really logged detail.
        assert!(stderr.contains("posted"), "{format}: {stderr}");
        assert!(
            stderr.contains("DEBUG"),
            "{format}: no debug lines: {stderr}"
        );
        for (name, output) in [("stdout", &stdout), ("stderr", &stderr)] {
            assert!(
                !output.contains(BOT_TOKEN),
                "{format}: the token is in {name}:\n{output}"
            );
        }
    }
    let posted = server.statuses_by("chatbot").await;
    assert_eq!(posted.len(), 6, "intro, Q1 and closing, twice");
}

/// The rehearsal shows what hashchat is for: simulated participants (and
/// only in a dry run) answer by label, by reply, twice in one post, edit,
/// delete and come late, and their answers reach the recap through the
/// same reads and stream as real ones.
#[test]
fn a_dry_run_fills_its_recap_with_simulated_answers() {
    let dir = tiny_chat_dir();
    let config = dir.path().join("chats.yaml");
    let yaml = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        yaml.replace("[\"Ready?\"]", "[\"Ready?\", \"Steady?\"]"),
    )
    .unwrap();
    let out = dry_run(dir.path(), None, None);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("are simulated participants"),
        "the output says they are made up:\n{stdout}"
    );
    assert!(
        stdout.contains("simulated: Sim Ada @ada@example.invalid posted: A1"),
        "{stdout}"
    );

    let recaps = dir.path().join("recaps/tiny");
    let json = std::fs::read_dir(&recaps)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("a JSON recap");
    let recap: Value = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    let answers = |q: usize| -> Vec<(String, String)> {
        recap["questions"][q]["answers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                let account = a["account"].as_str().unwrap().to_string();
                assert!(account.ends_with("@example.invalid"), "{a}");
                let name = a["display_name"].as_str().unwrap();
                assert!(name.ends_with("(simulated)"), "{a}");
                (account, a["text"].as_str().unwrap().to_string())
            })
            .collect()
    };
    let (q1, q2) = (answers(0), answers(1));
    let has = |answers: &[(String, String)], who: &str, text: &str| {
        answers
            .iter()
            .any(|(a, t)| a == &format!("{who}@example.invalid") && t.contains(text))
    };
    assert!(has(&q1, "ada", "A1 Here is my answer"), "by label: {q1:?}");
    assert!(has(&q1, "ben", "Replying to Q1"), "by reply: {q1:?}");
    assert!(has(&q1, "cleo", "after an edit"), "the edit: {q1:?}");
    assert!(has(&q1, "dev", "A1 Catching up"), "two in one: {q1:?}");
    assert!(has(&q2, "dev", "A1 Catching up"), "two in one: {q2:?}");
    assert!(has(&q2, "dev", "Sorry I'm late"), "late: {q2:?}");
    assert!(!format!("{q2:?}").contains("Oops"), "deleted: {q2:?}");
    assert_eq!(recap["stats"]["deleted"], 1, "{}", recap["stats"]);
    assert_eq!(recap["stats"]["participants"], 4, "{}", recap["stats"]);
    // Favourites and boosts are read at the end of collection: the
    // two-answer post has the most, and is a top answer under both.
    for q in 0..2 {
        let two = recap["questions"][q]["answers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["text"].as_str().unwrap().contains("Catching up"))
            .unwrap()
            .clone();
        assert_eq!(
            (&two["favourites"], &two["boosts"], &two["top"]),
            (&Value::from(9), &Value::from(4), &Value::from(true)),
            "{two}"
        );
    }
}
