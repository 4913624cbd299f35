//! PLACEHOLDER by the lead so the crate builds; the config helper replaces
//! this file entirely. The CLI calls `check::run(path) -> ExitCode`, which
//! prints the result (summary to stdout, diagnostics to stderr).
pub fn run(path: &std::path::Path) -> std::process::ExitCode {
    match crate::chats::load(path) {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(d) => {
            eprint!("{d}");
            std::process::ExitCode::from(2)
        }
    }
}
