//! The body target: `common::http::parse_json`, which every request body goes through.
//! Inputs are random bytes, generated JSON (nested, escaped, duplicated keys, odd top levels)
//! and mutations of it; the outcome is checked against `serde_json::Value` and what the
//! generator knows it produced. Values carry a marker that must never appear in an error.

use common::api::RegisterRequest;
use common::error::ErrorCode;
use common::http::parse_json;
use serde_json::Value;

use crate::{Case, Outcome, Rng};

const ALLOWED: &[&str] = &["email", "password", "password_confirmation"];
const KEYS: &[&str] = &[
    "email",
    "password",
    "password_confirmation",
    "token",
    "is_admin",
    "",
    "e\\u006dail",
    "__proto__",
    "emai\\u0000l",
];
/// Put in every generated string value: an error message that echoes it leaks client data.
const MARKER: &str = "s3cr3t";

/// What the generator knows about its output.
struct Generated {
    bytes: Vec<u8>,
    /// Some(true) when it is one JSON object with unique keys, all allowed, and nothing else.
    clean: Option<bool>,
    /// Whether a key was written twice (after unescaping).
    duplicate: bool,
}

/// One input: the body, known before the decoder runs, and the run that judges it.
pub fn case(rng: &mut Rng) -> Case<'static> {
    let generated = generate(rng);
    Case::new(generated.bytes.clone(), move || check(&generated))
}

/// A kept input run again, judged by what the bytes alone tell (`serde_json::Value`); what
/// only the generator knew (a clean object, a duplicate key) is not assumed.
pub fn replay(input: &[u8]) -> Outcome {
    check(&Generated {
        bytes: input.to_vec(),
        clean: None,
        duplicate: false,
    })
}

fn generate(rng: &mut Rng) -> Generated {
    match rng.below(4) {
        0 => Generated {
            bytes: rng.bytes(300),
            clean: None,
            duplicate: false,
        },
        1 => {
            let mut generated = object(rng);
            rng.mutate(&mut generated.bytes);
            generated.clean = None;
            generated
        }
        _ => object(rng),
    }
}

fn check(generated: &Generated) -> Outcome {
    let decoded = parse_json::<RegisterRequest>(&generated.bytes);
    let model: Option<serde_json::Map<String, Value>> =
        match serde_json::from_slice(&generated.bytes) {
            Ok(Value::Object(map)) => Some(map),
            _ => None,
        };
    match decoded {
        Ok(request) => {
            let Some(map) = model else {
                return Err("accepted what is not one JSON object".to_owned());
            };
            if generated.duplicate {
                return Err("accepted a duplicate key".to_owned());
            }
            if let Some(key) = map.keys().find(|k| !ALLOWED.contains(&k.as_str())) {
                return Err(format!("accepted the unknown key {key:?}"));
            }
            let fields = [
                &request.email,
                &request.password,
                &request.password_confirmation,
            ];
            for (name, got) in ALLOWED.iter().zip(fields) {
                let got = Some(got.as_str());
                let want = map.get(*name).and_then(Value::as_str);
                if got != want {
                    return Err(format!("{name}: decoded {got:?}, the JSON says {want:?}"));
                }
            }
            Ok(())
        }
        Err(err) => {
            if err.code != ErrorCode::ValidationError {
                return Err(format!("refused with {:?}", err.code));
            }
            let details = err.details.as_ref();
            // `details.field` names the client's own key (cut to 64 characters); the message
            // and the issue are ours and never carry what was sent.
            let field = details.and_then(|d| d.field.as_deref()).unwrap_or_default();
            if field.chars().count() > 64 {
                return Err(format!(
                    "the error echoes a key of {} characters",
                    field.len()
                ));
            }
            let text = format!(
                "{} {}",
                err.message,
                details.map(|d| d.issue.as_str()).unwrap_or_default()
            );
            if text.contains(MARKER) {
                return Err(format!("the error echoes a value: {text}"));
            }
            // Every field is required and must be a string.
            let incomplete = model.as_ref().is_some_and(|m| {
                ALLOWED
                    .iter()
                    .any(|k| m.get(*k).and_then(Value::as_str).is_none())
            });
            if generated.clean == Some(true) && !incomplete {
                return Err(format!("refused a clean object: {text}"));
            }
            let explained = model.is_none()
                || incomplete
                || generated.duplicate
                || details.is_some_and(|d| d.issue == "appears more than once")
                || model
                    .iter()
                    .flat_map(|m| m.keys())
                    .any(|k| !ALLOWED.contains(&k.as_str()));
            if explained {
                Ok(())
            } else {
                Err(format!("refused a valid object for no reason: {text}"))
            }
        }
    }
}

