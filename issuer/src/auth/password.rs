//! The password policy and argon2id hashing, bounded and off the async threads.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{Semaphore, TryAcquireError};
use tracing::Instrument;

use crate::error::IssuerError;

/// The bundled list, lower-cased, one a line: the 10 000 most common passwords of zxcvbn's
/// frequency list (MIT), then well-known ones that satisfy composition rules (`P@ssw0rd`).
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

fn common_passwords() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| COMMON_PASSWORDS.lines().collect())
}

/// PASSWORD_POLICY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordPolicy {
    /// 8 to 128 characters with an uppercase letter, an ASCII digit (0-9) and a symbol (a
    /// character that is neither a letter nor an ASCII digit).
    Seed,
    /// 15 to 128 characters, no composition rules (NIST SP 800-63B, OWASP ASVS 5).
    Nist,
}

impl common::settings::FromSetting for PasswordPolicy {
    fn from_setting(text: &str, _: &common::settings::Kind) -> Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "seed" => Ok(PasswordPolicy::Seed),
            "nist" => Ok(PasswordPolicy::Nist),
            _ => Err("must be seed or nist".to_owned()),
        }
    }
}

/// The rule a password broke; its `Display` is the envelope's `details.issue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRule {
    #[error("must be at least {0} characters long")]
    TooShort(usize),
    #[error("must be at most {0} characters long")]
    TooLong(usize),
    #[error("must contain an uppercase letter")]
    NoUppercase,
    #[error("must contain a digit")]
    NoDigit,
    #[error("must contain a character that is neither a letter nor a digit")]
    NoSymbol,
    #[error("is too common")]
    Common,
}

const MAX_LEN: usize = 128;

impl PasswordPolicy {
    /// A new password as a client sends it (registration, change, reset): byte-equal to its
    /// confirmation, then within the policy.
    pub fn check_new(self, password: &str, confirmation: &str) -> Result<(), IssuerError> {
        if password.as_bytes() != confirmation.as_bytes() {
            return Err(IssuerError::PasswordMismatch);
        }
        self.check(password).map_err(IssuerError::WeakPassword)
    }

    /// Length counts Unicode code points. Nothing is trimmed or folded.
    pub fn check(self, password: &str) -> Result<(), PasswordRule> {
        let min = match self {
            PasswordPolicy::Seed => 8,
            PasswordPolicy::Nist => 15,
        };
        let len = password.chars().count();
        if len < min {
            return Err(PasswordRule::TooShort(min));
        }
        if len > MAX_LEN {
            return Err(PasswordRule::TooLong(MAX_LEN));
        }
        if self == PasswordPolicy::Seed {
            if !password.chars().any(char::is_uppercase) {
                return Err(PasswordRule::NoUppercase);
            }
            // A digit is 0-9: `char::is_numeric` would also take '½', 'Ⅻ' or '٣'.
            if !password.chars().any(|c| c.is_ascii_digit()) {
                return Err(PasswordRule::NoDigit);
            }
            if !password.chars().any(is_symbol) {
                return Err(PasswordRule::NoSymbol);
            }
        }
        if common_passwords().contains(password.to_lowercase().as_str()) {
            return Err(PasswordRule::Common);
        }
        Ok(())
    }
}

/// Neither a letter nor a digit, in the sense the `seed` rules use: '½' is a symbol.
fn is_symbol(c: char) -> bool {
    !c.is_alphabetic() && !c.is_ascii_digit()
}

/// Argon2id cost, from configuration; the defaults are OWASP's (19 MiB, 2 passes, 1 lane).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every hashing slot and queue place is taken: answer 503 and let the client retry.
    #[error("too many password hashes in progress")]
    Busy,
    #[error("password hashing failed")]
    Failed(#[source] anyhow::Error),
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub matches: bool,
    /// The stored hash is weaker than the configured cost and should be replaced.
    pub needs_rehash: bool,
}

