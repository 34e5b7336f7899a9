//! In-process attempt limits for login, registration, resend-verification and password-reset
//! requests, per client address and per account, checked before any hashing or database work.
//!
//! Each key holds one number: its GCRA "theoretical arrival time" (TAT). A limit of `n` per
//! `period` admits a burst of `n`, then one more every `period / n`. A key whose TAT has passed
//! is as good as absent, so forgetting it changes nothing.
//!
//! Memory is bounded: the keys live in shards of at most `max_keys / SHARDS` entries each. A
//! full shard first drops its expired keys; if that frees less than a quarter of it, it also
//! drops the keys closest to expiry. Each such sweep is linear in the shard but frees a quarter
//! of it, so a flood of distinct keys costs a constant amount per request on average, and the
//! keys evicted under a flood are those with the least left to count.
//!
//! The limits are per process: behind several replicas a client gets up to `n` per replica.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const SHARDS: usize = 16;

/// The endpoint an attempt is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Login,
    Register,
    ResendVerification,
    /// Counted apart from resend-verification, at the resend-verification rates.
    PasswordReset,
}

/// `count` attempts per `period`; a count of 0 turns the limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub period: Duration,
}

impl Rate {
    pub fn per_minute(count: u32) -> Rate {
        Rate {
            count,
            period: Duration::from_secs(60),
        }
    }

    pub fn per_hour(count: u32) -> Rate {
        Rate {
            count,
            period: Duration::from_secs(3600),
        }
    }

    fn is_off(self) -> bool {
        self.count == 0 || self.period.is_zero()
    }

    /// The GCRA emission interval: the time one attempt occupies.
    fn interval_nanos(self) -> u64 {
        nanos(self.period) / u64::from(self.count.max(1))
    }
}

/// The configured rates, per client address and per account, for each action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub login_per_ip: Rate,
    pub login_per_account: Rate,
    pub register_per_ip: Rate,
    pub register_per_account: Rate,
    pub resend_per_ip: Rate,
    pub resend_per_account: Rate,
    /// Keys held at most, over all actions.
    pub max_keys: usize,
}

impl Limits {
    fn rate(&self, action: Action, subject: &Subject) -> Rate {
        match (action, subject) {
            (Action::Login, Subject::Ip(_)) => self.login_per_ip,
            (Action::Login, Subject::Account(_)) => self.login_per_account,
            (Action::Register, Subject::Ip(_)) => self.register_per_ip,
            (Action::Register, Subject::Account(_)) => self.register_per_account,
            (Action::ResendVerification, Subject::Ip(_)) => self.resend_per_ip,
            (Action::ResendVerification, Subject::Account(_)) => self.resend_per_account,
            (Action::PasswordReset, Subject::Ip(_)) => self.resend_per_ip,
            (Action::PasswordReset, Subject::Account(_)) => self.resend_per_account,
        }
    }
}

/// Who an attempt is counted against. Accounts are held as a digest of the normalised email,
/// so a key is small whatever the client sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Subject {
    Ip(IpAddr),
    Account([u8; 16]),
}

/// The part of a client address that stands for one client: IPv4 addresses count one by one,
/// IPv6 ones by their /64 (host bits zeroed), which one host or subscriber usually holds whole.
/// IPv4-mapped IPv6 counts as the IPv4 address.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !(u128::from(u64::MAX));
            IpAddr::V6(prefix.into())
        }
    }
}

impl Subject {
    fn ip(ip: IpAddr) -> Subject {
        Subject::Ip(address_key(ip))
    }

    /// The stored form `Email::parse` gives, so every spelling of one mailbox (`exämple.de`,
    /// `xn--exmple-cua.de`, NFD) counts under one key; emails the parser refuses are still
    /// counted, trimmed and lower-cased.
    fn account(email: &str) -> Subject {
        let normalised = crate::auth::Email::parse(email)
            .map(|email| email.as_str().to_owned())
            .unwrap_or_else(|_| email.trim().to_lowercase());
        let digest = ring::digest::digest(&ring::digest::SHA256, normalised.as_bytes());
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest.as_ref()[..16]);
        Subject::Account(key)
    }
}

type Key = (Action, Subject);

/// Refused: try again after this long (at least a second, in whole seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after_secs: u64,
}

pub struct RateLimiter {
    limits: Limits,
    epoch: Instant,
    hasher: RandomState,
    shards: Vec<Mutex<Shard>>,
}

impl RateLimiter {
    pub fn new(limits: Limits) -> RateLimiter {
        let per_shard = limits.max_keys.div_ceil(SHARDS).max(1);
        RateLimiter {
            limits,
            epoch: Instant::now(),
            hasher: RandomState::new(),
            shards: (0..SHARDS)
                .map(|_| Mutex::new(Shard::new(per_shard)))
                .collect(),
        }
    }

