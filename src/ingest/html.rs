//! What BOM says when it does not send CSV.
//!
//! BOM's web firewall answers clients it blocks with an HTML page ("Access
//! Denied" and a reference number, Akamai style), the site shows a
//! maintenance page during outages, and a wrong path can get a "page not
//! found" page served with status 200. A person acting on a failed scrape
//! needs what that page says, not "an HTML page": its title, its heading and
//! the reference id that BOM's web team asks for. [`HtmlPage::parse`] reads
//! any HTML body with `scraper` (a real HTML parser: entities such as
//! `&#46;` are decoded, scripts and styles are not text) and its
//! [`Display`](std::fmt::Display) gives one line for the run log, the run
//! record the admin shows, and the error.

use std::fmt;

use scraper::{Html, Node, Selector};

/// How much of a body is parsed. Firewall, maintenance and error pages are
/// a few kilobytes; what lies beyond this says nothing more about them.
pub const MAX_PARSE_BYTES: usize = 256 * 1024;

/// The longest title, heading or text excerpt kept, in characters.
const MAX_TEXT_CHARS: usize = 120;

/// Elements whose text is not shown to a reader.
const HIDDEN: [&str; 5] = ["script", "style", "noscript", "template", "head"];

/// Labels in front of a reference id, lowercase, most specific first: Akamai
/// (`Reference #18.5c3e1002…`), F5 (`Your support ID is: 1234…`),
/// Cloudflare (`Ray ID: 7f…`) and generic error pages.
const REFERENCE_LABELS: [&str; 8] = [
    "reference number",
    "reference id",
    "reference",
    "support id",
    "incident id",
    "request id",
    "event id",
    "ray id",
];

/// The parts of an HTML page that say what it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HtmlPage {
    /// `<title>`, whitespace collapsed.
    pub title: Option<String>,
    /// The first non-empty `<h1>` (else `<h2>`).
    pub heading: Option<String>,
    /// A firewall or error reference id, e.g. `18.5c3e1002.1700000000.1a2b3c4d`.
    pub reference: Option<String>,
    /// The start of the visible text, kept only when the page has neither a
    /// title nor a heading.
    pub text: Option<String>,
}

impl HtmlPage {
    /// Read the first [`MAX_PARSE_BYTES`] of `body` as HTML (invalid UTF-8
    /// is replaced, never an error: any body yields a description).
    pub fn parse(body: &[u8]) -> Self {
        let body = &body[..body.len().min(MAX_PARSE_BYTES)];
        let doc = Html::parse_document(&String::from_utf8_lossy(body));
        let title = first_text(&doc, "title");
        let heading = first_text(&doc, "h1").or_else(|| first_text(&doc, "h2"));
        let visible = visible_text(&doc);
        let reference = reference_id(&visible);
        let text = (title.is_none() && heading.is_none())
            .then(|| clip(&visible))
            .filter(|t| !t.is_empty());
        HtmlPage {
            title,
            heading,
            reference,
            text,
        }
    }
}