/// Hashes on the blocking pool, at most `running` at a time and at most `queued` more waiting;
/// each hash holds about `memory_kib` of memory.
#[derive(Clone)]
pub struct Hasher {
    inner: Arc<HasherInner>,
}

struct HasherInner {
    argon2: Argon2<'static>,
    cost: HashCost,
    /// Argon2's working memory, kept between hashes instead of allocated (and faulted in, page
    /// by page) for each one: about `memory_kib` per hash running at once, so at most `running`
    /// of them. Each hash overwrites every block it reads before reading it.
    memory: MemoryPool,
    /// Slots for hashes running on the blocking pool. A permit moves into the blocking job, so
    /// a slot stays taken until the hash ends, even when the request that asked is dropped.
    running: Arc<Semaphore>,
    /// Slots for hashes running or waiting to run; held the same way as `running`.
    admitted: Arc<Semaphore>,
    /// Verified against for unknown emails, so a miss costs what a hit costs.
    dummy_hash: String,
    /// Hashes and verifications run to completion.
    completed: AtomicU64,
}

impl Hasher {
    pub fn new(cost: HashCost, running: usize, queued: usize) -> Result<Self, anyhow::Error> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|err| anyhow::anyhow!("argon2 parameters: {err}"))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let running = running.max(1);
        let admitted = running
            .checked_add(queued)
            .filter(|n| *n <= Semaphore::MAX_PERMITS)
            .ok_or_else(|| anyhow::anyhow!("too many argon2 hashing slots"))?;
        let memory = MemoryPool::new(argon2.params().block_count());
        let dummy_hash = hash_with(&argon2, &memory, b"dummy password for unknown accounts")?;
        Ok(Hasher {
            inner: Arc::new(HasherInner {
                argon2,
                cost,
                memory,
                running: Arc::new(Semaphore::new(running)),
                admitted: Arc::new(Semaphore::new(admitted)),
                dummy_hash,
                completed: AtomicU64::new(0),
            }),
        })
    }

    /// A new PHC string for `password`.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        self.run(move |inner| {
            hash_with(&inner.argon2, &inner.memory, password.as_bytes()).map_err(HashError::Failed)
        })
        .instrument(self.span("password.hash"))
        .await
    }

    /// Checks `password` against `stored`, or against a dummy hash when there is no account,
    /// so both cases take the same time.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<Verified, HashError> {
        self.run(move |inner| {
            let known = stored.is_some();
            let phc = stored.unwrap_or_else(|| inner.dummy_hash.clone());
            let parsed = PasswordHash::new(&phc).map_err(|err| {
                HashError::Failed(anyhow::anyhow!("stored hash unreadable: {err}"))
            })?;
            let matches = verify_with(&inner.memory, password.as_bytes(), &parsed)
                .map_err(HashError::Failed)?;
            Ok(Verified {
                matches: matches && known,
                needs_rehash: known && is_weaker(&parsed, inner.cost),
            })
        })
        .instrument(self.span("password.verify"))
        .await
    }

    /// The span of one hash or verification, waiting for a slot included: its cost, never the
    /// password or the hash.
    fn span(&self, name: &'static str) -> tracing::Span {
        let cost = self.inner.cost;
        tracing::info_span!(
            "argon2",
            otel.name = name,
            argon2.memory_kib = cost.memory_kib,
            argon2.iterations = cost.iterations,
            argon2.parallelism = cost.parallelism,
        )
    }

    /// Hashes and verifications run to completion since start: one per login attempt that
    /// reached the hasher, whether or not the account exists.
    pub fn completed(&self) -> u64 {
        self.inner.completed.load(Ordering::Relaxed)
    }

    async fn run<T, F>(&self, work: F) -> Result<T, HashError>
    where
        T: Send + 'static,
        F: FnOnce(&HasherInner) -> Result<T, HashError> + Send + 'static,
    {
        let admitted = match Arc::clone(&self.inner.admitted).try_acquire_owned() {
            Ok(permit) => permit,
            Err(TryAcquireError::NoPermits | TryAcquireError::Closed) => {
                return Err(HashError::Busy)
            }
        };
        let running = Arc::clone(&self.inner.running)
            .acquire_owned()
            .await
            .map_err(|_| HashError::Busy)?;
        let inner = Arc::clone(&self.inner);
        let span = tracing::Span::current();
        // The permits go with the job: if this future is dropped (the client went away), the
        // hash still runs to its end, and its slot must stay taken until then.
        tokio::task::spawn_blocking(move || {
            let _permits = (admitted, running);
            let result = span.in_scope(|| work(&inner));
            inner.completed.fetch_add(1, Ordering::Relaxed);
            result
        })
        .instrument(tracing::Span::current())
        .await
        .map_err(|err| HashError::Failed(anyhow::anyhow!("hashing task failed: {err}")))?
    }
}

