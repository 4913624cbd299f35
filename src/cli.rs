//! The command line: raw arguments (clap) and the dispatch to one function
//! per subcommand (`crate::commands`). Every command exits by one table,
//! printed at the end of `--help` and in README: 0 success, 1 failure at run
//! time, 2 invalid configuration or command line, 130 quit at once by a
//! second signal.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands::common::{load, print_out, StdoutClosed, UsageError};
use crate::commands::{self, plan::PlanFormat, stats::StatsFormat, status::StatusFormat};
use crate::recap::Format;
use crate::run::RunOptions;

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
  hashchat serve --listen 127.0.0.1:8080  the directory and live rooms
  hashchat stats 1qedchat                 every run: participants, answers, new, returning

The access token comes from the environment variable named by `token_env`
(HASHCHAT_TOKEN by default) or from `token_file`; never from chats.yaml.
Moderators steer a live chat by mentioning the bot: status, pause, resume,
next, skip, extend 10m, stop, cancel (see README.md).

Exit status (every command):
  0    success, also when the reader of stdout leaves early (`| head`)
  1    failure at run time: the network, the database, a run that failed,
       no database yet, `check --online` finding a problem
  2    invalid chats.yaml or command line, an unknown chat id included:
       found before anything is posted or a database is created
  130  a second SIGINT/SIGTERM quit at once (the run resumes at next start)";

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
    /// The database: a SQLite file (created when missing) or a
    /// `postgres://user:pass@host:port/db` URL.
    #[arg(
        long,
        global = true,
        env = "HASHCHAT_DB",
        default_value = "hashchat.db"
    )]
    pub db: crate::store::DbLocation,
    /// More log detail (-v debug, -vv trace); logs go to stderr.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less log detail (-q warnings only, -qq errors only).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "verbose")]
    pub quiet: u8,
    /// `text` for people (coloured only on a terminal) or `json`, one
    /// object a line with the run's fields (chat, run), for log collectors.
    #[arg(
        long,
        global = true,
        env = "HASHCHAT_LOG_FORMAT",
        value_enum,
        default_value_t = crate::telemetry::LogFormat::Text
    )]
    pub log_format: crate::telemetry::LogFormat,
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
        after_help = "Examples:\n  hashchat plan\n  hashchat plan --chat 1qedchat --runs 4\n  hashchat plan --format json\n  hashchat plan --format ics --public-url https://chats.example > calendar.ics"
    )]
    Plan {
        /// Only this chat (by its `id`).
        #[arg(long)]
        chat: Option<String>,
        /// How many runs of each chat (`ics`: always the next 8).
        #[arg(long, default_value_t = 1)]
        runs: usize,
        /// `text`, `json`, or `ics`: the calendar feed (iCalendar) of the
        /// next runs, with runs a moderator cancelled when --db exists.
        #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
        format: PlanFormat,
        /// Where the pages are served, for the calendar's links to each
        /// chat's room (`<URL>/chats/<id>`).
        #[arg(long, env = "HASHCHAT_PUBLIC_URL", default_value = crate::commands::plan::DEFAULT_PUBLIC_URL)]
        public_url: url::Url,
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
        /// Also serve the pages (as `hashchat serve`) at this address, e.g.
        /// 127.0.0.1:8080 (port 0: any free port); prints each room's address.
        #[arg(long, value_name = "ADDR")]
        serve: Option<std::net::SocketAddr>,
        /// With a PostgreSQL database: how long a replica's lease on a chat
        /// lasts unless renewed (every third of it). A replica that dies is
        /// replaced within this time. Between 3s and 5m.
        #[arg(long, env = "HASHCHAT_LEASE_TTL", value_name = "DURATION", default_value = "30s", value_parser = crate::run::LeaseTtl::parse)]
        lease_ttl: crate::run::LeaseTtl,
    },
    /// Serve the public pages: the chat directory, each chat's live room,
    /// past recaps, and /healthz. Reads the database `hashchat run` writes.
    #[command(
        after_help = "Examples:\n  hashchat serve                      http://127.0.0.1:8080/\n  hashchat serve --listen 0.0.0.0:8080 --public-url https://chats.example.org\n  hashchat run --serve 127.0.0.1:8080   the same pages inside the daemon"
    )]
    Serve {
        /// The address to listen on (loopback by default).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// The address visitors use, for absolute links (default: http://<listen>).
        #[arg(long)]
        public_url: Option<url::Url>,
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
        #[arg(long, value_enum, default_value_t = StatusFormat::Text)]
        format: StatusFormat,
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
        #[arg(long, value_enum, default_value_t = StatsFormat::Text)]
        format: StatsFormat,
    },
}