/// A JSON value as text, nested at most `depth` deep.
fn value(rng: &mut Rng, depth: usize) -> String {
    let kind = if depth == 0 {
        rng.below(5)
    } else {
        rng.below(7)
    };
    match kind {
        0 => string(rng),
        1 => ["null", "true", "false"][rng.below(3)].to_owned(),
        2 => [
            "0",
            "-0",
            "1e999",
            "12345678901234567890123",
            "1.5",
            "-1",
            "0.1e-400",
        ][rng.below(7)]
        .to_owned(),
        3 => string(rng),
        4 => format!("\"{MARKER}\""),
        5 => {
            let items: Vec<String> = (0..rng.below(4)).map(|_| value(rng, depth - 1)).collect();
            format!("[{}]", items.join(","))
        }
        _ => {
            let items: Vec<String> = (0..rng.below(3))
                .map(|_| format!("\"k\":{}", value(rng, depth - 1)))
                .collect();
            format!("{{{}}}", items.join(","))
        }
    }
}

/// A JSON string with the marker and some escapes, control characters and other scripts.
fn string(rng: &mut Rng) -> String {
    let pieces = [
        "a",
        "@",
        "\\n",
        "\\u0000",
        "\\ud83d\\ude00",
        "\\\"",
        "\\\\",
        "é",
        "＠",
        "\u{202e}",
        "\u{1f600}",
        " ",
        "\\/",
        "\\ud800",
    ];
    let mut text = String::from(MARKER);
    for _ in 0..rng.below(6) {
        text.push_str(rng.pick(&pieces).copied().unwrap_or("a"));
    }
    format!("\"{text}\"")
}

/// An object (or, sometimes, something else at the top level) and what is known about it.
fn object(rng: &mut Rng) -> Generated {
    let mut seen: Vec<String> = Vec::new();
    let mut members = Vec::new();
    let mut clean = true;
    let mut duplicate = false;
    for _ in 0..rng.below(5) {
        let raw = rng.pick(KEYS).copied().unwrap_or("email");
        let key = unescape(raw);
        if seen.contains(&key) {
            duplicate = true;
        }
        if !ALLOWED.contains(&key.as_str()) {
            clean = false;
        }
        seen.push(key);
        let value = if rng.one_in(3) {
            value(rng, 3)
        } else {
            string(rng)
        };
        // A lone surrogate escape is not valid JSON text for serde_json.
        if value.contains("\\ud800") && !value.contains("\\ud800\\u") {
            clean = false;
        }
        members.push(format!("\"{raw}\":{value}"));
    }
    let mut text = format!("{{{}}}", members.join(","));
    if rng.one_in(8) {
        let nesting = 1 + rng.below(20_000);
        text = format!(
            "{}{}",
            "[".repeat(nesting),
            "]".repeat(nesting * usize::from(rng.one_in(2)))
        );
        clean = false;
    }
    match rng.below(12) {
        0 => {
            text.insert(0, '\u{feff}');
            clean = false;
        }
        1 => {
            text = format!("[{text}]");
            clean = false;
        }
        2 => {
            text.push_str(" x");
            clean = false;
        }
        3 => text = format!(" \n\t{text}\r\n "),
        _ => {}
    }
    Generated {
        bytes: text.into_bytes(),
        // Nested values may hold numbers serde_json refuses (1e999); only flat strings are sure.
        clean: (clean && !duplicate && !text_has_odd_numbers(&members)).then_some(true),
        duplicate,
    }
}

fn text_has_odd_numbers(members: &[String]) -> bool {
    members
        .iter()
        .any(|m| m.contains("1e999") || m.contains("\\ud800"))
}

fn unescape(raw: &str) -> String {
    raw.replace("\\u006d", "m").replace("\\u0000", "\u{0}")
}
