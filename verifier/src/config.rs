//! The verifier's settings: the shared ones plus its address and cookie name.

use std::net::SocketAddr;

use common::config::{CommonConfig, ConfigError, Env, Var};

pub const VERIFIER_ADDR: &str = "VERIFIER_ADDR";
pub const AUTH_COOKIE_NAME: &str = "AUTH_COOKIE_NAME";

/// Every variable [`VerifierConfig::from_lookup`] reads beyond [`common::config::VARS`].
pub const VARS: &[Var] = &[
    Var::new(VERIFIER_ADDR, "0.0.0.0:8001", "listen address"),
    Var::new(
        AUTH_COOKIE_NAME,
        "access_token",
        "cookie read for the token when there is no Authorization: Bearer",
    ),
];

/// VERIFIER_ADDR alone, for `healthcheck`.
pub fn addr(env: &Env) -> Result<SocketAddr, ConfigError> {
    env.parse_or(
        VERIFIER_ADDR,
        ([0, 0, 0, 0], 8001).into(),
        "an address such as 0.0.0.0:8001",
    )
}

#[derive(Debug, Clone)]
pub struct VerifierConfig {
    pub common: CommonConfig,
    pub addr: SocketAddr,
    /// The cookie read for the token when a request has no `Authorization: Bearer` header.
    pub cookie_name: String,
}

impl VerifierConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let lookup = common::config::with_secret_files(
            common::config::process_lookup()?,
            &[common::config::VARS, common::telemetry::VARS],
        )?;
        Self::from_lookup(&lookup)
    }

    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(lookup);
        let cookie_name = env.string_or(AUTH_COOKIE_NAME, "access_token");
        let valid_cookie = cookie_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !valid_cookie {
            return Err(ConfigError::new(
                AUTH_COOKIE_NAME,
                "is not a valid cookie name",
            ));
        }
        Ok(VerifierConfig {
            common: CommonConfig::from_env(&env, env!("CARGO_PKG_VERSION"))?,
            addr: addr(&env)?,
            cookie_name,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::{BTreeSet, HashMap};

    use common::config::{JWT_ACTIVE_KID, JWT_KEYS, JWT_SECRET_KEY};

    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    /// Loads with `values` set and everything else unset; the names asked for, and the
    /// result's `Debug`.
    fn load(values: &[(&str, &str)]) -> Result<(BTreeSet<String>, String), ConfigError> {
        let asked = RefCell::new(BTreeSet::new());
        let values: HashMap<&str, &str> = values.iter().copied().collect();
        let lookup = |name: &str| {
            asked.borrow_mut().insert(name.to_owned());
            values.get(name).map(|v| (*v).to_owned())
        };
        let config = VerifierConfig::from_lookup(&lookup)?;
        Ok((asked.into_inner(), format!("{config:?}")))
    }

    fn catalogue() -> Vec<&'static Var> {
        common::config::VARS
            .iter()
            .chain(common::telemetry::VARS)
            .chain(VARS)
            .collect()
    }

    #[test]
    fn the_catalogue_names_exactly_the_variables_the_verifier_reads() -> Result<(), ConfigError> {
        // JWT_KEYS replaces JWT_SECRET_KEY, so one load cannot ask for both: take the union.
        let (mut asked, _) = load(&[(JWT_SECRET_KEY, KEY)])?;
        let keys = format!("a={KEY}");
        let (with_keys, _) = load(&[(JWT_KEYS, keys.as_str()), (JWT_ACTIVE_KID, "a")])?;
        asked.extend(with_keys);
        let listed: BTreeSet<String> = catalogue().iter().map(|v| v.name.to_owned()).collect();
        assert_eq!(
            listed.len(),
            catalogue().len(),
            "a variable is listed twice"
        );
        let unlisted: Vec<_> = asked.difference(&listed).collect();
        let unread: Vec<_> = listed.difference(&asked).collect();
        assert!(
            unlisted.is_empty(),
            "read but not in the catalogue: {unlisted:?}"
        );
        assert!(
            unread.is_empty(),
            "in the catalogue but never read: {unread:?}"
        );
        Ok(())
    }

    #[test]
    fn every_literal_default_in_the_catalogue_is_the_default_in_force() -> Result<(), ConfigError> {
        let (_, unset) = load(&[(JWT_SECRET_KEY, KEY)])?;
        for var in catalogue().into_iter().filter(|v| v.has_literal_default()) {
            let (_, explicit) = load(&[(JWT_SECRET_KEY, KEY), (var.name, var.default)])?;
            assert_eq!(explicit, unset, "{} = {:?}", var.name, var.default);
        }
        Ok(())
    }
}
