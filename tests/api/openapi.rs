//! The OpenAPI documents: the routers and the documents name the same operations, each service
//! serves its own, and schemathesis finds no 5xx, no undocumented status and no response that
//! breaks its schema.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use common::router::Router;
use serde_json::Value;

use crate::harness::{spawn_issuer, spawn_verifier_for, unique_email};

/// The schemathesis release CI installs; the runs below are tuned for it.
const SCHEMATHESIS_VERSION: &str = "4.32.5";

/// Generated cases per operation in the fuzzing phase; every operation also gets the coverage
/// phase (boundary and negative cases derived from the schema). 400 gives about 275 requests
/// per operation (3 000 to the issuer, 2 500 to the verifier) in about two minutes on two
/// cores; SCHEMATHESIS_MAX_EXAMPLES changes it.
const MAX_EXAMPLES: &str = "400";

/// The methods `/forward-auth` is documented under; it answers any method the same way.
const FORWARD_AUTH_METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "TRACE"];

/// Operations a router answers that its document leaves out on purpose, as (METHOD, path).
const ISSUER_UNDOCUMENTED: &[(&str, &str)] = &[];
const VERIFIER_UNDOCUMENTED: &[(&str, &str)] = &[];

type Operations = BTreeSet<(String, String)>;

fn documented(spec: &str) -> Operations {
    let spec: Value = serde_json::from_str(spec).unwrap();
    assert_eq!(spec["openapi"], "3.1.0");
    let mut operations = Operations::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["parameters", "summary", "description", "servers"].contains(&method.as_str()) {
                continue;
            }
            operations.insert((method.to_ascii_uppercase(), path.clone()));
        }
    }
    operations
}

/// The (METHOD, path) operations of a route table, a route of any method under each of
/// [`FORWARD_AUTH_METHODS`], less those left out of the document on purpose.
fn answered<H: Copy>(routes: &Router<H>, undocumented: &[(&str, &str)]) -> Operations {
    routes
        .routes()
        .iter()
        .flat_map(|route| match route.method {
            Some(method) => vec![(method, route.path)],
            None => FORWARD_AUTH_METHODS
                .iter()
                .map(|method| (*method, route.path))
                .collect(),
        })
        .filter(|operation| !undocumented.contains(operation))
        .map(|(method, path)| (method.to_owned(), path.to_owned()))
        .collect()
}

#[test]
fn the_issuer_document_names_exactly_the_routes_the_router_answers() {
    assert_eq!(
        answered(&issuer::routes::ROUTES, ISSUER_UNDOCUMENTED),
        documented(issuer::routes::OPENAPI)
    );
}

#[test]
fn the_verifier_document_names_exactly_the_routes_the_router_answers() {
    assert_eq!(
        answered(&verifier::routes::ROUTES, VERIFIER_UNDOCUMENTED),
        documented(verifier::routes::OPENAPI)
    );
}

#[tokio::test]
async fn each_service_serves_its_document() {
    let app = spawn_issuer().await;
    let verifier = spawn_verifier_for(&app).await;
    for (url, file) in [
        (app.url("/openapi.json"), issuer::routes::OPENAPI),
        (verifier.url("/openapi.json"), verifier::routes::OPENAPI),
    ] {
        let response = app.http.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/json");
        let served: Value = response.json().await.unwrap();
        assert_eq!(served, serde_json::from_str::<Value>(file).unwrap());
    }
}

/// SCHEMATHESIS, else `st` or `schemathesis` on PATH, else `scripts/test`'s venv; a missing tool fails the test with the
/// way to install it (it is never skipped).
fn schemathesis() -> PathBuf {
    if let Some(path) = std::env::var_os("SCHEMATHESIS") {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .flat_map(|dir| [dir.join("st"), dir.join("schemathesis")])
        .find(|candidate| candidate.is_file());
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv/bin/st");
    on_path
        .or_else(|| venv.is_file().then_some(venv))
        .unwrap_or_else(|| {
            panic!(
            "schemathesis is not installed: run the tests with `scripts/test`, which installs it \
             into target/test-venv, or install schemathesis=={SCHEMATHESIS_VERSION} and point \
             SCHEMATHESIS at its `st`"
        )
        })
}

/// Runs schemathesis against the document `base` serves, with `bearer` as the credentials,
/// and fails on any 5xx, undocumented status, content type or header, or schema mismatch.
async fn fuzz(name: &str, base: String, bearer: String) {
    let tool = schemathesis();
    let workdir =
        std::env::temp_dir().join(format!("schemathesis-{name}-{}", uuid::Uuid::new_v4()));
    let max_examples =
        std::env::var("SCHEMATHESIS_MAX_EXAMPLES").unwrap_or_else(|_| MAX_EXAMPLES.to_owned());
    // Its working directory too: schemathesis keeps a cache there.
    std::fs::create_dir_all(&workdir).unwrap();
    let cwd = workdir.clone();
    let started = Instant::now();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(&tool)
            .current_dir(&cwd)
            .arg("run")
            .arg(format!("{base}/openapi.json"))
            .args(["--url", &base])
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,\
                 response_headers_conformance,response_schema_conformance,\
                 negative_data_rejection,ignored_auth,unsupported_method",
            ])
            .args(["--max-examples", &max_examples])
            .args(["--phases", "examples,coverage,fuzzing"])
            .args(["--seed", "1"])
            .args(["--workers", "2"])
            .args(["--header", &format!("Authorization: Bearer {bearer}")])
            .args(["--suppress-health-check", "all"])
            .env("NO_COLOR", "1")
            .output()
            .unwrap_or_else(|err| panic!("schemathesis ({}) did not run: {err}", tool.display()))
    })
    .await
    .unwrap();
    let _ = std::fs::remove_dir_all(&workdir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!(
        "schemathesis against the {name}: {:.1} s\n{stdout}",
        started.elapsed().as_secs_f64()
    );
    assert!(
        output.status.success(),
        "schemathesis found problems with the {name}:\n{stdout}\n{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_wrong_with_the_issuer() {
    let app = spawn_issuer().await;
    let session = app.signed_in(&unique_email()).await;
    let token = session["access_token"].as_str().unwrap().to_owned();
    fuzz("issuer", app.url(""), token).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_wrong_with_the_verifier() {
    let app = spawn_issuer().await;
    let verifier = spawn_verifier_for(&app).await;
    let session = app.signed_in(&unique_email()).await;
    let token = session["access_token"].as_str().unwrap().to_owned();
    fuzz("verifier", verifier.url(""), token).await;
}
