//! The page's bytes-against-CPU panel, for results with compressed runs (`-deflate`, `-gzip`,
//! `-br`): each run is a point, wire bytes per delivery across, server CPU per delivery up, so
//! what a compressor saves on the wire and what it costs the server are read off one chart, and a
//! table beside it adds the ratio, the generator's CPU and both sides' memory per connection.

use std::fmt::Write;

use super::escape;
use crate::report::format::{opt, sig3};
use crate::report::summary::Summary;
use crate::report::svg;

/// Whether a run's label says it was compressed.
fn compressed(s: &Summary) -> bool {
    s.transport
        .split('-')
        .any(|part| matches!(part, "deflate" | "gzip" | "br"))
}

/// The panel, or nothing when no run was compressed.
pub(super) fn section(page: &mut String, rows: &[Summary]) {
    if !rows.iter().any(compressed) {
        return;
    }
    page.push_str(
        "<h2>Bytes against CPU</h2>\n<p class=\"note\">One point per run: wire bytes per \
         delivery (both directions, compressed as sent) across, the server's CPU per delivery up. \
         Compression moves a run left and up; <em>payload ÷ wire</em> is the messages' \
         uncompressed bytes over the bytes on the wire.</p>\n",
    );
    let points: Vec<(&str, f64, f64)> = rows
        .iter()
        .filter_map(|s| {
            let x = s.wire_bytes_per_delivery?;
            let y = s.server_cpu_us_per_delivery?;
            Some((s.transport.as_str(), x, y))
        })
        .collect();
    if !points.is_empty() {
        page.push_str(&scatter(&points));
        page.push('\n');
    }
    page.push_str(
        "<div class=\"scroll\"><table class=\"columns\">\n<tr><th>run</th>\
         <th class=\"num\">wire B / delivery</th><th class=\"num\">payload ÷ wire</th>\
         <th class=\"num\">server CPU µs / delivery</th>\
         <th class=\"num\">generator CPU µs / delivery</th>\
         <th class=\"num\">server KiB / connection</th>\
         <th class=\"num\">generator KiB / connection</th></tr>\n",
    );
    for s in rows {
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td></tr>",
            escape(&s.transport),
            opt(s.wire_bytes_per_delivery, sig3),
            opt(s.compression_ratio, sig3),
            opt(s.server_cpu_us_per_delivery, sig3),
            opt(s.client_cpu_us_per_delivery, sig3),
            opt(s.server_rss_per_connection_kib, sig3),
            opt(s.client_rss_per_connection_kib, sig3),
        );
    }
    page.push_str("</table></div>\n");
}

/// A scatter of `(label, bytes, cpu)` points from zero, each labelled.
fn scatter(points: &[(&str, f64, f64)]) -> String {
    let (w, h, left, bottom, top, right) = (640.0, 320.0, 60.0, 40.0, 16.0, 140.0);
    let max_x = points.iter().map(|p| p.1).fold(0.0, f64::max).max(1.0) * 1.1;
    let max_y = points.iter().map(|p| p.2).fold(0.0, f64::max).max(0.001) * 1.1;
    let x = |v: f64| left + v / max_x * (w - left - right);
    let y = |v: f64| h - bottom - v / max_y * (h - bottom - top);
    let mut svg = format!(
        "<svg class=\"chart\" id=\"chart-cost\" viewBox=\"0 0 {w} {h}\" role=\"img\" \
         aria-label=\"Server CPU per delivery against wire bytes per delivery, one point per run\">\n\
         <line x1=\"{left}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"currentColor\"/>\n\
         <line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{b}\" stroke=\"currentColor\"/>\n\
         <text x=\"{cx}\" y=\"{h2}\" text-anchor=\"middle\">wire bytes per delivery (B, max {mx})</text>\n\
         <text x=\"12\" y=\"{cy}\" transform=\"rotate(-90 12 {cy})\" text-anchor=\"middle\">server CPU µs / delivery (max {my})</text>\n",
        b = h - bottom,
        r = w - right,
        cx = (left + w - right) / 2.0,
        h2 = h - 8.0,
        cy = (top + h - bottom) / 2.0,
        mx = sig3(max_x / 1.1),
        my = sig3(max_y / 1.1),
    );
    for (i, (label, bx, cy)) in points.iter().enumerate() {
        let _ = writeln!(
            svg,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"5\" fill=\"{}\"><title>{}: {} B, {} µs</title></circle>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\">{}</text>",
            x(*bx),
            y(*cy),
            svg::colour(i),
            escape(label),
            sig3(*bx),
            sig3(*cy),
            x(*bx) + 7.0,
            y(*cy) + 4.0,
            escape(label),
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(transport: &str, bytes: f64, cpu: f64) -> Summary {
        Summary {
            transport: transport.into(),
            wire_bytes_per_delivery: Some(bytes),
            server_cpu_us_per_delivery: Some(cpu),
            compression_ratio: Some(256.0 / bytes),
            ..Summary::default()
        }
    }

    #[test]
    fn the_panel_shows_only_with_a_compressed_run_and_plots_every_run() {
        let mut page = String::new();
        section(&mut page, &[run("ws", 260.0, 3.0), run("sse", 300.0, 4.0)]);
        assert!(page.is_empty());
        section(
            &mut page,
            &[run("ws", 260.0, 3.0), run("ws-deflate", 120.0, 3.5)],
        );
        assert!(page.contains("<h2>Bytes against CPU</h2>"));
        assert_eq!(page.matches("<circle").count(), 2);
        assert!(
            page.contains("<title>ws-deflate: 120 B, 3.50 µs</title>"),
            "{page}"
        );
        assert!(page.contains("<td class=\"num\">2.13</td>"), "{page}");
    }
}
