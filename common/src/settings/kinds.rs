//! What a table row accepts ([`Kind`]: default, bounds, unit, secret, a check) and how its
//! text becomes the field's type ([`FromSetting`]). One kind, one parse: the default is text,
//! read exactly as a value given in the environment would be.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chrono::TimeDelta;
use secrecy::SecretString;

/// No upper bound.
pub const NO_MAX: u64 = u64::MAX;
/// Milliseconds per count of a span's unit, as its variable's name says (`_MS` … `_DAYS`).
pub const MILLIS: u64 = 1;
pub const SECONDS: u64 = 1000;
pub const MINUTES: u64 = 60 * SECONDS;
pub const HOURS: u64 = 60 * MINUTES;
pub const DAYS: u64 = 24 * HOURS;

/// A check of a row's text; the reason never repeats the text.
pub type Check = fn(&str) -> Result<(), &'static str>;

/// What a variable accepts. Build one with the functions below.
#[derive(Clone, Copy)]
pub struct Kind {
    /// The text read when the variable is unset or blank; `None`: the setting is optional.
    pub default: Option<&'static str>,
    /// The values accepted, in Markdown; empty for numbers (their bounds say it) and free text.
    pub accepts: &'static str,
    /// Numbers and spans: the count's bounds, checked before it is converted.
    pub bounds: Option<(u64, u64)>,
    /// Spans: milliseconds per count.
    pub unit: u64,
    /// Never printed, logged or echoed; kept exactly as given; also read from `<NAME>_FILE`.
    pub secret: bool,
    /// Run on the text first; the reason never repeats the text.
    pub check: Option<Check>,
}

const TEXT: Kind = Kind {
    default: None,
    accepts: "",
    bounds: None,
    unit: MILLIS,
    secret: false,
    check: None,
};

/// Text with a default (also the kind of a type that parses itself: see [`FromSetting`]).
pub const fn text(default: &'static str, accepts: &'static str) -> Kind {
    Kind {
        default: Some(default),
        accepts,
        ..TEXT
    }
}

/// Unset by default (the setting's use says what that means).
pub const fn optional(accepts: &'static str) -> Kind {
    Kind { accepts, ..TEXT }
}

/// Text with a default that `check` must accept.
pub const fn checked(default: &'static str, accepts: &'static str, check: Check) -> Kind {
    Kind {
        check: Some(check),
        ..text(default, accepts)
    }
}

pub const fn secret(accepts: &'static str) -> Kind {
    Kind {
        secret: true,
        ..optional(accepts)
    }
}

/// `true` or `false` (also `1`/`0`, `yes`/`no`, `on`/`off`).
pub const fn flag(default: &'static str) -> Kind {
    text(
        default,
        "`true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`)",
    )
}

/// A whole number from `min` to `max`; `default` `""` makes it optional.
pub const fn number(default: &'static str, min: u64, max: u64) -> Kind {
    let default = if default.is_empty() {
        None
    } else {
        Some(default)
    };
    Kind {
        default,
        bounds: Some((min, max)),
        ..TEXT
    }
}

/// A length of time: a count of `unit`s from `min` to `max`.
pub const fn span(default: &'static str, min: u64, max: u64, unit: u64) -> Kind {
    Kind {
        unit,
        ..number(default, min, max)
    }
}

impl Kind {
    /// What it accepts, in Markdown, for the docs.
    pub fn accepts(&self) -> String {
        match self.bounds {
            Some((min, NO_MAX)) => format!("≥ {min}"),
            Some((min, max)) => format!("{min}–{max}"),
            None => self.accepts.to_owned(),
        }
    }

    /// The count, within the bounds.
    fn count(&self, text: &str) -> Result<u64, String> {
        let (min, max) = self.bounds.unwrap_or((0, NO_MAX));
        let bounds = match max {
            NO_MAX => format!(">= {min}"),
            max => format!("from {min} to {max}"),
        };
        let value = text.parse::<u64>().ok().filter(|v| (min..=max).contains(v));
        value.ok_or_else(|| format!("must be a whole number {bounds}"))
    }

