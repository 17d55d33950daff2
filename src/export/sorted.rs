//! The text's series in a fixed order: `prometheus-client` keeps a metric's series in a hash
//! map, so the same figures could come out in another order each time, and `metrics.prom` must
//! be the same bytes when `wsbench report` writes it again.

/// `text` with each metric's series sorted by their labels: a series is the run of sample lines
/// with the same labels but `le` (a histogram's `_sum`, `_count` and buckets stay together and in
/// order); comment lines stay where they are.
pub(super) fn sort_series(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut series: Vec<(String, Vec<&str>)> = Vec::new();
    let flush = |series: &mut Vec<(String, Vec<&str>)>, out: &mut String| {
        series.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, lines) in series.drain(..) {
            for line in lines {
                out.push_str(line);
                out.push('\n');
            }
        }
    };
    for line in text.lines() {
        if line.starts_with('#') {
            flush(&mut series, &mut out);
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let key = series_key(line);
        match series.last_mut() {
            Some((k, lines)) if *k == key => lines.push(line),
            _ => series.push((key, vec![line])),
        }
    }
    flush(&mut series, &mut out);
    out
}

/// A sample line's labels without `le`.
fn series_key(line: &str) -> String {
    let labels = line
        .split_once('{')
        .and_then(|(_, rest)| rest.split_once('}'))
        .map_or("", |(labels, _)| labels);
    labels
        .split(',')
        .filter(|l| !l.starts_with("le="))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histograms_lines_stay_together_and_in_order() {
        let text = "# TYPE h histogram\n\
                    h_sum{t=\"b\"} 1\nh_bucket{le=\"10.0\",t=\"b\"} 1\nh_bucket{le=\"+Inf\",t=\"b\"} 1\n\
                    h_sum{t=\"a\"} 2\nh_bucket{le=\"10.0\",t=\"a\"} 2\nh_bucket{le=\"+Inf\",t=\"a\"} 2\n\
                    # EOF\n";
        assert_eq!(
            sort_series(text),
            "# TYPE h histogram\n\
             h_sum{t=\"a\"} 2\nh_bucket{le=\"10.0\",t=\"a\"} 2\nh_bucket{le=\"+Inf\",t=\"a\"} 2\n\
             h_sum{t=\"b\"} 1\nh_bucket{le=\"10.0\",t=\"b\"} 1\nh_bucket{le=\"+Inf\",t=\"b\"} 1\n\
             # EOF\n"
        );
    }
}
