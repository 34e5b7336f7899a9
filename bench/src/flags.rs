//! Command-line flags: `--name value` pairs.

use anyhow::{bail, Context};

/// Splits `args` into `(flag, value)` pairs, refusing a flag without a value and any flag not
/// in `known`.
pub fn pairs<'a>(
    args: &'a [String],
    known: &[&str],
) -> Result<Vec<(&'a str, &'a str)>, anyhow::Error> {
    let mut pairs = Vec::new();
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        if !known.contains(&flag.as_str()) {
            bail!("unknown flag {flag}; flags: {}", known.join(" "));
        }
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        pairs.push((flag.as_str(), value.as_str()));
    }
    Ok(pairs)
}
