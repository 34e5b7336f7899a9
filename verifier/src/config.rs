//! The verifier's settings: the shared ones plus its address and cookie name.

use std::net::SocketAddr;

use common::config::{CommonConfig, ConfigError, Env};

pub const VERIFIER_ADDR: &str = "VERIFIER_ADDR";
pub const AUTH_COOKIE_NAME: &str = "AUTH_COOKIE_NAME";

#[derive(Debug, Clone)]
pub struct VerifierConfig {
    pub common: CommonConfig,
    pub addr: SocketAddr,
    /// The cookie read for the token when a request has no `Authorization: Bearer` header.
    pub cookie_name: String,
}

impl VerifierConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let lookup = common::config::process_lookup()?;
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
            addr: env.parse_or(
                VERIFIER_ADDR,
                ([0, 0, 0, 0], 8001).into(),
                "an address such as 0.0.0.0:8001",
            )?,
            cookie_name,
        })
    }
}
