//! The issuer's settings: the shared ones plus the database, hashing and session rules.

use std::net::SocketAddr;
use std::time::Duration;

use common::config::{CommonConfig, ConfigError, Env};
use secrecy::{ExposeSecret, SecretString};

use crate::auth::password::{HashCost, PasswordPolicy};
use crate::rate_limit::{Limits, Rate};

pub const ISSUER_ADDR: &str = "ISSUER_ADDR";
pub const DATABASE_URL: &str = "DATABASE_URL";
pub const DATABASE_POOL_SIZE: &str = "DATABASE_POOL_SIZE";
pub const DATABASE_TIMEOUT_SECONDS: &str = "DATABASE_TIMEOUT_SECONDS";
pub const PASSWORD_POLICY: &str = "PASSWORD_POLICY";
pub const ARGON2_MEMORY_KIB: &str = "ARGON2_MEMORY_KIB";
pub const ARGON2_ITERATIONS: &str = "ARGON2_ITERATIONS";
pub const ARGON2_PARALLELISM: &str = "ARGON2_PARALLELISM";
pub const ARGON2_MAX_CONCURRENT: &str = "ARGON2_MAX_CONCURRENT";
pub const ARGON2_MAX_QUEUED: &str = "ARGON2_MAX_QUEUED";
pub const REFRESH_TOKEN_ROTATION: &str = "REFRESH_TOKEN_ROTATION";
pub const REFRESH_REUSE_GRACE_SECONDS: &str = "REFRESH_REUSE_GRACE_SECONDS";
pub const REQUIRE_VERIFIED_EMAIL: &str = "REQUIRE_VERIFIED_EMAIL";
pub const EMAIL_VERIFICATION_TOKEN_EXPIRE_HOURS: &str = "EMAIL_VERIFICATION_TOKEN_EXPIRE_HOURS";
pub const TRUSTED_PROXIES: &str = "TRUSTED_PROXIES";
pub const OUTBOX_BATCH_SIZE: &str = "OUTBOX_BATCH_SIZE";
pub const OUTBOX_POLL_INTERVAL_MS: &str = "OUTBOX_POLL_INTERVAL_MS";
pub const OUTBOX_RETENTION_HOURS: &str = "OUTBOX_RETENTION_HOURS";
pub const NATS_DUPLICATE_WINDOW_SECONDS: &str = "NATS_DUPLICATE_WINDOW_SECONDS";
pub const RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE: &str = "RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE";
pub const RATE_LIMIT_LOGIN_PER_ACCOUNT_PER_MINUTE: &str = "RATE_LIMIT_LOGIN_PER_ACCOUNT_PER_MINUTE";
pub const RATE_LIMIT_REGISTER_PER_IP_PER_HOUR: &str = "RATE_LIMIT_REGISTER_PER_IP_PER_HOUR";
pub const RATE_LIMIT_REGISTER_PER_ACCOUNT_PER_HOUR: &str =
    "RATE_LIMIT_REGISTER_PER_ACCOUNT_PER_HOUR";
pub const RATE_LIMIT_RESEND_PER_IP_PER_HOUR: &str = "RATE_LIMIT_RESEND_PER_IP_PER_HOUR";
pub const RATE_LIMIT_RESEND_PER_ACCOUNT_PER_HOUR: &str = "RATE_LIMIT_RESEND_PER_ACCOUNT_PER_HOUR";
pub const RATE_LIMIT_MAX_KEYS: &str = "RATE_LIMIT_MAX_KEYS";
pub const LOGIN_LOCKOUT_THRESHOLD: &str = "LOGIN_LOCKOUT_THRESHOLD";
pub const LOGIN_LOCKOUT_SECONDS: &str = "LOGIN_LOCKOUT_SECONDS";

#[derive(Debug, Clone)]
pub struct IssuerConfig {
    pub common: CommonConfig,
    pub addr: SocketAddr,
    /// Secret because it may carry a password.
    pub database_url: SecretString,
    pub database_pool_size: usize,
    /// How long a request waits for a connection before answering 503.
    pub database_timeout: Duration,
    pub password_policy: PasswordPolicy,
    pub hash_cost: HashCost,
    pub hash_max_concurrent: usize,
    pub hash_max_queued: usize,
    pub refresh_rotation: bool,
    pub refresh_reuse_grace: Duration,
    pub require_verified_email: bool,
    pub verification_token_ttl: Duration,
    /// Peers whose `X-Forwarded-For` is believed for the client address.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Events published per relay round.
    pub outbox_batch_size: i64,
    /// How often the relay looks for events when no notification arrives.
    pub outbox_poll_interval: Duration,
    /// How long published events stay in the outbox table.
    pub outbox_retention: Duration,
    /// Within this window JetStream drops a re-sent event (same `Nats-Msg-Id`).
    pub nats_duplicate_window: Duration,
    /// In-process attempt limits (0 turns one off).
    pub rate_limits: Limits,
    /// Consecutive failed logins that lock an account; 0 turns the lockout off.
    pub lockout_threshold: u32,
    /// How long a lock lasts.
    pub lockout_duration: Duration,
}

