//! The issuer's settings (one table: [`VARS`], beyond [`common::config::VARS`]) and the
//! configuration they make with the shared ones: [`IssuerConfig`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use chrono::TimeDelta;
use common::config::{listen_address, CommonConfig};
use common::settings::{
    flag, ConfigError, Env, Number, Optional, Parsed, Secret, Span, Unit, NO_MAX,
};
use secrecy::{ExposeSecret, SecretString};

use crate::auth::password::{HashCost, PasswordPolicy};
use crate::rate_limit::{Limits, Rate};

common::settings! {
    /// Every variable of the issuer's own, parsed and bounded.
    #[derive(Debug, Clone)]
    pub struct IssuerSettings;
    "service" {
        addr: SocketAddr = ISSUER_ADDR, listen_address("0.0.0.0:8000"), "issuer listen address";
    }
    "database" {
        database_url: SecretString = DATABASE_URL, Secret { default: Some("postgres://postgres@localhost:5432/auth"), accepts: "a `postgres://` URL (or libpq `key=value` form)" },
            "created if it does not exist; TLS as libpq's `sslmode` (below)";
        database_ca_file: Option<PathBuf> = DATABASE_CA_FILE, Optional("a PEM file of one or more CA certificates"),
            "the CA Postgres's certificate must chain to, for `sslmode=verify-ca`/`verify-full` (or `require`) when `DATABASE_URL` has no `sslrootcert=`; read at start";
        database_pool_size: usize = DATABASE_POOL_SIZE, Number::new(20, 1, NO_MAX),
            "connections in the pool; an issuer opens one more for the outbox relay's `LISTEN`, and one at start to migrate ([connections](OPERATIONS.md#postgres-connections))";
        database_timeout: Duration = DATABASE_TIMEOUT_SECONDS, Span::new(5, 1, 300, Unit::Seconds),
            "bound on each wait of a running issuer: getting a pool connection, and each statement (server-side `statement_timeout`; a connection on which Postgres stays silent for one more second is dropped). Past it, 503 `SERVICE_UNAVAILABLE`. At start it bounds the connect only (creating and migrating the database may take longer) ([start-up](OPERATIONS.md#start-up-and-shutdown))";
    }
    "passwords" {
        password_policy: PasswordPolicy = PASSWORD_POLICY, Parsed { default: "seed", accepts: "`seed`, `nist`", parse: |s| PasswordPolicy::from_str(s).map_err(|()| "must be seed or nist") },
            "`seed`: 8–128 chars with an uppercase letter, an ASCII digit (`0`–`9`; `½`, `Ⅻ` or `٣` are not digits) and a symbol (any character that is neither a letter nor `0`–`9`); `nist`: 15–128 chars, no composition rules. Length counts code points. Both refuse common passwords";
        argon2_memory_kib: u32 = ARGON2_MEMORY_KIB, Number::new(19_456, 8, NO_MAX), "argon2id memory per hash, at least 8 × `ARGON2_PARALLELISM` (OWASP's recommendation)";
        argon2_iterations: u32 = ARGON2_ITERATIONS, Number::new(2, 1, NO_MAX), "argon2id passes";
        argon2_parallelism: u32 = ARGON2_PARALLELISM, Number::new(1, 1, NO_MAX), "argon2id lanes (at most 16777215)";
        argon2_max_concurrent: Option<usize> = ARGON2_MAX_CONCURRENT, Number::optional(1, 4096), "hashes running at once, each holding `ARGON2_MEMORY_KIB` (unset: the number of cores)";
        argon2_max_queued: usize = ARGON2_MAX_QUEUED, Number::new(64, 0, 1_000_000), "hashes waiting; past that, 503 `SERVICE_UNAVAILABLE` with `Retry-After`";
    }
    "sessions" {
        refresh_rotation: bool = REFRESH_TOKEN_ROTATION, flag(false), "each refresh returns a new refresh token; reuse of an old one revokes the session";
        refresh_reuse_grace: TimeDelta = REFRESH_REUSE_GRACE_SECONDS, Span::new(0, 0, 3600, Unit::Seconds),
            "with rotation: how long the just-replaced token still works ([DESIGN.md](DESIGN.md#sessions-and-tokens))";
        require_verified_email: bool = REQUIRE_VERIFIED_EMAIL, flag(false), "login answers 403 `EMAIL_NOT_VERIFIED` until the email is verified";
        verification_token_ttl: TimeDelta = EMAIL_VERIFICATION_TOKEN_EXPIRE_HOURS, Span::new(24, 1, 8760, Unit::Hours), "verification-token lifetime";
        password_reset_token_ttl: TimeDelta = PASSWORD_RESET_TOKEN_EXPIRE_MINUTES, Span::new(60, 1, 1440, Unit::Minutes),
            "password-reset-token lifetime; reset requests are limited at the resend-verification rates (`RATE_LIMIT_RESEND_PER_*`), counted apart";
    }
    "events" {
        nats_duplicate_window: Duration = NATS_DUPLICATE_WINDOW_SECONDS, Span::new(120, 1, 86_400, Unit::Seconds),
            "issuer: the stream's de-duplication window on `Nats-Msg-Id` (NATS refuses a window longer than the stream keeps events: at least a day)";
        outbox_batch_size: i64 = OUTBOX_BATCH_SIZE, Number::new(500, 1, NO_MAX), "issuer: events published per relay round";
        outbox_poll_interval: Duration = OUTBOX_POLL_INTERVAL_MS, Span::new(1000, 10, 3_600_000, Unit::Millis),
            "issuer: relay poll when no `NOTIFY` wakes it (fallback; also retries while NATS is down)";
        outbox_retention: Duration = OUTBOX_RETENTION_HOURS, Span::new(168, 1, 8760, Unit::Hours),
            "issuer: published outbox rows are deleted after this long (hourly prune); unpublished rows are never deleted";
    }
    "brute-force" {
        trusted_proxies: Vec<ipnet::IpNet> = TRUSTED_PROXIES, Parsed { default: "", accepts: "comma-separated CIDRs or addresses", parse: proxies },
            "peers whose `X-Forwarded-For` is believed for the client address (rate limits, `user.logged_in`)";
        login_per_ip: u32 = RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE, Number::new(30, 0, NO_MAX), "login attempts per client address; `0` turns it off";
        login_per_account: u32 = RATE_LIMIT_LOGIN_PER_ACCOUNT_PER_MINUTE, Number::new(10, 0, NO_MAX), "login attempts per email; `0` turns it off";
        register_per_ip: u32 = RATE_LIMIT_REGISTER_PER_IP_PER_HOUR, Number::new(20, 0, NO_MAX), "registrations per client address; `0` turns it off";
        register_per_account: u32 = RATE_LIMIT_REGISTER_PER_ACCOUNT_PER_HOUR, Number::new(5, 0, NO_MAX), "registrations per email; `0` turns it off";
        resend_per_ip: u32 = RATE_LIMIT_RESEND_PER_IP_PER_HOUR, Number::new(20, 0, NO_MAX), "resend-verification requests per client address; `0` turns it off";
        resend_per_account: u32 = RATE_LIMIT_RESEND_PER_ACCOUNT_PER_HOUR, Number::new(5, 0, NO_MAX), "resend-verification requests per email; `0` turns it off";
        rate_limit_max_keys: usize = RATE_LIMIT_MAX_KEYS, Number::new(100_000, 1, NO_MAX), "most addresses and accounts the in-memory limiter tracks at once";
        lockout_threshold: u32 = LOGIN_LOCKOUT_THRESHOLD, Number::new(10, 0, NO_MAX), "consecutive failed logins that lock an account; `0` turns the lockout off";
        lockout_duration: TimeDelta = LOGIN_LOCKOUT_SECONDS, Span::new(900, 1, 86_400, Unit::Seconds), "how long a lock lasts (a day at most, so no lock is effectively permanent)";
        known_address_retention: Duration = LOGIN_KNOWN_ADDRESS_DAYS, Span::new(30, 0, u32::MAX as u64, Unit::Days),
            "for this long after a successful login, its client address is exempt from the account's lockout and per-account login limit; `0` turns the exemption off";
    }
}

