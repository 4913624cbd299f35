//! One module per subcommand: what it reads, what it prints, how it exits.

pub mod check;
pub mod online;
