//! The issuer's settings: the shared ones plus the database, hashing and session rules.

use std::net::SocketAddr;
use std::time::Duration;

use chrono::TimeDelta;
use common::config::{CommonConfig, ConfigError, Env, TimeUnit, Var};
use secrecy::{ExposeSecret, SecretString};

use crate::auth::password::{HashCost, PasswordPolicy};
use crate::rate_limit::{Limits, Rate};

pub const ISSUER_ADDR: &str = "ISSUER_ADDR";
pub const DATABASE_URL: &str = "DATABASE_URL";
pub const DATABASE_CA_FILE: &str = "DATABASE_CA_FILE";
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
pub const PASSWORD_RESET_TOKEN_EXPIRE_MINUTES: &str = "PASSWORD_RESET_TOKEN_EXPIRE_MINUTES";
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
pub const LOGIN_KNOWN_ADDRESS_DAYS: &str = "LOGIN_KNOWN_ADDRESS_DAYS";

/// Upper bounds of the duration settings: long enough for any sane use, short enough that no
/// `now + span` can overflow and that a lock is never effectively permanent.
pub const MAX_REFRESH_REUSE_GRACE_SECONDS: u64 = 3600;
pub const MAX_VERIFICATION_TOKEN_HOURS: u64 = 8760;
/// A reset link is a password in the mailbox: it lives a day at most.
pub const MAX_PASSWORD_RESET_TOKEN_MINUTES: u64 = 1440;
pub const MAX_OUTBOX_RETENTION_HOURS: u64 = 8760;
pub const MAX_LOCKOUT_SECONDS: u64 = 86_400;
/// Hashes at once and waiting: each running hash holds `ARGON2_MEMORY_KIB`, and the
/// semaphores that bound them take no more than a few million permits.
pub const MAX_HASHES_RUNNING: u64 = 4096;
pub const MAX_HASHES_QUEUED: u64 = 1_000_000;

