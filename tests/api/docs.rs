//! The documentation holds together: the README stays a short front door; every relative
//! Markdown link in README.md and docs/*.md leads to a file that exists and, when it names an
//! `#anchor` in a Markdown file, to a heading that exists; and docs/CONFIGURATION.md is the one
//! its template and the settings tables (issuer, verifier, mailer) generate.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{ensure, Context};

/// The README is read in five minutes; the rest lives in docs/.
const MAX_README_LINES: usize = 200;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// README.md and every docs/*.md, sorted.
fn documents() -> anyhow::Result<Vec<PathBuf>> {
    let mut docs = vec![root().join("README.md")];
    for entry in std::fs::read_dir(root().join("docs")).context("reading docs/")? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "md") {
            docs.push(path);
        }
    }
    docs.sort();
    Ok(docs)
}

/// The lines of `text` outside fenced code blocks.
fn prose_lines(text: &str) -> Vec<&str> {
    let mut fence: Option<&str> = None;
    let mut lines = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        match fence {
            Some(marker) if trimmed.starts_with(marker) => fence = None,
            Some(_) => {}
            None if trimmed.starts_with("```") => fence = Some("```"),
            None if trimmed.starts_with("~~~") => fence = Some("~~~"),
            None => lines.push(line),
        }
    }
    lines
}

/// `line` with its code spans removed: a run of n backticks up to the next run of exactly n.
fn without_code_spans(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let run_at = |i: usize| chars[i..].iter().take_while(|&&c| c == '`').count();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '`' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let open = run_at(i);
        let mut j = i + open;
        let mut close = None;
        while j < chars.len() {
            if chars[j] == '`' {
                let run = run_at(j);
                if run == open {
                    close = Some(j + run);
                    break;
                }
                j += run;
            } else {
                j += 1;
            }
        }
        match close {
            Some(end) => i = end,
            None => {
                out.extend(&chars[i..i + open]);
                i += open;
            }
        }
    }
    out
}

/// The targets of the inline links `[text](target)` and images in `text`'s prose.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for line in prose_lines(text) {
        let line = without_code_spans(line);
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let end = after.find(')').unwrap_or(after.len());
            let target = after[..end].split_whitespace().next().unwrap_or("");
            let target = target.trim_start_matches('<').trim_end_matches('>');
            if !target.is_empty() {
                targets.push(target.to_owned());
            }
            rest = &after[end..];
        }
    }
    targets
}

/// The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Every anchor a Markdown document's headings give, a repeated one numbered as GitHub does.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for line in prose_lines(text) {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        let base = slug(&line[hashes..]);
        let mut anchor = base.clone();
        let mut n = 0;
        while seen.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        seen.insert(anchor);
    }
    seen
}

/// What is wrong with `target`, a link in `from`; `None` when it leads somewhere.
fn broken(from: &Path, target: &str) -> anyhow::Result<Option<String>> {
    let external = target.contains("://") || target.starts_with("mailto:");
    if external {
        return Ok(None);
    }
    let (path, anchor) = match target.split_once('#') {
        Some((path, anchor)) => (path, Some(anchor)),
        None => (target, None),
    };
    let file = if path.is_empty() {
        from.to_path_buf()
    } else {
        from.parent().context("a document has a folder")?.join(path)
    };
    if !file.exists() {
        return Ok(Some(format!("{target}: no such file")));
    }
    let Some(anchor) = anchor else {
        return Ok(None);
    };
    if file.extension().is_none_or(|ext| ext != "md") {
        return Ok(None);
    }
    if anchors(&read(&file)?).contains(anchor) {
        return Ok(None);
    }
    Ok(Some(format!("{target}: no heading gives #{anchor}")))
}

#[test]
fn the_readme_stays_under_its_line_budget() -> anyhow::Result<()> {
    let lines = read(&root().join("README.md"))?.lines().count();
    ensure!(
        lines <= MAX_README_LINES,
        "README.md has {lines} lines, more than {MAX_README_LINES}: move the detail to docs/ and link it"
    );
    Ok(())
}

#[test]
fn every_relative_link_in_the_docs_leads_to_a_file_and_heading_that_exist() -> anyhow::Result<()> {
    let mut problems = Vec::new();
    let mut checked = 0;
    for doc in documents()? {
        for target in link_targets(&read(&doc)?) {
            checked += 1;
            if let Some(problem) = broken(&doc, &target)? {
                let name = doc.strip_prefix(root()).unwrap_or(&doc).display();
                problems.push(format!("{name}: {problem}"));
            }
        }
    }
    ensure!(checked > 0, "no links found: the scanner is broken");
    ensure!(
        problems.is_empty(),
        "broken links:\n{}",
        problems.join("\n")
    );
    Ok(())
}

