//! Settings declared once. A [`settings!`](crate::settings!) table gives each environment
//! variable one row (field, type, name, kind with its typed default and bounds, meaning); the
//! row is the variable's parser, its `--help` line, its `check-config` line and its row in
//! docs/CONFIGURATION.md.
//!
//! Values come from an injectable lookup: the process environment plus an optional `.env` file
//! ([`process_lookup`]), or a test's map. Nothing calls `set_var`. Every failure is a
//! [`ConfigError`] that names the variable and never contains its value.

use std::collections::HashMap;
use std::fmt::Write as _;

mod kinds;

pub use kinds::{
    checked, flag, listen_address, number, optional, secret, span, text, FromSetting, Kind, DAYS,
    HOURS, MILLIS, MINUTES, NO_MAX, SECONDS,
};

/// A setting that is missing or wrong. Displays as one line naming the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {variable} {reason}")]
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

    /// The row `name` of kind `kind`: its text, or the default, checked and converted.
    pub fn read<T: FromSetting>(&self, name: &str, kind: &Kind) -> Result<T, ConfigError> {
        let raw = self.get(name);
        let value = match raw.as_deref().or(kind.default) {
            None => T::unset(),
            Some(text) => {
                let text = if kind.secret { text } else { text.trim() };
                let checked = kind.check.map_or(Ok(()), |check| check(text));
                checked
                    .map_err(str::to_owned)
                    .and_then(|()| T::from_setting(text, kind))
            }
        };
        value.map_err(|reason| ConfigError::new(name, reason))
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
    for var in tables.iter().copied().flatten().filter(|v| v.secret()) {
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
        let value = value.strip_suffix('\r').unwrap_or(value);
        from_files.insert(var.name, value.to_owned());
    }
    Ok(move |name: &str| from_files.get(name).cloned().or_else(|| lookup(name)))
}

/// Two settings that come together (a certificate and its key, a user and a password): both,
/// or neither; one alone is an error naming the other.
pub fn pair<A, B>(
    a: (&str, Option<A>),
    b: (&str, Option<B>),
) -> Result<Option<(A, B)>, ConfigError> {
    match (a, b) {
        ((_, Some(a)), (_, Some(b))) => Ok(Some((a, b))),
        ((_, None), (_, None)) => Ok(None),
        ((given, Some(_)), (missing, None)) | ((missing, None), (given, Some(_))) => Err(
            ConfigError::new(missing, format!("is required when {given} is set")),
        ),
    }
}

/// One environment variable: a row of a [`settings!`](crate::settings!) table.
#[derive(Clone, Copy)]
pub struct Var {
    pub name: &'static str,
    /// The `<!-- settings: … -->` placeholder of docs/CONFIGURATION.md it is listed under.
    pub section: &'static str,
    /// In Markdown.
    pub meaning: &'static str,
    pub kind: Kind,
}

impl Var {
    /// The default as text, `-` when unset means "not set".
    pub fn default(&self) -> &'static str {
        self.shown_default().unwrap_or("-")
    }

    /// The default unless it is empty text (an empty list).
    fn shown_default(&self) -> Option<&'static str> {
        self.kind.default.filter(|d| !d.is_empty())
    }

    /// Never printed, logged or echoed in an error; also read from `<NAME>_FILE`.
    pub fn secret(&self) -> bool {
        self.kind.secret
    }
}