/// Every variable [`IssuerConfig::from_lookup`] reads beyond [`common::config::VARS`].
pub const VARS: &[Var] = &[
    Var::new(ISSUER_ADDR, "0.0.0.0:8000", "listen address"),
    Var::secret(
        DATABASE_URL,
        "postgres://postgres@localhost:5432/auth",
        "Postgres; the database is created if it does not exist",
    ),
    Var::new(
        DATABASE_CA_FILE,
        "",
        "PEM CA certificate(s) Postgres's certificate must chain to (sslmode=verify-ca/verify-full; \
         sslrootcert= in DATABASE_URL wins)",
    ),
    Var::new(DATABASE_POOL_SIZE, "20", "connections in the pool"),
    Var::new(
        DATABASE_TIMEOUT_SECONDS,
        "5",
        "bound on each database wait (a connection, a statement) before answering 503 (1-300)",
    ),
    Var::new(
        PASSWORD_POLICY,
        "seed",
        "seed (8+ chars, upper, 0-9, symbol) or nist (15+ chars)",
    ),
    Var::new(ARGON2_MEMORY_KIB, "19456", "argon2id memory cost"),
    Var::new(ARGON2_ITERATIONS, "2", "argon2id time cost"),
    Var::new(
        ARGON2_PARALLELISM,
        "1",
        "argon2id lanes (ARGON2_MEMORY_KIB >= 8 x lanes)",
    ),
    Var::new(
        ARGON2_MAX_CONCURRENT,
        "(number of cores)",
        "hashes running at once",
    ),
    Var::new(
        ARGON2_MAX_QUEUED,
        "64",
        "hashes waiting; past that, 503 with Retry-After",
    ),
    Var::new(
        REFRESH_TOKEN_ROTATION,
        "false",
        "each refresh returns a new refresh token",
    ),
    Var::new(
        REFRESH_REUSE_GRACE_SECONDS,
        "0",
        "with rotation: how long the replaced token still works (0-3600)",
    ),
    Var::new(
        REQUIRE_VERIFIED_EMAIL,
        "false",
        "login answers 403 until the email is verified",
    ),
    Var::new(
        EMAIL_VERIFICATION_TOKEN_EXPIRE_HOURS,
        "24",
        "verification-token lifetime (1-8760)",
    ),
    Var::new(
        PASSWORD_RESET_TOKEN_EXPIRE_MINUTES,
        "60",
        "password-reset-token lifetime (1-1440)",
    ),
    Var::new(
        TRUSTED_PROXIES,
        "",
        "CIDRs or addresses whose X-Forwarded-For is believed",
    ),
    Var::new(OUTBOX_BATCH_SIZE, "500", "events published per relay round"),
    Var::new(
        OUTBOX_POLL_INTERVAL_MS,
        "1000",
        "relay poll when no NOTIFY wakes it (10-3600000)",
    ),
    Var::new(
        OUTBOX_RETENTION_HOURS,
        "168",
        "published outbox rows are deleted after this long (1-8760)",
    ),
    Var::new(
        NATS_DUPLICATE_WINDOW_SECONDS,
        "120",
        "the stream's de-duplication window (1-86400)",
    ),
    Var::new(
        RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE,
        "30",
        "login attempts per client address per minute (0 = off)",
    ),
    Var::new(
        RATE_LIMIT_LOGIN_PER_ACCOUNT_PER_MINUTE,
        "10",
        "login attempts per email per minute (0 = off)",
    ),
    Var::new(
        RATE_LIMIT_REGISTER_PER_IP_PER_HOUR,
        "20",
        "registrations per client address per hour (0 = off)",
    ),
    Var::new(
        RATE_LIMIT_REGISTER_PER_ACCOUNT_PER_HOUR,
        "5",
        "registrations per email per hour (0 = off)",
    ),
    Var::new(
        RATE_LIMIT_RESEND_PER_IP_PER_HOUR,
        "20",
        "resend-verification requests per client address per hour (0 = off)",
    ),
    Var::new(
        RATE_LIMIT_RESEND_PER_ACCOUNT_PER_HOUR,
        "5",
        "resend-verification requests per email per hour (0 = off)",
    ),
    Var::new(
        RATE_LIMIT_MAX_KEYS,
        "100000",
        "addresses and accounts the limiter tracks at once",
    ),
    Var::new(
        LOGIN_LOCKOUT_THRESHOLD,
        "10",
        "consecutive failed logins that lock an account (0 = off)",
    ),
    Var::new(
        LOGIN_LOCKOUT_SECONDS,
        "900",
        "how long a lock lasts (1-86400)",
    ),
    Var::new(
        LOGIN_KNOWN_ADDRESS_DAYS,
        "30",
        "days a login's address stays exempt from its account's lock and limit (0 = off)",
    ),
];

/// ISSUER_ADDR alone, for `healthcheck`.
pub fn addr(env: &Env) -> Result<SocketAddr, ConfigError> {
    env.parse_or(
        ISSUER_ADDR,
        ([0, 0, 0, 0], 8000).into(),
        "an address such as 0.0.0.0:8000",
    )
}

#[derive(Debug, Clone)]
pub struct IssuerConfig {
    pub common: CommonConfig,
    pub addr: SocketAddr,
    /// Secret because it may carry a password.
    pub database_url: SecretString,
    /// The CA for `sslmode=verify-ca|verify-full` when the URL names none.
    pub database_ca_file: Option<std::path::PathBuf>,
    pub database_pool_size: usize,
    /// How long a request waits for a connection before answering 503.
    pub database_timeout: Duration,
    pub password_policy: PasswordPolicy,
    pub hash_cost: HashCost,
    pub hash_max_concurrent: usize,
    pub hash_max_queued: usize,
    pub refresh_rotation: bool,
    pub refresh_reuse_grace: TimeDelta,
    pub require_verified_email: bool,
    pub verification_token_ttl: TimeDelta,
    pub password_reset_token_ttl: TimeDelta,
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
    pub lockout_duration: TimeDelta,
    /// How long after a successful login its client address stays exempt from the account's
    /// lock and per-account login limit; zero turns the exemption off.
    pub known_address_retention: Duration,
}

