//! The configured HMAC keys, by key id.

use std::fmt;

use jsonwebtoken::EncodingKey;

/// Shortest accepted secret, in bytes, in every environment (RFC 7518 §3.2 for HS256).
pub const MIN_SECRET_BYTES: usize = 32;

/// One key: its id and the secret decoded once, at start.
#[derive(Clone)]
pub struct Key {
    kid: String,
    encoding: EncodingKey,
    /// HMAC-SHA256 with its key schedule computed once: validation is on the hot path.
    verification: ring::hmac::Key,
}

impl Key {
    pub fn kid(&self) -> &str {
        &self.kid
    }
    pub(crate) fn encoding(&self) -> &EncodingKey {
        &self.encoding
    }
    pub(crate) fn verification(&self) -> &ring::hmac::Key {
        &self.verification
    }
}

/// Every key that verifies, and the one that signs. `Debug` shows key ids only.
#[derive(Clone)]
pub struct KeySet {
    keys: Vec<Key>,
    active: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("must name at least one key")]
    Empty,
    #[error("has a key id that is empty or not made of letters, digits, '.', '_' or '-'")]
    BadKid,
    #[error("names the same key id twice")]
    DuplicateKid,
    #[error("must be at least 32 bytes long")]
    TooShort,
    #[error("names a key id that is not configured")]
    UnknownActiveKid,
}

impl KeyError {
    /// Whether the fault is in JWT_ACTIVE_KID rather than in the key list.
    pub fn is_active_kid(&self) -> bool {
        matches!(self, KeyError::UnknownActiveKid)
    }
}

impl KeySet {
    /// `keys` as (kid, secret); `active_kid` defaults to the first key.
    pub fn new(keys: Vec<(String, Vec<u8>)>, active_kid: Option<&str>) -> Result<Self, KeyError> {
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        let mut built: Vec<Key> = Vec::with_capacity(keys.len());
        for (kid, secret) in keys {
            let valid_kid = !kid.is_empty()
                && kid.len() <= 64
                && kid
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if !valid_kid {
                return Err(KeyError::BadKid);
            }
            if built.iter().any(|k| k.kid == kid) {
                return Err(KeyError::DuplicateKid);
            }
            if secret.len() < MIN_SECRET_BYTES {
                return Err(KeyError::TooShort);
            }
            built.push(Key {
                kid,
                encoding: EncodingKey::from_secret(&secret),
                verification: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret),
            });
        }
        let active = match active_kid {
            None => 0,
            Some(kid) => built
                .iter()
                .position(|k| k.kid == kid)
                .ok_or(KeyError::UnknownActiveKid)?,
        };
        Ok(KeySet {
            keys: built,
            active,
        })
    }

    /// The key new tokens are signed with.
    pub fn active(&self) -> &Key {
        // `new` guarantees `active` indexes `keys`.
        &self.keys[self.active]
    }

    /// The key ids, in configuration order.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.kid.as_str())
    }

    pub fn find(&self, kid: &str) -> Option<&Key> {
        self.keys.iter().find(|k| k.kid == kid)
    }
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field(
                "kids",
                &self.keys.iter().map(|k| &k.kid).collect::<Vec<_>>(),
            )
            .field("active", &self.active().kid)
            .finish()
    }
}
