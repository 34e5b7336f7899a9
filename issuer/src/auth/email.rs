//! Email addresses: trimmed, lower-cased, Unicode-normalised, and checked for a plausible shape.
//!
//! One mailbox is one account: the domain goes through UTS-46 (the `idna` crate) to its ASCII
//! form, so `exämple.de`, `EXÄMPLE.de` and `xn--exmple-cua.de` are the same domain, and the
//! local part is put in Unicode NFC, so `josé` typed precomposed or with a combining accent is
//! the same name. What is stored and compared is `nfc(lowercase(local)) @ ascii(domain)`.

use std::fmt;

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};
use unicode_normalization::UnicodeNormalization;

/// A normalised address: what is stored and compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

/// Longest address SMTP can carry (RFC 5321 §4.5.3.1.3, path limit less the brackets).
const MAX_LEN: usize = 254;
const MAX_LOCAL_LEN: usize = 64;
const LOCAL_SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~.";

impl Email {
    /// Trims, lower-cases, normalises and validates. The error says which rule failed.
    pub fn parse(raw: &str) -> Result<Email, &'static str> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err("is empty");
        }
        if email.chars().count() > MAX_LEN {
            return Err("is longer than 254 characters");
        }
        let (local, domain) = email.rsplit_once('@').ok_or("has no @")?;
        let local: String = local.nfc().collect();
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
        let domain = ascii_domain(domain).ok_or("has a domain that is not valid")?;
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
            && labels
                .last()
                .is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()));
        if !domain_ok {
            return Err("has a domain that is not valid");
        }
        let email = format!("{local}@{domain}");
        if email.chars().count() > MAX_LEN {
            return Err("is longer than 254 characters");
        }
        Ok(Email(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// UTS-46 ToASCII with the STD3 rules (letters, digits and hyphens only), no hyphen first or
/// last in a label, and DNS lengths: `None` for whatever UTS-46 refuses (a disallowed or
/// unassigned code point, a broken `xn--` label, a label over 63 bytes, a bidi or joiner rule).
fn ascii_domain(domain: &str) -> Option<String> {
    Uts46::new()
        .to_ascii(
            domain.as_bytes(),
            AsciiDenyList::STD3,
            Hyphens::CheckFirstLast,
            DnsLength::Verify,
        )
        .ok()
        .map(|ascii| ascii.into_owned())
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

    #[test]
    fn one_domain_in_any_spelling_is_one_ascii_domain() {
        for spelling in [
            "ada@exämple.de",
            "Ada@EXÄMPLE.DE",
            "ada@xn--exmple-cua.de",
            "ADA@XN--EXMPLE-CUA.DE",
            // Fullwidth letters and the ideographic full stop map to their ASCII forms.
            "ada@ｅｘäｍｐｌｅ。de",
            // A decomposed ä in the domain is the same letter.
            "ada@exa\u{308}mple.de",
        ] {
            assert_eq!(
                Email::parse(spelling).map(|e| e.0),
                Ok("ada@xn--exmple-cua.de".to_string()),
                "{spelling}"
            );
        }
        assert_eq!(
            Email::parse("ada@example.com").map(|e| e.0),
            Ok("ada@example.com".to_string())
        );
    }

    #[test]
    fn a_local_part_is_stored_in_nfc() {
        let composed = "jos\u{e9}@example.com";
        let decomposed = "jose\u{301}@example.com";
        assert_eq!(
            Email::parse(composed).map(|e| e.0),
            Ok(composed.to_string())
        );
        assert_eq!(
            Email::parse(decomposed).map(|e| e.0),
            Ok(composed.to_string())
        );
        assert_eq!(
            Email::parse("JOSE\u{301}@example.com").map(|e| e.0),
            Ok(composed.to_string())
        );
    }

    #[test]
    fn a_domain_uts46_refuses_is_not_an_address() {
        for bad in [
            // A zero-width joiner outside the context that allows it (CONTEXTJ).
            "ada@ex\u{200d}ample.de",
            // Code points UTS-46 disallows.
            "ada@exa\u{fffd}mple.de",
            "ada@exam\u{2028}ple.de",
            // An `xn--` label that is not valid Punycode, or decodes to plain ASCII.
            "ada@xn--ab-.de",
            "ada@xn--example-.de",
            // Right-to-left and left-to-right letters mixed in one label (the bidi rule).
            "ada@a\u{5d0}.de",
            // A label of 64 bytes once in ASCII.
            &format!("ada@{}.de", "ä".repeat(60)),
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
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
            let expected = format!(
                "{}@{}",
                local.to_lowercase().nfc().collect::<String>(),
                idna::domain_to_ascii(&format!("{domain}.com").to_lowercase()).unwrap_or_default()
            );
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
        fn whatever_is_accepted_is_its_own_normal_form(
            raw in "\\s{0,3}\\p{L}{1,12}@\\p{L}{1,12}\\.\\p{L}{2,6}\\s{0,3}"
        ) {
            let normal = raw.trim().to_lowercase();
            let parsed = Email::parse(&raw).map(|e| e.0);
            // Trimming and lower-casing come before any check, so they never change the verdict.
            prop_assert_eq!(&parsed, &Email::parse(&normal).map(|e| e.0));
            if let Ok(email) = parsed {
                let (local, domain) = normal.rsplit_once('@').unwrap_or_default();
                let stored = format!(
                    "{}@{}",
                    local.nfc().collect::<String>(),
                    idna::domain_to_ascii(domain).unwrap_or_default()
                );
                prop_assert_eq!(&email, &stored);
                prop_assert!(email.rsplit_once('@').is_some_and(|(_, d)| d.is_ascii()));
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
