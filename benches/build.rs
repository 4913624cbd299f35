//! Figure 8, build: the size of the stripped release binary and, with
//! `HASHCHAT_BENCH_CLEAN_BUILD=1`, the wall time of a clean
//! `cargo build --release --locked --bin hashchat` into a fresh, empty
//! target directory: the binary alone, without the dev-dependencies, tests
//! or benches (minutes; it competes with anything else building on the
//! machine).
//!
//!     cargo bench --bench build
//!     HASHCHAT_BENCH_CLEAN_BUILD=1 cargo bench --bench build

mod common;

use std::process::Command;
use std::time::Instant;

/// The orientation figures for this kind of machine.
const ORIENTATION_BUILD_S: f64 = 6.0 * 60.0;
const ORIENTATION_SIZE_MIB: f64 = 20.0;

fn main() {
    println!("build: the release binary (profile.release: strip = true)");
    println!("machine: {}", common::machine());
    let binary = env!("CARGO_BIN_EXE_hashchat");
    let size = std::fs::metadata(binary).expect("the binary").len() as f64 / (1024.0 * 1024.0);
    println!(
        "  stripped binary: {size:.1} MiB ({:.2}x the ~{ORIENTATION_SIZE_MIB} MiB orientation)",
        size / ORIENTATION_SIZE_MIB
    );
    if std::env::var("HASHCHAT_BENCH_CLEAN_BUILD").is_ok_and(|v| v == "1") {
        let target = tempfile::tempdir().expect("temp dir");
        let start = Instant::now();
        let status = Command::new(env!("CARGO"))
            .args(["build", "--release", "--locked", "--bin", "hashchat"])
            .arg("--manifest-path")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
            .env("CARGO_TARGET_DIR", target.path())
            .status()
            .expect("cargo runs");
        let took = start.elapsed().as_secs_f64();
        assert!(status.success(), "the clean build failed");
        println!(
            "  clean release build of the binary alone: {:.0} s ({:.2}x the ~6 min orientation)",
            took,
            took / ORIENTATION_BUILD_S
        );
    } else {
        println!("  clean release build: not measured (set HASHCHAT_BENCH_CLEAN_BUILD=1)");
    }
}
