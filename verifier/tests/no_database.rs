//! The verifier never talks to a database: no database client crate is anywhere in its
//! dependency tree, with every feature on, counting build dependencies.

use std::process::Command;

/// Substrings of crate names that mean a database client (or its pool or migrations).
const BANNED: [&str; 9] = [
    "postgres", "sqlx", "diesel", "deadpool", "mysql", "sqlite", "redis", "mongodb", "refinery",
];

#[test]
fn the_verifier_depends_on_no_database_crate() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let args = [
        "tree",
        "--offline",
        "--locked",
        "-p",
        "verifier",
        "--all-features",
        "-e",
        "normal,build",
        "--prefix",
        "none",
    ];
    let output = Command::new(cargo)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    let Ok(output) = output else {
        unreachable!("cargo tree could not be run");
    };
    assert!(
        output.status.success(),
        "`cargo {}` failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8_lossy(&output.stdout);
    let names: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert!(
        names.contains(&"common") && names.contains(&"tokio"),
        "`cargo {}` printed an unexpected tree:\n{tree}",
        args.join(" ")
    );

    let mut found: Vec<&str> = names
        .into_iter()
        .filter(|name| BANNED.iter().any(|banned| name.contains(banned)))
        .collect();
    found.sort_unstable();
    found.dedup();
    assert!(
        found.is_empty(),
        "the verifier must not depend on a database crate, but its tree has {found:?}; \
         `cargo tree -p verifier --all-features -e normal,build -i <crate>` shows what pulls each in"
    );
}