impl IssuerConfig {
    /// The process environment plus `.env`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let lookup = common::config::with_secret_files(
            common::config::process_lookup()?,
            &[common::config::VARS, common::telemetry::VARS, VARS],
        )?;
        Self::from_lookup(&lookup)
    }

    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(lookup);
        let common = CommonConfig::from_env(&env, env!("CARGO_PKG_VERSION"))?;
        let database_url = env.string_or(DATABASE_URL, "postgres://postgres@localhost:5432/auth");
        let database_ca_file = env.get(DATABASE_CA_FILE).map(std::path::PathBuf::from);
        crate::db::tls::postgres(&database_url, database_ca_file.as_deref())?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let u32_setting = |name: &str, default: u64, min: u64| -> Result<u32, ConfigError> {
            u32::try_from(env.number_or(name, default, min)?)
                .map_err(|_| ConfigError::new(name, "is too large"))
        };
        Ok(IssuerConfig {
            addr: addr(&env)?,
            database_url: SecretString::from(database_url),
            database_ca_file,
            database_pool_size: usize::try_from(env.number_or(DATABASE_POOL_SIZE, 20, 1)?)
                .map_err(|_| ConfigError::new(DATABASE_POOL_SIZE, "is too large"))?,
            database_timeout: Duration::from_secs(env.number_in(
                DATABASE_TIMEOUT_SECONDS,
                5,
                1..=MAX_DATABASE_TIMEOUT_SECONDS,
            )?),
            password_policy: env.parse_or(PASSWORD_POLICY, PasswordPolicy::Seed, "seed or nist")?,
            hash_cost: checked_hash_cost(HashCost {
                memory_kib: u32_setting(ARGON2_MEMORY_KIB, 19_456, 8)?,
                iterations: u32_setting(ARGON2_ITERATIONS, 2, 1)?,
                parallelism: u32_setting(ARGON2_PARALLELISM, 1, 1)?,
            })?,
            hash_max_concurrent: usize::try_from(env.number_in(
                ARGON2_MAX_CONCURRENT,
                (cores as u64).min(MAX_HASHES_RUNNING),
                1..=MAX_HASHES_RUNNING,
            )?)
            .map_err(|_| ConfigError::new(ARGON2_MAX_CONCURRENT, "is too large"))?,
            hash_max_queued: usize::try_from(env.number_in(
                ARGON2_MAX_QUEUED,
                64,
                0..=MAX_HASHES_QUEUED,
            )?)
            .map_err(|_| ConfigError::new(ARGON2_MAX_QUEUED, "is too large"))?,
            refresh_rotation: env.bool_or(REFRESH_TOKEN_ROTATION, false)?,
            refresh_reuse_grace: env.span_in(
                REFRESH_REUSE_GRACE_SECONDS,
                0,
                0..=MAX_REFRESH_REUSE_GRACE_SECONDS,
                TimeUnit::Seconds,
            )?,
            require_verified_email: env.bool_or(REQUIRE_VERIFIED_EMAIL, false)?,
            verification_token_ttl: env.span_in(
                EMAIL_VERIFICATION_TOKEN_EXPIRE_HOURS,
                24,
                1..=MAX_VERIFICATION_TOKEN_HOURS,
                TimeUnit::Hours,
            )?,
            password_reset_token_ttl: env.span_in(
                PASSWORD_RESET_TOKEN_EXPIRE_MINUTES,
                60,
                1..=MAX_PASSWORD_RESET_TOKEN_MINUTES,
                TimeUnit::Minutes,
            )?,
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
            outbox_poll_interval: Duration::from_millis(env.number_in(
                OUTBOX_POLL_INTERVAL_MS,
                1000,
                10..=MAX_OUTBOX_POLL_INTERVAL_MS,
            )?),
            outbox_retention: env
                .span_in(
                    OUTBOX_RETENTION_HOURS,
                    168,
                    1..=MAX_OUTBOX_RETENTION_HOURS,
                    TimeUnit::Hours,
                )?
                .to_std()
                .map_err(|_| ConfigError::new(OUTBOX_RETENTION_HOURS, "must be positive"))?,
            nats_duplicate_window: duplicate_window(&env)?,
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
            lockout_duration: env.span_in(
                LOGIN_LOCKOUT_SECONDS,
                900,
                1..=MAX_LOCKOUT_SECONDS,
                TimeUnit::Seconds,
            )?,
            known_address_retention: Duration::from_secs(
                86_400 * u64::from(u32_setting(LOGIN_KNOWN_ADDRESS_DAYS, 30, 0)?),
            ),
            common,
        })
    }

    /// The parsed connection settings and their TLS; `from_lookup` has already checked them.
    pub fn postgres(&self) -> Result<crate::db::Postgres, ConfigError> {
        crate::db::tls::postgres(
            self.database_url.expose_secret(),
            self.database_ca_file.as_deref(),
        )
    }
}

