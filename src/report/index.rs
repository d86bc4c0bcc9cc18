//! The ranked `index.html` and the file names of the pages.
//!
//! The index is a plain static page: it opens from a file share with no server and no
//! script, lists the meters in rank order with a thumbnail (the page's PNG scaled down by
//! CSS), the key numbers, and links. All text that came from data (meter ids, reasons,
//! the title) is HTML-escaped, and every link target is percent-encoded, so a hostile
//! meter id cannot inject markup or point a link outside the directory.
//!
//! [`safe_file_name`] owns the other half of that promise: whatever the meter id, the
//! page's file name is a plain name inside the output directory.

use std::fmt::Write as _;
use std::path::Path;

use super::ReportError;

/// Name of the index page inside the report directory.
pub(crate) const INDEX_FILE: &str = "index.html";
/// Name of the fleet overview inside the report directory.
pub(crate) const OVERVIEW_FILE: &str = "overview.png";
/// Longest stem kept from a meter id before the hash suffix; keeps paths well inside
/// the 255-byte file-name limit of common file systems.
const MAX_STEM_CHARS: usize = 64;

/// One row of the index: a ranked meter with its key numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexEntry {
    /// Position in the ranking, 1 = look at this first.
    pub rank: usize,
    /// The meter's id as the utility writes it.
    pub meter_id: String,
    /// File name of the meter's page, relative to the index.
    pub png_file: String,
    /// The detector's score in 0..1.
    pub score: f64,
    /// Mean load over the episode, kW.
    pub level_kw: f64,
    /// Estimated S19-class rig equivalents.
    pub est_rigs: f64,
    /// Unexplained energy per day, kWh.
    pub excess_kwh_per_day: f64,
    /// When the episode began, as printed (local date), or a dash.
    pub since: String,
    /// The plain-language reasons, strongest first.
    pub reasons: Vec<String>,
}

/// A plain file-name stem (no extension) for a meter's files.
///
/// Keeps ASCII letters, digits, `-`, `_` and `.`; replaces everything else (path
/// separators, spaces, control characters, non-ASCII) with `_`; strips leading dots so
/// the name is never `.`/`..` or hidden; avoids Windows device names (`con`, `nul`,
/// `com1`…); and shortens very long ids. When any of that changed the id — or the id
/// has upper-case letters, which would collide with a lower-case twin on a
/// case-insensitive file share — a short hash of the original id is appended, so
/// distinct ids always get distinct names.
pub fn safe_file_name(meter_id: &str) -> String {
    let mut stem: String = meter_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    stem = stem.trim_start_matches('.').to_string();
    // A trailing dot or space is silently dropped by Windows, which would merge names.
    stem = stem.trim_end_matches('.').to_string();
    if stem.chars().count() > MAX_STEM_CHARS {
        stem = stem.chars().take(MAX_STEM_CHARS).collect();
    }
    let device = stem.split('.').next().unwrap_or("").to_ascii_lowercase();
    let is_device = matches!(device.as_str(), "con" | "prn" | "aux" | "nul")
        || ((device.starts_with("com") || device.starts_with("lpt"))
            && device.len() == 4
            && device.as_bytes()[3].is_ascii_digit());
    let needs_hash = stem != meter_id
        || is_device
        || stem.is_empty()
        || meter_id.chars().any(|c| c.is_ascii_uppercase());
    if stem.is_empty() {
        stem = "meter".to_string();
    }
    if needs_hash {
        format!("{stem}-{:08x}", fnv1a32(meter_id.as_bytes()))
    } else {
        stem
    }
}

/// FNV-1a, 32 bits: stable across Rust versions and platforms (unlike `DefaultHasher`),
/// so the same id gets the same file name in every run.
fn fnv1a32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ b as u32).wrapping_mul(0x0100_0193)
    })
}

/// Writes `dir/index.html`: the entries in the order given (the caller ranks them), with
/// thumbnails, key numbers and links, and a link to `overview.png` when it exists.
pub fn write_index_html(
    dir: &Path,
    title: &str,
    entries: &[IndexEntry],
) -> Result<(), ReportError> {
    let path = dir.join(INDEX_FILE);
    let html = index_html(title, entries, dir.join(OVERVIEW_FILE).exists());
    std::fs::write(&path, html).map_err(|source| ReportError::Io { path, source })
}