/// `10.0.0.0/8, 192.168.1.1`: CIDRs, or single addresses meaning a /32 or /128.
fn proxies(list: &str) -> Result<Vec<ipnet::IpNet>, &'static str> {
    let cidr = |text: &str| {
        let address = || {
            text.parse::<std::net::IpAddr>()
                .ok()
                .map(ipnet::IpNet::from)
        };
        text.parse().ok().or_else(address)
    };
    let entries = list.split(',').map(str::trim).filter(|e| !e.is_empty());
    entries
        .map(cidr)
        .collect::<Option<Vec<_>>>()
        .ok_or("must be a comma-separated list of CIDRs or addresses")
}

/// The issuer's whole configuration, built once at start and passed down in `AppState`.
#[derive(Debug, Clone)]
pub struct IssuerConfig {
    pub common: CommonConfig,
    /// As read, but `DATABASE_URL` trimmed as other text is.
    pub settings: IssuerSettings,
    /// Checked as the password hasher builds it.
    pub hash_cost: HashCost,
    /// `ARGON2_MAX_CONCURRENT`, unset: the number of cores.
    pub hash_max_concurrent: usize,
    pub rate_limits: Limits,
}

impl IssuerConfig {
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(lookup);
        let common = CommonConfig::from_env(&env, env!("CARGO_PKG_VERSION"))?;
        let mut s = IssuerSettings::read(&env)?;
        s.database_url = SecretString::from(s.database_url.expose_secret().trim());
        crate::db::tls::postgres(
            s.database_url.expose_secret(),
            s.database_ca_file.as_deref(),
        )?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(IssuerConfig {
            common,
            hash_cost: checked_hash_cost(HashCost {
                memory_kib: s.argon2_memory_kib,
                iterations: s.argon2_iterations,
                parallelism: s.argon2_parallelism,
            })?,
            hash_max_concurrent: s.argon2_max_concurrent.unwrap_or(cores.min(4096)),
            rate_limits: Limits {
                login_per_ip: Rate::per_minute(s.login_per_ip),
                login_per_account: Rate::per_minute(s.login_per_account),
                register_per_ip: Rate::per_hour(s.register_per_ip),
                register_per_account: Rate::per_hour(s.register_per_account),
                resend_per_ip: Rate::per_hour(s.resend_per_ip),
                resend_per_account: Rate::per_hour(s.resend_per_account),
                max_keys: s.rate_limit_max_keys,
            },
            settings: s,
        })
    }

    /// The parsed connection settings and their TLS; `from_lookup` has already checked them.
    pub fn postgres(&self) -> Result<crate::db::Postgres, ConfigError> {
        let url = self.settings.database_url.expose_secret();
        crate::db::tls::postgres(url, self.settings.database_ca_file.as_deref())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn load(extra: &[(&str, &str)]) -> Result<IssuerConfig, ConfigError> {
        let key = ("JWT_SECRET_KEY", "0123456789abcdef0123456789abcdef");
        let vars: Vec<(&str, &str)> = [key].iter().chain(extra).copied().collect();
        let lookup = |name: &str| {
            vars.iter()
                .rev()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        };
        IssuerConfig::from_lookup(&lookup)
    }

    #[test]
    fn defaults_reach_the_configuration_and_zero_turns_a_limit_off() -> Result<(), ConfigError> {
        let config = load(&[])?;
        let (limits, settings) = (config.rate_limits, &config.settings);
        assert_eq!(limits.login_per_ip, Rate::per_minute(30));
        assert_eq!(limits.login_per_account, Rate::per_minute(10));
        assert_eq!(limits.register_per_ip, Rate::per_hour(20));
        assert_eq!(limits.register_per_account, Rate::per_hour(5));
        assert_eq!(limits.resend_per_ip, Rate::per_hour(20));
        assert_eq!(limits.resend_per_account, Rate::per_hour(5));
        assert_eq!((limits.max_keys, settings.lockout_threshold), (100_000, 10));
        assert_eq!(settings.lockout_duration, TimeDelta::seconds(900));
        let days = |n: u64| Duration::from_secs(n * 86_400);
        assert_eq!(settings.known_address_retention, days(30));
        assert_eq!(settings.outbox_retention, days(7));
        assert_eq!(settings.password_reset_token_ttl, TimeDelta::minutes(60));
        let off = load(&[
            (RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE, "0"),
            (LOGIN_LOCKOUT_THRESHOLD, "0"),
            (LOGIN_KNOWN_ADDRESS_DAYS, "0"),
        ])?;
        assert_eq!(off.rate_limits.login_per_ip.count, 0);
        assert_eq!(off.settings.lockout_threshold, 0);
        assert!(off.settings.known_address_retention.is_zero());
        Ok(())
    }

    #[test]
    fn each_value_loads_up_to_its_bound() -> Result<(), ConfigError> {
        let widest = load(&[
            (REFRESH_REUSE_GRACE_SECONDS, "3600"),
            (EMAIL_VERIFICATION_TOKEN_EXPIRE_HOURS, "8760"),
            (PASSWORD_RESET_TOKEN_EXPIRE_MINUTES, "1440"),
            (OUTBOX_RETENTION_HOURS, "8760"),
            (LOGIN_LOCKOUT_SECONDS, "86400"),
            (DATABASE_TIMEOUT_SECONDS, "300"),
            (OUTBOX_POLL_INTERVAL_MS, "3600000"),
            (NATS_DUPLICATE_WINDOW_SECONDS, "86400"),
            (ARGON2_MAX_CONCURRENT, "4096"),
            (ARGON2_MAX_QUEUED, "0"),
            (ARGON2_MEMORY_KIB, "16"),
            (ARGON2_PARALLELISM, "2"),
            (TRUSTED_PROXIES, "10.0.0.0/8, 192.168.1.1,"),
        ])?;
        let (settings, days) = (&widest.settings, |n: u64| Duration::from_secs(n * 86_400));
        assert_eq!(settings.refresh_reuse_grace, TimeDelta::hours(1));
        assert_eq!(settings.verification_token_ttl, TimeDelta::days(365));
        assert_eq!(settings.password_reset_token_ttl, TimeDelta::days(1));
        assert_eq!(settings.outbox_retention, days(365));
        assert_eq!(settings.lockout_duration, TimeDelta::days(1));
        assert_eq!(settings.database_timeout, Duration::from_secs(300));
        assert_eq!(settings.outbox_poll_interval, Duration::from_secs(3600));
        assert_eq!(widest.hash_max_concurrent, 4096);
        assert_eq!(settings.argon2_max_queued, 0);
        let proxies: Vec<String> = (settings.trusted_proxies.iter())
            .map(|n| n.to_string())
            .collect();
        assert_eq!(proxies, ["10.0.0.0/8", "192.168.1.1/32"]);
        Ok(())
    }

    #[test]
    fn each_bad_value_is_refused_naming_the_variable_to_change_and_not_the_value() {
        // 5124095576030432 hours is the first count whose seconds overflow a u64.
        let cases: &[&[(&str, &str)]] = &[
            &[(RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE, "-1")],
            &[(RATE_LIMIT_LOGIN_PER_ACCOUNT_PER_MINUTE, "ten")],
            &[(RATE_LIMIT_REGISTER_PER_IP_PER_HOUR, "1.5")],
            &[(RATE_LIMIT_REGISTER_PER_ACCOUNT_PER_HOUR, "99999999999")],
            &[(RATE_LIMIT_RESEND_PER_IP_PER_HOUR, "2x")],
            &[(RATE_LIMIT_RESEND_PER_ACCOUNT_PER_HOUR, "x")],
            &[(RATE_LIMIT_MAX_KEYS, "0")],
            &[(LOGIN_LOCKOUT_THRESHOLD, "many")],
            &[(LOGIN_KNOWN_ADDRESS_DAYS, "-1")],
            &[(LOGIN_KNOWN_ADDRESS_DAYS, "99999999999")],
            &[(ARGON2_PARALLELISM, "2"), (ARGON2_MEMORY_KIB, "8")],
            &[(ARGON2_PARALLELISM, "4294967295")],
            &[(ARGON2_PARALLELISM, "16777216")],
            &[(ARGON2_MAX_CONCURRENT, "0")],
            &[(ARGON2_MAX_CONCURRENT, "4097")],
            &[(ARGON2_MAX_QUEUED, "1000001")],
            &[(ARGON2_MAX_QUEUED, "18446744073709551615")],
            &[(REFRESH_REUSE_GRACE_SECONDS, "3601")],
            &[(REFRESH_REUSE_GRACE_SECONDS, "18446744073709551615")],
            &[(EMAIL_VERIFICATION_TOKEN_EXPIRE_HOURS, "0")],
            &[(EMAIL_VERIFICATION_TOKEN_EXPIRE_HOURS, "5124095576030432")],
            &[(PASSWORD_RESET_TOKEN_EXPIRE_MINUTES, "1441")],
            &[(OUTBOX_RETENTION_HOURS, "8761")],
            &[(OUTBOX_RETENTION_HOURS, "5124095576030432")],
            &[(LOGIN_LOCKOUT_SECONDS, "0")],
            &[(LOGIN_LOCKOUT_SECONDS, "86401")],
            &[(DATABASE_TIMEOUT_SECONDS, "301")],
            &[(DATABASE_POOL_SIZE, "0")],
            &[(OUTBOX_POLL_INTERVAL_MS, "9")],
            &[(OUTBOX_POLL_INTERVAL_MS, "3600001")],
            &[(NATS_DUPLICATE_WINDOW_SECONDS, "86401")],
            &[(TRUSTED_PROXIES, "10.0.0.0/33")],
            &[(TRUSTED_PROXIES, "proxy.local")],
            &[(PASSWORD_POLICY, "strong")],
            &[(ISSUER_ADDR, "localhost")],
            &[(DATABASE_URL, "mysql://app:hunter2@db/auth")],
            &[(
                DATABASE_URL,
                "postgres://app:hunter2@db/auth?sslmode=verify-full",
            )],
        ];
        for vars in cases {
            let Some(&(name, value)) = vars.last() else {
                continue;
            };
            let err = load(vars).err();
            assert_eq!(
                err.as_ref().map(|e| e.variable.as_str()),
                Some(name),
                "{vars:?}"
            );
            let message = err.map(|e| e.to_string()).unwrap_or_default();
            assert!(value.len() < 5 || !message.contains(value), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
    }
}
