//! Settings declared once. A [`settings!`](crate::settings!) table gives each environment
//! variable one row (field, type, name, kind with its typed default and bounds, meaning); the
//! row is the variable's parser, its `--help` line, its `check-config` line and its row in
//! docs/CONFIGURATION.md.
//!
//! Values come from an injectable lookup: the process environment plus an optional `.env` file
//! ([`process_lookup`]), or a test's map. Nothing calls `set_var`. Every failure is a
//! [`ConfigError`] that names the variable and never contains its value.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::path::PathBuf;
use std::time::Duration;

use chrono::TimeDelta;
use secrecy::SecretString;

/// A setting that is missing or wrong. Displays as one line naming the variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(variable: &str, reason: impl Into<String>) -> Self {
        let (variable, reason) = (variable.to_owned(), reason.into());
        ConfigError { variable, reason }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid configuration: {} {}",
            self.variable, self.reason
        )
    }
}

impl std::error::Error for ConfigError {}

/// Where settings come from: the environment, a `.env` file, or a test's map.
pub struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Env<'a> {
    pub fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Env { lookup }
    }

    /// The value, with a blank one read as unset (as compose files often pass them).
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|v| !v.trim().is_empty())
    }

    /// The variable `name` read as `kind` says; an error names the variable.
    pub fn read<T>(&self, name: &str, kind: &impl Parse<T>) -> Result<T, ConfigError> {
        kind.parse(self.get(name).as_deref())
            .map_err(|reason| ConfigError::new(name, reason))
    }
}

/// The process environment over the `.env` file in the working directory, if there is one.
/// Real environment variables win, as with every dotenv tool.
pub fn process_lookup() -> Result<impl Fn(&str) -> Option<String>, ConfigError> {
    let mut file = HashMap::new();
    match dotenvy::dotenv_iter() {
        Ok(iter) => {
            for item in iter {
                let (key, value) =
                    item.map_err(|_| ConfigError::new(".env", "cannot be parsed"))?;
                file.insert(key, value);
            }
        }
        Err(err) if err.not_found() => {}
        Err(_) => return Err(ConfigError::new(".env", "cannot be read")),
    }
    Ok(move |name: &str| std::env::var(name).ok().or_else(|| file.get(name).cloned()))
}

/// `lookup` with every secret of `tables` also read from a file: `<NAME>_FILE` names a file
/// whose content is the value (the Docker and Kubernetes secrets convention), with one trailing
/// newline trimmed. Setting both `<NAME>` and `<NAME>_FILE` is an error naming the variable, and
/// so is a file that cannot be read; neither error shows the content.
pub fn with_secret_files(
    lookup: impl Fn(&str) -> Option<String>,
    tables: &[&[Var]],
) -> Result<impl Fn(&str) -> Option<String>, ConfigError> {
    let mut from_files = HashMap::new();
    for var in tables
        .iter()
        .flat_map(|vars| vars.iter())
        .filter(|v| v.secret())
    {
        let file_variable = format!("{}_FILE", var.name);
        let Some(path) = lookup(&file_variable).filter(|p| !p.trim().is_empty()) else {
            continue;
        };
        if lookup(var.name).is_some_and(|v| !v.trim().is_empty()) {
            let reason = format!("is set twice: give it or {file_variable}, not both");
            return Err(ConfigError::new(var.name, reason));
        }
        let content = std::fs::read_to_string(path.trim()).map_err(|err| {
            ConfigError::new(&file_variable, format!("cannot be read: {}", err.kind()))
        })?;
        let value = content.strip_suffix('\n').unwrap_or(&content);
        from_files.insert(
            var.name,
            value.strip_suffix('\r').unwrap_or(value).to_owned(),
        );
    }
    Ok(move |name: &str| from_files.get(name).cloned().or_else(|| lookup(name)))
}

/// One environment variable: a row of a [`settings!`](crate::settings!) table.
#[derive(Clone, Copy)]
pub struct Var {
    pub name: &'static str,
    /// The `<!-- settings: … -->` placeholder of docs/CONFIGURATION.md it is listed under.
    pub section: &'static str,
    /// What it does, in Markdown.
    pub meaning: &'static str,
    pub kind: &'static dyn Kind,
}

impl Var {
    /// The default as text, `-` when unset means "not set".
    pub fn default(&self) -> String {
        self.kind.default_text().unwrap_or_else(|| "-".to_owned())
    }

    /// Never printed, logged or echoed in an error; also read from `<NAME>_FILE`.
    pub fn secret(&self) -> bool {
        self.kind.is_secret()
    }
}

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

