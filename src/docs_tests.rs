//! The README stays a short front page whose figures live elsewhere: every
//! number with a decimal point that it quotes must appear, as the same
//! number, in a document that its section links to, so a figure updated in
//! `docs/` and not in the README (or the other way round) fails here.

use std::collections::BTreeSet;
use std::path::Path;

/// The README's length limit, in lines (issue 27: "at most about 250").
const README_MAX_LINES: usize = 250;

/// Tokens made of digits with exactly one decimal point between digits
/// ("0.0957", "6.9"). Version numbers and addresses ("0.2.0", "127.0.0.1")
/// are not figures and are skipped.
fn decimals(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for token in text.split(|c: char| !(c.is_ascii_digit() || c == '.')) {
        let token = token.trim_matches('.');
        let mut parts = token.split('.');
        if let (Some(whole), Some(frac), None) = (parts.next(), parts.next(), parts.next())
            && !whole.is_empty()
            && !frac.is_empty()
        {
            found.insert(token.to_string());
        }
    }
    found
}

/// Relative links to markdown files in `text`, without their `#anchor`.
fn doc_links(text: &str) -> Vec<String> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .filter(|target| !target.contains("://"))
        .map(|target| target.split('#').next().unwrap_or(target).to_string())
        .filter(|target| target.ends_with(".md"))
        .collect()
}

/// The README split at its headings: (heading, body) pairs.
fn sections(readme: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vec![(String::new(), String::new())];
    let mut in_code = false;
    for line in readme.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        }
        if !in_code && line.starts_with('#') {
            out.push((line.to_string(), String::new()));
        } else if let Some((_, body)) = out.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

#[test]
fn readme_figures_live_in_the_docs_it_links() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(
        lines <= README_MAX_LINES,
        "README.md has {lines} lines, more than {README_MAX_LINES}: move detail to docs/"
    );
    let mut checked = 0;
    for (heading, body) in sections(&readme) {
        let figures = decimals(&body);
        if figures.is_empty() {
            continue;
        }
        let links = doc_links(&body);
        assert!(
            !links.is_empty(),
            "README section {heading:?} quotes {figures:?} but links no document that holds them"
        );
        let mut in_docs = BTreeSet::new();
        for link in &links {
            let doc = std::fs::read_to_string(root.join(link))
                .unwrap_or_else(|e| panic!("README links {link}, which cannot be read: {e}"));
            in_docs.extend(decimals(&doc));
        }
        let missing: Vec<&String> = figures.difference(&in_docs).collect();
        assert!(
            missing.is_empty(),
            "README section {heading:?} quotes {missing:?}, which none of {links:?} holds"
        );
        checked += figures.len();
    }
    // The results tables quote figures; a README with none left to check
    // would make this test vacuous without anyone noticing.
    assert!(checked > 0, "no README figure was checked");
}

#[test]
fn decimals_are_figures_not_versions_or_addresses() {
    let found = decimals("F1 **0.702**, 6.9 s, v0.2.0 on 127.0.0.1:8080, 68,800 req/s, 2016-01.");
    let found: Vec<&str> = found.iter().map(String::as_str).collect();
    assert_eq!(found, ["0.702", "6.9"]);
}

#[test]
fn links_are_relative_markdown_without_anchors() {
    let links = doc_links(
        "see [a](docs/a.md#x), [b](https://e.org/b.md), [c](LICENSE-MIT) and [d](docs/d.md)",
    );
    assert_eq!(links, ["docs/a.md", "docs/d.md"]);
}

/// `docs/architecture.md`'s module map names every file and folder directly
/// under `src/`, and nothing that is not there.
#[test]
fn architecture_map_matches_src() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    let block = doc
        .split("```\nsrc/\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/architecture.md has a map starting with src/");
    let in_map: BTreeSet<String> = block
        .lines()
        .filter_map(|line| line.strip_prefix("  "))
        .filter(|line| !line.starts_with(' '))
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect();
    let in_src: BTreeSet<String> = std::fs::read_dir(root.join("src"))
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type().unwrap().is_dir() {
                format!("{name}/")
            } else {
                name
            }
        })
        .collect();
    assert_eq!(
        in_map, in_src,
        "docs/architecture.md's module map and src/ differ"
    );
}