/// `cost` if argon2 accepts it as the password hasher will build it, else an error naming the
/// variable to change (argon2 wants at least 8 KiB of memory per lane).
fn checked_hash_cost(cost: HashCost) -> Result<HashCost, ConfigError> {
    // Checked first: argon2 multiplies the lanes by 8 before it compares them to its maximum.
    if cost.parallelism > argon2::Params::MAX_P_COST {
        return Err(ConfigError::new(
            ARGON2_PARALLELISM,
            format!("must be at most {}", argon2::Params::MAX_P_COST),
        ));
    }
    let Err(err) = argon2::Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
    else {
        return Ok(cost);
    };
    Err(match err {
        argon2::Error::MemoryTooLittle => ConfigError::new(
            ARGON2_MEMORY_KIB,
            format!(
                "must be at least 8 x ARGON2_PARALLELISM ({} KiB for {} lanes)",
                8 * u64::from(cost.parallelism),
                cost.parallelism
            ),
        ),
        argon2::Error::MemoryTooMuch => ConfigError::new(ARGON2_MEMORY_KIB, "is too large"),
        argon2::Error::TimeTooSmall => ConfigError::new(ARGON2_ITERATIONS, "must be >= 1"),
        argon2::Error::ThreadsTooFew => ConfigError::new(ARGON2_PARALLELISM, "must be >= 1"),
        argon2::Error::ThreadsTooMany => ConfigError::new(
            ARGON2_PARALLELISM,
            format!("must be at most {}", argon2::Params::MAX_P_COST),
        ),
        // Not produced by a memory, time and lane count alone.
        argon2::Error::AdTooLong
        | argon2::Error::AlgorithmInvalid
        | argon2::Error::B64Encoding(_)
        | argon2::Error::KeyIdTooLong
        | argon2::Error::OutputTooShort
        | argon2::Error::OutputTooLong
        | argon2::Error::PwdTooLong
        | argon2::Error::SaltTooShort
        | argon2::Error::SaltTooLong
        | argon2::Error::SecretTooLong
        | argon2::Error::VersionInvalid => ConfigError::new(
            ARGON2_MEMORY_KIB,
            "with ARGON2_ITERATIONS and ARGON2_PARALLELISM is not a usable argon2id cost",
        ),
    })
}

/// `10.0.0.0/8`, or a single address meaning a /32 or /128.
fn parse_cidr(text: &str) -> Option<ipnet::IpNet> {
    text.parse().ok().or_else(|| {
        text.parse::<std::net::IpAddr>()
            .ok()
            .map(ipnet::IpNet::from)
    })
}

const MAX_DATABASE_TIMEOUT_SECONDS: u64 = 300;
const MAX_OUTBOX_POLL_INTERVAL_MS: u64 = 3_600_000;
const MAX_DUPLICATE_WINDOW_SECONDS: u64 = 86_400;

