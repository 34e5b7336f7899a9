//! The token target: random bytes, byte-mutated valid tokens, spliced tokens, and validly
//! signed tokens with random headers and claims, each checked against a model of the
//! contract's "Tokens" section that is written independently of the codec.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::jwt::codec::{MAX_TIME, MAX_TOKEN_BYTES};
use common::jwt::raw::sign_raw;
use common::jwt::{AccessClaims, KeySet, TokenCodec, TokenError, TokenSettings, TokenType};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::{Case, Outcome, Rng};

const SECRET: &[u8] = b"fuzz-secret-0123456789abcdef-0123456789";
const OTHER: &[u8] = b"another-deployment-0123456789abcdef-012";
const ISSUER: &str = "auth-service";
const NOW: i64 = 1_800_000_000;
const LEEWAY: i64 = 30;

/// What the contract says should happen to a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Accept,
    Expired,
    Invalid,
}

pub struct TokenFuzzer {
    codec: TokenCodec,
    valid: String,
}

impl Default for TokenFuzzer {
    fn default() -> Self {
        TokenFuzzer::new()
    }
}

impl TokenFuzzer {
    pub fn new() -> TokenFuzzer {
        let keys = KeySet::new(vec![("default".to_owned(), SECRET.to_vec())], None);
        let Ok(keys) = keys else {
            unreachable!("the fuzz key is valid")
        };
        let codec = TokenCodec::new(TokenSettings {
            keys,
            issuer: ISSUER.to_owned(),
            access_ttl: chrono::TimeDelta::hours(24),
            refresh_ttl: chrono::TimeDelta::days(7),
            leeway_seconds: LEEWAY as u64,
        });
        let valid = codec.sign_access(&base_claims()).unwrap_or_default();
        TokenFuzzer { codec, valid }
    }

    /// One input: the token, known before the codec runs, and the run that judges it.
    pub fn case(&self, rng: &mut Rng) -> Case<'_> {
        let (token, expected) = match rng.below(4) {
            0 => self.random(rng),
            1 => self.mutated(rng),
            2 => self.spliced(rng),
            _ => structured(rng),
        };
        Case::new(token.clone().into_bytes(), move || {
            self.judge(&token, expected)
        })
    }

    /// A kept input run again. The generator's verdict is not in the file, so only what holds
    /// for every token is judged: no panic, never both an access and a refresh token.
    pub fn replay(&self, input: &[u8]) -> Outcome {
        self.judge(&String::from_utf8_lossy(input), None)
    }

    /// Whether the codec did what the model says.
    fn judge(&self, token: &str, expected: Option<Verdict>) -> Outcome {
        let access = self.codec.verify_access(token, NOW);
        let refresh = self.codec.verify_refresh(token, NOW);
        check(expected, access.map(|_| ()), refresh.map(|_| ()))
    }

    fn random(&self, rng: &mut Rng) -> (String, Option<Verdict>) {
        let max_len = if rng.one_in(50) { 9000 } else { 200 };
        let bytes = rng.bytes(max_len);
        let token = match rng.below(3) {
            0 => String::from_utf8_lossy(&bytes).into_owned(),
            // Three base64url segments of random bytes: right shape, wrong everything else.
            1 => bytes
                .chunks(bytes.len() / 3 + 1)
                .map(|c| URL_SAFE_NO_PAD.encode(c))
                .collect::<Vec<_>>()
                .join("."),
            _ => bytes
                .iter()
                .map(|b| char::from(b"ABCxyz019-_.=+/ "[usize::from(b % 16)]))
                .collect(),
        };
        (token, Some(Verdict::Invalid))
    }

    fn mutated(&self, rng: &mut Rng) -> (String, Option<Verdict>) {
        let mut bytes = self.valid.clone().into_bytes();
        rng.mutate(&mut bytes);
        let token = String::from_utf8_lossy(&bytes).into_owned();
        if token == self.valid {
            return (token, Some(Verdict::Accept));
        }
        (token, Some(Verdict::Invalid))
    }

    fn spliced(&self, rng: &mut Rng) -> (String, Option<Verdict>) {
        let (other, _) = structured(rng);
        let a: Vec<&str> = self.valid.split('.').collect();
        let b: Vec<&str> = other.split('.').collect();
        let mut parts: Vec<&str> = Vec::new();
        for _ in 0..=rng.below(4) {
            let from = if rng.one_in(2) { &a } else { &b };
            parts.push(from.get(rng.below(from.len())).copied().unwrap_or(""));
        }
        let token = parts.join(".");
        // A splice can rebuild one of the two originals; then it is what that original was.
        let expected = if token == self.valid {
            Some(Verdict::Accept)
        } else if token == other {
            None
        } else {
            Some(Verdict::Invalid)
        };
        (token, expected)
    }
}

/// `expected` is for verify_access; a token is never both an access and a refresh token.
fn check(
    expected: Option<Verdict>,
    access: Result<(), TokenError>,
    refresh: Result<(), TokenError>,
) -> Outcome {
    if access.is_ok() && refresh.is_ok() {
        return Err("accepted as both an access and a refresh token".to_owned());
    }
    let Some(expected) = expected else {
        return Ok(());
    };
    let got = match access {
        Ok(()) => Verdict::Accept,
        Err(TokenError::Expired) => Verdict::Expired,
        Err(_) => Verdict::Invalid,
    };
    if got == expected {
        Ok(())
    } else {
        Err(format!("expected {expected:?}, got {access:?}"))
    }
}

fn base_claims() -> AccessClaims {
    AccessClaims {
        iss: ISSUER.to_owned(),
        sub: Uuid::from_u128(1),
        email: "ada@example.com".to_owned(),
        email_verified: true,
        typ: TokenType::Access,
        sid: Uuid::from_u128(2),
        jti: Uuid::from_u128(3),
        iat: NOW,
        exp: NOW + 3600,
    }
}

