//! The verifier's settings (one table: [`VerifierSettings`], beyond the shared
//! [`CommonConfig::TABLES`]) and its configuration, [`VerifierConfig`].

use std::net::SocketAddr;

use common::config::CommonConfig;
use common::settings::{checked, listen_address, ConfigError, Env};

common::settings! {
    /// Every variable of the verifier's own, parsed and bounded.
    #[derive(Debug, Clone)]
    pub struct VerifierSettings;
    "service" {
        addr: SocketAddr = VERIFIER_ADDR, listen_address("0.0.0.0:8001"), "verifier listen address";
        cookie_name: String = AUTH_COOKIE_NAME, checked("access_token", "a valid cookie name", cookie_name),
            "verifier: cookie read for the token when there is no `Authorization: Bearer`";
    }
}

fn cookie_name(name: &str) -> Result<(), &'static str> {
    let valid = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    name.bytes()
        .all(valid)
        .then_some(())
        .ok_or("is not a valid cookie name")
}

/// The verifier's whole configuration.
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    pub common: CommonConfig,
    pub settings: VerifierSettings,
}

impl VerifierConfig {
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(lookup);
        let common = CommonConfig::from_env(&env, env!("CARGO_PKG_VERSION"))?;
        Ok(VerifierConfig {
            common,
            settings: VerifierSettings::read(&env)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_address_or_cookie_name_is_refused_naming_the_variable() {
        for (name, value) in [
            (VERIFIER_ADDR, "localhost"),
            (AUTH_COOKIE_NAME, "a b"),
            (AUTH_COOKIE_NAME, "a;b"),
        ] {
            let vars = [
                ("JWT_SECRET_KEY", "0123456789abcdef0123456789abcdef"),
                (name, value),
            ];
            let lookup = |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            };
            let err = VerifierConfig::from_lookup(&lookup)
                .err()
                .map(|e| e.variable);
            assert_eq!(err.as_deref(), Some(name), "{value}");
        }
    }
}