    fn millis(&self, text: &str) -> Result<u64, String> {
        let count = self.count(text)?;
        count.checked_mul(self.unit).ok_or_else(too_large)
    }

    /// Values this kind refuses, whatever the type, for the tests of a table: out of bounds,
    /// not a number, too large for any type.
    pub fn refused(&self) -> Vec<String> {
        let Some((min, max)) = self.bounds else {
            return Vec::new();
        };
        let mut values = vec!["x".to_owned(), "1.5".to_owned(), format!("{}0", u64::MAX)];
        values.extend(min.checked_sub(1).map(|below| below.to_string()));
        values.extend((max != NO_MAX).then(|| (max + 1).to_string()));
        values
    }
}

fn too_large() -> String {
    "is too large".to_owned()
}

/// A field type a row can hold: how the row's text (trimmed unless secret, already checked)
/// becomes a value. The reason of an error never repeats the text.
pub trait FromSetting: Sized {
    fn from_setting(text: &str, kind: &Kind) -> Result<Self, String>;
    /// The value of an optional setting that is unset.
    fn unset() -> Result<Self, String> {
        Err("is required".to_owned())
    }
}

impl<T: FromSetting> FromSetting for Option<T> {
    fn from_setting(text: &str, kind: &Kind) -> Result<Self, String> {
        T::from_setting(text, kind).map(Some)
    }
    fn unset() -> Result<Self, String> {
        Ok(None)
    }
}

macro_rules! whole_numbers {
    ($($ty:ty),*) => {$(
        impl FromSetting for $ty {
            fn from_setting(text: &str, kind: &Kind) -> Result<Self, String> {
                <$ty>::try_from(kind.count(text)?).map_err(|_| too_large())
            }
        }
    )*};
}
whole_numbers!(u32, u64, usize, i64);

impl FromSetting for Duration {
    fn from_setting(text: &str, kind: &Kind) -> Result<Self, String> {
        kind.millis(text).map(Duration::from_millis)
    }
}

impl FromSetting for TimeDelta {
    fn from_setting(text: &str, kind: &Kind) -> Result<Self, String> {
        let millis = i64::try_from(kind.millis(text)?).map_err(|_| too_large())?;
        TimeDelta::try_milliseconds(millis).ok_or_else(too_large)
    }
}

/// A row that only checks its text (`HS256`, `http/protobuf`).
impl FromSetting for () {
    fn from_setting(_: &str, _: &Kind) -> Result<Self, String> {
        Ok(())
    }
}

impl FromSetting for String {
    fn from_setting(text: &str, _: &Kind) -> Result<Self, String> {
        Ok(text.to_owned())
    }
}

impl FromSetting for PathBuf {
    fn from_setting(text: &str, _: &Kind) -> Result<Self, String> {
        Ok(PathBuf::from(text))
    }
}

impl FromSetting for SecretString {
    fn from_setting(text: &str, _: &Kind) -> Result<Self, String> {
        Ok(SecretString::from(text))
    }
}

impl FromSetting for f64 {
    fn from_setting(text: &str, _: &Kind) -> Result<Self, String> {
        text.parse().map_err(|_| "must be a number".to_owned())
    }
}

impl FromSetting for bool {
    fn from_setting(text: &str, _: &Kind) -> Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err("must be true or false".to_owned()),
        }
    }
}

impl FromSetting for SocketAddr {
    fn from_setting(text: &str, _: &Kind) -> Result<Self, String> {
        text.parse()
            .map_err(|_| "must be an address such as 0.0.0.0:8000".to_owned())
    }
}

/// A service's listen address, `default` such as `0.0.0.0:8000`.
pub const fn listen_address(default: &'static str) -> Kind {
    text(default, "an address such as `0.0.0.0:8000`")
}