impl IssuerConfig {
    /// The process environment plus `.env`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let lookup = common::config::process_lookup()?;
        Self::from_lookup(&lookup)
    }

    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(lookup);
        let common = CommonConfig::from_env(&env, env!("CARGO_PKG_VERSION"))?;
        let database_url = env.string_or(DATABASE_URL, "postgres://postgres@localhost:5432/auth");
        database_url
            .parse::<tokio_postgres::Config>()
            .map_err(|_| ConfigError::new(DATABASE_URL, "is not a valid postgres:// URL"))?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let u32_setting = |name: &str, default: u64, min: u64| -> Result<u32, ConfigError> {
            u32::try_from(env.number_or(name, default, min)?)
                .map_err(|_| ConfigError::new(name, "is too large"))
        };
        Ok(IssuerConfig {
            addr: env.parse_or(
                ISSUER_ADDR,
                ([0, 0, 0, 0], 8000).into(),
                "an address such as 0.0.0.0:8000",
            )?,
            database_url: SecretString::from(database_url),
            database_pool_size: usize::try_from(env.number_or(DATABASE_POOL_SIZE, 20, 1)?)
                .map_err(|_| ConfigError::new(DATABASE_POOL_SIZE, "is too large"))?,
            database_timeout: Duration::from_secs(env.number_or(DATABASE_TIMEOUT_SECONDS, 5, 1)?),
            password_policy: env.parse_or(PASSWORD_POLICY, PasswordPolicy::Seed, "seed or nist")?,
            hash_cost: HashCost {
                memory_kib: u32_setting(ARGON2_MEMORY_KIB, 19_456, 8)?,
                iterations: u32_setting(ARGON2_ITERATIONS, 2, 1)?,
                parallelism: u32_setting(ARGON2_PARALLELISM, 1, 1)?,
            },
            hash_max_concurrent: usize::try_from(env.number_or(
                ARGON2_MAX_CONCURRENT,
                cores as u64,
                1,
            )?)
            .map_err(|_| ConfigError::new(ARGON2_MAX_CONCURRENT, "is too large"))?,
            hash_max_queued: usize::try_from(env.number_or(ARGON2_MAX_QUEUED, 64, 0)?)
                .map_err(|_| ConfigError::new(ARGON2_MAX_QUEUED, "is too large"))?,
            refresh_rotation: env.bool_or(REFRESH_TOKEN_ROTATION, false)?,
            refresh_reuse_grace: Duration::from_secs(env.number_or(
                REFRESH_REUSE_GRACE_SECONDS,
                0,
                0,
            )?),
            require_verified_email: env.bool_or(REQUIRE_VERIFIED_EMAIL, false)?,
            verification_token_ttl: Duration::from_secs(
                3600 * env.number_or(EMAIL_VERIFICATION_TOKEN_EXPIRE_HOURS, 24, 1)?,
            ),
            trusted_proxies: env
                .list(TRUSTED_PROXIES)
                .iter()
                .map(|cidr| parse_cidr(cidr))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    ConfigError::new(
                        TRUSTED_PROXIES,
                        "must be a comma-separated list of CIDRs or addresses",
                    )
                })?,
            outbox_batch_size: i64::try_from(env.number_or(OUTBOX_BATCH_SIZE, 500, 1)?)
                .map_err(|_| ConfigError::new(OUTBOX_BATCH_SIZE, "is too large"))?,
            outbox_poll_interval: Duration::from_millis(env.number_or(
                OUTBOX_POLL_INTERVAL_MS,
                1000,
                10,
            )?),
            outbox_retention: Duration::from_secs(
                3600 * env.number_or(OUTBOX_RETENTION_HOURS, 168, 1)?,
            ),
            nats_duplicate_window: Duration::from_secs(env.number_or(
                NATS_DUPLICATE_WINDOW_SECONDS,
                120,
                1,
            )?),
            rate_limits: Limits {
                login_per_ip: Rate::per_minute(u32_setting(
                    RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE,
                    30,
                    0,
                )?),
                login_per_account: Rate::per_minute(u32_setting(
                    RATE_LIMIT_LOGIN_PER_ACCOUNT_PER_MINUTE,
                    10,
                    0,
                )?),
                register_per_ip: Rate::per_hour(u32_setting(
                    RATE_LIMIT_REGISTER_PER_IP_PER_HOUR,
                    20,
                    0,
                )?),
                register_per_account: Rate::per_hour(u32_setting(
                    RATE_LIMIT_REGISTER_PER_ACCOUNT_PER_HOUR,
                    5,
                    0,
                )?),
                resend_per_ip: Rate::per_hour(u32_setting(
                    RATE_LIMIT_RESEND_PER_IP_PER_HOUR,
                    20,
                    0,
                )?),
                resend_per_account: Rate::per_hour(u32_setting(
                    RATE_LIMIT_RESEND_PER_ACCOUNT_PER_HOUR,
                    5,
                    0,
                )?),
                max_keys: usize::try_from(env.number_or(RATE_LIMIT_MAX_KEYS, 100_000, 1)?)
                    .map_err(|_| ConfigError::new(RATE_LIMIT_MAX_KEYS, "is too large"))?,
            },
            lockout_threshold: u32_setting(LOGIN_LOCKOUT_THRESHOLD, 10, 0)?,
            lockout_duration: Duration::from_secs(env.number_or(LOGIN_LOCKOUT_SECONDS, 900, 1)?),
            common,
        })
    }

    /// The parsed connection settings; `from_lookup` has already checked they parse.
    pub fn postgres(&self) -> Result<tokio_postgres::Config, ConfigError> {
        self.database_url
            .expose_secret()
            .parse()
            .map_err(|_| ConfigError::new(DATABASE_URL, "is not a valid postgres:// URL"))
    }
}