/// docs/CONFIGURATION.md is its template with the settings tables filled in. With
/// `UPDATE_DOCS=1` the test writes the file instead of comparing.
#[test]
fn the_configuration_document_is_generated_from_the_settings_tables() -> anyhow::Result<()> {
    let template = read(&root().join("tests/api/docs/CONFIGURATION.md.in"))?;
    let own = [
        issuer::config::IssuerSettings::VARS,
        verifier::config::VerifierSettings::VARS,
        mailer::config::MailerSettings::VARS,
    ];
    let tables = [common::config::CommonConfig::TABLES, &own].concat();
    let generated = common::settings::document(&template, &tables).map_err(anyhow::Error::msg)?;
    let path = root().join("docs/CONFIGURATION.md");
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &generated).context("writing docs/CONFIGURATION.md")?;
    }
    ensure!(
        read(&path)? == generated,
        "docs/CONFIGURATION.md is not what the settings tables and its template generate; \
         run `UPDATE_DOCS=1 cargo test --test api docs::` and commit the result"
    );
    Ok(())
}

/// The checker itself: it must see the links and headings it is meant to, and only those.
#[test]
fn the_link_checker_reads_links_headings_and_code_as_github_does() {
    let text = "# Key rotation\n\
                ## Traefik (`forwardAuth`)\n\
                ## NATS: stream size, a lost store\n\
                ## Key rotation\n\
                See [a](docs/A.md#x) and ![b](img.png \"title\"), not `[c](C.md)`\n\
                nor ``[d](`D.md`)``.\n\
                ```md\n[e](E.md)\n# Not a heading\n```\n";
    assert_eq!(link_targets(text), ["docs/A.md#x", "img.png"]);
    let expected: BTreeSet<String> = [
        "key-rotation",
        "traefik-forwardauth",
        "nats-stream-size-a-lost-store",
        "key-rotation-1",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(anchors(text), expected);
}

/// The first fenced block of `lang` after `heading` in `doc`.
fn code_block<'a>(doc: &'a str, heading: &str, lang: &str) -> anyhow::Result<&'a str> {
    let section = doc
        .split_once(heading)
        .map(|(_, rest)| rest)
        .with_context(|| format!("no `{heading}`"))?;
    let fence = format!("```{lang}\n");
    let (_, block) = section
        .split_once(fence.as_str())
        .with_context(|| format!("no {lang} block after `{heading}`"))?;
    let (block, _) = block.split_once("```").context("unclosed block")?;
    Ok(block)
}

/// A configuration line without its comment and closing braces, its white space folded.
fn directive(line: &str) -> String {
    let line = line.split_once('#').map_or(line, |(code, _)| code);
    let line = line.trim_end_matches(|c: char| c == '}' || c.is_whitespace());
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The nginx and Caddy snippets in docs/DEPLOYMENT.md are the configurations the proxy tests
/// run: every directive they show (the routing around them aside) is in the tests' own
/// configuration, generated with the documented addresses. A directive added to one and not the
/// other fails here.
#[test]
fn the_documented_proxy_configurations_are_the_ones_the_tests_run() -> anyhow::Result<()> {
    use crate::harness::proxies::{caddy_config, nginx_config};
    let doc = read(&root().join("docs/DEPLOYMENT.md"))?;
    let (verifier, app) = ("verifier:8001", "app:8080");
    let cases = [
        (
            "### nginx",
            "nginx",
            nginx_config(verifier, app, Path::new("/nonexistent"), 80),
        ),
        ("### Caddy", "caddyfile", caddy_config(verifier, app, 80)),
    ];
    for (heading, lang, generated) in cases {
        let ours: BTreeSet<String> = generated.lines().map(directive).collect();
        let documented: Vec<String> = code_block(&doc, heading, lang)?
            .lines()
            .map(directive)
            .filter(|line| !line.is_empty())
            // Routing (sites, locations, handles) is the reader's own; the blocks that carry
            // the forward-auth set-up are checked.
            .filter(|line| {
                !line.ends_with('{')
                    || line.starts_with("forward_auth")
                    || line.starts_with("upstream")
            })
            .collect();
        ensure!(documented.len() >= 4, "{heading}: too few directives read");
        for line in documented {
            ensure!(
                ours.contains(&line),
                "{heading}: the docs show `{line}`, which the tests' configuration lacks"
            );
        }
    }
    Ok(())
}
