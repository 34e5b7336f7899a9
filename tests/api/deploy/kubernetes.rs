//! The Kubernetes manifests of `deploy/kubernetes/`: every file validates against the
//! Kubernetes schemas, and they hold to what the images and the configuration need. Every
//! container runs locked down (the images' non-root user, read-only root, no privilege
//! escalation, no capability, the runtime's seccomp profile) with resources; the probes ask
//! readiness and liveness; no secret travels in an environment variable, only as a read-only
//! file named by `<NAME>_FILE`; the ports are the images' `EXPOSE`; the issuer's memory limit
//! holds its argon2 hashes; the example Secrets are refused as they are, and with a real key
//! every service container's settings make a configuration the service accepts.
//!
//! The validation needs `kubernetes-validate` (PyPI `kubernetes-validate`, with the schemas
//! bundled: it works offline), found through `KUBERNETES_VALIDATE`, the `PATH` or
//! `target/test-venv`; `scripts/test` installs it. A missing tool fails the test with the way to
//! install it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, ensure, Context};
use yaml_rust2::{Yaml, YamlLoader};

use super::{read, root, scalar};

mod containers;
mod example_secrets;

const DIR: &str = "deploy/kubernetes";
const KUBERNETES_VALIDATE_VERSION: &str = "1.37.0";

/// The manifest files, by name, sorted.
fn manifest_files() -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(root().join(DIR)).with_context(|| format!("reading {DIR}"))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.ends_with(".yaml") || name.ends_with(".yml") {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Every document of every manifest file, with the file it comes from.
fn manifests() -> anyhow::Result<Vec<(String, Yaml)>> {
    let mut out = Vec::new();
    for file in manifest_files()? {
        let text = read(&format!("{DIR}/{file}"))?;
        let docs = YamlLoader::load_from_str(&text).with_context(|| format!("parsing {file}"))?;
        out.extend(
            docs.into_iter()
                .filter(|doc| !matches!(doc, Yaml::Null))
                .map(|doc| (file.clone(), doc)),
        );
    }
    Ok(out)
}

/// The kubernetes-validate to run: `KUBERNETES_VALIDATE`, else `kubernetes-validate` on the
/// `PATH`, else `scripts/test`'s venv.
fn kubernetes_validate() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("KUBERNETES_VALIDATE") {
        return Ok(PathBuf::from(path));
    }
    let on_path = Command::new("kubernetes-validate")
        .arg("--version")
        .output();
    if on_path.is_ok_and(|o| o.status.success()) {
        return Ok(PathBuf::from("kubernetes-validate"));
    }
    let venv = root().join("target/test-venv/bin/kubernetes-validate");
    if venv.exists() {
        return Ok(venv);
    }
    bail!(
        "kubernetes-validate is not installed: `python3 -m venv target/test-venv && \
         target/test-venv/bin/pip install kubernetes-validate=={KUBERNETES_VALIDATE_VERSION}` \
         (scripts/test does), or set KUBERNETES_VALIDATE to its path"
    )
}