/// `10.0.0.0/8`, or a single address meaning a /32 or /128.
fn parse_cidr(text: &str) -> Option<ipnet::IpNet> {
    text.parse().ok().or_else(|| {
        text.parse::<std::net::IpAddr>()
            .ok()
            .map(ipnet::IpNet::from)
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn load(extra: &[(&str, &str)]) -> Result<IssuerConfig, ConfigError> {
        let mut env: HashMap<String, String> = HashMap::from([(
            "JWT_SECRET_KEY".to_owned(),
            "0123456789abcdef0123456789abcdef".to_owned(),
        )]);
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        IssuerConfig::from_lookup(&|name| env.get(name).cloned())
    }

    #[test]
    fn brute_force_defaults() -> Result<(), ConfigError> {
        let config = load(&[])?;
        let limits = config.rate_limits;
        assert_eq!(limits.login_per_ip, Rate::per_minute(30));
        assert_eq!(limits.login_per_account, Rate::per_minute(10));
        assert_eq!(limits.register_per_ip, Rate::per_hour(20));
        assert_eq!(limits.register_per_account, Rate::per_hour(5));
        assert_eq!(limits.resend_per_ip, Rate::per_hour(20));
        assert_eq!(limits.resend_per_account, Rate::per_hour(5));
        assert_eq!(limits.max_keys, 100_000);
        assert_eq!(config.lockout_threshold, 10);
        assert_eq!(config.lockout_duration, Duration::from_secs(900));
        Ok(())
    }

    #[test]
    fn zero_turns_a_limit_off_and_bad_values_name_their_variable() -> Result<(), ConfigError> {
        let config = load(&[
            (RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE, "0"),
            (LOGIN_LOCKOUT_THRESHOLD, "0"),
        ])?;
        assert_eq!(config.rate_limits.login_per_ip.count, 0);
        assert_eq!(config.lockout_threshold, 0);
        for (name, value) in [
            (RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE, "-1"),
            (RATE_LIMIT_LOGIN_PER_ACCOUNT_PER_MINUTE, "ten"),
            (RATE_LIMIT_REGISTER_PER_IP_PER_HOUR, "1.5"),
            (RATE_LIMIT_REGISTER_PER_ACCOUNT_PER_HOUR, "99999999999"),
            (RATE_LIMIT_RESEND_PER_IP_PER_HOUR, "2x"),
            (RATE_LIMIT_RESEND_PER_ACCOUNT_PER_HOUR, "x"),
            (RATE_LIMIT_MAX_KEYS, "0"),
            (LOGIN_LOCKOUT_THRESHOLD, "many"),
            (LOGIN_LOCKOUT_SECONDS, "0"),
        ] {
            let err = load(&[(name, value)]).err();
            assert_eq!(
                err.map(|e| e.variable),
                Some(name.to_owned()),
                "{name}={value}"
            );
        }
        Ok(())
    }
}
