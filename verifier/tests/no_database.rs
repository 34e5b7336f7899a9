//! The verifier never talks to a database: not even a Postgres crate is in its dependency tree.

use std::process::Command;

#[test]
fn the_verifier_depends_on_no_database_crate() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "--locked",
            "-p",
            "verifier",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    let Ok(output) = output else {
        unreachable!("cargo tree could not be run");
    };
    let tree = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        tree.lines().any(|line| line.starts_with("common ")),
        "unexpected tree:\n{tree}"
    );
    for line in tree.lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        for banned in [
            "postgres",
            "tokio-postgres",
            "deadpool",
            "refinery",
            "sqlx",
            "diesel",
            "mysql",
            "rusqlite",
        ] {
            assert!(!name.starts_with(banned), "the verifier depends on {name}");
        }
    }
}
