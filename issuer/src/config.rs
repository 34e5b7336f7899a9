//! The issuer's settings (one table: [`IssuerSettings`], beyond the shared
//! [`CommonConfig::TABLES`]) and the configuration they make with the shared ones:
//! [`IssuerConfig`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chrono::TimeDelta;
use common::config::CommonConfig;
use common::settings::{
    flag, listen_address, number, optional, secret, span, text, ConfigError, Env, Kind, DAYS,
    HOURS, MILLIS, MINUTES, NO_MAX, SECONDS,
};
use secrecy::{ExposeSecret, SecretString};

use crate::auth::password::{HashCost, PasswordPolicy};
use crate::client_ip::TrustedProxies;
use crate::rate_limit::{Limits, Rate};

common::settings! {
    /// Every variable of the issuer's own, parsed and bounded.
    #[derive(Debug, Clone)]
    pub struct IssuerSettings;
    "service" {
        addr: SocketAddr = ISSUER_ADDR, listen_address("0.0.0.0:8000"), "issuer listen address";
    }
    "database" {
        database_url: SecretString = DATABASE_URL, Kind { default: Some("postgres://postgres@localhost:5432/auth"), ..secret("a `postgres://` URL (or libpq `key=value` form)") },
            "created if it does not exist; TLS as libpq's `sslmode` (below)";
        database_ca_file: Option<PathBuf> = DATABASE_CA_FILE, optional("a PEM file of one or more CA certificates"),
            "the CA Postgres's certificate must chain to, for `sslmode=verify-ca`/`verify-full` (or `require`) when `DATABASE_URL` has no `sslrootcert=`; read at start";
        database_pool_size: usize = DATABASE_POOL_SIZE, number("20", 1, NO_MAX),
            "connections in the pool; an issuer opens one more for the outbox relay's `LISTEN`, and one at start to migrate ([connections](OPERATIONS.md#postgres-connections))";
        database_timeout: Duration = DATABASE_TIMEOUT_SECONDS, span("5", 1, 300, SECONDS),
            "bound on each wait of a running issuer: getting a pool connection, and each statement (server-side `statement_timeout`; a connection on which Postgres stays silent for one more second is dropped). Past it, 503 `SERVICE_UNAVAILABLE`. At start it bounds the connect only (creating and migrating the database may take longer) ([start-up](OPERATIONS.md#start-up-and-shutdown))";
    }
    "passwords" {
        password_policy: PasswordPolicy = PASSWORD_POLICY, text("seed", "`seed`, `nist`"),
            "`seed`: 8–128 chars with an uppercase letter, an ASCII digit (`0`–`9`; `½`, `Ⅻ` or `٣` are not digits) and a symbol (any character that is neither a letter nor `0`–`9`); `nist`: 15–128 chars, no composition rules. Length counts code points. Both refuse common passwords";
        argon2_memory_kib: u32 = ARGON2_MEMORY_KIB, number("19456", 8, NO_MAX), "argon2id memory per hash, at least 8 × `ARGON2_PARALLELISM` (OWASP's recommendation)";
        argon2_iterations: u32 = ARGON2_ITERATIONS, number("2", 1, NO_MAX), "argon2id passes";
        argon2_parallelism: u32 = ARGON2_PARALLELISM, number("1", 1, 16_777_215), "argon2id lanes";
        argon2_max_concurrent: Option<usize> = ARGON2_MAX_CONCURRENT, number("", 1, 4096), "hashes running at once, each holding `ARGON2_MEMORY_KIB` (unset: the number of cores)";
        argon2_max_queued: usize = ARGON2_MAX_QUEUED, number("64", 0, 1_000_000), "hashes waiting; past that, 503 `SERVICE_UNAVAILABLE` with `Retry-After`";
    }
    "sessions" {
        refresh_rotation: bool = REFRESH_TOKEN_ROTATION, flag("false"), "each refresh returns a new refresh token; reuse of an old one revokes the session";
        refresh_reuse_grace: TimeDelta = REFRESH_REUSE_GRACE_SECONDS, span("0", 0, 3600, SECONDS),
            "with rotation: how long the just-replaced token still works ([DESIGN.md](DESIGN.md#sessions-and-tokens))";
        require_verified_email: bool = REQUIRE_VERIFIED_EMAIL, flag("false"), "login answers 403 `EMAIL_NOT_VERIFIED` until the email is verified";
        verification_token_ttl: TimeDelta = EMAIL_VERIFICATION_TOKEN_EXPIRE_HOURS, span("24", 1, 8760, HOURS), "verification-token lifetime";
        password_reset_token_ttl: TimeDelta = PASSWORD_RESET_TOKEN_EXPIRE_MINUTES, span("60", 1, 1440, MINUTES),
            "password-reset-token lifetime; reset requests are limited at the resend-verification rates (`RATE_LIMIT_RESEND_PER_*`), counted apart";
    }
    "events" {
        nats_duplicate_window: Duration = NATS_DUPLICATE_WINDOW_SECONDS, span("120", 1, 86_400, SECONDS),
            "issuer: the stream's de-duplication window on `Nats-Msg-Id` (NATS refuses a window longer than the stream keeps events: at least a day)";
        outbox_batch_size: i64 = OUTBOX_BATCH_SIZE, number("500", 1, NO_MAX), "issuer: events published per relay round";
        outbox_poll_interval: Duration = OUTBOX_POLL_INTERVAL_MS, span("1000", 10, 3_600_000, MILLIS),
            "issuer: relay poll when no `NOTIFY` wakes it (fallback; also retries while NATS is down)";
        outbox_retention: Duration = OUTBOX_RETENTION_HOURS, span("168", 1, 8760, HOURS),
            "issuer: published outbox rows are deleted after this long (hourly prune); unpublished rows are never deleted";
    }
    "brute-force" {
        trusted_proxies: TrustedProxies = TRUSTED_PROXIES, text("", "comma-separated CIDRs or addresses"),
            "peers whose `X-Forwarded-For` is believed for the client address (rate limits, `user.logged_in`)";
        login_per_ip: u32 = RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE, number("30", 0, NO_MAX), "login attempts per client address; `0` turns it off";
        login_per_account: u32 = RATE_LIMIT_LOGIN_PER_ACCOUNT_PER_MINUTE, number("10", 0, NO_MAX), "login attempts per email; `0` turns it off";
        register_per_ip: u32 = RATE_LIMIT_REGISTER_PER_IP_PER_HOUR, number("20", 0, NO_MAX), "registrations per client address; `0` turns it off";
        register_per_account: u32 = RATE_LIMIT_REGISTER_PER_ACCOUNT_PER_HOUR, number("5", 0, NO_MAX), "registrations per email; `0` turns it off";
        resend_per_ip: u32 = RATE_LIMIT_RESEND_PER_IP_PER_HOUR, number("20", 0, NO_MAX), "resend-verification requests per client address; `0` turns it off";
        resend_per_account: u32 = RATE_LIMIT_RESEND_PER_ACCOUNT_PER_HOUR, number("5", 0, NO_MAX), "resend-verification requests per email; `0` turns it off";
        rate_limit_max_keys: usize = RATE_LIMIT_MAX_KEYS, number("100000", 1, NO_MAX), "most addresses and accounts the in-memory limiter tracks at once";
        lockout_threshold: u32 = LOGIN_LOCKOUT_THRESHOLD, number("10", 0, NO_MAX), "consecutive failed logins that lock an account; `0` turns the lockout off";
        lockout_duration: TimeDelta = LOGIN_LOCKOUT_SECONDS, span("900", 1, 86_400, SECONDS), "how long a lock lasts (a day at most, so no lock is effectively permanent)";
        known_address_retention: Duration = LOGIN_KNOWN_ADDRESS_DAYS, span("30", 0, u32::MAX as u64, DAYS),
            "for this long after a successful login, its client address is exempt from the account's lockout and per-account login limit; `0` turns the exemption off";
    }
}

