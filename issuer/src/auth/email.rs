//! Email addresses: trimmed, lower-cased, and checked for a plausible shape.

use std::fmt;

/// A normalised address: what is stored and compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

/// Longest address SMTP can carry (RFC 5321 §4.5.3.1.3, path limit less the brackets).
const MAX_LEN: usize = 254;
const MAX_LOCAL_LEN: usize = 64;
const LOCAL_SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~.";

impl Email {
    /// Trims, lower-cases and validates. The error says which rule failed.
    pub fn parse(raw: &str) -> Result<Email, &'static str> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err("is empty");
        }
        if email.chars().count() > MAX_LEN {
            return Err("is longer than 254 characters");
        }
        let (local, domain) = email.rsplit_once('@').ok_or("has no @")?;
        if local.is_empty() || local.chars().count() > MAX_LOCAL_LEN {
            return Err("has an empty or over-long part before the @");
        }
        let local_ok = local
            .chars()
            .all(|c| c.is_alphanumeric() || LOCAL_SPECIALS.contains(c))
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        if !local_ok {
            return Err("has characters that are not allowed before the @");
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty()
                    && label.chars().count() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            })
            && labels
                .last()
                .is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()));
        if !domain_ok {
            return Err("has a domain that is not valid");
        }
        Ok(Email(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn trims_and_lower_cases() {
        assert_eq!(
            Email::parse("  Ada.Lovelace@Example.COM \t").map(|e| e.0),
            Ok("ada.lovelace@example.com".to_string())
        );
    }

    #[test]
    fn accepts_common_shapes() {
        for ok in [
            "a@b.co",
            "first.last+tag@sub.example.org",
            "o'neil@example.ie",
            "josé@exämple.de",
        ] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_what_is_not_an_address() {
        for bad in [
            "",
            "   ",
            "plain",
            "@example.com",
            "ada@",
            "ada@example",
            "ada@@example.com",
            "ada example@example.com",
            "ada@exa mple.com",
            ".ada@example.com",
            "ada.@example.com",
            "a..da@example.com",
            "ada@-example.com",
            "ada@example..com",
            "ada@example.123",
            "ada\u{0}@example.com",
            "\"ada\"@example.com",
            "ada@exam_ple.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }

    proptest! {
        #[test]
        fn normalisation_is_idempotent_and_ignores_case_and_spaces(
            local in "[a-zA-Z0-9]{1,20}", domain in "[a-zA-Z]{1,20}", pad in " {0,3}"
        ) {
            let raw = format!("{pad}{local}@{domain}.com{pad}");
            let once = Email::parse(&raw);
            prop_assert!(once.is_ok());
            let once = once.map(|e| e.0).unwrap_or_default();
            prop_assert_eq!(Email::parse(&once).map(|e| e.0), Ok(once.clone()));
            prop_assert_eq!(Email::parse(&raw.to_uppercase()).map(|e| e.0), Ok(once));
        }

        #[test]
        fn never_panics(raw in ".{0,300}") {
            let _ = Email::parse(&raw);
        }
    }
}