/// The stream's duplicate window. NATS refuses one longer than the stream's `max_age`; ours is
/// the longer token lifetime, at least a day (the shortest refresh lifetime), so the upper
/// bound of a day keeps every accepted window valid.
fn duplicate_window(env: &Env) -> Result<Duration, ConfigError> {
    Ok(Duration::from_secs(env.number_in(
        NATS_DUPLICATE_WINDOW_SECONDS,
        120,
        1..=MAX_DUPLICATE_WINDOW_SECONDS,
    )?))
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
        assert_eq!(config.lockout_duration, TimeDelta::seconds(900));
        assert_eq!(
            config.known_address_retention,
            Duration::from_secs(30 * 86_400)
        );
        Ok(())
    }

    #[test]
    fn zero_turns_a_limit_off_and_bad_values_name_their_variable() -> Result<(), ConfigError> {
        let config = load(&[
            (RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE, "0"),
            (LOGIN_LOCKOUT_THRESHOLD, "0"),
            (LOGIN_KNOWN_ADDRESS_DAYS, "0"),
        ])?;
        assert_eq!(config.rate_limits.login_per_ip.count, 0);
        assert_eq!(config.lockout_threshold, 0);
        assert!(config.known_address_retention.is_zero());
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
            (LOGIN_KNOWN_ADDRESS_DAYS, "-1"),
            (LOGIN_KNOWN_ADDRESS_DAYS, "99999999999"),
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

    #[test]
    fn argon2_costs_argon2_would_refuse_name_the_variable_to_change() {
        let failing = |vars: &[(&str, &str)]| load(vars).err().map(|e| e.variable);
        assert_eq!(
            failing(&[(ARGON2_MEMORY_KIB, "8"), (ARGON2_PARALLELISM, "2")]).as_deref(),
            Some(ARGON2_MEMORY_KIB)
        );
        assert_eq!(
            failing(&[(ARGON2_PARALLELISM, "4294967295")]).as_deref(),
            Some(ARGON2_PARALLELISM)
        );
        assert_eq!(
            failing(&[(ARGON2_PARALLELISM, "16777216")]).as_deref(),
            Some(ARGON2_PARALLELISM)
        );
        assert!(load(&[(ARGON2_MEMORY_KIB, "16"), (ARGON2_PARALLELISM, "2")]).is_ok());
    }

    #[test]
    fn each_duration_loads_up_to_its_bound() -> Result<(), ConfigError> {
        let defaults = load(&[])?;
        assert_eq!(defaults.refresh_reuse_grace, TimeDelta::zero());
        assert_eq!(defaults.verification_token_ttl, TimeDelta::hours(24));
        assert_eq!(defaults.password_reset_token_ttl, TimeDelta::minutes(60));
        assert_eq!(defaults.outbox_retention, Duration::from_secs(168 * 3600));
        let widest = load(&[
            (REFRESH_REUSE_GRACE_SECONDS, "3600"),
            (EMAIL_VERIFICATION_TOKEN_EXPIRE_HOURS, "8760"),
            (PASSWORD_RESET_TOKEN_EXPIRE_MINUTES, "1440"),
            (OUTBOX_RETENTION_HOURS, "8760"),
            (LOGIN_LOCKOUT_SECONDS, "86400"),
            (DATABASE_TIMEOUT_SECONDS, "300"),
            (OUTBOX_POLL_INTERVAL_MS, "3600000"),
            (NATS_DUPLICATE_WINDOW_SECONDS, "86400"),
        ])?;
        assert_eq!(widest.refresh_reuse_grace, TimeDelta::hours(1));
        assert_eq!(widest.verification_token_ttl, TimeDelta::days(365));
        assert_eq!(widest.password_reset_token_ttl, TimeDelta::days(1));
        assert_eq!(widest.outbox_retention, Duration::from_secs(365 * 86_400));
        assert_eq!(widest.lockout_duration, TimeDelta::days(1));
        assert_eq!(widest.database_timeout, Duration::from_secs(300));
        Ok(())
    }

    #[test]
    fn hash_slot_counts_past_their_bounds_are_refused_naming_the_variable() {
        for (name, value) in [
            (ARGON2_MAX_CONCURRENT, "0"),
            (ARGON2_MAX_CONCURRENT, "4097"),
            (ARGON2_MAX_QUEUED, "1000001"),
            (ARGON2_MAX_QUEUED, "18446744073709551615"),
        ] {
            let err = load(&[(name, value)]).err();
            assert_eq!(
                err.as_ref().map(|e| e.variable.as_str()),
                Some(name),
                "{name}={value}"
            );
        }
        assert!(load(&[(ARGON2_MAX_CONCURRENT, "4096"), (ARGON2_MAX_QUEUED, "0")]).is_ok());
    }

    #[test]
    fn a_duration_past_its_bound_is_refused_naming_the_variable() {
        // 5124095576030432 hours is the first count whose seconds overflow a u64.
        for (name, value) in [
            (REFRESH_REUSE_GRACE_SECONDS, "3601"),
            (REFRESH_REUSE_GRACE_SECONDS, "18446744073709551615"),
            (EMAIL_VERIFICATION_TOKEN_EXPIRE_HOURS, "0"),
            (EMAIL_VERIFICATION_TOKEN_EXPIRE_HOURS, "8761"),
            (EMAIL_VERIFICATION_TOKEN_EXPIRE_HOURS, "5124095576030432"),
            (PASSWORD_RESET_TOKEN_EXPIRE_MINUTES, "0"),
            (PASSWORD_RESET_TOKEN_EXPIRE_MINUTES, "1441"),
            (PASSWORD_RESET_TOKEN_EXPIRE_MINUTES, "18446744073709551615"),
            (OUTBOX_RETENTION_HOURS, "0"),
            (OUTBOX_RETENTION_HOURS, "8761"),
            (OUTBOX_RETENTION_HOURS, "5124095576030432"),
            (LOGIN_LOCKOUT_SECONDS, "0"),
            (LOGIN_LOCKOUT_SECONDS, "86401"),
            (LOGIN_LOCKOUT_SECONDS, "18446744073709551615"),
            (DATABASE_TIMEOUT_SECONDS, "0"),
            (DATABASE_TIMEOUT_SECONDS, "301"),
            (DATABASE_TIMEOUT_SECONDS, "18446744073709551615"),
            (OUTBOX_POLL_INTERVAL_MS, "9"),
            (OUTBOX_POLL_INTERVAL_MS, "3600001"),
            ("SHUTDOWN_GRACE_SECONDS", "3601"),
            (NATS_DUPLICATE_WINDOW_SECONDS, "0"),
            (NATS_DUPLICATE_WINDOW_SECONDS, "86401"),
        ] {
            let err = load(&[(name, value)]).err();
            assert_eq!(
                err.as_ref().map(|e| e.variable.as_str()),
                Some(name),
                "{name}={value}"
            );
            let message = err.map(|e| e.to_string()).unwrap_or_default();
            assert!(message.contains(" to "), "{message}");
            assert!(value.len() < 5 || !message.contains(value), "{message}");
        }
    }
}