/// The issuer's whole configuration, built once at start and passed down in `AppState`.
#[derive(Debug, Clone)]
pub struct IssuerConfig {
    pub common: CommonConfig,
    pub settings: IssuerSettings,
    /// `DATABASE_URL` and `DATABASE_CA_FILE`, checked, with their TLS set up once.
    pub postgres: crate::db::Postgres,
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
        let s = IssuerSettings::read(&env)?;
        let url = s.database_url.expose_secret().trim();
        let postgres = crate::db::tls::postgres(url, s.database_ca_file.as_deref())?;
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
            postgres,
            settings: s,
        })
    }
}

/// `cost` if argon2 accepts it as the password hasher will build it, else an error naming
/// `ARGON2_MEMORY_KIB` (argon2 wants at least 8 KiB of memory per lane; the table bounds the
/// rest).
fn checked_hash_cost(cost: HashCost) -> Result<HashCost, ConfigError> {
    let minimum = 8 * u64::from(cost.parallelism);
    let reason = match argon2::Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
    {
        Ok(_) => return Ok(cost),
        Err(argon2::Error::MemoryTooLittle) => {
            format!(
                "must be at least 8 x ARGON2_PARALLELISM ({minimum} KiB for {} lanes)",
                cost.parallelism
            )
        }
        Err(err) => format!(
            "with ARGON2_ITERATIONS and ARGON2_PARALLELISM is not a usable argon2id cost: {err}"
        ),
    };
    Err(ConfigError::new(ARGON2_MEMORY_KIB, reason))
}

