//! Forward-auth rules, read from the query string of the address the proxy calls.
//!
//! Proxies such as Caddy also pass the client's own query string through, so a client can add
//! parameters: unknown ones are ignored, a repeated rule takes its strictest value, and a known
//! rule with a value we cannot read fails closed (403). A rule can only tighten.
//!
//! Adding a rule: a field in [`Rules`], its name in [`Rules::parse`], its test in
//! [`Rules::check`], and, if it fails in a new way, a [`Violation`] variant with its answer in
//! `From<Violation> for ApiError`. The handler does not change.

use common::error::{ApiError, ErrorCode};
use common::jwt::AccessClaims;

/// The rules in force for one request. The default admits any valid token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rules {
    /// `require_verified=true`: the token must say the email is verified.
    pub require_verified: bool,
}

/// A known rule with a value that is not one of its accepted values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the forward-auth rule {0} has a value that is not accepted")]
pub struct BadRule(pub &'static str);

/// Why a valid token does not pass the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    EmailNotVerified,
}

/// A misconfigured rule is the operator's mistake, but it must still fail closed: 403.
impl From<BadRule> for ApiError {
    fn from(err: BadRule) -> Self {
        ApiError::new(
            ErrorCode::Forbidden,
            "A forward-auth rule is misconfigured.",
        )
        .with_details(None, err.to_string())
    }
}

/// Each violation's answer. No `_` arm: a new variant does not compile until it has one.
impl From<Violation> for ApiError {
    fn from(violation: Violation) -> Self {
        match violation {
            Violation::EmailNotVerified => ApiError::new(
                ErrorCode::EmailNotVerified,
                "The email address has not been verified.",
            ),
        }
    }
}

impl Rules {
    pub fn parse(query: Option<&str>) -> Result<Rules, BadRule> {
        let mut rules = Rules::default();
        let Some(query) = query else {
            return Ok(rules);
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if name == "require_verified" {
                rules.require_verified |= flag(value).ok_or(BadRule("require_verified"))?;
            }
        }
        Ok(rules)
    }

    pub fn check(&self, claims: &AccessClaims) -> Result<(), Violation> {
        if self.require_verified && !claims.email_verified {
            return Err(Violation::EmailNotVerified);
        }
        Ok(())
    }
}

fn flag(value: &str) -> Option<bool> {
    match value {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> Result<Rules, BadRule> {
        Rules::parse(Some(query))
    }

    #[test]
    fn no_query_means_no_rules() {
        assert_eq!(Rules::parse(None), Ok(Rules::default()));
        assert_eq!(parse(""), Ok(Rules::default()));
    }

    #[test]
    fn reads_require_verified() {
        assert_eq!(
            parse("require_verified=true").map(|r| r.require_verified),
            Ok(true)
        );
        assert_eq!(
            parse("require_verified=1").map(|r| r.require_verified),
            Ok(true)
        );
        assert_eq!(
            parse("require_verified=false").map(|r| r.require_verified),
            Ok(false)
        );
    }

    #[test]
    fn a_rule_only_tightens() {
        for query in [
            "require_verified=true&require_verified=false",
            "require_verified=false&require_verified=true",
            "require_verified=true&require_verified=0&other=x",
        ] {
            assert_eq!(
                parse(query).map(|r| r.require_verified),
                Ok(true),
                "{query}"
            );
        }
    }

    #[test]
    fn unknown_parameters_are_ignored_and_bad_values_fail_closed() {
        assert_eq!(
            parse("page=2&q=a%20b&require_verifiedx=nope"),
            Ok(Rules::default())
        );
        for query in [
            "require_verified=yes",
            "require_verified",
            "require_verified=TRUE",
            "require_verified=true%00",
        ] {
            assert_eq!(parse(query), Err(BadRule("require_verified")), "{query}");
        }
    }

    #[test]
    fn violations_and_bad_rules_answer_403_with_their_own_codes() {
        let error = ApiError::from(Violation::EmailNotVerified);
        assert_eq!(error.code, ErrorCode::EmailNotVerified);
        assert_eq!(error.status(), http::StatusCode::FORBIDDEN);
        let error = ApiError::from(BadRule("require_verified"));
        assert_eq!(error.code, ErrorCode::Forbidden);
        assert_eq!(error.status(), http::StatusCode::FORBIDDEN);
        assert_eq!(
            error.details.map(|d| d.issue),
            Some("the forward-auth rule require_verified has a value that is not accepted".into())
        );
    }
}
