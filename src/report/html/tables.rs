//! The page's tables: the summary (the stdout table's cells, then every `summary.csv` column
//! as written) and the run facts.

use std::fmt::Write;

use crate::report::bytes::BytesRow;
use crate::report::common::{RunFacts, escape};
use crate::report::format::{NONE, sig3};
use crate::report::summary::Summary;
use crate::report::table::{column_label, figure_rows};

pub(super) fn summary_section(page: &mut String, rows: &[Summary]) {
    page.push_str(
        "<h2>Summary</h2>\n<p class=\"note\">The table <code>wsbench run</code> prints, from \
         the same rows as <code>summary.csv</code>.</p>\n<div class=\"scroll\"><table class=\"summary\">\n<tr><th></th>",
    );
    for s in rows {
        let _ = write!(page, "<th class=\"num\">{}</th>", escape(&column_label(s)));
    }
    page.push_str("</tr>\n");
    for (label, cells) in figure_rows(rows) {
        let _ = write!(page, "<tr><th>{}</th>", escape(label));
        for cell in cells {
            // Keep numbers with their units; a long cell may break only before its "(…)".
            let cell = escape(&cell)
                .replace(' ', "&nbsp;")
                .replace("&nbsp;(", " (");
            let _ = write!(page, "<td class=\"num\">{cell}</td>");
        }
        page.push_str("</tr>\n");
    }
    page.push_str("</table></div>\n");

    // Every column of summary.csv, exactly as written there.
    let mut csv = csv::Writer::from_writer(Vec::new());
    let records = rows.iter().try_for_each(|s| csv.serialize(s));
    let text = match (records, csv.into_inner()) {
        (Ok(()), Ok(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
        _ => String::new(),
    };
    let mut lines = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .into_records()
        .filter_map(Result::ok);
    let Some(header) = lines.next() else { return };
    let values: Vec<csv::StringRecord> = lines.collect();
    page.push_str(
        "<details><summary>All columns of <code>summary.csv</code></summary>\n\
         <div class=\"scroll\"><table class=\"columns\">\n",
    );
    for (i, column) in header.iter().enumerate() {
        let _ = write!(page, "<tr><th>{}</th>", escape(column));
        for record in &values {
            let _ = write!(
                page,
                "<td class=\"num\">{}</td>",
                escape(record.get(i).unwrap_or_default())
            );
        }
        page.push_str("</tr>\n");
    }
    page.push_str("</table></div>\n</details>\n");
}

/// Measured overhead per delivery by kind beside the codec model's figure (`bytes.csv`).
pub(super) fn model_table(page: &mut String, rows: &[Summary], split: &[BytesRow]) {
    page.push_str(
        "<div class=\"scroll\"><table class=\"model\">\n<tr><th>bytes per delivery</th>\
         <th class=\"num\">WebSocket framing</th><th class=\"num\">length prefixes</th>\
         <th class=\"num\">HTTP requests</th>\
         <th class=\"num\">HTTP responses</th><th class=\"num\">model</th>\
         <th>the model covers</th></tr>\n",
    );
    let b = |v: Option<f64>| v.map_or_else(|| NONE.to_owned(), |v| format!("{}&nbsp;B", sig3(v)));
    for (s, r) in rows.iter().zip(split) {
        let _ = writeln!(
            page,
            "<tr><th>{}</th><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td>{}</td></tr>",
            escape(&column_label(s)),
            b(r.ws_framing_per_delivery),
            b(r.length_prefix_per_delivery),
            b(r.http_request_per_delivery),
            b(r.http_response_per_delivery),
            b(r.model_overhead_per_delivery),
            escape(&r.model_covers),
        );
    }
    page.push_str("</table></div>\n");
}

pub(super) fn run_section(page: &mut String, f: &RunFacts) {
    let command = f
        .command
        .iter()
        .map(|a| shell_word(a))
        .collect::<Vec<_>>()
        .join(" ");
    let complete = if f.complete {
        "yes"
    } else {
        "no (interrupted or a server died)"
    };
    page.push_str("<h2>Run</h2>\n<table class=\"run\">\n");
    for (key, value) in [
        ("tool", format!("{} {}", f.tool, f.version)),
        ("started (UTC)", f.started_utc.clone()),
        ("CPU cores", f.cores.to_string()),
        ("command", command),
        ("scenario file", f.scenario_file.clone()),
        ("transports", f.transports.join(", ")),
        ("complete", complete.to_owned()),
        (
            "report rendered by",
            format!("wsbench {}", env!("CARGO_PKG_VERSION")),
        ),
    ] {
        let _ = writeln!(
            page,
            "<tr><th>{}</th><td><code>{}</code></td></tr>",
            escape(key),
            escape(&value)
        );
    }
    page.push_str("</table>\n");
}

/// An argument as a shell would need it typed: quoted when it holds anything unusual.
fn shell_word(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_shell_words_only_when_needed() {
        assert_eq!(shell_word("--duration"), "--duration");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }
}