/// What is wrong with the Postgres settings, on the variable to fix.
impl From<crate::db::tls::PostgresError> for ConfigError {
    fn from(err: crate::db::tls::PostgresError) -> Self {
        use crate::db::tls::PostgresError::{CaFile, Url};
        match err {
            Url(reason) => ConfigError::new(DATABASE_URL, reason),
            CaFile(reason) => ConfigError::new(DATABASE_CA_FILE, reason),
        }
    }
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
        assert_eq!(
            (limits.login_per_ip, limits.login_per_account),
            (Rate::per_minute(30), Rate::per_minute(10))
        );
        assert_eq!(
            (limits.register_per_ip, limits.register_per_account),
            (Rate::per_hour(20), Rate::per_hour(5))
        );
        assert_eq!(
            (limits.resend_per_ip, limits.resend_per_account),
            (Rate::per_hour(20), Rate::per_hour(5))
        );
        assert_eq!((limits.max_keys, settings.lockout_threshold), (100_000, 10));
        assert_eq!(settings.lockout_duration, TimeDelta::seconds(900));
        assert_eq!(
            settings.known_address_retention,
            Duration::from_secs(30 * 86_400)
        );
        assert_eq!(settings.password_reset_token_ttl, TimeDelta::minutes(60));
        let off = [
            (RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE, "0"),
            (LOGIN_LOCKOUT_THRESHOLD, "0"),
            (LOGIN_KNOWN_ADDRESS_DAYS, "0"),
        ];
        let off = load(&off)?;
        assert_eq!(
            (
                off.rate_limits.login_per_ip.count,
                off.settings.lockout_threshold
            ),
            (0, 0)
        );
        assert!(off.settings.known_address_retention.is_zero());
        Ok(())
    }

    #[test]
    fn each_value_loads_up_to_its_bound() -> Result<(), ConfigError> {
        let widest = load(&[
            (REFRESH_REUSE_GRACE_SECONDS, "3600"),
            (EMAIL_VERIFICATION_TOKEN_EXPIRE_HOURS, "8760"),
            (OUTBOX_POLL_INTERVAL_MS, "3600000"),
            (ARGON2_MAX_CONCURRENT, "4096"),
            (ARGON2_MEMORY_KIB, "16"),
            (ARGON2_PARALLELISM, "2"),
            (TRUSTED_PROXIES, "10.0.0.0/8, 192.168.1.1,"),
        ])?;
        let settings = &widest.settings;
        assert_eq!(settings.refresh_reuse_grace, TimeDelta::hours(1));
        assert_eq!(settings.verification_token_ttl, TimeDelta::days(365));
        assert_eq!(settings.outbox_poll_interval, Duration::from_secs(3600));
        assert_eq!(widest.hash_max_concurrent, 4096);
        let proxies: Vec<String> = settings
            .trusted_proxies
            .0
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(proxies, ["10.0.0.0/8", "192.168.1.1/32"]);
        Ok(())
    }

    #[test]
    fn each_bad_value_is_refused_naming_the_variable_to_change_and_not_the_value() {
        let refused = |vars: &[(&str, &str)]| {
            let Some(&(name, value)) = vars.last() else {
                return;
            };
            let err = load(vars).err();
            let variable = err.as_ref().map(|e| e.variable.as_str());
            assert_eq!(variable, Some(name), "{vars:?}");
            let message = err.map(|e| e.to_string()).unwrap_or_default();
            assert!(value.len() < 5 || !message.contains(value), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
        };
        let mut swept = 0;
        for var in IssuerSettings::VARS {
            for bad in var.kind.refused() {
                swept += 1;
                refused(&[(var.name, &bad)]);
            }
        }
        // The sweep reached every bounded row, three values or more each.
        let bounded = IssuerSettings::VARS
            .iter()
            .filter(|v| v.kind.bounds.is_some())
            .count();
        assert!(
            bounded >= 20 && swept >= 3 * bounded,
            "{bounded} rows, {swept} values"
        );
        for (name, value) in [
            (TRUSTED_PROXIES, "10.0.0.0/33"),
            (TRUSTED_PROXIES, "proxy.local"),
            (PASSWORD_POLICY, "strong"),
            (ISSUER_ADDR, "localhost"),
            (DATABASE_URL, "mysql://app:hunter2@db/auth"),
            (
                DATABASE_URL,
                "postgres://app:hunter2@db/auth?sslmode=verify-full",
            ),
        ] {
            refused(&[(name, value)]);
        }
        refused(&[(ARGON2_PARALLELISM, "2"), (ARGON2_MEMORY_KIB, "8")]);
    }
}
