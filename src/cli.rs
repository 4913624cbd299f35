//! The command line: raw arguments (clap) and the dispatch to one library
//! function per subcommand. Exit codes: 0 success, 1 failure at run time,
//! 2 invalid configuration or usage.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::chats::{self, Config};
use crate::clock::SystemClock;
use crate::recap::{self, Format};
use crate::run::{Daemon, RealConnector, RunOptions, Tuning};
use crate::store::Store;

const ABOUT: &str = "Runs scheduled hashtag chats on the Fediverse: posts the welcome and the \
numbered questions on time, records every answer, and writes the recap.";

const EXAMPLES: &str = "\
Examples:
  hashchat login --server https://mastodon.example --token-file token
                                          get an access token (scopes read write)
  hashchat check                          validate ./chats.yaml before the chat
  hashchat check --online                 try the token, scopes, bot flag and streaming
  hashchat plan --chat 1qedchat --runs 3  what will be posted when, local and UTC
  hashchat run --chat demo --now --once --dry-run
                                          rehearse the demo chat now, printing each post
  hashchat run                            the daemon: every chat, on schedule
  hashchat recap 1qedchat --format html --output recap.html
  hashchat stats 1qedchat                 every run: participants, answers, new, returning

The access token comes from the environment variable named by `token_env`
(HASHCHAT_TOKEN by default) or from `token_file`; never from chats.yaml.
Moderators steer a live chat by mentioning the bot: status, pause, resume,
next, skip, extend 10m, stop, cancel (see README.md).";

#[derive(Debug, Parser)]
#[command(name = "hashchat", version, about = ABOUT, after_help = EXAMPLES)]
pub struct Cli {
    /// The chat definitions.
    #[arg(
        long,
        global = true,
        env = "HASHCHAT_CONFIG",
        default_value = "chats.yaml"
    )]
    pub config: PathBuf,
    /// The SQLite database (created when missing).
    #[arg(
        long,
        global = true,
        env = "HASHCHAT_DB",
        default_value = "hashchat.db"
    )]
    pub db: PathBuf,
    /// More log detail (-v debug, -vv trace); logs go to stderr.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less log detail (-q warnings only, -qq errors only).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "verbose")]
    pub quiet: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate chats.yaml and report every problem with its line and column.
    #[command(
        after_help = "Examples:\n  hashchat --config chats.yaml check\n  hashchat check --online\n\nExit status: 0 valid, 2 invalid; with --online, 1 when the server reports a problem."
    )]
    Check {
        /// Also ask each chat's server: token, scopes, bot flag, post length limit, streaming.
        #[arg(long)]
        online: bool,
    },
    /// Get an access token: register hashchat on the server, authorize it in
    /// a browser, paste the code; the token is saved (mode 600) or printed.
    #[command(
        after_help = "Examples:\n  hashchat login --server https://mastodon.example --token-file ~/.config/hashchat/token\n  hashchat login --server https://mastodon.example     prints `export HASHCHAT_TOKEN=…`\n\nLog in to the bot's account in the browser before opening the address."
    )]
    Login {
        /// The instance of the bot account, e.g. https://mastodon.social.
        #[arg(long)]
        server: url::Url,
        /// Save the token here (readable only by you) instead of printing it.
        #[arg(long)]
        token_file: Option<PathBuf>,
        /// mastodon, pleroma, friendica, firefish or gotosocial.
        #[arg(long, default_value = "mastodon")]
        platform: String,
    },
    /// Show the next runs and every post's time, in the chat's zone and UTC.
    #[command(
        after_help = "Examples:\n  hashchat plan\n  hashchat plan --chat 1qedchat --runs 4\n  hashchat plan --format json"
    )]
    Plan {
        /// Only this chat (by its `id`).
        #[arg(long)]
        chat: Option<String>,
        /// How many runs of each chat.
        #[arg(long, default_value_t = 1)]
        runs: usize,
        #[arg(long, value_enum, default_value_t = crate::plan::PlanFormat::Text)]
        format: crate::plan::PlanFormat,
    },
    /// The daemon: post every selected chat's runs on schedule and record answers.
    #[command(
        after_help = "Examples:\n  hashchat run                       every chat, forever (SIGINT/SIGTERM stop it cleanly)\n  hashchat run --chat 1qedchat --once   the next run of one chat, then exit\n  hashchat run --chat demo --now --once --dry-run   rehearse now without posting"
    )]
    Run {
        /// Only these chats (repeatable); all chats when absent.
        #[arg(long)]
        chat: Vec<String>,
        /// Process the next run of each chat (resuming an unfinished one first), then exit.
        #[arg(long)]
        once: bool,
        /// Start the run now instead of at its scheduled time.
        #[arg(long)]
        now: bool,
        /// Post nothing: print each post at its time; uses a throwaway database.
        #[arg(long)]
        dry_run: bool,
    },
    /// Show each chat's recent runs, whether a process is running it, and
    /// every post that did not go out, with the reason.
    #[command(
        after_help = "Examples:\n  hashchat status\n  hashchat status --chat 1qedchat --runs 10\n  hashchat status --format json"
    )]
    Status {
        /// Only this chat (by its `id`).
        #[arg(long)]
        chat: Option<String>,
        /// How many recent runs per chat.
        #[arg(long, default_value_t = 5)]
        runs: u32,
        #[arg(long, value_enum, default_value_t = crate::status::StatusFormat::Text)]
        format: crate::status::StatusFormat,
    },
    /// Print or save the recap of a run (default: the latest).
    #[command(
        after_help = "Examples:\n  hashchat recap 1qedchat\n  hashchat recap 1qedchat --format html --output recap.html\n  hashchat recap 1qedchat --run 12 --format csv"
    )]
    Recap {
        /// The chat's `id` in chats.yaml.
        chat_id: String,
        /// `latest` or a run id (see the recap JSON's run.id).
        #[arg(long, default_value = "latest")]
        run: String,
        #[arg(long, value_enum, default_value_t = Format::Md)]
        format: Format,
        /// Write to this file instead of stdout.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// A chat's runs side by side: participants, answers, first-timers and returning.
    #[command(
        after_help = "Examples:\n  hashchat stats 1qedchat\n  hashchat stats 1qedchat --format json\n  hashchat stats 1qedchat --format html > participation.html"
    )]
    Stats {
        /// The chat's `id` in chats.yaml.
        chat_id: String,
        #[arg(long, value_enum, default_value_t = crate::stats::StatsFormat::Text)]
        format: crate::stats::StatsFormat,
    },
}

