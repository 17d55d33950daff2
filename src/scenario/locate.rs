//! Placing things in a scenario file's text, for error messages.
//!
//! Owns turning a byte offset into a 1-based line and column, a file that is not UTF-8 into
//! [`ScenarioError::NotUtf8`], and TOML's own errors (syntax, unknown key, wrong type, missing
//! field) into one-line [`ScenarioError::Toml`]s that name the file, line, column, table and key.
//! Knows no scenario keys: it reads tables and keys from the text around the error.

use std::ops::Range;
use std::path::Path;

use super::ScenarioError;

/// The text of a file read as `bytes`, or [`ScenarioError::NotUtf8`] naming the first bad byte.
pub(super) fn decode(path: &Path, bytes: Vec<u8>) -> Result<String, ScenarioError> {
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let prefix = std::str::from_utf8(&e.as_bytes()[..valid]).unwrap_or_default();
        let (line, col) = line_col(prefix, valid);
        ScenarioError::NotUtf8 {
            path: path.to_path_buf(),
            line,
            col,
        }
    })
}

/// The text of a [`ScenarioError::Toml`]: `path:line:col: [table] key: message`.
pub(super) fn toml_message(
    path: &Path,
    at: Option<(usize, usize)>,
    table: Option<&str>,
    key: Option<&str>,
    message: &str,
) -> String {
    let mut s = path.display().to_string();
    if let Some((line, col)) = at {
        s += &format!(":{line}:{col}");
    }
    s += ": ";
    if let Some(table) = table {
        s += &format!("[{table}] ");
    }
    if let Some(key) = key {
        s += &format!("{key}: ");
    }
    s + message
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    (line, before[line_start..].chars().count() + 1)
}

/// Rewrites a toml/serde error as one line: `path:line:col: [table] key: message`.
pub(super) fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> ScenarioError {
    let message = e
        .message()
        .trim()
        .replace('\n', " ")
        .replace("expected i64", "expected an integer")
        .replace("expected f64", "expected a number");
    // A top-level missing field comes with the empty span 0..0: there is no line to point at.
    let top_level_missing = |s: &Range<usize>| s.is_empty() && s.start == 0;
    let span = e
        .span()
        .filter(|s| !(message.starts_with("missing field") && top_level_missing(s)));
    let (at, table, key) = match span {
        Some(span) => {
            let (line, col) = line_col(text, span.start);
            let (table, key) = table_and_key(text, line, span);
            (Some((line, col)), table, key)
        }
        None => (None, None, None),
    };
    ScenarioError::Toml {
        path: path.to_path_buf(),
        at,
        table,
        key,
        message,
    }
}

/// The table and key an error at `span` (starting on 1-based `line`) is about, read from the text:
/// the nearest `[header]` at or above the line, and the bare key before `=` on the line. When the
/// span points at a key inside a header (`[transports.carrier_pigeon]`), the table is the part of
/// the header before it and the key is the spanned text.
fn table_and_key(text: &str, line: usize, span: Range<usize>) -> (Option<String>, Option<String>) {
    let lines: Vec<&str> = text.lines().collect();
    let this = lines.get(line - 1).copied().unwrap_or("");
    if let Some(header) = header(this) {
        let spanned = text.get(span).unwrap_or("").trim();
        let inside = !spanned.starts_with('[') && !spanned.is_empty();
        return match header.rfind(spanned).filter(|_| inside) {
            Some(i) => {
                let parent = header[..i].trim_end_matches('.').trim();
                let table = (!parent.is_empty()).then(|| parent.to_string());
                (table, Some(spanned.to_string()))
            }
            None => (Some(header), None),
        };
    }
    let table = lines[..(line - 1).min(lines.len())]
        .iter()
        .rev()
        .find_map(|l| header(l));
    let key = this.split_once('=').map(|(k, _)| k.trim()).filter(|k| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
    });
    (table, key.map(str::to_string))
}

/// `Some("a.b")` if `line` is a `[a.b]` or `[[a.b]]` header.
fn header(line: &str) -> Option<String> {
    let line = line.split('#').next().unwrap_or("").trim();
    let inner = line.strip_prefix('[')?.strip_suffix(']')?;
    let inner = inner.strip_prefix('[').unwrap_or(inner);
    let inner = inner.strip_suffix(']').unwrap_or(inner);
    Some(inner.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        crate::scenario::file::ScenarioFile::from_toml(Path::new("x.toml"), text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("a = 1\nbé = 2", 0), (1, 1));
        assert_eq!(line_col("a = 1\nbé = 2", 6), (2, 1));
        assert_eq!(line_col("a = 1\nbé = 2", 9), (2, 3));
        assert_eq!(line_col("ab", 99), (1, 3));
    }

    #[test]
    fn headers_are_recognised() {
        assert_eq!(header(" [clients] # c").as_deref(), Some("clients"));
        assert_eq!(header("[[a.b]]").as_deref(), Some("a.b"));
        assert_eq!(header("a = [1]"), None);
    }

    #[test]
    fn errors_name_table_and_key() {
        let base = "duration = \"1s\"\n[clients]\nsubscribers = 1\n";
        assert_eq!(
            err(&format!("{base}bogus = 2\n")),
            "x.toml:4:1: [clients] bogus: unknown field `bogus`, expected one of `subscribers`, `connect_rate`, `reconnect`, `slow_readers`, `slow_read_pause`, `source_addresses`, `churn`, `idle_phase`, `idle`, `timestamps`, `processes`"
        );
        assert_eq!(
            err("duration = \"1s\"\n[clients]\nsubscribers = \"many\"\n"),
            "x.toml:3:15: [clients] subscribers: invalid type: string \"many\", expected an integer"
        );
        assert_eq!(
            err("duration = \"1s\"\n[clients]\n"),
            "x.toml:2:1: [clients] missing field `subscribers`"
        );
        assert_eq!(err(""), "x.toml: missing field `duration`");
    }
}