/// Declares settings once. Each row, `field: Type = NAME, kind, "meaning";` under its docs
/// section, yields the constant `NAME`, the struct's field, its row of the struct's `VARS`
/// (help, docs, `check-config`) and its parsing in the struct's `read`. Several structs may be
/// declared together. Example: common/src/config/mod.rs.
#[macro_export]
macro_rules! settings {
    ($(
        $(#[$attr:meta])*
        $vis:vis struct $settings:ident;
        $( $section:literal {
            $( $field:ident : $ty:ty = $name:ident, $kind:expr, $meaning:literal; )*
        } )*
    )*) => {$(
        $( $( #[doc = $meaning] pub const $name: &str = stringify!($name); )* )*

        $(#[$attr])*
        $vis struct $settings { $( $( #[doc = $meaning] pub $field: $ty, )* )* }

        impl $settings {
            /// The table's rows.
            pub const VARS: &'static [$crate::settings::Var] = &[$( $(
                $crate::settings::Var { name: $name, section: $section, meaning: $meaning, kind: $kind },
            )* )*];

            /// Every variable of the table; the first bad one is the error.
            pub fn read(env: &$crate::settings::Env) -> Result<Self, $crate::settings::ConfigError> {
                Ok($settings { $( $( $field: env.read($name, &$kind)?, )* )* })
            }
        }
    )*};
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
        (None, true) if var.kind.default.is_none() => "(not set)".to_owned(),
        (None, _) => redact_url(var.default()),
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
                .shown_default()
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
    use std::time::Duration;

    use chrono::TimeDelta;
    use secrecy::{ExposeSecret, SecretString};

    use super::*;

    fn read<T: FromSetting>(raw: &str, kind: Kind) -> Result<T, String> {
        let lookup = |_: &str| Some(raw.to_owned());
        Env::new(&lookup).read("X", &kind).map_err(|err| err.reason)
    }

    #[test]
    fn numbers_and_spans_are_bounded_before_they_are_converted() {
        let count = number("7", 1, 10);
        assert_eq!(read(" ", count), Ok(7u32));
        assert_eq!(read(" 10 ", count), Ok(10u32));
        for bad in count
            .refused()
            .iter()
            .chain(&["0".to_owned(), "-1".to_owned()])
        {
            let err = read::<u32>(bad, count);
            assert_eq!(
                err,
                Err("must be a whole number from 1 to 10".into()),
                "{bad}"
            );
        }
        assert_eq!(read("", number("", 0, NO_MAX)), Ok(None::<usize>));
        assert_eq!(
            read::<u32>("4294967296", number("", 0, NO_MAX)),
            Err("is too large".into())
        );
        let days = span("2", 1, NO_MAX, DAYS);
        assert_eq!(read("", days), Ok(TimeDelta::days(2)));
        assert_eq!(read("3", days), Ok(Duration::from_secs(3 * 86_400)));
        assert_eq!(
            read::<TimeDelta>(&u64::MAX.to_string(), days),
            Err("is too large".into())
        );
    }

    #[test]
    fn flags_text_checks_and_secrets_read_as_documented() -> Result<(), String> {
        for (raw, value) in [("yes", true), ("ON", true), ("0", false), ("off", false)] {
            assert_eq!(read(raw, flag("true")), Ok(value), "{raw}");
        }
        assert_eq!(
            read::<bool>("maybe", flag("false")),
            Err("must be true or false".into())
        );
        assert_eq!(read("", text("x", "")), Ok("x".to_owned()));
        assert_eq!(read(" y ", text("x", "")), Ok("y".to_owned()));
        assert_eq!(read::<String>("", optional("")), Err("is required".into()));
        let only_a = checked(
            "a",
            "",
            |s| if s == "a" { Ok(()) } else { Err("must be a") },
        );
        assert_eq!(read::<()>("b", only_a), Err("must be a".into()));
        let kept: SecretString = read("key ", secret(""))?;
        assert_eq!(kept.expose_secret(), "key ");
        Ok(())
    }

    #[test]
    fn summaries_hide_secrets_and_credentials() {
        let var = |name, kind| Var {
            name,
            section: "s",
            meaning: "",
            kind,
        };
        let vars = [
            var("A", secret("")),
            var("B", text("nats://u:p@h:4222", "")),
            var("C", optional("")),
        ];
        let lookup = |name: &str| (name == "A").then(|| "hunter2".to_owned());
        let lines = summary(&Env::new(&lookup), &vars);
        assert_eq!(lines, ["A = (set)", "B = nats://***@h:4222", "C = -"]);
        assert_eq!(
            redact_url("postgres://u:p@db/auth?x=a@b"),
            "postgres://***@db/auth?x=a@b"
        );
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
