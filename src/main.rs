//! The `hashchat` binary: parse the command line, set up logging, run the
//! subcommand from the library, exit with its code.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = hashchat::cli::Cli::parse();
    hashchat::telemetry::init(cli.verbose as i8 - cli.quiet as i8, cli.log_format);
    hashchat::cli::execute(cli).await
}
