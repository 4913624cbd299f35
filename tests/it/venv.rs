//! Python packages the tests run, each in its own venv under `target/`, installed on first use:
//! `python3 -m venv`, then `pip install` of one pinned version with its dependencies constrained.
//! A file lock serialises test processes; a marker written last means a half-made venv from an
//! interrupted install is rebuilt rather than trusted.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The venv at `<repo>/target/<name>`, with `package==version` installed under `constraints`.
pub fn install(
    name: &str,
    package: &str,
    version: &str,
    constraints: &Path,
) -> Result<PathBuf, String> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join(name);
    let marker = venv.join(format!(".installed-{package}-{version}"));
    if marker.exists() {
        return Ok(venv);
    }
    let parent = venv.parent().expect("venv has a parent");
    fs::create_dir_all(parent).map_err(|err| format!("create {}: {err}", parent.display()))?;
    let lock_path = venv.with_extension("lock");
    let lock = File::create(&lock_path).map_err(|e| format!("{}: {e}", lock_path.display()))?;
    lock_exclusive(&lock).map_err(|err| format!("lock {}: {err}", lock_path.display()))?;
    if marker.exists() {
        return Ok(venv); // another process finished the install while we waited
    }
    if venv.exists() {
        fs::remove_dir_all(&venv).map_err(|err| format!("remove {}: {err}", venv.display()))?;
    }
    let hint = "python3 with the venv module is needed (Debian: apt-get install python3-venv)";
    run(
        Command::new("python3").arg("-m").arg("venv").arg(&venv),
        hint,
    )?;
    let mut pip = Command::new(venv.join("bin/pip"));
    pip.args([
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--constraint",
    ])
    .arg(constraints)
    .arg(format!("{package}=={version}"));
    run(&mut pip, "pip needs to reach PyPI")?;
    fs::write(&marker, "").map_err(|err| format!("write {}: {err}", marker.display()))?;
    Ok(venv)
}

/// Blocks until no other process holds the lock (released when `file` is dropped).
// `File::lock` is stable since Rust 1.89, the crate's rust-version; only the tests need it.
#[allow(clippy::incompatible_msrv)]
fn lock_exclusive(file: &File) -> std::io::Result<()> {
    file.lock()
}

fn run(command: &mut Command, hint: &str) -> Result<(), String> {
    let output = command
        .output()
        .map_err(|err| format!("cannot run {command:?}: {err}\nhint: {hint}"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{command:?} failed ({}):\n{}{}\nhint: {hint}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}
