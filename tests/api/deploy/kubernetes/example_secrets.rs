//! The example Secrets are refused as they are, and with a real key every service container's
//! settings make a configuration the service accepts.

use std::collections::BTreeMap;

use anyhow::{ensure, Context};

use super::{
    check_environment, containers, data_of, manifests, pod_spec, secret_names, service_of, text,
};

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
/// naming JWT_KEYS (the mailer, which takes no key, is given the placeholder SMTP password). With a real key in its place, every service container's configuration
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
            "mailer" => mailer::config::MailerConfig::from_lookup(&lookup).map(|_| ()),
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
            let example_settings = settings(&env, &example)?;
            let refused = load(service, &example_settings);
            // The mailer takes no key, and a placeholder SMTP password cannot be told from a
            // real one before the server refuses the login (which the mailer retries).
            let placeholder = service == "mailer"
                && example_settings.get("SMTP_PASSWORD").map(String::as_str) == Some("CHANGE-ME");
            ensure!(
                refused
                    .as_ref()
                    .is_err_and(|err| err.variable == "JWT_KEYS")
                    || (placeholder && refused.is_ok()),
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
