//! One file per subcommand: what `hashchat <command>` does, from validated
//! arguments to output and exit code. Parsing the command line and choosing
//! the command is `cli`'s; the work itself lives in the library modules
//! (chats, schedule, run, recap, store), which do not import these.

pub mod check;
pub mod common;
pub mod login;
pub mod online;
pub mod plan;
pub mod recap;
pub mod run;
pub mod serve;
pub mod stats;
pub mod status;
