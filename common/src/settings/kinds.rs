//! The kinds of setting a table row names: each parses a variable's text into a typed value
//! and describes its default and bounds for `--help` and the docs.

use std::time::Duration;

use chrono::TimeDelta;
use secrecy::SecretString;

/// What a variable accepts and its default, in words (for `--help` and the docs).
pub trait Kind: Sync {
    /// The default as the variable would be written; `None` when the setting is optional.
    fn default_text(&self) -> Option<String>;
    /// The values accepted, in Markdown; empty when any text is.
    fn accepts(&self) -> String;
    fn is_secret(&self) -> bool {
        false
    }
}

/// How a variable's text (`None`: unset or blank) becomes a `T`; the error is the reason,
/// which never repeats the text.
pub trait Parse<T>: Kind {
    fn parse(&self, raw: Option<&str>) -> Result<T, String>;
}

/// Optional text (a key id, a file path), trimmed; `.0` says what it must be.
pub struct Optional(pub &'static str);

impl Kind for Optional {
    fn default_text(&self) -> Option<String> {
        None
    }
    fn accepts(&self) -> String {
        self.0.to_owned()
    }
}

impl<T: for<'a> From<&'a str>> Parse<Option<T>> for Optional {
    fn parse(&self, raw: Option<&str>) -> Result<Option<T>, String> {
        Ok(raw.map(|v| T::from(v.trim())))
    }
}

/// A secret, kept exactly as given (a trailing space is part of it).
pub struct Secret {
    pub default: Option<&'static str>,
    pub accepts: &'static str,
}

impl Kind for Secret {
    fn default_text(&self) -> Option<String> {
        self.default.map(str::to_owned)
    }
    fn accepts(&self) -> String {
        self.accepts.to_owned()
    }
    fn is_secret(&self) -> bool {
        true
    }
}

impl Parse<Option<SecretString>> for Secret {
    fn parse(&self, raw: Option<&str>) -> Result<Option<SecretString>, String> {
        Ok(raw.or(self.default).map(SecretString::from))
    }
}

impl Parse<SecretString> for Secret {
    fn parse(&self, raw: Option<&str>) -> Result<SecretString, String> {
        let value: Option<SecretString> = self.parse(raw)?;
        value.ok_or_else(|| "is required".to_owned())
    }
}

/// A whole number from `min` to `max` (`u64::MAX`: no upper bound); `default: None` makes
/// the setting optional.
pub struct Number {
    pub default: Option<u64>,
    pub min: u64,
    pub max: u64,
}

pub const NO_MAX: u64 = u64::MAX;

impl Number {
    pub const fn new(default: u64, min: u64, max: u64) -> Self {
        Number {
            default: Some(default),
            min,
            max,
        }
    }

    /// Unset by default (the setting's use says what that means).
    pub const fn optional(min: u64, max: u64) -> Self {
        Number {
            default: None,
            min,
            max,
        }
    }

    fn bounds(&self) -> String {
        match self.max {
            NO_MAX => format!("a whole number >= {}", self.min),
            max => format!("a whole number from {} to {max}", self.min),
        }
    }

    fn count(&self, raw: &str) -> Result<u64, String> {
        let value = raw.trim().parse::<u64>().ok();
        value
            .filter(|v| (self.min..=self.max).contains(v))
            .ok_or_else(|| format!("must be {}", self.bounds()))
    }
}

impl Kind for Number {
    fn default_text(&self) -> Option<String> {
        self.default.map(|d| d.to_string())
    }
    fn accepts(&self) -> String {
        match self.max {
            NO_MAX => format!("≥ {}", self.min),
            max => format!("{}–{max}", self.min),
        }
    }
}

pub trait Whole: TryFrom<u64> {}
impl Whole for u32 {}
impl Whole for u64 {}
impl Whole for usize {}
impl Whole for i64 {}

impl<T: Whole> Parse<Option<T>> for Number {
    fn parse(&self, raw: Option<&str>) -> Result<Option<T>, String> {
        let Some(count) = raw.map(|r| self.count(r)).transpose()?.or(self.default) else {
            return Ok(None);
        };
        T::try_from(count)
            .map(Some)
            .map_err(|_| "is too large".to_owned())
    }
}

impl<T: Whole> Parse<T> for Number {
    fn parse(&self, raw: Option<&str>) -> Result<T, String> {
        let value: Option<T> = self.parse(raw)?;
        value.ok_or_else(|| "is required".to_owned())
    }
}

/// What a [`Span`] counts, as its variable's name says (`_MS`, `_SECONDS`, … `_DAYS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Millis,
    Seconds,
    Minutes,
    Hours,
    Days,
}

impl Unit {
    fn millis(self) -> u64 {
        match self {
            Unit::Millis => 1,
            Unit::Seconds => 1000,
            Unit::Minutes => 60_000,
            Unit::Hours => 3_600_000,
            Unit::Days => 86_400_000,
        }
    }
}

/// A length of time: a count of `unit`s from `min` to `max`, checked before it is converted.
pub struct Span {
    pub default: u64,
    pub min: u64,
    pub max: u64,
    pub unit: Unit,
}

impl Span {
    pub const fn new(default: u64, min: u64, max: u64, unit: Unit) -> Self {
        Span {
            default,
            min,
            max,
            unit,
        }
    }

    fn millis(&self, raw: Option<&str>) -> Result<u64, String> {
        let count: u64 = Number::new(self.default, self.min, self.max).parse(raw)?;
        count
            .checked_mul(self.unit.millis())
            .ok_or_else(|| "is too large".to_owned())
    }
}

impl Kind for Span {
    fn default_text(&self) -> Option<String> {
        Some(self.default.to_string())
    }
    fn accepts(&self) -> String {
        Number::optional(self.min, self.max).accepts()
    }
}

impl Parse<Duration> for Span {
    fn parse(&self, raw: Option<&str>) -> Result<Duration, String> {
        self.millis(raw).map(Duration::from_millis)
    }
}

impl Parse<TimeDelta> for Span {
    fn parse(&self, raw: Option<&str>) -> Result<TimeDelta, String> {
        let millis = self.millis(raw)?;
        i64::try_from(millis)
            .ok()
            .and_then(TimeDelta::try_milliseconds)
            .ok_or_else(|| "is too large".to_owned())
    }
}

/// Text turned into a `T` by `parse`, whose error is the reason; the default is text too,
/// parsed the same way (the tests that load a default configuration parse every default).
pub struct Parsed<T: 'static> {
    pub default: &'static str,
    pub accepts: &'static str,
    pub parse: fn(&str) -> Result<T, &'static str>,
}

impl<T> Kind for Parsed<T> {
    fn default_text(&self) -> Option<String> {
        (!self.default.is_empty()).then(|| self.default.to_owned())
    }
    fn accepts(&self) -> String {
        self.accepts.to_owned()
    }
}

impl<T> Parse<T> for Parsed<T> {
    fn parse(&self, raw: Option<&str>) -> Result<T, String> {
        (self.parse)(raw.unwrap_or(self.default).trim()).map_err(str::to_owned)
    }
}

pub const fn text(default: &'static str) -> Parsed<String> {
    let parse = |s: &str| Ok(s.to_owned());
    Parsed {
        default,
        accepts: "",
        parse,
    }
}

/// `true` or `false` (also `1`/`0`, `yes`/`no`, `on`/`off`), with a default.
pub const fn flag(default: bool) -> Parsed<bool> {
    Parsed {
        default: if default { "true" } else { "false" },
        accepts: "`true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`)",
        parse: |s| match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err("must be true or false"),
        },
    }
}