impl fmt::Display for HtmlPage {
    /// `title "Access Denied", heading "Access Denied", reference 18.5c…`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(t) = &self.title {
            parts.push(format!("title \"{t}\""));
        }
        if let Some(h) = &self.heading {
            parts.push(format!("heading \"{h}\""));
        }
        if let Some(t) = &self.text {
            parts.push(format!("no title or heading, text \"{t}\""));
        }
        if let Some(r) = &self.reference {
            parts.push(format!("reference {r}"));
        }
        if parts.is_empty() {
            f.write_str("an empty HTML page")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// Whether a body is an HTML page: its content type says so, or it starts
/// like one (`<!DOCTYPE html` or `<html` within the first kilobyte).
pub fn looks_like_html(body: &[u8], content_type: Option<&str>) -> bool {
    if content_type.is_some_and(|c| c.to_ascii_lowercase().contains("html")) {
        return true;
    }
    let head = String::from_utf8_lossy(&body[..body.len().min(1024)]).to_ascii_lowercase();
    head.contains("<!doctype html") || head.contains("<html")
}

/// The collapsed, clipped text of the first `tag` element that has any.
fn first_text(doc: &Html, tag: &str) -> Option<String> {
    let selector = Selector::parse(tag).expect("a tag name is a valid selector");
    doc.select(&selector)
        .map(|e| clip(&collapse(&e.text().collect::<String>())))
        .find(|t| !t.is_empty())
}

/// Every text node a browser would show, whitespace collapsed.
fn visible_text(doc: &Html) -> String {
    let mut out = String::new();
    for node in doc.root_element().descendants() {
        let Node::Text(text) = node.value() else {
            continue;
        };
        let hidden = node.ancestors().any(|a| {
            a.value()
                .as_element()
                .is_some_and(|e| HIDDEN.contains(&e.name()))
        });
        if !hidden {
            out.push(' ');
            out.push_str(text);
        }
    }
    collapse(&out)
}

/// The first `label … id` in `text`: after a label, an optional `is`, `#`
/// or `:`, a token of letters, digits, dots and dashes with at least one
/// digit (so "for your reference only" is not taken for one).
fn reference_id(text: &str) -> Option<String> {
    // ASCII lowercasing keeps byte offsets, so they index `text` too.
    let lower = text.to_ascii_lowercase();
    for label in REFERENCE_LABELS {
        for (at, _) in lower.match_indices(label) {
            let mut rest = text[at + label.len()..].trim_start();
            let after_is = rest.get(2..).and_then(|r| r.chars().next());
            if rest.get(..2).is_some_and(|w| w.eq_ignore_ascii_case("is"))
                && after_is.is_some_and(|c| !c.is_ascii_alphanumeric())
            {
                rest = rest[2..].trim_start();
            }
            let rest = rest.trim_start_matches([':', '#', ' ']);
            let token: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
                .collect();
            let token = token.trim_end_matches(['.', '-', '_']);
            if token.len() >= 4 && token.chars().any(|c| c.is_ascii_digit()) {
                return Some(clip(token));
            }
        }
    }
    None
}

/// Runs of whitespace (newlines included) as one space, trimmed, control
/// characters dropped: the result always fits on one line.
fn collapse(text: &str) -> String {
    text.split_whitespace()
        .map(|w| w.chars().filter(|c| !c.is_control()).collect::<String>())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// At most [`MAX_TEXT_CHARS`] characters, with `…` when cut.
fn clip(text: &str) -> String {
    if text.chars().count() <= MAX_TEXT_CHARS {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(MAX_TEXT_CHARS - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-built pages in `tests/fixtures/bom_html/` (see its README).
    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/bom_html/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn akamai_access_denied_gives_title_heading_and_decoded_reference() {
        let page = HtmlPage::parse(&fixture("access_denied.html"));
        assert_eq!(page.title.as_deref(), Some("Access Denied"));
        assert_eq!(page.heading.as_deref(), Some("Access Denied"));
        assert_eq!(
            page.reference.as_deref(),
            Some("18.5c3e1002.1700000000.1a2b3c4d")
        );
        assert_eq!(page.text, None);
        assert_eq!(
            page.to_string(),
            "title \"Access Denied\", heading \"Access Denied\", \
             reference 18.5c3e1002.1700000000.1a2b3c4d"
        );
    }

    #[test]
    fn maintenance_page_skips_scripts_styles_and_navigation_text() {
        let page = HtmlPage::parse(&fixture("maintenance.html"));
        assert_eq!(
            page.title.as_deref(),
            Some("Scheduled maintenance - Bureau of Meteorology")
        );
        assert_eq!(
            page.heading.as_deref(),
            Some("The Bureau of Meteorology website is undergoing scheduled maintenance")
        );
        assert_eq!(page.reference, None, "no reference on a maintenance page");
        let line = page.to_string();
        assert!(!line.contains('\n'), "{line}");
        assert!(!line.contains("function"), "script text leaked: {line}");
    }

    #[test]
    fn not_found_served_with_200_names_the_page() {
        let page = HtmlPage::parse(&fixture("not_found_200.html"));
        assert_eq!(
            page.title.as_deref(),
            Some("Page not found - Bureau of Meteorology")
        );
        assert_eq!(page.heading.as_deref(), Some("Page not found"));
        assert_eq!(page.reference, None, "\"for your reference\" is not an id");
    }

    #[test]
    fn a_firewall_page_without_title_or_heading_gives_its_text_and_support_id() {
        let page = HtmlPage::parse(&fixture("request_rejected.html"));
        assert_eq!(
            (page.title.as_deref(), page.heading.as_deref()),
            (None, None)
        );
        assert_eq!(page.reference.as_deref(), Some("14609584738912345678"));
        let text = page.text.as_deref().unwrap();
        assert!(
            text.starts_with("The requested URL was rejected."),
            "{text}"
        );
        assert!(text.chars().count() <= MAX_TEXT_CHARS);
    }

    #[test]
    fn any_body_yields_one_line() {
        for body in [
            &b""[..],
            b"<html></html>",
            b"not html at all",
            b"<title>\n  Two\r\n lines\t</title>",
            b"\xff\xfe<h1>bad utf-8</h1>",
        ] {
            let line = HtmlPage::parse(body).to_string();
            assert!(
                !line.is_empty() && !line.contains(['\n', '\r', '\t']),
                "{line:?}"
            );
        }
        assert_eq!(
            HtmlPage::parse(b"<html></html>").to_string(),
            "an empty HTML page"
        );
        assert_eq!(
            HtmlPage::parse(b"<title>\n  Two\r\n lines\t</title>")
                .title
                .as_deref(),
            Some("Two lines")
        );
        let long = format!("<title>{}</title>", "x".repeat(500));
        let title = HtmlPage::parse(long.as_bytes()).title.unwrap();
        assert_eq!(title.chars().count(), MAX_TEXT_CHARS);
        assert!(title.ends_with('…'));
    }

    #[test]
    fn reference_ids_need_a_digit() {
        assert_eq!(
            reference_id("Ray ID: 7f3a2b1c4d5e6f70 • Your IP"),
            Some("7f3a2b1c4d5e6f70".into())
        );
        assert_eq!(
            reference_id("Reference #18.ab12cd."),
            Some("18.ab12cd".into())
        );
        assert_eq!(reference_id("keep this for your reference. Thanks"), None);
        assert_eq!(reference_id("Reference # abcd"), None);
    }

    #[test]
    fn html_is_recognised_by_type_or_by_its_start() {
        assert!(looks_like_html(
            b"anything",
            Some("text/html; charset=utf-8")
        ));
        assert!(looks_like_html(b"\r\n<!DOCTYPE HTML PUBLIC", None));
        assert!(looks_like_html(b"<HTML><HEAD>", Some("text/plain")));
        assert!(!looks_like_html(b"try again", Some("text/plain")));
        assert!(!looks_like_html(b",\"Date\",\"Minimum temperature", None));
    }
}
