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
use common::config::Var;
use yaml_rust2::{Yaml, YamlLoader};

use super::{instructions, port_of, read, root, scalar};

const DIR: &str = "deploy/kubernetes";
const KUBERNETES_VALIDATE_VERSION: &str = "1.37.0";
/// The images' user and group (`USER 65532:65532` in both Dockerfiles).
const IMAGE_USER: i64 = 65532;
/// Secret file modes: 0400, or 0440 with the pod's `fsGroup` the images' group.
const OWNER_READ: i64 = 0o400;
const GROUP_READ: i64 = 0o440;

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
    ["issuer", "verifier"]
        .into_iter()
        .find(|s| image.starts_with(&format!("auth-service-{s}:")))
}

/// The port a service's image exposes (`EXPOSE` in its Dockerfile).
fn exposed_port(service: &str) -> anyhow::Result<i64> {
    let file = format!("Dockerfile.{service}");
    instructions(&read(&file)?)
        .iter()
        .find_map(|s| s.strip_prefix("EXPOSE ")?.trim().parse().ok())
        .with_context(|| format!("{file} exposes no port"))
}

/// The secret settings (`JWT_SECRET_KEY`, `JWT_KEYS`, `DATABASE_URL`), from the catalogues.
fn secret_names() -> BTreeSet<&'static str> {
    common::config::VARS
        .iter()
        .chain(issuer::config::VARS)
        .chain(verifier::config::VARS)
        .filter(|v| v.secret)
        .map(|v| v.name)
        .collect()
}

/// The variables a service reads: its catalogue, and `<NAME>_FILE` for each secret.
fn readable(service: &str) -> BTreeSet<String> {
    let own: &[Var] = if service == "issuer" {
        issuer::config::VARS
    } else {
        verifier::config::VARS
    };
    let vars: Vec<&Var> = common::config::VARS.iter().chain(own).collect();
    let files = vars
        .iter()
        .filter(|v| v.secret)
        .map(|v| format!("{}_FILE", v.name));
    vars.iter()
        .map(|v| v.name.to_owned())
        .chain(files)
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

/// The container's `securityContext` setting, else the pod's (for the fields a pod may set).
fn security<'a>(pod: &'a Yaml, container: &'a Yaml, key: &str) -> &'a Yaml {
    let own = &container["securityContext"][key];
    if own.is_badvalue() {
        &pod["securityContext"][key]
    } else {
        own
    }
}

fn check_security(pod: &Yaml, container: &Yaml, problems: &mut Vec<String>) {
    let own = &container["securityContext"];
    let drops: Vec<String> = list(&own["capabilities"]["drop"])
        .iter()
        .map(text)
        .collect();
    for (setting, holds) in [
        (
            "runAsNonRoot: true",
            security(pod, container, "runAsNonRoot").as_bool() == Some(true),
        ),
        (
            "runAsUser: 65532",
            security(pod, container, "runAsUser").as_i64() == Some(IMAGE_USER),
        ),
        (
            "runAsGroup: 65532",
            security(pod, container, "runAsGroup").as_i64() == Some(IMAGE_USER),
        ),
        (
            "seccompProfile RuntimeDefault",
            security(pod, container, "seccompProfile")["type"].as_str() == Some("RuntimeDefault"),
        ),
        (
            "readOnlyRootFilesystem: true",
            own["readOnlyRootFilesystem"].as_bool() == Some(true),
        ),
        (
            "allowPrivilegeEscalation: false",
            own["allowPrivilegeEscalation"].as_bool() == Some(false),
        ),
        ("capabilities drop ALL", drops.iter().any(|d| d == "ALL")),
    ] {
        if !holds {
            problems.push(format!("lacks {setting}"));
        }
    }
    let resources = &container["resources"];
    for path in [
        ["requests", "cpu"],
        ["requests", "memory"],
        ["limits", "memory"],
    ] {
        if resources[path[0]][path[1]].is_badvalue() {
            problems.push(format!("has no resources.{}.{}", path[0], path[1]));
        }
    }
}

/// What a probe asks: `ready` or `live`, from its `httpGet` path or its exec'd `healthcheck`.
fn probe_asks(probe: &Yaml, service: Option<&str>) -> Result<&'static str, String> {
    if let Some(path) = probe["httpGet"]["path"].as_str() {
        return match path {
            "/health/ready" => Ok("ready"),
            "/health/live" => Ok("live"),
            other => Err(format!("probes {other}")),
        };
    }
    let words: Vec<String> = list(&probe["exec"]["command"]).iter().map(text).collect();
    let binary = service.map(|s| format!("/usr/local/bin/{s}"));
    match words.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [run, "healthcheck", "--ready"] | [run, "healthcheck"]
            if Some(run) == binary.as_deref() =>
        {
            Ok("ready")
        }
        [run, "healthcheck", "--live"] if Some(run) == binary.as_deref() => Ok("live"),
        _ => Err(format!(
            "neither probes /health nor runs healthcheck: {probe:?}"
        )),
    }
}

