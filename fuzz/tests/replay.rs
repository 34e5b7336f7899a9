//! Findings are kept: the input that panicked or broke the model is written to a file named
//! after the target and the case seed, and `fuzz <target> --replay FILE` runs it again.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use fuzz::{caught, keep, replay, run_cases, Case, Target};

fn scratch_dir() -> PathBuf {
    std::env::temp_dir().join(format!("fuzz-crashes-{}", uuid::Uuid::new_v4().simple()))
}

fn kept_files(dir: &PathBuf) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn an_input_that_panics_is_written_to_a_file_named_after_the_target_and_case_seed() {
    let dir = scratch_dir();
    let report = run_cases(
        Target::Body,
        |rng| {
            let input = format!("{{\"boom\":{}}}", rng.next_u64()).into_bytes();
            let seen = input.clone();
            Case::new(input, move || {
                if seen.starts_with(b"{\"boom\"") {
                    panic!("the code under test fell over");
                }
                Ok(())
            })
        },
        Duration::from_secs(5),
        42,
        1,
        &dir,
    );

    assert_eq!(report.findings, 1, "{report:?}");
    let files = kept_files(&dir);
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0]
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned();
    let case_seed = name.strip_prefix("body-").unwrap_or_default();
    assert_eq!(case_seed.len(), 16, "{name}");
    // The file holds exactly the input the case seed generates.
    let mut rng = fuzz::Rng::new(u64::from_str_radix(case_seed, 16).unwrap_or_default());
    let expected = format!("{{\"boom\":{}}}", rng.next_u64());
    assert_eq!(std::fs::read(&files[0]).ok(), Some(expected.into_bytes()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_input_that_breaks_the_model_is_kept_too() {
    let dir = scratch_dir();
    let report = run_cases(
        Target::Token,
        |_| Case::new(b"a.b.c".to_vec(), || Err("the model disagrees".to_owned())),
        Duration::from_secs(5),
        7,
        3,
        &dir,
    );
    assert_eq!(report.findings, 3, "{report:?}");
    let files = kept_files(&dir);
    assert_eq!(files.len(), 3, "{files:?}");
    for file in &files {
        assert_eq!(std::fs::read(file).ok(), Some(b"a.b.c".to_vec()));
        assert!(file
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("token-")));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_panic_is_a_finding_that_names_its_message() {
    let outcome = caught(|| panic!("index out of bounds"));
    assert_eq!(outcome, Err("panicked: index out of bounds".to_owned()));
    assert_eq!(caught(|| Ok(())), Ok(()));
}

#[test]
fn kept_inputs_replay_through_both_targets() {
    let dir = scratch_dir();
    let body = keep(&dir, Target::Body, 1, br#"{"email":"a@b.co","x":1}"#);
    let token = keep(&dir, Target::Token, 2, b"eyJhbGciOiJIUzI1NiJ9.e30.c2ln");
    let (Ok(body), Ok(token)) = (body, token) else {
        panic!("could not keep the inputs in {}", dir.display());
    };
    assert!(body.ends_with("body-0000000000000001"));
    assert!(token.ends_with("token-0000000000000002"));
    for (target, file) in [(Target::Body, &body), (Target::Token, &token)] {
        let input = std::fs::read(file).unwrap_or_default();
        assert_eq!(replay(target, &input), Ok(()), "{}", file.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_binary_prints_its_seed_and_replays_a_file() {
    let fuzz = env!("CARGO_BIN_EXE_fuzz");
    let run = Command::new(fuzz)
        .args(["body", "--seconds", "0", "--seed", "4242"])
        .output();
    let run = run.unwrap_or_else(|err| panic!("fuzz did not run: {err}"));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout
            .lines()
            .next()
            .is_some_and(|l| l.contains("seed=4242")),
        "{stdout}"
    );

    let dir = scratch_dir();
    let Ok(file) = keep(&dir, Target::Body, 3, br#"["not","an","object"]"#) else {
        panic!("could not keep the input in {}", dir.display());
    };
    let replayed = Command::new(fuzz)
        .arg("body")
        .arg("--replay")
        .arg(&file)
        .output()
        .unwrap_or_else(|err| panic!("fuzz did not run: {err}"));
    let stdout = String::from_utf8_lossy(&replayed.stdout);
    assert_eq!(replayed.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("no finding"), "{stdout}");

    let missing = Command::new(fuzz)
        .arg("token")
        .arg("--replay")
        .arg(dir.join("no-such-file"))
        .output()
        .unwrap_or_else(|err| panic!("fuzz did not run: {err}"));
    assert_eq!(missing.status.code(), Some(66));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no-such-file"));
    let _ = std::fs::remove_dir_all(&dir);
}