/// Odd values for any field.
fn odd_value(rng: &mut Rng) -> Value {
    let choices = [
        Value::Null,
        json!(true),
        json!(""),
        json!("x"),
        json!(1.5),
        json!(1.8e9),
        json!(-1),
        json!(0),
        json!(i64::MAX),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(MAX_TIME),
        json!(MAX_TIME + 1),
        json!([]),
        json!({}),
        json!("1800000000"),
        json!("00000000-0000-0000-0000-000000000001"),
        json!("access"),
        json!("refresh"),
        json!(ISSUER),
    ];
    rng.pick(&choices).cloned().unwrap_or(Value::Null)
}

/// A validly signed token with a random header and random changes to good claims, and the
/// model's verdict on it.
fn structured(rng: &mut Rng) -> (String, Option<Verdict>) {
    let mut header = Map::new();
    if !rng.one_in(10) {
        let alg = if rng.one_in(3) {
            rng.pick(&[
                json!("none"),
                json!("hs256"),
                json!("HS512"),
                json!("RS256"),
                json!(""),
                Value::Null,
                json!(256),
            ])
            .cloned()
            .unwrap_or(Value::Null)
        } else {
            json!("HS256")
        };
        header.insert("alg".into(), alg);
    }
    if rng.one_in(2) {
        header.insert("typ".into(), json!("JWT"));
    }
    match rng.below(6) {
        0 => {}
        1 => {
            let kid = rng
                .pick(&[
                    json!("other"),
                    json!("../default"),
                    json!("DEFAULT"),
                    Value::Null,
                    json!(1),
                    json!("default\u{0}"),
                ])
                .cloned()
                .unwrap_or(Value::Null);
            header.insert("kid".into(), kid);
        }
        _ => {
            header.insert("kid".into(), json!("default"));
        }
    }
    for field in ["crit", "jku", "x5u", "jwk", "x5c", "cty", "b64"] {
        if rng.one_in(20) {
            header.insert(field.into(), odd_value(rng));
        }
    }

    let mut claims = match serde_json::to_value(base_claims()) {
        Ok(Value::Object(claims)) => claims,
        _ => Map::new(),
    };
    let names = [
        "iss",
        "sub",
        "email",
        "email_verified",
        "typ",
        "sid",
        "jti",
        "iat",
        "exp",
        "nbf",
        "aud",
        "extra",
    ];
    for _ in 0..rng.below(4) {
        let name = rng.pick(&names).copied().unwrap_or("extra");
        match rng.below(4) {
            0 => {
                claims.remove(name);
            }
            1 if ["exp", "nbf", "iat"].contains(&name) => {
                let around = if name == "nbf" {
                    NOW + LEEWAY
                } else {
                    NOW - LEEWAY
                };
                let offset = i64::try_from(rng.below(7)).unwrap_or(0) - 3;
                claims.insert(name.into(), json!(around + offset));
            }
            _ => {
                claims.insert(name.into(), odd_value(rng));
            }
        }
    }
    let secret = if rng.one_in(16) { OTHER } else { SECRET };
    let mut token = sign_raw(
        &Value::Object(header.clone()),
        &Value::Object(claims.clone()),
        secret,
    )
    .unwrap_or_default();
    if rng.one_in(40) {
        // Pad the claims past the size limit, still validly signed.
        claims.insert("padding".into(), json!("p".repeat(MAX_TOKEN_BYTES)));
        token = sign_raw(
            &Value::Object(header.clone()),
            &Value::Object(claims.clone()),
            secret,
        )
        .unwrap_or_default();
    }
    let verdict = if token.len() > MAX_TOKEN_BYTES || secret != SECRET || !header_ok(&header) {
        Verdict::Invalid
    } else {
        claims_verdict(&claims)
    };
    (token, Some(verdict))
}

fn header_ok(header: &Map<String, Value>) -> bool {
    let refused = ["crit", "jku", "x5u", "jwk"];
    header.get("alg") == Some(&json!("HS256"))
        && !refused.iter().any(|field| header.contains_key(*field))
        && match header.get("kid") {
            None => true,
            Some(kid) => kid == "default",
        }
}

fn time(value: Option<&Value>) -> Option<i64> {
    value
        .and_then(Value::as_i64)
        .filter(|t| (0..=MAX_TIME).contains(t))
}

fn uuid(value: Option<&Value>) -> bool {
    value
        .and_then(Value::as_str)
        .is_some_and(|s| Uuid::parse_str(s).is_ok())
}

/// The contract's claim rules for an access token, checked as an outsider would.
fn claims_verdict(claims: &Map<String, Value>) -> Verdict {
    let nbf = match claims.get("nbf") {
        None => Some(None),
        Some(value) => time(Some(value)).map(Some),
    };
    let (Some(exp), Some(_iat), Some(nbf)) =
        (time(claims.get("exp")), time(claims.get("iat")), nbf)
    else {
        return Verdict::Invalid;
    };
    let well_formed = claims.get("iss") == Some(&json!(ISSUER))
        && uuid(claims.get("sub"))
        && uuid(claims.get("sid"))
        && uuid(claims.get("jti"))
        && claims.get("typ") == Some(&json!("access"))
        && claims.get("email").is_some_and(Value::is_string)
        && claims.get("email_verified").is_some_and(Value::is_boolean)
        && !claims.contains_key("aud");
    if !well_formed || nbf.is_some_and(|nbf| NOW < nbf - LEEWAY) {
        return Verdict::Invalid;
    }
    if NOW > exp + LEEWAY {
        return Verdict::Expired;
    }
    Verdict::Accept
}