/// A PHC string for `password` under `argon2`'s parameters and a fresh random salt.
fn hash_with(
    argon2: &Argon2<'_>,
    memory: &MemoryPool,
    password: &[u8],
) -> Result<String, anyhow::Error> {
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(argon2_error)?;
    let params = argon2.params();
    let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let output = memory.with_blocks(params.block_count(), |blocks| {
        Output::init_with(output_len, |out| {
            argon2
                .hash_password_into_with_memory(password, salt_bytes, out, blocks)
                .map_err(Into::into)
        })
        .map_err(argon2_error)
    })?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(argon2_error)?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(hash.to_string())
}

/// Whether `password` hashes to `stored` under the algorithm, version and cost `stored` names
/// (an older, cheaper hash still verifies), comparing in constant time.
fn verify_with(
    memory: &MemoryPool,
    password: &[u8],
    stored: &PasswordHash<'_>,
) -> Result<bool, anyhow::Error> {
    let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else {
        return Err(anyhow::anyhow!("stored hash has no salt or no output"));
    };
    let algorithm = Algorithm::try_from(stored.algorithm).map_err(argon2_error)?;
    let version = match stored.version {
        Some(version) => Version::try_from(version).map_err(argon2_error)?,
        None => Version::default(),
    };
    let params = Params::try_from(stored).map_err(argon2_error)?;
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(argon2_error)?;
    let computed = memory.with_blocks(params.block_count(), |blocks| {
        Output::init_with(expected.len(), |out| {
            argon2
                .hash_password_into_with_memory(password, salt_bytes, out, blocks)
                .map_err(Into::into)
        })
        .map_err(argon2_error)
    })?;
    // `Output`'s equality is constant-time.
    Ok(computed == *expected)
}

fn argon2_error(err: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("argon2: {err}")
}

/// Working memory for argon2, one buffer per hash running at once, reused across hashes.
struct MemoryPool {
    /// Blocks per buffer: the configured memory cost.
    blocks: usize,
    free: Mutex<Vec<Vec<Block>>>,
}

impl MemoryPool {
    fn new(blocks: usize) -> Self {
        MemoryPool {
            blocks,
            free: Mutex::new(Vec::new()),
        }
    }

    /// Runs `work` with at least `needed` blocks: a pooled buffer when `needed` is the
    /// configured cost, returned to the pool afterwards; a buffer of its own otherwise (a
    /// stored hash made under another cost), dropped afterwards.
    fn with_blocks<T>(&self, needed: usize, work: impl FnOnce(&mut [Block]) -> T) -> T {
        if needed != self.blocks {
            return work(&mut vec![Block::default(); needed]);
        }
        let pooled = self.free.lock().ok().and_then(|mut free| free.pop());
        let mut buffer = pooled.unwrap_or_else(|| vec![Block::default(); needed]);
        let result = work(&mut buffer);
        if let Ok(mut free) = self.free.lock() {
            free.push(buffer);
        }
        result
    }
}