fn check_probes(container: &Yaml, long_running: bool, problems: &mut Vec<String>) {
    let service = service_of(container);
    for (probe, wants) in [
        ("readinessProbe", &["ready"][..]),
        ("livenessProbe", &["live"][..]),
        ("startupProbe", &["live", "ready"][..]),
    ] {
        let node = &container[probe];
        if node.is_badvalue() {
            if service.is_some() && long_running && probe != "startupProbe" {
                problems.push(format!("has no {probe}"));
            }
            continue;
        }
        match probe_asks(node, service) {
            Ok(asks) if wants.contains(&asks) => {}
            Ok(asks) => problems.push(format!("{probe} asks {asks}, not {wants:?}")),
            Err(err) => problems.push(format!("{probe} {err}")),
        }
    }
}

/// A secret file's path is in a read-only mount of Secrets, under a key the volume projects,
/// with a mode only the images' user (and group) can read.
fn check_secret_file(pod: &Yaml, container: &Yaml, path: &str) -> Result<(), String> {
    let (mount, file) = list(&container["volumeMounts"])
        .iter()
        .find_map(|m| {
            let at = m["mountPath"].as_str()?.trim_end_matches('/');
            Some((m, path.strip_prefix(at)?.strip_prefix('/')?))
        })
        .ok_or_else(|| format!("{path} is in no mounted volume"))?;
    if mount["readOnly"].as_bool() != Some(true) {
        return Err(format!("the mount of {path} is not read-only"));
    }
    let volume = list(&pod["volumes"])
        .iter()
        .find(|v| v["name"] == mount["name"])
        .ok_or_else(|| format!("no volume {:?}", mount["name"]))?;
    let (mode, secrets): (&Yaml, Vec<&Yaml>) = if !volume["secret"].is_badvalue() {
        (&volume["secret"]["defaultMode"], vec![&volume["secret"]])
    } else {
        let sources = list(&volume["projected"]["sources"]);
        if sources.is_empty() || sources.iter().any(|s| s["secret"].is_badvalue()) {
            return Err(format!("{path} is not in a volume of Secrets only"));
        }
        let secrets = sources.iter().map(|s| &s["secret"]).collect();
        (&volume["projected"]["defaultMode"], secrets)
    };
    let projected = secrets
        .iter()
        .flat_map(|s| list(&s["items"]))
        .any(|item| item["path"].as_str() == Some(file));
    if !projected {
        return Err(format!("no Secret key is projected as {path}"));
    }
    let fs_group = pod["securityContext"]["fsGroup"].as_i64();
    match mode.as_i64() {
        Some(OWNER_READ) => Ok(()),
        Some(GROUP_READ) if fs_group == Some(IMAGE_USER) => Ok(()),
        other => Err(format!(
            "{path} has mode {other:?} (fsGroup {fs_group:?}): 0400, or 0440 with fsGroup 65532"
        )),
    }
}

/// The container's environment: its `env` values and the keys of the ConfigMaps it takes
/// whole. A Secret taken whole (`envFrom.secretRef`) or one key of it (`secretKeyRef`) is a
/// problem: secrets reach the services as files.
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
        env.insert(name, text(&entry["value"]));
    }
    env
}

/// A quantity in bytes (`192Mi`) or cores (`2`, `500m`), for the suffixes used here.
fn quantity(node: &Yaml) -> Option<f64> {
    let value = text(node);
    let (digits, scale) = [
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
        ("m", 0.001),
    ]
    .into_iter()
    .find_map(|(suffix, scale)| Some((value.strip_suffix(suffix)?, scale)))
    .unwrap_or((value.as_str(), 1.0));
    digits.parse::<f64>().ok().map(|n| n * scale)
}

fn default_of(vars: &[Var], name: &str) -> anyhow::Result<f64> {
    vars.iter()
        .find(|v| v.name == name)
        .and_then(|v| v.default.parse().ok())
        .with_context(|| format!("no numeric default for {name}"))
}

/// The least a service process takes by itself: the verifier's measured peak RSS under load
/// (12.4 MiB, docs/PERFORMANCE.md); the issuer, with its Postgres pool, is no smaller.
const PROCESS_BYTES: f64 = 13.0 * 1024.0 * 1024.0;