#[cfg(test)]
mod catalogue_tests {
    use std::cell::RefCell;
    use std::collections::{BTreeSet, HashMap};

    use common::config::{JWT_ACTIVE_KID, JWT_KEYS, JWT_SECRET_KEY};
    use secrecy::ExposeSecret;

    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    /// Loads with `values` set and everything else unset; the names asked for, and a
    /// rendering of the result that shows every setting (the database URL included).
    fn load(values: &[(&str, &str)]) -> Result<(BTreeSet<String>, String), ConfigError> {
        let asked = RefCell::new(BTreeSet::new());
        let values: HashMap<&str, &str> = values.iter().copied().collect();
        let lookup = |name: &str| {
            asked.borrow_mut().insert(name.to_owned());
            values.get(name).map(|v| (*v).to_owned())
        };
        let config = IssuerConfig::from_lookup(&lookup)?;
        let rendered = format!("{config:?} {}", config.database_url.expose_secret());
        Ok((asked.into_inner(), rendered))
    }

    fn catalogue() -> Vec<&'static Var> {
        common::config::VARS
            .iter()
            .chain(common::telemetry::VARS)
            .chain(VARS)
            .collect()
    }

    #[test]
    fn the_catalogue_names_exactly_the_variables_the_issuer_reads() -> Result<(), ConfigError> {
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

    #[test]
    fn the_secrets_are_marked_secret() {
        for var in catalogue() {
            let secret = [
                JWT_SECRET_KEY,
                JWT_KEYS,
                DATABASE_URL,
                common::telemetry::OTEL_EXPORTER_OTLP_HEADERS,
            ]
            .contains(&var.name);
            assert_eq!(var.secret, secret, "{}", var.name);
        }
    }
}