    /// Counts one attempt against the client address, then against the account. An attempt
    /// refused by the address limit is not counted against the account.
    pub fn check(&self, action: Action, ip: IpAddr, email: &str) -> Result<(), Limited> {
        self.check_at(action, ip, email, Instant::now())
    }

    pub fn check_at(
        &self,
        action: Action,
        ip: IpAddr,
        email: &str,
        now: Instant,
    ) -> Result<(), Limited> {
        self.check_address_at(action, ip, now)?;
        self.check_account_at(action, email, now)
    }

    /// The first half of [`check`](Self::check): counts one attempt against the client address.
    pub fn check_address(&self, action: Action, ip: IpAddr) -> Result<(), Limited> {
        self.check_address_at(action, ip, Instant::now())
    }

    /// The second half of [`check`](Self::check), for a caller that may waive a refusal:
    /// counts one attempt against the account; a refused attempt is not counted.
    pub fn check_account(&self, action: Action, email: &str) -> Result<(), Limited> {
        self.check_account_at(action, email, Instant::now())
    }

    fn check_address_at(&self, action: Action, ip: IpAddr, now: Instant) -> Result<(), Limited> {
        self.attempt((action, Subject::ip(ip)), now)
    }

    fn check_account_at(&self, action: Action, email: &str, now: Instant) -> Result<(), Limited> {
        self.attempt((action, Subject::account(email)), now)
    }

    /// Keys held now, over all shards.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.lock().map_or(0, |s| s.map.len()))
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[cfg(test)]
    fn sweeps(&self) -> u64 {
        self.shards
            .iter()
            .map(|shard| shard.lock().map_or(0, |s| s.sweeps))
            .sum()
    }

    fn attempt(&self, key: Key, now: Instant) -> Result<(), Limited> {
        let rate = self.limits.rate(key.0, &key.1);
        if rate.is_off() {
            return Ok(());
        }
        let now = nanos(now.saturating_duration_since(self.epoch));
        let interval = rate.interval_nanos();
        // A burst of `count` fits: the TAT may run this far ahead of now.
        let tolerance = nanos(rate.period).saturating_sub(interval);
        let index = usize::try_from(self.hasher.hash_one(key) % SHARDS as u64).unwrap_or(0);
        let Some(shard) = self.shards.get(index) else {
            return Ok(());
        };
        // A poisoned lock only means another request panicked mid-update of plain numbers.
        let mut shard = shard.lock().unwrap_or_else(|poison| poison.into_inner());
        let tat = shard.map.get(&key).copied().unwrap_or(now).max(now);
        let ahead = tat - now;
        if ahead > tolerance {
            let wait = ahead - tolerance;
            return Err(Limited {
                retry_after_secs: wait.div_ceil(1_000_000_000).max(1),
            });
        }
        shard.insert(key, tat.saturating_add(interval), now);
        Ok(())
    }
}

struct Shard {
    map: HashMap<Key, u64>,
    capacity: usize,
    /// Sweeps so far (each linear in the shard), for the tests of their amortised cost.
    sweeps: u64,
}

impl Shard {
    fn new(capacity: usize) -> Shard {
        Shard {
            map: HashMap::new(),
            capacity,
            sweeps: 0,
        }
    }

    fn insert(&mut self, key: Key, tat: u64, now: u64) {
        if self.map.len() >= self.capacity && !self.map.contains_key(&key) {
            self.make_room(now);
        }
        self.map.insert(key, tat);
    }