/// Free text, trimmed, with a default.
pub struct Text(pub &'static str);

impl Kind for Text {
    fn default_text(&self) -> Option<String> {
        Some(self.0.to_owned())
    }
    fn accepts(&self) -> String {
        String::new()
    }
}

impl Parse<String> for Text {
    fn parse(&self, raw: Option<&str>) -> Result<String, String> {
        Ok(raw.unwrap_or(self.0).trim().to_owned())
    }
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

impl Parse<Option<String>> for Optional {
    fn parse(&self, raw: Option<&str>) -> Result<Option<String>, String> {
        Ok(raw.map(|v| v.trim().to_owned()))
    }
}

impl Parse<Option<PathBuf>> for Optional {
    fn parse(&self, raw: Option<&str>) -> Result<Option<PathBuf>, String> {
        Ok(raw.map(|v| PathBuf::from(v.trim())))
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

/// `true` or `false` (also `1`/`0`, `yes`/`no`, `on`/`off`), with a default.
pub struct Flag(pub bool);

impl Kind for Flag {
    fn default_text(&self) -> Option<String> {
        Some(self.0.to_string())
    }
    fn accepts(&self) -> String {
        "`true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`)".to_owned()
    }
}

impl Parse<bool> for Flag {
    fn parse(&self, raw: Option<&str>) -> Result<bool, String> {
        match raw.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None => Ok(self.0),
            Some("true" | "1" | "yes" | "on") => Ok(true),
            Some("false" | "0" | "no" | "off") => Ok(false),
            Some(_) => Err("must be true or false".to_owned()),
        }
    }
}

/// A whole number from `min` to `max` (`u64::MAX`: no upper bound); `default: None` makes
/// the setting optional.
pub struct Number {
    pub default: Option<u64>,
    pub min: u64,
    pub max: u64,
}

/// An unbounded maximum.
pub const NO_MAX: u64 = u64::MAX;

impl Number {
    /// `default`, and `min..=max` accepted.
    pub const fn new(default: u64, min: u64, max: u64) -> Self {
        Number {
            default: Some(default),
            min,
            max,
        }
    }

    /// Unset by default (the setting's use says what that means); `min..=max` accepted.
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

/// The integer types a [`Number`] converts to.
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
    /// `default` `unit`s, and `min..=max` of them accepted.
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
/// parsed the same way (a unit test parses every default of every table).
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

/// Declares a crate's settings once. Each row is `field: Type = NAME, kind, "meaning";`
/// under the docs section it is listed in, and yields: the constant `NAME`, the field of the
/// struct (with `meaning` as its doc), the row of `VARS` (help, docs, `check-config`), and the
/// field's parsing in `read`.
///
/// ```ignore
/// settings! {
///     /// The shared settings.
///     pub struct CommonSettings;
///     "tokens" {
///         leeway: u64 = JWT_LEEWAY_SECONDS, Number { default: Some(30), min: 0, max: 3600 },
///             "clock skew allowed on `exp` and `nbf`";
///     }
/// }
/// ```
#[macro_export]
macro_rules! settings {
    (
        $(#[$attr:meta])*
        $vis:vis struct $settings:ident;
        $( $section:literal {
            $( $field:ident : $ty:ty = $name:ident, $kind:expr, $meaning:literal; )*
        } )*
    ) => {
        $( $( #[doc = $meaning] pub const $name: &str = stringify!($name); )* )*

        /// Every variable of the table, in order: help, docs and `check-config` list these.
        pub const VARS: &[$crate::settings::Var] = &[$( $(
            $crate::settings::Var { name: $name, section: $section, meaning: $meaning, kind: &$kind },
        )* )*];

        $(#[$attr])*
        $vis struct $settings { $( $( #[doc = $meaning] pub $field: $ty, )* )* }

        impl $settings {
            /// Every variable of the table, parsed and bounded; the first bad one is the error.
            pub fn read(env: &$crate::settings::Env) -> Result<Self, $crate::settings::ConfigError> {
                Ok($settings { $( $( $field: env.read($name, &$kind)?, )* )* })
            }
        }
    };
}

/// `--help`'s lines for `vars` under `title`: name, default, meaning, secrets marked.
pub fn help(out: &mut String, title: &str, vars: &[Var]) {
    let width = vars.iter().map(|v| v.name.len()).max().unwrap_or(0);
    let _ = writeln!(out, "\n{title}:");
    for var in vars {
        let secret = if var.secret() { " (secret)" } else { "" };
        let (name, default) = (var.name, var.default());
        let _ = writeln!(out, "  {name:<width$}  {default}  {}{secret}", var.meaning);
    }
}

/// `check-config`'s line for each of `vars`: the value in force, a secret shown as set or not,
/// and a URL without its user and password.
pub fn summary(env: &Env, vars: &[Var]) -> Vec<String> {
    let shown = |var: &Var| match (env.get(var.name), var.secret()) {
        (Some(_), true) => "(set)".to_owned(),
        (Some(value), false) => redact_url(value.trim()),
        (None, true) if var.kind.default_text().is_none() => "(not set)".to_owned(),
        (None, _) => redact_url(&var.default()),
    };
    vars.iter()
        .map(|var| format!("{} = {}", var.name, shown(var)))
        .collect()
}

/// A URL with any user name and password replaced by `***` (`nats://***@host:4222`).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => url.to_owned(),
    }
}

/// docs/CONFIGURATION.md: `template` with each `<!-- settings: SECTION -->` line replaced by
/// the table of the variables of `tables` in that section. A section without variables, or a
/// variable whose section the template lacks, is an error.
pub fn document(template: &str, tables: &[&[Var]]) -> Result<String, String> {
    let vars: Vec<&Var> = tables.iter().flat_map(|t| t.iter()).collect();
    let mut out = String::new();
    let mut placed = 0;
    for line in template.lines() {
        let Some(section) = line
            .strip_prefix("<!-- settings: ")
            .and_then(|rest| rest.strip_suffix(" -->"))
        else {
            let _ = writeln!(out, "{line}");
            continue;
        };
        let rows: Vec<&&Var> = vars.iter().filter(|v| v.section == section).collect();
        if rows.is_empty() {
            return Err(format!("no variable is in section {section}"));
        }
        placed += rows.len();
        out.push_str("| variable | default | bounds | meaning |\n|---|---|---|---|\n");
        for var in rows {
            let default = var
                .kind
                .default_text()
                .map_or("—".to_owned(), |d| format!("`{d}`"));
            let secret = if var.secret() { " (secret)" } else { "" };
            let (name, accepts) = (var.name, var.kind.accepts());
            let _ = writeln!(
                out,
                "| `{name}` | {default} | {accepts} | {}{secret} |",
                var.meaning
            );
        }
    }
    if placed != vars.len() {
        return Err("a variable's section has no placeholder in the template".to_owned());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read<T>(raw: &str, kind: &impl Parse<T>) -> Result<T, String> {
        kind.parse(Some(raw))
    }

    #[test]
    fn numbers_and_spans_are_bounded_before_they_are_converted() {
        let number = Number {
            default: Some(7),
            min: 1,
            max: 10,
        };
        assert_eq!(number.parse(None), Ok(7u32));
        assert_eq!(read(" 10 ", &number), Ok(10u32));
        for bad in ["0", "11", "-1", "1.5", "ten", "18446744073709551616"] {
            let err: Result<u32, _> = read(bad, &number);
            assert_eq!(
                err,
                Err("must be a whole number from 1 to 10".into()),
                "{bad}"
            );
        }
        let unbounded = Number {
            default: None,
            min: 0,
            max: NO_MAX,
        };
        assert_eq!(unbounded.parse(None), Ok(None::<usize>));
        let err: Result<u32, _> = read("4294967296", &unbounded);
        assert_eq!(err, Err("is too large".into()));

        let days = Span {
            default: 2,
            min: 1,
            max: NO_MAX,
            unit: Unit::Days,
        };
        assert_eq!(days.parse(None), Ok(TimeDelta::days(2)));
        assert_eq!(read("3", &days), Ok(Duration::from_secs(3 * 86_400)));
        let huge: Result<TimeDelta, _> = read(&u64::MAX.to_string(), &days);
        assert_eq!(huge, Err("is too large".into()));
    }

    #[test]
    fn flags_text_and_secrets_read_as_documented() -> Result<(), String> {
        for (raw, value) in [("yes", true), ("ON", true), ("0", false), ("off", false)] {
            assert_eq!(read(raw, &Flag(true)), Ok(value), "{raw}");
        }
        assert_eq!(
            read("maybe", &Flag(false)),
            Err("must be true or false".into())
        );
        assert_eq!(Text("x").parse(None), Ok("x".to_owned()));
        assert_eq!(read(" y ", &Text("x")), Ok("y".to_owned()));
        let secret = Secret {
            default: None,
            accepts: "",
        };
        let kept: Option<SecretString> = secret.parse(Some("key "))?;
        let kept = kept.map(|k| secrecy::ExposeSecret::expose_secret(&k).to_owned());
        assert_eq!(kept.as_deref(), Some("key "));
        Ok(())
    }

    #[test]
    fn summaries_hide_secrets_and_credentials() {
        const VARS: &[Var] = &[
            Var {
                name: "A",
                section: "s",
                meaning: "",
                kind: &Secret {
                    default: None,
                    accepts: "",
                },
            },
            Var {
                name: "B",
                section: "s",
                meaning: "",
                kind: &Text("nats://u:p@h:4222"),
            },
            Var {
                name: "C",
                section: "s",
                meaning: "",
                kind: &Optional(""),
            },
        ];
        let values = HashMap::from([("A", "hunter2")]);
        let lookup = |name: &str| values.get(name).map(|v| (*v).to_owned());
        let lines = summary(&Env::new(&lookup), VARS);
        assert_eq!(lines, ["A = (set)", "B = nats://***@h:4222", "C = -"]);
        assert_eq!(
            redact_url("postgres://u:p@db/auth?x=a@b"),
            "postgres://***@db/auth?x=a@b"
        );
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