/// Runs the parsed command; the exit code follows the module doc.
pub async fn execute(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Check { online: false } => return crate::check::run(&cli.config),
        Command::Check { online: true } => return crate::online::run(&cli.config).await,
        Command::Login {
            ref server,
            ref token_file,
            ref platform,
        } => login(server, token_file.clone(), platform).await,
        Command::Plan {
            ref chat,
            runs,
            format,
        } => match load(&cli) {
            Ok(config) => plan(&config, chat.as_deref(), runs, format),
            Err(code) => return code,
        },
        Command::Run {
            ref chat,
            once,
            now,
            dry_run,
        } => match load(&cli) {
            Ok(config) => run(&cli, config, chat, RunOptions { once, now, dry_run }).await,
            Err(code) => return code,
        },
        Command::Status {
            ref chat,
            runs,
            format,
        } => match load(&cli) {
            Ok(config) => status(&cli, &config, chat.as_deref(), runs, format).await,
            Err(code) => return code,
        },
        Command::Recap {
            ref chat_id,
            ref run,
            format,
            ref output,
        } => match load(&cli) {
            Ok(config) => recap(&cli, &config, chat_id, run, format, output.as_ref()).await,
            Err(code) => return code,
        },
        Command::Stats {
            ref chat_id,
            format,
        } => match load(&cli) {
            Ok(config) => stats(&cli, &config, chat_id, format).await,
            Err(code) => return code,
        },
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn login(
    server: &url::Url,
    token_file: Option<PathBuf>,
    platform: &str,
) -> anyhow::Result<ExitCode> {
    let options = crate::login::LoginOptions {
        server: server.clone(),
        platform: chats::parse_platform(platform).map_err(anyhow::Error::msg)?,
        token_file,
        timeout: std::time::Duration::from_secs(30),
    };
    let mut input = std::io::stdin().lock();
    crate::login::login(
        &options,
        &mut input,
        &mut std::io::stderr(),
        &mut std::io::stdout(),
    )
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// Loads chats.yaml, printing every problem; exit 2 when invalid.
fn load(cli: &Cli) -> Result<Config, ExitCode> {
    chats::load(&cli.config).map_err(|diagnostics| {
        eprint!("{diagnostics}");
        eprintln!(
            "error: {} is not valid; fix the problems above (hashchat check lists them)",
            cli.config.display()
        );
        ExitCode::from(2)
    })
}

fn plan(
    config: &Config,
    chat: Option<&str>,
    runs: usize,
    format: crate::plan::PlanFormat,
) -> anyhow::Result<ExitCode> {
    let text = crate::plan::plan(config, chat, runs, chrono::Utc::now(), format)?;
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

async fn run(
    cli: &Cli,
    config: Config,
    selected: &[String],
    options: RunOptions,
) -> anyhow::Result<ExitCode> {
    // An unknown --chat is a mistake on the command line (exit 2), found
    // before anything is opened or posted.
    if let Some(unknown) = selected.iter().find(|id| config.chat(id).is_none()) {
        eprintln!("error: {}", crate::plan::unknown_chat(&config, unknown));
        return Ok(ExitCode::from(2));
    }
    let store = if options.dry_run {
        Store::open_in_memory().await?
    } else {
        Store::open(&cli.db).await?
    };
    let tuning = Tuning::default();
    let shutdown = CancellationToken::new();
    spawn_signal_handler(shutdown.clone());
    let daemon = Daemon {
        config,
        store,
        clock: Arc::new(SystemClock),
        connector: Arc::new(RealConnector::new(tuning.request_timeout)),
        options,
        tuning,
        shutdown,
        holder: crate::run::process_holder(),
        controls: Default::default(),
        identities: Default::default(),
    };
    let outcomes = daemon.run(selected).await?;
    let failed: Vec<_> = outcomes.iter().filter(|o| o.result.is_err()).collect();
    for outcome in &failed {
        if let Err(e) = &outcome.result {
            eprintln!("error: chat {}: {e:#}", outcome.chat);
        }
    }
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// First SIGINT/SIGTERM: stop taking work and finish cleanly. A second:
/// leave at once (the database stays consistent; the run resumes).
fn spawn_signal_handler(shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut signals = 0;
        loop {
            wait_for_signal().await;
            signals += 1;
            if signals == 1 {
                tracing::info!("stopping: finishing the post in flight and saving answers (signal again to quit at once)");
                shutdown.cancel();
            } else {
                std::process::exit(130);
            }
        }
    });
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

async fn status(
    cli: &Cli,
    config: &Config,
    chat: Option<&str>,
    runs: u32,
    format: crate::status::StatusFormat,
) -> anyhow::Result<ExitCode> {
    let store = open_existing(cli).await?;
    let statuses = crate::status::status(config, &store, chat, runs).await?;
    print!("{}", crate::status::render(&statuses, format, config));
    Ok(ExitCode::SUCCESS)
}

async fn recap(
    cli: &Cli,
    config: &Config,
    chat_id: &str,
    run: &str,
    format: Format,
    output: Option<&PathBuf>,
) -> anyhow::Result<ExitCode> {
    let chat = find_chat(config, chat_id)?;
    let store = open_existing(cli).await?;
    let run_id = if run == "latest" {
        store
            .latest_run(chat_id)
            .await?
            .with_context(|| format!("chat `{chat_id}` has no run yet"))?
            .id
    } else {
        run.parse::<i64>()
            .with_context(|| format!("--run takes `latest` or a run id, not `{run}`"))?
    };
    let text = recap::build(&store, chat, run_id).await?.render(format);
    match output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The chat named on the command line, or an error listing the known ids.
fn find_chat<'a>(config: &'a Config, id: &str) -> anyhow::Result<&'a crate::chats::Chat> {
    config
        .chat(id)
        .ok_or_else(|| anyhow::anyhow!(crate::plan::unknown_chat(config, id)))
}

/// The database, which must exist already: reading commands never create one.
async fn open_existing(cli: &Cli) -> anyhow::Result<Store> {
    anyhow::ensure!(
        cli.db.exists(),
        "no database at {}: nothing has run yet (start with `hashchat run`)",
        cli.db.display()
    );
    Store::open(&cli.db).await
}

async fn stats(
    cli: &Cli,
    config: &Config,
    chat_id: &str,
    format: crate::stats::StatsFormat,
) -> anyhow::Result<ExitCode> {
    let chat = find_chat(config, chat_id)?;
    let store = open_existing(cli).await?;
    let runs = crate::stats::history(&store, chat).await?;
    print!("{}", crate::stats::render(chat, &runs, format));
    Ok(ExitCode::SUCCESS)
}
