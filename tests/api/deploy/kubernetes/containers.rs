//! Every container of the manifests runs locked down with resources, probes readiness and
//! liveness, takes its secrets as read-only files, listens on its image's port, and (the issuer)
//! has the memory for its argon2 hashes.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{ensure, Context};
use common::settings::Var;
use yaml_rust2::Yaml;

use super::super::{instructions, port_of, read};
use super::{
    check_environment, containers, data_of, list, manifests, pod_spec, secret_names, service_of,
    text,
};

/// The images' user and group (`USER 65532:65532` in both Dockerfiles).
const IMAGE_USER: i64 = 65532;
/// Secret file modes: 0400, or 0440 with the pod's `fsGroup` the images' group.
const OWNER_READ: i64 = 0o400;
const GROUP_READ: i64 = 0o440;

/// The port a service's image exposes (`EXPOSE` in its Dockerfile).
fn exposed_port(service: &str) -> anyhow::Result<i64> {
    let file = format!("Dockerfile.{service}");
    instructions(&read(&file)?)
        .iter()
        .find_map(|s| s.strip_prefix("EXPOSE ")?.trim().parse().ok())
        .with_context(|| format!("{file} exposes no port"))
}

/// The variables a service reads: its catalogue, and `<NAME>_FILE` for each secret.
fn readable(service: &str) -> BTreeSet<String> {
    let vars: Vec<Var> = match service {
        "issuer" => common::cli::vars::<issuer::config::IssuerConfig>(),
        "mailer" => common::cli::vars::<mailer::config::MailerConfig>(),
        _ => common::cli::vars::<verifier::config::VerifierConfig>(),
    };
    let files = vars
        .iter()
        .filter(|v| v.secret())
        .map(|v| format!("{}_FILE", v.name));
    vars.iter()
        .map(|v| v.name.to_owned())
        .chain(files)
        .collect()
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
        .and_then(|v| v.default().parse().ok())
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
    let argon2 =
        hashes * default_of(issuer::config::IssuerSettings::VARS, "ARGON2_MEMORY_KIB")? * 1024.0;
    let bodies = common::body_budget::DEFAULT_BYTES_IN_FLIGHT as f64;
    let limit = quantity(&container["resources"]["limits"]["memory"]).unwrap_or_default();
    if limit < argon2 + bodies + PROCESS_BYTES {
        problems.push(format!(
            "memory limit {limit} bytes is below {hashes} argon2 hashes ({argon2}), the bodies \
             in flight ({bodies}) and the process ({PROCESS_BYTES})"
        ));
    }
    Ok(())
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
                // The mailer signs and checks nothing: it takes no key.
                let mut needs: Vec<&[&str]> = Vec::new();
                if service != "mailer" {
                    needs.push(&["JWT_KEYS_FILE", "JWT_SECRET_KEY_FILE"]);
                }
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
    for expected in [
        ("issuer", true),
        ("issuer", false),
        ("verifier", true),
        ("mailer", true),
    ] {
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
