//! Logging: one place that sets up tracing for the binary.
//!
//! Logs go to stderr (stdout carries command output: plans, recaps, dry-run
//! posts). `RUST_LOG` adjusts levels, but megalodon is always held at warn:
//! at info it logs its streaming URL, which carries the access token.
//!
//! Two formats: text for people, coloured only when stderr is a terminal
//! (Docker, systemd and `2> run.log` get plain text), and JSON lines for log
//! collectors, each carrying the fields of its spans (`chat`, `run`, …).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// The formats `--log-format` (or `HASHCHAT_LOG_FORMAT`) accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// `verbosity`: 0 default (info), 1 debug, 2+ trace; negative is quieter.
pub fn init(verbosity: i8, format: LogFormat) {
    let default = match verbosity {
        i8::MIN..=-2 => "error",
        -1 => "warn",
        0 => "info",
        1 => "hashchat=debug,info",
        _ => "hashchat=trace,debug",
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(default))
        .add_directive(secret_safe("megalodon=warn"))
        .add_directive(secret_safe("sqlx=warn"))
        .add_directive(secret_safe("tungstenite=warn"))
        .add_directive(secret_safe("tokio_tungstenite=warn"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    // A second init (tests calling into main paths) is harmless.
    let _ = match format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).try_init(),
        LogFormat::Json => logs
            .json()
            .with_ansi(false)
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
    };
}

fn secret_safe(directive: &str) -> tracing_subscriber::filter::Directive {
    directive
        .parse()
        .expect("the built-in log directives are valid")
}
