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

    /// 1 to 20 letters and digits whose lower case is again one letter, ASCII and not (ß,
    /// σ/ς, Cyrillic).
    const WORD: &str = "[a-zA-Z0-9àáâäçèéêëíîïñóôöøùúüýÿßæåÀÁÂÄÇÈÉÊËÍÎÏÑÓÔÖØÙÚÜÝÆÅαβγδελμπσςωΑΒΓΔΛΣΩабвгдежзийклмнопрстуфхцчшщыэюяАБВГДЖЗИКЛМНОПРСТУЮЯ]{1,20}";

    /// Unicode white space (`char::is_whitespace`), ASCII and not: NBSP, em space, line
    /// separator, ideographic space, next line.
    const PAD: &str = "[ \t\r\n\u{0B}\u{0C}\u{85}\u{A0}\u{1680}\u{2003}\u{2009}\u{2028}\u{2029}\u{202F}\u{205F}\u{3000}]{0,3}";

    proptest! {
        #[test]
        fn normalisation_is_idempotent_and_ignores_case_and_spaces(
            local in WORD,
            domain in WORD,
            before in PAD,
            after in PAD,
        ) {
            let raw = format!("{before}{local}@{domain}.com{after}");
            let once = Email::parse(&raw).map(|e| e.0);
            // Trimmed (Unicode white space too) and lower-cased (non-ASCII letters too).
            let expected = format!("{local}@{domain}.com").to_lowercase();
            prop_assert_eq!(&once, &Ok(expected.clone()));
            prop_assert_eq!(Email::parse(&expected).map(|e| e.0), Ok(expected.clone()));
            prop_assert_eq!(Email::parse(&raw.to_lowercase()).map(|e| e.0), Ok(expected.clone()));
            // Upper case folds back wherever the letter round-trips ('ß' becomes "SS": not).
            let upper = raw.to_uppercase();
            if upper.to_lowercase() == raw.to_lowercase() {
                prop_assert_eq!(Email::parse(&upper).map(|e| e.0), Ok(expected));
            }
        }

        #[test]
        fn whatever_is_accepted_is_its_own_trimmed_lower_case(
            raw in "\\s{0,3}\\p{L}{1,12}@\\p{L}{1,12}\\.\\p{L}{2,6}\\s{0,3}"
        ) {
            let normal = raw.trim().to_lowercase();
            let parsed = Email::parse(&raw).map(|e| e.0);
            // Trimming and lower-casing come before any check, so they never change the verdict.
            prop_assert_eq!(&parsed, &Email::parse(&normal).map(|e| e.0));
            if let Ok(email) = parsed {
                prop_assert_eq!(&email, &normal);
                prop_assert_eq!(Email::parse(&email).map(|e| e.0), Ok(email.clone()));
                prop_assert!(!email.starts_with(char::is_whitespace));
                prop_assert!(!email.ends_with(char::is_whitespace));
            }
        }

        #[test]
        fn never_panics(raw in ".{0,300}") {
            let _ = Email::parse(&raw);
        }
    }
}