/// The page's text. Kept apart from the file write so tests can read it directly.
fn index_html(title: &str, entries: &[IndexEntry], with_overview: bool) -> String {
    let mut h = String::new();
    let t = escape(title);
    // `write!` into a String cannot fail; the results are ignored on purpose.
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{t}</title>\n<style>\n\
body {{ font-family: sans-serif; margin: 1.5em; color: #111; }}\n\
table {{ border-collapse: collapse; width: 100%; }}\n\
th, td {{ border-bottom: 1px solid #ccc; padding: 6px 8px; text-align: left; vertical-align: top; }}\n\
td.num {{ text-align: right; white-space: nowrap; }}\n\
img.thumb {{ width: 300px; height: auto; border: 1px solid #999; }}\n\
ul {{ margin: 0; padding-left: 1.2em; }}\n\
</style>\n</head>\n<body>\n<h1>{t}</h1>\n<p>{n} evidence page{s} (meters, and transformers or feeders whose balance does not add up), ranked by the energy at stake: look at the top first. Click a thumbnail for the full evidence page.</p>\n",
        n = entries.len(),
        s = if entries.len() == 1 { "" } else { "s" },
    );
    if with_overview {
        let _ = writeln!(h, "<p><a href=\"{OVERVIEW_FILE}\">Fleet overview</a>: every meter on level and flatness, suspects labelled.</p>");
    }
    h.push_str(
        "<table>\n<thead><tr><th>Rank</th><th>Evidence</th><th>Meter</th><th>Score</th><th>Level (kW)</th>\
<th>Rigs (S19-class)</th><th>Unexplained (kWh/day)</th><th>Since</th><th>Reasons</th></tr></thead>\n<tbody>\n",
    );
    for e in entries {
        let href = percent_encode(&e.png_file);
        let id = escape(&e.meter_id);
        let _ = write!(
            h,
            "<tr><td class=\"num\">{rank}</td><td><a href=\"{href}\"><img class=\"thumb\" src=\"{href}\" alt=\"evidence page for {id}\"></a></td>\
<td><a href=\"{href}\">{id}</a></td><td class=\"num\">{score:.2}</td><td class=\"num\">{level:.1}</td><td class=\"num\">{rigs:.1}</td>\
<td class=\"num\">{kwh:.0}</td><td>{since}</td><td><ul>",
            rank = e.rank,
            score = e.score,
            level = e.level_kw,
            rigs = e.est_rigs,
            kwh = e.excess_kwh_per_day,
            since = escape(&e.since),
        );
        for r in &e.reasons {
            let _ = write!(h, "<li>{}</li>", escape(r));
        }
        h.push_str("</ul></td></tr>\n");
    }
    h.push_str("</tbody>\n</table>\n</body>\n</html>\n");
    h
}

/// Escapes text for HTML element content and quoted attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Percent-encodes everything but unreserved URL characters, so a link is always a plain
/// relative file name (a `:` or `/` in it can never make a scheme or a directory).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(id: &str, expected: &str) {
        assert_eq!(safe_file_name(id), expected, "id {id:?}");
    }

    #[test]
    fn plain_lower_case_ids_are_kept_as_they_are() {
        check("mac000123", "mac000123");
        check("meter-7_b.2", "meter-7_b.2");
    }

    #[test]
    fn changed_or_upper_case_ids_get_a_hash_suffix() {
        let hashed = |id: &str, stem: &str| format!("{stem}-{:08x}", fnv1a32(id.as_bytes()));
        check("../../etc/x", &hashed("../../etc/x", "_.._etc_x"));
        check("a b", &hashed("a b", "a_b"));
        check("con", &hashed("con", "con"));
        check("COM1.txt", &hashed("COM1.txt", "COM1.txt"));
        check("", &hashed("", "meter"));
        check("MAC0001", &hashed("MAC0001", "MAC0001"));
    }

    #[test]
    fn long_ids_are_shortened_and_still_distinct() {
        let a = "x".repeat(500);
        let b = format!("{}y", "x".repeat(499));
        assert!(safe_file_name(&a).len() < 80);
        assert_ne!(safe_file_name(&a), safe_file_name(&b));
    }

    #[test]
    fn ids_that_sanitise_alike_stay_distinct() {
        let names: std::collections::HashSet<String> =
            ["a b", "a_b", "a/b", "a\\b", "a:b", "å b", "Ab", "ab"]
                .iter()
                .map(|id| safe_file_name(id))
                .collect();
        assert_eq!(names.len(), 8);
    }

    #[test]
    fn text_and_links_are_escaped() {
        let e = IndexEntry {
            rank: 1,
            meter_id: "<script>alert(1)</script>".into(),
            png_file: "javascript:alert(1)".into(),
            score: 0.9,
            level_kw: 3.4,
            est_rigs: 1.0,
            excess_kwh_per_day: 80.0,
            since: "2026-01-01".into(),
            reasons: vec!["a \"quoted\" & <b>bold</b> reason".into()],
        };
        let h = index_html("T & <T>", &[e], false);
        assert!(!h.contains("<script>") && !h.contains("<b>bold"));
        assert!(h.contains("href=\"javascript%3Aalert%281%29\""));
        assert!(h.contains("<title>T &amp; &lt;T&gt;</title>"));
    }
}