/// Whether a stored hash is not argon2id or is cheaper than `cost` on any axis.
fn is_weaker(hash: &PasswordHash<'_>, cost: HashCost) -> bool {
    if hash.algorithm.as_str() != "argon2id" {
        return true;
    }
    match Params::try_from(hash) {
        Ok(params) => {
            params.m_cost() < cost.memory_kib
                || params.t_cost() < cost.iterations
                || params.p_cost() < cost.parallelism
        }
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn seed_policy_names_each_rule() {
        let seed = PasswordPolicy::Seed;
        assert_eq!(seed.check("Sh0rt!"), Err(PasswordRule::TooShort(8)));
        assert_eq!(
            seed.check(&"Aa1!".repeat(33)),
            Err(PasswordRule::TooLong(128))
        );
        assert_eq!(seed.check("lowercase1!"), Err(PasswordRule::NoUppercase));
        assert_eq!(seed.check("NoDigitsHere!"), Err(PasswordRule::NoDigit));
        assert_eq!(seed.check("NoSymbols123"), Err(PasswordRule::NoSymbol));
        assert_eq!(seed.check("Correct-Horse-9"), Ok(()));
    }

    #[test]
    fn only_ascii_digits_count_as_digits() {
        for no_ascii_digit in [
            "Correct-Horse-½",
            "Correct-Horse-Ⅻ",
            "Correct-Horse-٣",
            "Correct-Horse-²",
        ] {
            assert_eq!(
                PasswordPolicy::Seed.check(no_ascii_digit),
                Err(PasswordRule::NoDigit),
                "{no_ascii_digit}"
            );
        }
        // Not a letter and not 0-9, so '½' is the symbol here.
        assert_eq!(PasswordPolicy::Seed.check("CorrectHorse9½"), Ok(()));
    }

    #[test]
    fn nist_policy_wants_length_not_composition() {
        let nist = PasswordPolicy::Nist;
        assert_eq!(nist.check("Sh0rt!Sh0rt!"), Err(PasswordRule::TooShort(15)));
        assert_eq!(nist.check("correct horse battery staple"), Ok(()));
    }

    #[test]
    fn length_counts_code_points_not_bytes() {
        // Eight code points, sixteen bytes.
        assert_eq!(PasswordPolicy::Seed.check("Éé1!ééé9"), Ok(()));
        assert_eq!(
            PasswordPolicy::Seed.check("Éé1!éé9"),
            Err(PasswordRule::TooShort(8))
        );
    }

    #[test]
    fn common_passwords_are_refused_whatever_their_case() {
        assert!(common_passwords().len() >= 3000);
        assert_eq!(
            PasswordPolicy::Nist.check("123456789987654321"),
            Err(PasswordRule::Common)
        );
        let common_long = common_passwords()
            .iter()
            .find(|p| p.chars().count() >= 15)
            .map(|p| p.to_uppercase())
            .unwrap_or_default();
        assert_eq!(
            PasswordPolicy::Nist.check(&common_long),
            Err(PasswordRule::Common)
        );
    }

    fn hasher() -> Result<Hasher, anyhow::Error> {
        Hasher::new(
            HashCost {
                memory_kib: 19_456,
                iterations: 2,
                parallelism: 1,
            },
            2,
            8,
        )
    }

    #[tokio::test]
    async fn hash_is_argon2id_with_the_configured_cost_and_verifies_byte_exact(
    ) -> Result<(), anyhow::Error> {
        let hasher = hasher()?;
        let password = "Pass word\u{0}with-NUL-and-more-than-72-bytes-".repeat(3);
        let phc = hasher.hash(password.clone()).await?;
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(!phc.contains(&password));
        let ok = hasher.verify(password.clone(), Some(phc.clone())).await?;
        assert_eq!(
            ok,
            Verified {
                matches: true,
                needs_rehash: false
            }
        );
        // Different only after byte 72, and only in case, and only by a trailing space.
        for other in [
            password[..password.len() - 1].to_string(),
            password.to_uppercase(),
            format!("{password} "),
        ] {
            assert!(!hasher.verify(other, Some(phc.clone())).await?.matches);
        }
        Ok(())
    }

    /// Reused working memory gives the hashes argon2's own allocating path gives: each verifies
    /// the other's, again and again on the same buffers, and a wrong password never matches.
    #[tokio::test]
    async fn pooled_memory_agrees_with_the_crates_own_hashing() -> Result<(), anyhow::Error> {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let hasher = hasher()?;
        let reference = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(19_456, 2, 1, None).map_err(argon2_error)?,
        );
        for round in 0..3 {
            let password = format!("Correct-Horse-{round}");
            let theirs = reference
                .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
                .map_err(argon2_error)?
                .to_string();
            let ours = hasher.hash(password.clone()).await?;
            let parsed = PasswordHash::new(&ours).map_err(argon2_error)?;
            assert!(reference
                .verify_password(password.as_bytes(), &parsed)
                .is_ok());
            assert!(
                hasher
                    .verify(password.clone(), Some(theirs.clone()))
                    .await?
                    .matches
            );
            assert!(
                hasher
                    .verify(password.clone(), Some(ours.clone()))
                    .await?
                    .matches
            );
            assert!(
                !hasher
                    .verify(format!("{password}!"), Some(theirs))
                    .await?
                    .matches
            );
            assert!(
                !hasher
                    .verify(format!("{password}!"), Some(ours))
                    .await?
                    .matches
            );
        }
        Ok(())
    }

    #[tokio::test]
    async fn an_unknown_account_never_matches() -> Result<(), anyhow::Error> {
        let hasher = hasher()?;
        let result = hasher
            .verify("dummy password for unknown accounts".into(), None)
            .await?;
        assert_eq!(
            result,
            Verified {
                matches: false,
                needs_rehash: false
            }
        );
        Ok(())
    }

    #[tokio::test]
    async fn weaker_stored_hashes_ask_to_be_rehashed() -> Result<(), anyhow::Error> {
        let weak = Hasher::new(
            HashCost {
                memory_kib: 8_192,
                iterations: 1,
                parallelism: 1,
            },
            1,
            1,
        )?;
        let phc = weak.hash("Correct-Horse-9".into()).await?;
        let result = hasher()?
            .verify("Correct-Horse-9".into(), Some(phc))
            .await?;
        assert_eq!(
            result,
            Verified {
                matches: true,
                needs_rehash: true
            }
        );
        Ok(())
    }

    /// One slot, no queue, and a hash that takes a while (hundreds of milliseconds).
    fn slow_single_slot_hasher() -> Result<Hasher, anyhow::Error> {
        Hasher::new(
            HashCost {
                memory_kib: 65_536,
                iterations: 6,
                parallelism: 1,
            },
            1,
            0,
        )
    }

    async fn until(deadline: std::time::Duration, mut done: impl FnMut() -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + deadline;
        while !done() {
            if tokio::time::Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        true
    }

    #[tokio::test]
    async fn a_dropped_request_keeps_its_slot_until_its_hash_ends() -> Result<(), anyhow::Error> {
        let hasher = slow_single_slot_hasher()?;
        let first = tokio::spawn({
            let hasher = hasher.clone();
            async move { hasher.hash("Correct-Horse-9".into()).await }
        });
        let taken = until(std::time::Duration::from_secs(10), || {
            hasher.inner.running.available_permits() == 0
        })
        .await;
        assert!(taken, "the first hash never took the slot");

        // The client goes away: the request future is dropped, its hash keeps running.
        first.abort();
        assert!(first.await.is_err_and(|err| err.is_cancelled()));
        let refused = hasher.hash("Correct-Horse-9".into()).await;
        assert!(
            matches!(refused, Err(HashError::Busy)),
            "a second hash was let in while the first still runs: {refused:?}"
        );

        let freed = until(std::time::Duration::from_secs(30), || {
            hasher.inner.admitted.available_permits() == 1
        })
        .await;
        assert!(freed, "the slot was never given back");
        let accepted = hasher.hash("Correct-Horse-9".into()).await?;
        assert!(accepted.starts_with("$argon2id$"), "{accepted}");
        Ok(())
    }

    /// Mostly characters the rules care about (ASCII and not), so that some passwords pass.
    fn candidate() -> impl Strategy<Value = String> {
        prop_oneof![
            "\\PC{0,140}",
            "[a-zA-Z0-9 !@#._~½Ⅻ٣²ÉéßΣ]{0,24}",
            "[a-z0-9 ]{10,20}",
            "[a-zA-Z0-9!½]{120,135}",
        ]
    }

    /// An entry of the common list with some letters upper-cased.
    fn common_in_any_case() -> impl Strategy<Value = String> {
        let list: Vec<&'static str> = COMMON_PASSWORDS.lines().collect();
        (
            prop::sample::select(list),
            prop::collection::vec(any::<bool>(), 64),
        )
            .prop_map(|(password, upper)| {
                password
                    .chars()
                    .zip(upper.into_iter().cycle())
                    .map(|(c, up)| if up { c.to_ascii_uppercase() } else { c })
                    .collect()
            })
    }

    proptest! {
        #[test]
        fn policy_never_panics_and_respects_length(password in candidate()) {
            for policy in [PasswordPolicy::Seed, PasswordPolicy::Nist] {
                let len = password.chars().count();
                match policy.check(&password) {
                    Ok(()) => prop_assert!((8..=MAX_LEN).contains(&len)),
                    Err(PasswordRule::TooShort(min)) => prop_assert!(len < min),
                    Err(PasswordRule::TooLong(_)) => prop_assert!(len > MAX_LEN),
                    Err(_) => {}
                }
            }
        }

        #[test]
        fn nist_accepts_only_15_code_points_or_more(password in candidate()) {
            let len = password.chars().count();
            if PasswordPolicy::Nist.check(&password).is_ok() {
                prop_assert!((15..=MAX_LEN).contains(&len), "{len}");
            }
        }

        #[test]
        fn seed_accepts_only_an_uppercase_letter_an_ascii_digit_and_a_symbol(
            password in candidate()
        ) {
            if PasswordPolicy::Seed.check(&password).is_ok() {
                prop_assert!(password.chars().any(char::is_uppercase));
                prop_assert!(password.chars().any(|c| c.is_ascii_digit()));
                prop_assert!(password.chars().any(|c| !c.is_alphabetic() && !c.is_ascii_digit()));
            }
        }

        #[test]
        fn shorter_than_the_minimum_is_always_refused(password in "\\PC{0,14}") {
            let len = password.chars().count();
            for (policy, min) in [(PasswordPolicy::Seed, 8), (PasswordPolicy::Nist, 15)] {
                if len < min {
                    prop_assert_eq!(policy.check(&password), Err(PasswordRule::TooShort(min)));
                }
            }
        }

        #[test]
        fn a_common_password_in_any_case_is_always_refused(password in common_in_any_case()) {
            prop_assert!(PasswordPolicy::Seed.check(&password).is_err());
            let len = password.chars().count();
            let nist = PasswordPolicy::Nist.check(&password);
            if len >= 15 {
                prop_assert_eq!(nist, Err(PasswordRule::Common));
            } else {
                prop_assert_eq!(nist, Err(PasswordRule::TooShort(15)));
            }
        }

        #[test]
        fn a_common_password_meeting_the_seed_rules_is_refused_as_common(
            password in common_in_any_case()
        ) {
            let composed = (8..=MAX_LEN).contains(&password.chars().count())
                && password.chars().any(char::is_uppercase)
                && password.chars().any(|c| c.is_ascii_digit())
                && password.chars().any(is_symbol);
            if composed {
                prop_assert_eq!(PasswordPolicy::Seed.check(&password), Err(PasswordRule::Common));
            }
        }
    }
}
