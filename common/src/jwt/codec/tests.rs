use proptest::prelude::*;
use serde_json::{json, Value};
use uuid::Uuid;

use super::*;
use crate::jwt::raw::sign_raw;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const OTHER: &[u8] = b"fedcba9876543210fedcba9876543210";
const NOW: i64 = 1_800_000_000;
const LEEWAY: i64 = 30;

fn codec_with(keys: Vec<(&str, &[u8])>, active: Option<&str>) -> TokenCodec {
    let keys = keys
        .into_iter()
        .map(|(kid, secret)| (kid.to_owned(), secret.to_vec()))
        .collect();
    let keys = KeySet::new(keys, active).unwrap_or_else(|e| unreachable!("test keys: {e}"));
    TokenCodec::new(TokenSettings {
        keys,
        issuer: "auth-service".into(),
        access_ttl: chrono::TimeDelta::hours(24),
        refresh_ttl: chrono::TimeDelta::days(7),
        leeway_seconds: LEEWAY as u64,
    })
}

fn codec() -> TokenCodec {
    codec_with(vec![("default", SECRET)], None)
}

fn access_claims() -> AccessClaims {
    AccessClaims {
        iss: "auth-service".into(),
        sub: Uuid::new_v4(),
        email: "ada@example.com".into(),
        email_verified: true,
        typ: TokenType::Access,
        sid: Uuid::new_v4(),
        jti: Uuid::new_v4(),
        iat: NOW,
        exp: NOW + 86_400,
    }
}

fn wire_access() -> Value {
    serde_json::to_value(access_claims()).unwrap_or_default()
}

fn header(kid: &str) -> Value {
    json!({"alg": "HS256", "typ": "JWT", "kid": kid})
}

fn forge(header: Value, claims: Value, secret: &[u8]) -> String {
    sign_raw(&header, &claims, secret).unwrap_or_default()
}

fn verify(token: &str) -> Result<AccessClaims, TokenError> {
    codec().verify_access(token, NOW)
}

#[test]
fn access_token_round_trips_with_kid_in_header() {
    let claims = access_claims();
    let token = codec().sign_access(&claims).unwrap_or_default();
    assert_eq!(verify(&token), Ok(claims));
    let header = jsonwebtoken::decode_header(&token).map(|h| h.kid);
    assert_eq!(header.ok().flatten().as_deref(), Some("default"));
}

#[test]
fn refresh_token_round_trips_and_is_never_an_access_token() {
    let codec = codec();
    let access = access_claims();
    let refresh = RefreshClaims {
        iss: access.iss.clone(),
        sub: access.sub,
        typ: TokenType::Refresh,
        sid: access.sid,
        jti: Uuid::new_v4(),
        iat: NOW,
        exp: NOW + 7 * 86_400,
    };
    let refresh_token = codec.sign_refresh(&refresh).unwrap_or_default();
    let access_token = codec.sign_access(&access).unwrap_or_default();
    assert_eq!(codec.verify_refresh(&refresh_token, NOW), Ok(refresh));
    assert_eq!(
        codec.verify_access(&refresh_token, NOW),
        Err(TokenError::WrongType)
    );
    assert_eq!(
        codec.verify_refresh(&access_token, NOW),
        Err(TokenError::WrongType)
    );
}

#[test]
fn a_token_without_a_known_typ_is_refused() {
    let mut claims = wire_access();
    claims["typ"] = json!("id");
    assert_eq!(
        verify(&forge(header("default"), claims.clone(), SECRET)),
        Err(TokenError::WrongType)
    );
    claims.as_object_mut().map(|c| c.remove("typ"));
    assert_eq!(
        verify(&forge(header("default"), claims, SECRET)),
        Err(TokenError::WrongType)
    );
}

