//! The files of one results directory and the order they are written in: the stored inputs
//! (`run.json`, `scenario.toml`, `metrics.json`, `<transport>.hlog`) and the outputs derived from
//! them (`summary.csv`, `latency.csv`, `timeseries.csv`, `bytes.csv`, `metrics.prom`,
//! `report.html`). See `results/README.md` for what each holds.
//!
//! Reading a directory back is [`super::stored`]'s job; the `.hlog` format is [`super::hlog`]'s and
//! the page is [`super::html`]'s.

use std::fs;
use std::path::Path;

use serde::Serialize;

use super::ReportError;
use super::common::{
    Derived, RunFacts, RunInfo, TransportHistograms, percentile_distribution, write_file,
};
use super::summary::{Summary, summarize};
use super::{bytes, hlog, html, metrics_json, series};
use crate::metrics::TransportMetrics;

/// One row per transport: the [`Summary`] columns.
pub const SUMMARY_CSV: &str = "summary.csv";
/// The latency percentile distribution of every transport, for charts.
pub const LATENCY_CSV: &str = "latency.csv";
/// Each transport second by second: the [`super::series::SecondRow`] columns.
pub const TIMESERIES_CSV: &str = "timeseries.csv";
/// Each transport's wire bytes split by kind, with the model: the [`super::bytes::BytesRow`] columns.
pub const BYTES_CSV: &str = "bytes.csv";
/// Each transport's final figures as Prometheus metrics (OpenMetrics text), for a push gateway:
/// what a scrape of `--metrics` reads at the run's end.
pub const METRICS_PROM: &str = "metrics.prom";
/// Facts about the run itself: version, start time, command line.
pub const RUN_JSON: &str = "run.json";
/// The resolved scenario, verbatim.
pub const SCENARIO_TOML: &str = "scenario.toml";
/// Every figure of each transport's metrics that is not a histogram, for `wsbench report`.
pub const METRICS_JSON: &str = "metrics.json";
/// The self-contained HTML report: charts, the summary table, the scenario and the run facts.
pub const REPORT_HTML: &str = "report.html";

/// Writes every result file for `metrics` into `dir`, creating it if needed, and returns the
/// summary rows it wrote (the table is rendered from the same rows: they are derived once).
///
/// Existing files of the same names are replaced. On error the files written before it stay; the
/// stored inputs are written first, so whatever they hold can be re-rendered by `wsbench report`.
pub fn write_all(
    dir: &Path,
    run: &RunInfo,
    metrics: &[TransportMetrics],
) -> Result<Vec<Summary>, ReportError> {
    fs::create_dir_all(dir).map_err(|source| ReportError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let facts = RunFacts::new(run, metrics);
    write_json(&dir.join(RUN_JSON), &facts)?;
    write_file(&dir.join(SCENARIO_TOML), run.scenario_toml.as_bytes())?;
    write_json(
        &dir.join(METRICS_JSON),
        &metrics_json::MetricsFile::new(metrics),
    )?;
    for m in metrics {
        hlog::write_hlog(&dir.join(hlog_file_name(&m.transport)), run.started, m)?;
    }
    let rows = summarize(metrics);
    let histograms: Vec<TransportHistograms<'_>> = metrics.iter().map(Into::into).collect();
    let derived = Derived {
        facts: &facts,
        scenario_toml: &run.scenario_toml,
        rows: &rows,
        histograms: &histograms,
        notes: &[],
        metrics: Some(metrics),
    };
    write_derived(dir, &derived, WriteSummary::Yes)?;
    Ok(rows)
}

/// Whether [`write_derived`] writes `summary.csv`: not when the rows were read from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteSummary {
    Yes,
    No,
}

/// Writes the files made from the stored inputs: `summary.csv` (unless told not to),
/// `latency.csv`, `timeseries.csv`, `bytes.csv` and `metrics.prom` (when the metrics are known) and
/// `report.html`.
pub(crate) fn write_derived(
    dir: &Path,
    derived: &Derived<'_>,
    summary: WriteSummary,
) -> Result<(), ReportError> {
    if summary == WriteSummary::Yes {
        write_csv(&dir.join(SUMMARY_CSV), derived.rows)?;
    }
    write_latency_csv(&dir.join(LATENCY_CSV), derived.histograms)?;
    if let Some(metrics) = derived.metrics {
        write_csv(&dir.join(TIMESERIES_CSV), &series::rows(metrics))?;
        write_csv(&dir.join(BYTES_CSV), &bytes::rows(metrics))?;
        let prom = crate::export::RunMetrics::of_finished(metrics);
        write_file(&dir.join(METRICS_PROM), prom.as_bytes())?;
    }
    write_file(&dir.join(REPORT_HTML), html::render(derived).as_bytes())
}

/// The `.hlog` file name for a transport label; characters outside `[A-Za-z0-9._-]` become `_`.
pub fn hlog_file_name(transport: &str) -> String {
    let safe: String = transport
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}.hlog")
}

/// Serializes `rows` under a header taken from the row type's field names (never written by hand).
///
/// With no rows serde never sees a field name, so the header alone is taken from serializing
/// `T::default()`: a file with no transports still names its columns.
fn write_csv<T: Serialize + Default>(path: &Path, rows: &[T]) -> Result<(), ReportError> {
    let csv_error = |source| ReportError::Csv {
        path: path.to_owned(),
        source,
    };
    let io_error = |source| ReportError::Io {
        path: path.to_owned(),
        source,
    };
    if rows.is_empty() {
        let mut wtr = csv::Writer::from_writer(Vec::new());
        wtr.serialize(T::default()).map_err(csv_error)?;
        let text = wtr.into_inner().map_err(|e| io_error(e.into_error()))?;
        let header_len = text.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
        return write_file(path, &text[..header_len]);
    }
    let mut wtr = csv::Writer::from_path(path).map_err(csv_error)?;
    for row in rows {
        wtr.serialize(row).map_err(csv_error)?;
    }
    wtr.flush().map_err(io_error)
}

/// One row of `latency.csv`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
struct LatencyRow<'a> {
    transport: &'a str,
    /// Percentage of deliveries at or below `latency_us` (0–100).
    percentile: f64,
    latency_us: u64,
}

fn write_latency_csv(
    path: &Path,
    histograms: &[TransportHistograms<'_>],
) -> Result<(), ReportError> {
    let mut rows: Vec<LatencyRow<'_>> = histograms
        .iter()
        .flat_map(|h| {
            percentile_distribution(h.latency_us)
                .into_iter()
                .map(|(percentile, latency_us)| LatencyRow {
                    transport: h.transport,
                    percentile,
                    latency_us,
                })
        })
        .collect();
    rows.sort_by(|a, b| {
        a.transport
            .cmp(b.transport)
            .then(a.percentile.total_cmp(&b.percentile))
    });
    write_csv(path, &rows)
}

/// Writes `value` as pretty JSON with a final newline.
fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), ReportError> {
    let mut text = serde_json::to_string_pretty(value).map_err(|source| ReportError::Json {
        path: path.to_owned(),
        source,
    })?;
    text.push('\n');
    write_file(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hlog_names_are_safe_file_names() {
        assert_eq!(hlog_file_name("ws"), "ws.hlog");
        assert_eq!(hlog_file_name("ext/ws 1"), "ext_ws_1.hlog");
    }
}
