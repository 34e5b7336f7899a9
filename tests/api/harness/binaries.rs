//! Binaries of the workspace, built on demand for tests that run them as processes
//! (`cargo test --test api` alone builds neither other packages' binaries nor examples).

use std::path::PathBuf;
use std::process::Command;

/// Runs `cargo build --quiet <args>` (a no-op when up to date) and returns `relative` under
/// the target's `debug/` directory, the one this test binary's `deps/` sits in.
pub fn cargo_built(args: &[&str], relative: &str) -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet"])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap_or_else(|err| panic!("cargo build {args:?}: {err}"));
    assert!(status.success(), "cargo build {args:?} failed");
    let exe = std::env::current_exe().unwrap_or_else(|err| panic!("current exe: {err}"));
    let debug = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap_or_else(|| panic!("no target directory above {}", exe.display()));
    debug.join(relative)
}