/// Runs the parsed command; the exit code follows the module doc.
pub async fn execute(cli: Cli) -> ExitCode {
    match dispatch(cli).await {
        Ok(result) => exit_code(result),
        Err(code) => code,
    }
}

/// Runs the subcommand. `Err` is an exit code decided before it could
/// start: its configuration did not load (`load` printed why).
async fn dispatch(cli: Cli) -> Result<anyhow::Result<ExitCode>, ExitCode> {
    let result = match cli.command {
        Command::Check { online: false } => {
            let outcome = crate::commands::check::check(&cli.config, chrono::Utc::now());
            report(&outcome.stdout, &outcome.stderr, outcome.code)
        }
        Command::Check { online: true } => {
            let timeout = std::time::Duration::from_secs(15);
            let outcome = crate::commands::online::check(&cli.config, timeout).await;
            report(&outcome.stdout, &outcome.stderr, outcome.code)
        }
        Command::Login {
            ref server,
            ref token_file,
            ref platform,
        } => commands::login::run(server, token_file.clone(), platform).await,
        Command::Plan {
            ref chat,
            runs,
            format,
            ref public_url,
        } => {
            let config = load(&cli.config)?;
            let output = commands::plan::Output { format, public_url };
            commands::plan::run(&cli.db, &config, chat.as_deref(), runs, output).await
        }
        Command::Run {
            ref chat,
            once,
            now,
            dry_run,
            serve,
            lease_ttl,
        } => {
            let config = load(&cli.config)?;
            let options = RunOptions {
                once,
                now,
                dry_run,
                lease_ttl,
            };
            commands::run::run(&cli.db, config, chat, options, serve).await
        }
        Command::Serve {
            listen,
            ref public_url,
        } => {
            let config = load(&cli.config)?;
            commands::serve::run(&cli.db, config, listen, public_url.clone()).await
        }
        Command::Status {
            ref chat,
            runs,
            format,
        } => {
            let config = load(&cli.config)?;
            commands::status::run(&cli.db, &config, chat.as_deref(), runs, format).await
        }
        Command::Recap {
            ref chat_id,
            ref run,
            format,
            ref output,
        } => {
            let (config, output) = (load(&cli.config)?, output.as_ref());
            commands::recap::run(&cli.db, &config, chat_id, run, format, output).await
        }
        Command::Stats {
            ref chat_id,
            format,
        } => commands::stats::run(&cli.db, &load(&cli.config)?, chat_id, format).await,
    };
    Ok(result)
}

/// The exit code for a command's result, its error printed.
fn exit_code(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        // Like ripgrep: `hashchat plan | head` is not a failure.
        Err(e) if e.chain().any(|cause| cause.is::<StdoutClosed>()) => ExitCode::SUCCESS,
        Err(e) if e.chain().any(|cause| cause.is::<UsageError>()) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// `check`'s outcome: the report on stdout, problems on stderr.
fn report(stdout: &str, stderr: &str, code: u8) -> anyhow::Result<ExitCode> {
    print_out(stdout)?;
    eprint!("{stderr}");
    Ok(ExitCode::from(code))
}
