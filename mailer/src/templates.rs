//! The two emails, plain text and HTML, from the templates in `mailer/templates/` (compiled
//! in). A template names its values as `{email}`, `{link}` and `{expires_at}`; each is filled in
//! one pass, so a value that itself holds `{…}` is never expanded, and every value is
//! HTML-escaped in the HTML part.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::config::TOKEN_PLACEHOLDER;

const VERIFY_TEXT: &str = include_str!("../templates/verify_email.txt");
const VERIFY_HTML: &str = include_str!("../templates/verify_email.html");
const RESET_TEXT: &str = include_str!("../templates/reset_password.txt");
const RESET_HTML: &str = include_str!("../templates/reset_password.html");

pub const VERIFY_SUBJECT: &str = "Verify your email address";
pub const RESET_SUBJECT: &str = "Reset your password";

/// One email's content, before it is addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    pub subject: &'static str,
    pub text: String,
    pub html: String,
}

/// The verification email for `email`, linking to `link_template` with `token`.
pub fn verification(link_template: &str, email: &str, token: &str) -> Content {
    let link = link(link_template, token);
    let values = [("email", email), ("link", link.as_str())];
    Content {
        subject: VERIFY_SUBJECT,
        text: render(VERIFY_TEXT, &values, false),
        html: render(VERIFY_HTML, &values, true),
    }
}

/// The password-reset email, valid until `expires_at`.
pub fn password_reset(
    link_template: &str,
    email: &str,
    token: &str,
    expires_at: DateTime<Utc>,
) -> Content {
    let link = link(link_template, token);
    let expires = expires_at
        .to_rfc3339_opts(SecondsFormat::Secs, true)
        .replace('T', " ")
        .replace('Z', " UTC");
    let values = [
        ("email", email),
        ("link", link.as_str()),
        ("expires_at", expires.as_str()),
    ];
    Content {
        subject: RESET_SUBJECT,
        text: render(RESET_TEXT, &values, false),
        html: render(RESET_HTML, &values, true),
    }
}

/// `template` with `{token}` replaced by the URL-encoded token.
pub fn link(template: &str, token: &str) -> String {
    template.replace(TOKEN_PLACEHOLDER, &url_encode(token))
}

/// Percent-encodes every byte but the URL-unreserved ones (RFC 3986: letters, digits, `-._~`),
/// so the token is one opaque query or fragment value whatever it holds.
pub fn url_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `&`, `<`, `>`, `"` and `'` as entities: safe in element text and in quoted attributes.
pub fn escape_html(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// Fills `{name}` from `values` in one left-to-right pass; anything else is copied as it is.
fn render(template: &str, values: &[(&str, &str)], html: bool) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after.find('}').and_then(|close| {
            let name = &after[..close];
            let value = values.iter().find(|(n, _)| *n == name)?.1;
            Some((value, close))
        });
        match value {
            Some((value, close)) => {
                if html {
                    out.push_str(&escape_html(value));
                } else {
                    out.push_str(value);
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_url_encoded_into_the_link() {
        assert_eq!(
            link("https://app.example/v?token={token}", "a b/c?d&e=f+g~h"),
            "https://app.example/v?token=a%20b%2Fc%3Fd%26e%3Df%2Bg~h"
        );
        assert_eq!(link("https://x/#{token}", "Ab-9_."), "https://x/#Ab-9_.");
        assert_eq!(url_encode("é"), "%C3%A9");
    }

    #[test]
    fn html_gets_escaped_values_and_text_gets_them_as_they_are() {
        let email = "\"<b>x</b>\"@example.com";
        let content = verification("https://app.example/v?a=1&token={token}", email, "t0k");
        assert!(content
            .html
            .contains("href=\"https://app.example/v?a=1&amp;token=t0k\""));
        assert!(content
            .html
            .contains("&quot;&lt;b&gt;x&lt;/b&gt;&quot;@example.com"));
        assert!(!content.html.contains("<b>"));
        assert!(content.text.contains("https://app.example/v?a=1&token=t0k"));
        assert!(content.text.contains(email));
    }

    #[test]
    fn a_value_that_looks_like_a_placeholder_is_not_expanded() {
        let content = verification("https://x/?t={token}", "{link}@example.com", "tok");
        assert!(content.text.contains("{link}@example.com"));
        assert_eq!(render("{a} {b} {", &[("a", "{b}")], false), "{b} {b} {");
    }

    #[test]
    fn the_reset_email_says_until_when() {
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let content = password_reset("https://x/r#{token}", "a@b.co", "tok", at);
        assert_eq!(content.subject, RESET_SUBJECT);
        assert!(
            content.text.contains("2027-01-15 08:00:00 UTC"),
            "{}",
            content.text
        );
        assert!(content.text.contains("https://x/r#tok"));
        assert!(content.html.contains("https://x/r#tok"));
    }
}