    /// Drops expired keys; if fewer than a quarter go, drops those closest to expiry too,
    /// leaving the shard at most three-quarters full.
    fn make_room(&mut self, now: u64) {
        self.sweeps += 1;
        self.map.retain(|_, tat| *tat > now);
        let keep = self.capacity - self.capacity.div_ceil(4);
        if self.map.len() <= keep {
            return;
        }
        let excess = self.map.len() - keep;
        let mut tats: Vec<u64> = self.map.values().copied().collect();
        let (_, cutoff, _) = tats.select_nth_unstable(excess - 1);
        let cutoff = *cutoff;
        let mut evicted = 0;
        self.map.retain(|_, tat| {
            if *tat <= cutoff && evicted < excess {
                evicted += 1;
                false
            } else {
                true
            }
        });
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_ip: u32, per_account: u32) -> Limits {
        Limits {
            login_per_ip: Rate::per_minute(per_ip),
            login_per_account: Rate::per_minute(per_account),
            register_per_ip: Rate::per_hour(per_ip),
            register_per_account: Rate::per_hour(per_account),
            resend_per_ip: Rate::per_hour(0),
            resend_per_account: Rate::per_hour(0),
            max_keys: 1000,
        }
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    #[test]
    fn a_burst_of_n_passes_then_the_next_waits_for_one_interval() {
        let limiter = RateLimiter::new(limits(30, 0));
        let start = Instant::now();
        for _ in 0..30 {
            assert_eq!(
                limiter.check_at(Action::Login, ip(1), "a@x.io", start),
                Ok(())
            );
        }
        // 30 a minute: one more every two seconds.
        assert_eq!(
            limiter.check_at(Action::Login, ip(1), "a@x.io", start),
            Err(Limited {
                retry_after_secs: 2
            })
        );
        let later = start + Duration::from_millis(1500);
        assert_eq!(
            limiter.check_at(Action::Login, ip(1), "a@x.io", later),
            Err(Limited {
                retry_after_secs: 1
            })
        );
        let later = start + Duration::from_secs(2);
        assert_eq!(
            limiter.check_at(Action::Login, ip(1), "a@x.io", later),
            Ok(())
        );
        assert!(limiter
            .check_at(Action::Login, ip(1), "a@x.io", later)
            .is_err());
        // A full period later the whole burst is back.
        let much_later = start + Duration::from_secs(62);
        for _ in 0..30 {
            assert_eq!(
                limiter.check_at(Action::Login, ip(1), "a@x.io", much_later),
                Ok(())
            );
        }
    }

    #[test]
    fn hourly_limits_say_how_long_in_whole_seconds() {
        let limiter = RateLimiter::new(limits(0, 5));
        let now = Instant::now();
        for _ in 0..5 {
            assert!(limiter
                .check_at(Action::Register, ip(1), "a@x.io", now)
                .is_ok());
        }
        // 5 an hour: one more every 12 minutes.
        assert_eq!(
            limiter.check_at(Action::Register, ip(1), "a@x.io", now),
            Err(Limited {
                retry_after_secs: 720
            })
        );
    }

    #[test]
    fn addresses_accounts_and_actions_count_apart() {
        let limiter = RateLimiter::new(limits(2, 3));
        let now = Instant::now();
        assert!(limiter
            .check_at(Action::Login, ip(1), "a@x.io", now)
            .is_ok());
        assert!(limiter
            .check_at(Action::Login, ip(1), "b@x.io", now)
            .is_ok());
        // The address is spent; another address is not.
        assert!(limiter
            .check_at(Action::Login, ip(1), "c@x.io", now)
            .is_err());
        assert!(limiter
            .check_at(Action::Login, ip(2), "a@x.io", now)
            .is_ok());
        // a@x.io has had two; a third from yet another address, then it is spent.
        assert!(limiter
            .check_at(Action::Login, ip(3), "a@x.io", now)
            .is_ok());
        assert!(limiter
            .check_at(Action::Login, ip(4), "a@x.io", now)
            .is_err());
        // Case and surrounding blanks do not make another account.
        assert!(limiter
            .check_at(Action::Login, ip(5), "  A@X.io ", now)
            .is_err());
        // Registration keeps its own count.
        assert!(limiter
            .check_at(Action::Register, ip(1), "a@x.io", now)
            .is_ok());
    }

    #[test]
    fn an_ipv6_slash_64_counts_as_one_address() {
        let limiter = RateLimiter::new(limits(2, 0));
        let now = Instant::now();
        let v6 = |text: &str| text.parse::<IpAddr>().unwrap();
        assert!(limiter
            .check_at(Action::Login, v6("2001:db8:1:2::1"), "a@x.io", now)
            .is_ok());
        assert!(limiter
            .check_at(Action::Login, v6("2001:db8:1:2:ffff::9"), "a@x.io", now)
            .is_ok());
        assert!(limiter
            .check_at(Action::Login, v6("2001:db8:1:2:abcd::"), "a@x.io", now)
            .is_err());
        assert!(limiter
            .check_at(Action::Login, v6("2001:db8:1:3::1"), "a@x.io", now)
            .is_ok());
        // An IPv4-mapped address is the IPv4 address.
        assert!(limiter
            .check_at(Action::Login, v6("192.0.2.7"), "a@x.io", now)
            .is_ok());
        assert!(limiter
            .check_at(Action::Login, v6("::ffff:192.0.2.7"), "a@x.io", now)
            .is_ok());
        assert!(limiter
            .check_at(Action::Login, v6("192.0.2.7"), "a@x.io", now)
            .is_err());
    }

    #[test]
    fn the_address_key_is_the_ipv4_address_or_the_ipv6_slash_64() {
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        assert_eq!(address_key(ip("192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(address_key(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(
            address_key(ip("2001:db8:1:2:abcd::9")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(address_key(ip("2001:db8:1:2::")), ip("2001:db8:1:2::"));
    }

    #[test]
    fn the_halves_of_a_check_count_apart() {
        let limiter = RateLimiter::new(limits(3, 1));
        let now = Instant::now();
        assert!(limiter.check_address_at(Action::Login, ip(1), now).is_ok());
        assert!(limiter
            .check_account_at(Action::Login, "a@x.io", now)
            .is_ok());
        // The account is spent after one; the address keeps its own count of three.
        assert!(limiter.check_address_at(Action::Login, ip(1), now).is_ok());
        assert!(limiter
            .check_account_at(Action::Login, "a@x.io", now)
            .is_err());
        assert!(limiter.check_address_at(Action::Login, ip(1), now).is_ok());
        assert!(limiter.check_address_at(Action::Login, ip(1), now).is_err());
        // And the whole check agrees.
        assert!(limiter
            .check_at(Action::Login, ip(2), "a@x.io", now)
            .is_err());
    }

    #[test]
    fn a_refusal_by_address_is_not_counted_against_the_account() {
        let limiter = RateLimiter::new(limits(1, 1));
        let now = Instant::now();
        assert!(limiter
            .check_at(Action::Login, ip(1), "a@x.io", now)
            .is_ok());
        assert!(limiter
            .check_at(Action::Login, ip(1), "b@x.io", now)
            .is_err());
        assert!(limiter
            .check_at(Action::Login, ip(2), "b@x.io", now)
            .is_ok());
    }

    #[test]
    fn a_zero_limit_is_off_and_holds_no_keys() {
        let limiter = RateLimiter::new(limits(0, 0));
        let now = Instant::now();
        for n in 0..1000 {
            assert!(limiter
                .check_at(Action::Login, ip(1), &format!("{n}@x.io"), now)
                .is_ok());
        }
        assert!(limiter.is_empty());
    }

    #[test]
    fn keys_never_exceed_the_bound() {
        let mut config = limits(0, 1);
        config.max_keys = 160;
        let limiter = RateLimiter::new(config);
        let start = Instant::now();
        for n in 0..10_000u32 {
            let now = start + Duration::from_millis(u64::from(n));
            let _ = limiter.check_at(Action::Login, ip(1), &format!("{n}@x.io"), now);
            assert!(limiter.len() <= 160, "{} keys", limiter.len());
        }
        // Keys last a minute here, so most of the flood is live when the shards fill up.
        let later = start + Duration::from_secs(120);
        for n in 0..100u32 {
            let _ = limiter.check_at(Action::Login, ip(1), &format!("late{n}@x.io"), later);
        }
        assert!(limiter.len() <= 160);
    }

    #[test]
    fn eviction_takes_expired_keys_then_those_nearest_expiry() {
        let mut config = limits(0, 1);
        config.max_keys = SHARDS * 4;
        let limiter = RateLimiter::new(config);
        let start = Instant::now();
        // Old keys, all expired a minute later.
        for n in 0..SHARDS * 8 {
            let _ = limiter.check_at(Action::Login, ip(1), &format!("old{n}@x.io"), start);
        }
        let now = start + Duration::from_secs(61);
        assert!(limiter
            .check_at(Action::Login, ip(1), "victim@x.io", now)
            .is_ok());
        // Newer keys that expire a second before the victim's: whenever the victim's shard
        // is full, they are the ones evicted, so the victim stays spent.
        let earlier = now - Duration::from_secs(1);
        for n in 0..SHARDS * 8 {
            let _ = limiter.check_at(Action::Login, ip(1), &format!("new{n}@x.io"), earlier);
        }
        assert!(limiter.len() <= SHARDS * 4);
        assert!(limiter
            .check_at(Action::Login, ip(1), "victim@x.io", now)
            .is_err());
    }

    #[test]
    fn a_flood_of_distinct_keys_stays_cheap_per_attempt() {
        let mut config = limits(0, 10);
        config.max_keys = 100_000;
        let limiter = RateLimiter::new(config);
        let start = Instant::now();
        // Fill to the bound with live keys, then count the sweeps a further flood forces.
        for n in 0..100_000u32 {
            let _ = limiter.check_at(Action::Login, ip(1), &n.to_string(), start);
        }
        let before = limiter.sweeps();
        let flood = 100_000u32;
        for n in 0..flood {
            let _ = limiter.check_at(Action::Login, ip(1), &format!("f{n}"), start);
        }
        assert!(limiter.len() <= 100_000);
        // Every key is live, so each sweep evicts a quarter of its shard: one linear sweep per
        // 1 500 or so new keys, not one per attempt.
        let per_shard = 100_000 / SHARDS as u64;
        let sweeps = limiter.sweeps() - before;
        assert!(
            sweeps <= u64::from(flood) / (per_shard / 4) + SHARDS as u64,
            "{sweeps} sweeps for {flood} new keys"
        );
    }
}