/// A serving issuer runs as many hashes as it has CPU, and its memory limit holds them all
/// (`ARGON2_MEMORY_KIB` each), the request bodies it may hold at once and the process itself.
fn check_issuer_memory(
    container: &Yaml,
    env: &BTreeMap<String, String>,
    problems: &mut Vec<String>,
) -> anyhow::Result<()> {
    let hashes: Option<f64> = env
        .get("ARGON2_MAX_CONCURRENT")
        .and_then(|n| n.parse().ok());
    let Some(hashes) = hashes else {
        problems.push(
            "does not set ARGON2_MAX_CONCURRENT (its default is the node's cores)".to_owned(),
        );
        return Ok(());
    };
    let cpu = quantity(&container["resources"]["limits"]["cpu"]);
    if cpu != Some(hashes) {
        problems.push(format!(
            "runs {hashes} hashes at once on a CPU limit of {cpu:?}"
        ));
    }
    let argon2 = hashes * default_of(issuer::config::VARS, "ARGON2_MEMORY_KIB")? * 1024.0;
    let bodies = default_of(common::config::VARS, "MAX_BODY_BYTES_IN_FLIGHT")?;
    let limit = quantity(&container["resources"]["limits"]["memory"]).unwrap_or_default();
    if limit < argon2 + bodies + PROCESS_BYTES {
        problems.push(format!(
            "memory limit {limit} bytes is below {hashes} argon2 hashes ({argon2}), the bodies \
             in flight ({bodies}) and the process ({PROCESS_BYTES})"
        ));
    }
    Ok(())
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

#[test]
fn kubernetes_manifests_run_locked_down_with_secrets_as_files_on_the_images_ports(
) -> anyhow::Result<()> {
    let docs = manifests()?;
    let secrets = secret_names();
    for name in ["JWT_SECRET_KEY", "JWT_KEYS", "DATABASE_URL"] {
        ensure!(secrets.contains(name), "{name} is not marked secret");
    }
    let kind = |doc: &Yaml| text(&doc["kind"]);
    let config_maps = data_of(&docs, "ConfigMap", "data")?;
    for (name, data) in &config_maps {
        let leaked: Vec<_> = data
            .keys()
            .filter(|k| secrets.contains(k.as_str()))
            .collect();
        ensure!(
            leaked.is_empty(),
            "ConfigMap {name} holds secrets {leaked:?}"
        );
    }

    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for (file, doc) in &docs {
        let Some(pod) = pod_spec(doc) else { continue };
        let long_running = kind(doc) != "Job";
        for container in containers(pod) {
            let mut own = Vec::new();
            check_security(pod, container, &mut own);
            check_probes(container, long_running, &mut own);
            let env = check_environment(container, &config_maps, &mut own);
            for name in env.keys() {
                if secrets.contains(name.as_str()) {
                    own.push(format!("has the secret {name} in a variable"));
                }
            }
            if let Some(service) = service_of(container) {
                seen.insert((service, long_running));
                let known = readable(service);
                let unknown: Vec<_> = env.keys().filter(|k| !known.contains(*k)).collect();
                if !unknown.is_empty() {
                    own.push(format!(
                        "is given variables {service} does not read: {unknown:?}"
                    ));
                }
                let mut needs: Vec<&[&str]> = vec![&["JWT_KEYS_FILE", "JWT_SECRET_KEY_FILE"]];
                if service == "issuer" {
                    needs.push(&["DATABASE_URL_FILE"]);
                }
                for either in needs {
                    if !either.iter().any(|n| env.contains_key(*n)) {
                        own.push(format!("sets none of {either:?}"));
                    }
                }
                for (name, path) in env.iter().filter(|(n, _)| n.ends_with("_FILE")) {
                    let secret = name.strip_suffix("_FILE").unwrap_or(name);
                    if secrets.contains(secret) {
                        if let Err(err) = check_secret_file(pod, container, path) {
                            own.push(format!("{name}: {err}"));
                        }
                    }
                }
                let expose = exposed_port(service)?;
                for port in list(&container["ports"]) {
                    if port["containerPort"].as_i64() != Some(expose) {
                        own.push(format!("listens on {port:?}, the image exposes {expose}"));
                    }
                }
                let addr_var = format!("{}_ADDR", service.to_uppercase());
                if let Some(addr) = env.get(&addr_var) {
                    if port_of(addr).map(i64::from) != Some(expose) {
                        own.push(format!("{addr_var}={addr}, the image exposes {expose}"));
                    }
                }
                let serves = list(&container["args"])
                    .iter()
                    .map(text)
                    .all(|a| a == "serve");
                if service == "issuer" && long_running && serves {
                    check_issuer_memory(container, &env, &mut own)?;
                }
            }
            let name = text(&container["name"]);
            problems.extend(
                own.into_iter()
                    .map(|p| format!("{file}: container {name} {p}")),
            );
        }
    }
    for expected in [("issuer", true), ("issuer", false), ("verifier", true)] {
        ensure!(
            seen.contains(&expected),
            "no manifest runs {expected:?}: {seen:?}"
        );
    }

    // Each Service selects a workload of ours and forwards the port its image exposes.
    for (file, doc) in docs.iter().filter(|(_, d)| kind(d) == "Service") {
        let selector = doc["spec"]["selector"]
            .as_hash()
            .context("a Service without selector")?;
        let selected: Vec<&Yaml> = docs
            .iter()
            .filter_map(|(_, d)| pod_spec(d).map(|pod| (d, pod)))
            .filter(|(d, _)| {
                let labels = &d["spec"]["template"]["metadata"]["labels"];
                selector.iter().all(|(k, v)| &labels[text(k).as_str()] == v)
            })
            .flat_map(|(_, pod)| containers(pod))
            .filter(|c| service_of(c).is_some())
            .collect();
        let container = selected
            .first()
            .with_context(|| format!("{file}: Service selects none of our pods"))?;
        let service = service_of(container).context("service")?;
        let expose = exposed_port(service)?;
        for port in list(&doc["spec"]["ports"]) {
            let target = match &port["targetPort"] {
                Yaml::String(name) => list(&container["ports"])
                    .iter()
                    .find(|p| p["name"].as_str() == Some(name))
                    .and_then(|p| p["containerPort"].as_i64()),
                other => other.as_i64(),
            };
            ensure!(
                port["port"].as_i64() == Some(expose) && target == Some(expose),
                "{file}: Service port {port:?} is not {service}'s exposed {expose}"
            );
        }
    }
    ensure!(problems.is_empty(), "{}", problems.join("\n"));
    Ok(())
}

/// What a service container's configuration reads: its variables, with each `<NAME>_FILE`
/// replaced by `<NAME>` holding the Secret key the file projects (`files`, by file name).
fn settings(
    env: &BTreeMap<String, String>,
    files: &BTreeMap<String, String>,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (name, value) in env {
        match name
            .strip_suffix("_FILE")
            .filter(|n| secret_names().contains(n))
        {
            Some(secret) => {
                let file = value.rsplit('/').next().unwrap_or_default();
                let content = files
                    .get(file)
                    .with_context(|| format!("{name}={value}: no example Secret key {file}"))?;
                out.insert(secret.to_owned(), content.clone());
            }
            None => {
                out.insert(name.clone(), value.clone());
            }
        }
    }
    Ok(out)
}

/// The example Secrets cannot run as they are: their placeholder key is refused at start,
/// naming JWT_KEYS. With a real key in its place, every service container's configuration
/// (the ConfigMap, its variables and the Secrets as files) is one the service accepts.
#[test]
fn kubernetes_example_secrets_are_refused_and_a_real_key_makes_a_valid_configuration(
) -> anyhow::Result<()> {
    let docs = manifests()?;
    let config_maps = data_of(&docs, "ConfigMap", "data")?;
    let example: BTreeMap<String, String> = data_of(&docs, "Secret", "stringData")?
        .into_values()
        .flatten()
        .collect();
    let kid = example
        .get("jwt_keys")
        .and_then(|keys| keys.split_once('='))
        .map(|(kid, _)| kid.to_owned())
        .context("the example auth-jwt has no jwt_keys kid=secret")?;
    let mut real = example.clone();
    real.insert("jwt_keys".to_owned(), format!("{kid}={}", "ab".repeat(32)));
    let load = |service: &str, settings: &BTreeMap<String, String>| {
        let lookup = |name: &str| settings.get(name).cloned();
        match service {
            "issuer" => issuer::config::IssuerConfig::from_lookup(&lookup).map(|_| ()),
            _ => verifier::config::VerifierConfig::from_lookup(&lookup).map(|_| ()),
        }
    };
    let mut checked = 0;
    for (file, doc) in &docs {
        let Some(pod) = pod_spec(doc) else { continue };
        for container in containers(pod) {
            let Some(service) = service_of(container) else {
                continue;
            };
            let name = text(&container["name"]);
            let env = check_environment(container, &config_maps, &mut Vec::new());
            let refused = load(service, &settings(&env, &example)?);
            ensure!(
                refused
                    .as_ref()
                    .is_err_and(|err| err.variable == "JWT_KEYS"),
                "{file}: container {name} with the example Secrets: {refused:?}"
            );
            let accepted = load(service, &settings(&env, &real)?);
            ensure!(
                accepted.is_ok(),
                "{file}: container {name} with a real key: {accepted:?}"
            );
            checked += 1;
        }
    }
    ensure!(checked >= 4, "only {checked} service containers checked");
    Ok(())
}