#[test]
fn kubernetes_manifests_validate_against_the_kubernetes_schemas() -> anyhow::Result<()> {
    let files = manifest_files()?;
    for expected in [
        "namespace.yaml",
        "config.yaml",
        "secrets.example.yaml",
        "issuer.yaml",
        "verifier.yaml",
        "verifier-sidecar.example.yaml",
        "mailer.yaml",
    ] {
        ensure!(
            files.iter().any(|f| f == expected),
            "{DIR} has no {expected}: {files:?}"
        );
    }
    let tool = kubernetes_validate()?;
    let output = Command::new(&tool)
        .current_dir(root().join(DIR))
        .arg("--strict")
        .args(&files)
        .output()
        .with_context(|| format!("running {}", tool.display()))?;
    ensure!(
        output.status.success(),
        "kubernetes-validate --strict:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

fn text(node: &Yaml) -> String {
    scalar(node).unwrap_or_default()
}

/// The service an image runs (`auth-service-issuer:0.1.0` → `issuer`), if it is one of ours.
fn service_of(container: &Yaml) -> Option<&'static str> {
    let image = container["image"].as_str()?;
    ["issuer", "verifier", "mailer"]
        .into_iter()
        .find(|s| image.starts_with(&format!("auth-service-{s}:")))
}

/// The secret settings (`JWT_SECRET_KEY`, `JWT_KEYS`, `DATABASE_URL`, `SMTP_PASSWORD`), from the
/// catalogues.
fn secret_names() -> BTreeSet<&'static str> {
    let own = [
        issuer::config::IssuerSettings::VARS,
        verifier::config::VerifierSettings::VARS,
        mailer::config::MailerSettings::VARS,
    ];
    [common::config::CommonConfig::TABLES, &own]
        .concat()
        .into_iter()
        .flatten()
        .filter(|v| v.secret())
        .map(|v| v.name)
        .collect()
}

/// A workload's pod spec (Deployment, Job, ...), if the document is one.
fn pod_spec(doc: &Yaml) -> Option<&Yaml> {
    let spec = &doc["spec"]["template"]["spec"];
    (!spec.is_badvalue()).then_some(spec)
}

fn list(node: &Yaml) -> &[Yaml] {
    node.as_vec().map(Vec::as_slice).unwrap_or(&[])
}

fn containers(pod: &Yaml) -> impl Iterator<Item = &Yaml> {
    list(&pod["initContainers"])
        .iter()
        .chain(list(&pod["containers"]))
}

/// The container's environment: its `env` values, the keys of the ConfigMaps it takes whole and
/// the ConfigMap keys it takes one by one (`configMapKeyRef`). A Secret taken whole
/// (`envFrom.secretRef`) or one key of it (`secretKeyRef`) is a problem: secrets reach the
/// services as files.
fn check_environment(
    container: &Yaml,
    config_maps: &BTreeMap<String, BTreeMap<String, String>>,
    problems: &mut Vec<String>,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for source in list(&container["envFrom"]) {
        if !source["secretRef"].is_badvalue() {
            problems.push(format!("takes a Secret as variables: {source:?}"));
        }
        if let Some(name) = source["configMapRef"]["name"].as_str() {
            match config_maps.get(name) {
                Some(data) => env.extend(data.clone()),
                None => problems.push(format!("takes ConfigMap {name}, which no file defines")),
            }
        }
    }
    for entry in list(&container["env"]) {
        let name = text(&entry["name"]);
        if !entry["valueFrom"]["secretKeyRef"].is_badvalue() {
            problems.push(format!("takes {name} from a Secret key as a variable"));
        }
        let key_ref = &entry["valueFrom"]["configMapKeyRef"];
        if key_ref.is_badvalue() {
            env.insert(name, text(&entry["value"]));
            continue;
        }
        let (map, key) = (text(&key_ref["name"]), text(&key_ref["key"]));
        match config_maps.get(&map).and_then(|data| data.get(&key)) {
            Some(value) => {
                env.insert(name, value.clone());
            }
            None => problems.push(format!(
                "takes {name} from {map}.{key}, which no file defines"
            )),
        }
    }
    env
}

/// The `field` (`data`, `stringData`) of every object of `kind`, by object name.
fn data_of(
    docs: &[(String, Yaml)],
    kind: &str,
    field: &str,
) -> anyhow::Result<BTreeMap<String, BTreeMap<String, String>>> {
    let mut out = BTreeMap::new();
    for (file, doc) in docs.iter().filter(|(_, d)| text(&d["kind"]) == kind) {
        let data = doc[field]
            .as_hash()
            .with_context(|| format!("{file}: a {kind} without {field}"))?;
        let data = data.iter().map(|(k, v)| (text(k), text(v))).collect();
        out.insert(text(&doc["metadata"]["name"]), data);
    }
    Ok(out)
}
