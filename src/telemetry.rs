//! Logging: one place that sets up tracing for the binary.
//!
//! Logs go to stderr (stdout carries command output: plans, recaps, dry-run
//! posts). `RUST_LOG` adjusts levels, but megalodon is always held at warn:
//! at info it logs its streaming URL, which carries the access token.

use tracing_subscriber::EnvFilter;

/// `verbosity`: 0 default (info), 1 debug, 2+ trace; negative is quieter.
pub fn init(verbosity: i8) {
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
    // A second init (tests calling into main paths) is harmless.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

fn secret_safe(directive: &str) -> tracing_subscriber::filter::Directive {
    directive
        .parse()
        .expect("the built-in log directives are valid")
}
