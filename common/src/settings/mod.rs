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

mod kinds;

pub use kinds::{
    flag, text, Kind, Number, Optional, Parse, Parsed, Secret, Span, Unit, Whole, NO_MAX,
};

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
    /// In Markdown.
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

/// Declares a crate's settings once. Each row, `field: Type = NAME, kind, "meaning";` under
/// its docs section, yields the constant `NAME`, the struct's field, the row of `VARS` (help,
/// docs, `check-config`), the field's parsing in `read`, and `Settings::field(env)`, which
/// reads that row alone. Example: common/src/config/mod.rs.
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

        pub const VARS: &[$crate::settings::Var] = &[$( $(
            $crate::settings::Var { name: $name, section: $section, meaning: $meaning, kind: &$kind },
        )* )*];

        $(#[$attr])*
        $vis struct $settings { $( $( #[doc = $meaning] pub $field: $ty, )* )* }

        impl $settings {
            /// Every variable of the table; the first bad one is the error.
            pub fn read(env: &$crate::settings::Env) -> Result<Self, $crate::settings::ConfigError> {
                Ok($settings { $( $( $field: env.read($name, &$kind)?, )* )* })
            }

            $( $(
                #[doc = concat!("`", stringify!($name), "` alone: ", $meaning)]
                pub fn $field(env: &$crate::settings::Env) -> Result<$ty, $crate::settings::ConfigError> {
                    env.read($name, &$kind)
                }
            )* )*
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
    use std::time::Duration;

    use chrono::TimeDelta;
    use secrecy::SecretString;

    use super::*;

    fn read<T>(raw: &str, kind: &impl Parse<T>) -> Result<T, String> {
        kind.parse(Some(raw))
    }

    #[test]
    fn numbers_and_spans_are_bounded_before_they_are_converted() {
        let number = Number::new(7, 1, 10);
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
        let unbounded = Number::optional(0, NO_MAX);
        assert_eq!(unbounded.parse(None), Ok(None::<usize>));
        let err: Result<u32, _> = read("4294967296", &unbounded);
        assert_eq!(err, Err("is too large".into()));

        let days = Span::new(2, 1, NO_MAX, Unit::Days);
        assert_eq!(days.parse(None), Ok(TimeDelta::days(2)));
        assert_eq!(read("3", &days), Ok(Duration::from_secs(3 * 86_400)));
        let huge: Result<TimeDelta, _> = read(&u64::MAX.to_string(), &days);
        assert_eq!(huge, Err("is too large".into()));
    }

    #[test]
    fn flags_text_and_secrets_read_as_documented() -> Result<(), String> {
        for (raw, value) in [("yes", true), ("ON", true), ("0", false), ("off", false)] {
            assert_eq!(read(raw, &flag(true)), Ok(value), "{raw}");
        }
        assert_eq!(
            read("maybe", &flag(false)),
            Err("must be true or false".into())
        );
        assert_eq!(text("x").parse(None), Ok("x".to_owned()));
        assert_eq!(read(" y ", &text("x")), Ok("y".to_owned()));
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
        let var = |name, kind| Var {
            name,
            section: "s",
            meaning: "",
            kind,
        };
        const SECRET: Secret = Secret {
            default: None,
            accepts: "",
        };
        const URL: Parsed<String> = text("nats://u:p@h:4222");
        let vars = [var("A", &SECRET), var("B", &URL), var("C", &Optional(""))];
        let values = HashMap::from([("A", "hunter2")]);
        let lookup = |name: &str| values.get(name).map(|v| (*v).to_owned());
        let lines = summary(&Env::new(&lookup), &vars);
        assert_eq!(lines, ["A = (set)", "B = nats://***@h:4222", "C = -"]);
        assert_eq!(
            redact_url("postgres://u:p@db/auth?x=a@b"),
            "postgres://***@db/auth?x=a@b"
        );
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