#[test]
fn a_signature_by_another_secret_is_refused() {
    assert_eq!(
        verify(&forge(header("default"), wire_access(), OTHER)),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn anything_but_hs256_is_refused_before_a_key_is_chosen() {
    for alg in ["none", "hs256", "HS512", "RS256", "ES256", ""] {
        let header = json!({"alg": alg, "typ": "JWT", "kid": "no-such-key"});
        assert_eq!(
            verify(&forge(header, wire_access(), SECRET)),
            Err(TokenError::UnsupportedAlgorithm),
            "{alg}"
        );
    }
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
        URL_SAFE_NO_PAD.encode(wire_access().to_string())
    );
    assert_eq!(verify(&unsigned), Err(TokenError::UnsupportedAlgorithm));
}

#[test]
fn dangerous_header_fields_are_refused() {
    for field in ["crit", "jku", "x5u", "jwk"] {
        let mut header = header("default");
        header[field] = json!(["exp"]);
        assert_eq!(
            verify(&forge(header, wire_access(), SECRET)),
            Err(TokenError::ForbiddenHeader),
            "{field}"
        );
    }
}

#[test]
fn kid_must_name_a_configured_key_and_a_missing_kid_means_the_active_key() {
    assert_eq!(
        verify(&forge(header("other"), wire_access(), SECRET)),
        Err(TokenError::UnknownKey)
    );
    let no_kid = json!({"alg": "HS256", "typ": "JWT"});
    assert!(verify(&forge(no_kid.clone(), wire_access(), SECRET)).is_ok());
    let rotated = codec_with(vec![("old", SECRET), ("new", OTHER)], Some("new"));
    assert_eq!(
        rotated.verify_access(&forge(no_kid, wire_access(), SECRET), NOW),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn every_listed_key_verifies_and_only_the_active_one_signs() {
    let old = codec_with(vec![("old", SECRET)], None);
    let rotated = codec_with(vec![("old", SECRET), ("new", OTHER)], Some("new"));
    let claims = access_claims();
    let old_token = old.sign_access(&claims).unwrap_or_default();
    assert_eq!(rotated.verify_access(&old_token, NOW), Ok(claims.clone()));
    let new_token = rotated.sign_access(&claims).unwrap_or_default();
    assert_eq!(
        jsonwebtoken::decode_header(&new_token)
            .ok()
            .and_then(|h| h.kid)
            .as_deref(),
        Some("new")
    );
    assert_eq!(
        old.verify_access(&new_token, NOW),
        Err(TokenError::UnknownKey)
    );
}

#[test]
fn exp_is_enforced_with_exactly_the_configured_leeway() {
    let claims = access_claims();
    let token = codec().sign_access(&claims).unwrap_or_default();
    assert!(codec().verify_access(&token, claims.exp + LEEWAY).is_ok());
    assert_eq!(
        codec().verify_access(&token, claims.exp + LEEWAY + 1),
        Err(TokenError::Expired)
    );
    assert_eq!(TokenError::Expired.code(), ErrorCode::ExpiredToken);
}

#[test]
fn nbf_is_enforced_with_exactly_the_configured_leeway() {
    let mut claims = wire_access();
    claims["nbf"] = json!(NOW + 100);
    let token = forge(header("default"), claims, SECRET);
    assert!(codec().verify_access(&token, NOW + 100 - LEEWAY).is_ok());
    assert_eq!(
        codec().verify_access(&token, NOW + 100 - LEEWAY - 1),
        Err(TokenError::NotYetValid)
    );
}

#[test]
fn issuer_audience_and_claim_types_are_checked() {
    let mut claims = wire_access();
    claims["iss"] = json!("someone-else");
    assert_eq!(
        verify(&forge(header("default"), claims, SECRET)),
        Err(TokenError::WrongIssuer)
    );

    let mut claims = wire_access();
    claims["aud"] = json!("api");
    assert_eq!(
        verify(&forge(header("default"), claims, SECRET)),
        Err(TokenError::Audience)
    );

    for (claim, value) in [
        ("exp", json!("2099-01-01")),
        ("nbf", json!("0")),
        ("sub", json!(42)),
        ("exp", Value::Null),
    ] {
        let mut claims = wire_access();
        claims[claim] = value;
        assert_eq!(
            verify(&forge(header("default"), claims, SECRET)),
            Err(TokenError::Malformed),
            "{claim}"
        );
    }
    for claim in ["exp", "iss", "sub"] {
        let mut claims = wire_access();
        claims.as_object_mut().map(|c| c.remove(claim));
        assert_eq!(
            verify(&forge(header("default"), claims, SECRET)),
            Err(TokenError::Malformed),
            "{claim}"
        );
    }
}

#[test]
fn garbage_and_oversized_tokens_are_refused() {
    for garbage in [
        "",
        "abc",
        "a.b",
        "a.b.c",
        "..",
        "a.b.c.d",
        "\u{0}.\u{0}.\u{0}",
    ] {
        assert!(
            matches!(verify(garbage), Err(TokenError::Malformed)),
            "{garbage:?}"
        );
    }
    let huge = "a".repeat(MAX_TOKEN_BYTES + 1);
    assert_eq!(verify(&huge), Err(TokenError::TooLarge));
}

proptest! {
    #[test]
    fn any_single_byte_change_to_a_valid_token_is_refused(index in 0usize..400, replacement in any::<u8>()) {
        let token = codec().sign_access(&access_claims()).unwrap_or_default();
        let mut bytes = token.clone().into_bytes();
        let index = index % bytes.len();
        prop_assume!(bytes[index] != replacement);
        bytes[index] = replacement;
        let changed = String::from_utf8_lossy(&bytes).into_owned();
        prop_assume!(changed != token);
        prop_assert!(verify(&changed).is_err());
    }
}

/// Signs the exact `message` (whatever its encoding) with `SECRET`, base64url signature.
fn sign_message(message: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET);
    let tag = ring::hmac::sign(&key, message.as_bytes());
    format!("{message}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

#[test]
fn refused_fields_are_refused_even_when_null() {
    for field in ["crit", "jku", "x5u", "jwk"] {
        let mut header = header("default");
        header[field] = Value::Null;
        assert_eq!(
            verify(&forge(header, wire_access(), SECRET)),
            Err(TokenError::ForbiddenHeader),
            "{field}"
        );
    }
    let mut claims = wire_access();
    claims["aud"] = Value::Null;
    assert_eq!(
        verify(&forge(header("default"), claims, SECRET)),
        Err(TokenError::Audience)
    );
}

#[test]
fn a_null_kid_or_nbf_is_malformed_not_absent() {
    let null_kid = json!({"alg": "HS256", "typ": "JWT", "kid": null});
    assert_eq!(
        verify(&forge(null_kid, wire_access(), SECRET)),
        Err(TokenError::Malformed)
    );
    let mut claims = wire_access();
    claims["nbf"] = Value::Null;
    assert_eq!(
        verify(&forge(header("default"), claims, SECRET)),
        Err(TokenError::Malformed)
    );
}

#[test]
fn time_claims_outside_year_0_to_9999_are_malformed() {
    for (claim, value) in [
        ("exp", json!(MAX_TIME + 1)),
        ("exp", json!(i64::MAX)),
        ("exp", json!(u64::MAX)),
        ("exp", json!(1.8e9)),
        ("exp", json!(-1)),
        ("iat", json!(-1)),
        ("iat", json!(MAX_TIME + 1)),
        ("nbf", json!(-5)),
        ("nbf", json!(i64::MIN)),
    ] {
        let mut claims = wire_access();
        claims[claim] = value.clone();
        assert_eq!(
            verify(&forge(header("default"), claims, SECRET)),
            Err(TokenError::Malformed),
            "{claim} = {value}"
        );
    }
    let mut claims = wire_access();
    claims["exp"] = json!(MAX_TIME);
    assert!(verify(&forge(header("default"), claims, SECRET)).is_ok());
}

#[test]
fn base64_must_be_url_safe_unpadded_and_canonical() {
    let head = URL_SAFE_NO_PAD.encode(header("default").to_string());
    // "~~~" and "???" encode to "fn5-" and "Pz8_" in base64url, "fn5+" and "Pz8/" in standard.
    let mut claims = wire_access();
    claims["note"] = json!("~~~~~~~~~?????????");
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    assert!(payload.contains('-') && payload.contains('_'));
    assert!(verify(&sign_message(&format!("{head}.{payload}"))).is_ok());
    let standard = payload.replace('-', "+").replace('_', "/");
    assert_eq!(
        verify(&sign_message(&format!("{head}.{standard}"))),
        Err(TokenError::Malformed)
    );
    let padded = format!("{payload}{}", "=".repeat((4 - payload.len() % 4) % 4));
    if padded != payload {
        assert_eq!(
            verify(&sign_message(&format!("{head}.{padded}"))),
            Err(TokenError::Malformed)
        );
    }
    assert_eq!(
        verify(&sign_message(&format!("{head} .{payload}"))),
        Err(TokenError::Malformed)
    );
}

#[test]
fn exp_and_nbf_one_second_either_side_of_the_leeway() {
    let codec = codec();
    for (claim, offset, expected) in [
        ("exp", -LEEWAY + 1, Ok(())),
        ("exp", -LEEWAY, Ok(())),
        ("exp", -LEEWAY - 1, Err(TokenError::Expired)),
        ("nbf", LEEWAY - 1, Ok(())),
        ("nbf", LEEWAY, Ok(())),
        ("nbf", LEEWAY + 1, Err(TokenError::NotYetValid)),
    ] {
        let mut claims = wire_access();
        claims[claim] = json!(NOW + offset);
        let token = forge(header("default"), claims, SECRET);
        assert_eq!(
            codec.verify_access(&token, NOW).map(|_| ()),
            expected,
            "{claim} {offset:+}"
        );
    }
}

proptest! {
    /// Every position of a valid token, replaced by a random different byte, is refused.
    #[test]
    fn every_position_of_a_valid_token_is_guarded(replacements in proptest::collection::vec(any::<u8>(), 400)) {
        let token = codec().sign_access(&access_claims()).unwrap_or_default();
        prop_assert!(verify(&token).is_ok());
        for (index, original) in token.bytes().enumerate() {
            let mut replacement = replacements[index % replacements.len()];
            if replacement == original {
                replacement = replacement.wrapping_add(1);
            }
            let mut bytes = token.clone().into_bytes();
            bytes[index] = replacement;
            let changed = String::from_utf8_lossy(&bytes).into_owned();
            let outcome = verify(&changed);
            prop_assert!(
                matches!(outcome, Err(e) if e != TokenError::Expired),
                "position {} byte {:#x}: {:?}", index, replacement, outcome
            );
        }
    }
}

#[test]
fn an_expired_access_token_missing_identity_claims_is_malformed_not_expired() {
    let mut claims = wire_access();
    claims.as_object_mut().map(|c| c.remove("email_verified"));
    claims["exp"] = json!(NOW - LEEWAY - 2);
    assert_eq!(
        verify(&forge(header("default"), claims, SECRET)),
        Err(TokenError::Malformed)
    );
}

/// `base64url(header_json).base64url(claims_json)` signed with `SECRET`, byte for byte.
fn sign_json(header: &str, claims: &str) -> String {
    sign_message(&format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    ))
}

#[test]
fn a_header_that_is_not_a_json_object_is_malformed() {
    let claims = wire_access().to_string();
    for header in [
        r#"["HS256"]"#,
        r#" ["HS256","default"]"#,
        r#"["HS256",null,null,null,null,null]"#,
        r#""HS256""#,
        "null",
        "1",
    ] {
        assert_eq!(
            verify(&sign_json(header, &claims)),
            Err(TokenError::Malformed),
            "{header}"
        );
    }
    // Whitespace before the object is still an object.
    assert!(verify(&sign_json(" \n{\"alg\":\"HS256\"}", &claims)).is_ok());
}

#[test]
fn claims_that_are_not_a_json_object_are_malformed() {
    let c = access_claims();
    let header = header("default").to_string();
    // WireClaims' fields in declaration order: what serde would map an array onto.
    let positional = json!([c.iss, c.sub, "access", c.sid, c.jti, c.iat, c.exp]);
    let with_identity =
        json!([c.iss, c.sub, "access", c.sid, c.jti, c.iat, c.exp, NOW, false, c.email, true]);
    for claims in [
        positional.to_string(),
        with_identity.to_string(),
        "[]".to_owned(),
        format!("\"{}\"", c.sub),
        "null".to_owned(),
    ] {
        assert_eq!(
            verify(&sign_json(&header, &claims)),
            Err(TokenError::Malformed),
            "{claims}"
        );
    }
    let refresh = json!([c.iss, c.sub, "refresh", c.sid, c.jti, c.iat, c.exp]).to_string();
    assert_eq!(
        codec().verify_refresh(&sign_json(&header, &refresh), NOW),
        Err(TokenError::Malformed)
    );
}
