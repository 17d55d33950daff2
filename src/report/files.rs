//! The files of one results directory and the order they are written in: the stored inputs
//! (`run.json`, `scenario.toml`, `metrics.json`, `<transport>.hlog`) and the outputs derived from
//! them (`summary.csv`, `latency.csv`, `timeseries.csv`, `bytes.csv`, `report.html`). See `results/README.md` for what each holds.
//!
//! Reading a directory back is [`super::stored`]'s job; the `.hlog` format is [`super::hlog`]'s and
//! the page is [`super::html`]'s.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::ReportError;
use super::summary::{P50, P90, P99, P999, Summary, summarize};
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
/// Facts about the run itself: version, start time, command line.
pub const RUN_JSON: &str = "run.json";
/// The resolved scenario, verbatim.
pub const SCENARIO_TOML: &str = "scenario.toml";
/// Every figure of each transport's metrics that is not a histogram, for `wsbench report`.
pub const METRICS_JSON: &str = "metrics.json";
/// The self-contained HTML report: charts, the summary table, the scenario and the run facts.
pub const REPORT_HTML: &str = "report.html";

/// Percentiles always present in `latency.csv`, computed exactly as the summary's columns are.
const EXACT_PERCENTILES: [(f64, f64); 6] = [
    (50.0, P50),
    (90.0, P90),
    (99.0, P99),
    (99.9, P999),
    (99.99, 0.9999),
    (100.0, 1.0),
];

/// Ticks per half distance to 100 % in `latency.csv`: HdrHistogram's standard distribution steps.
const TICKS_PER_HALF_DISTANCE: u32 = 5;

/// What the caller knows about the run that the metrics do not hold.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// Wall-clock time the run started; `run.json`'s `started_utc` and the `.hlog` StartTime.
    pub started: SystemTime,
    /// CPU cores available to the run.
    pub cores: usize,
    /// False when the run was interrupted: some transports did not run or not to the end.
    pub complete: bool,
    /// The command line, program name first.
    pub command: Vec<String>,
    /// Path of the scenario file the run loaded, as given.
    pub scenario_path: PathBuf,
    /// The resolved scenario (file plus command-line overrides) as TOML; copied verbatim.
    pub scenario_toml: String,
}

/// The contents of `run.json`: the facts about a run as stored, so a re-rendered report shows the
/// version that measured, not the one that renders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunFacts {
    /// Always `wsbench`.
    pub tool: String,
    /// Version of the wsbench that ran the measurement.
    pub version: String,
    /// Start of the run, RFC 3339 in UTC, whole seconds.
    pub started_utc: String,
    /// CPU cores available to the run.
    pub cores: usize,
    /// False when the run was interrupted.
    pub complete: bool,
    /// The command line, program name first.
    pub command: Vec<String>,
    /// Transport labels, in run order.
    pub transports: Vec<String>,
    /// Path of the scenario file, as given.
    pub scenario_file: String,
}

impl RunFacts {
    /// The facts of a run that has just finished, measured by this build.
    pub fn new(run: &RunInfo, metrics: &[TransportMetrics]) -> RunFacts {
        RunFacts {
            tool: "wsbench".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            started_utc: humantime::format_rfc3339_seconds(run.started).to_string(),
            cores: run.cores,
            complete: run.complete,
            command: run.command.clone(),
            transports: metrics.iter().map(|m| m.transport.clone()).collect(),
            scenario_file: run.scenario_path.display().to_string(),
        }
    }
}

/// One transport's histograms, borrowed from wherever they live (fresh metrics or a `.hlog` file).
#[derive(Debug, Clone, Copy)]
pub struct TransportHistograms<'a> {
    /// Transport label.
    pub transport: &'a str,
    /// Push latency, µs.
    pub latency_us: &'a Histogram<u64>,
    /// Connect time, µs.
    pub connect_us: &'a Histogram<u64>,
}

impl<'a> From<&'a TransportMetrics> for TransportHistograms<'a> {
    fn from(m: &'a TransportMetrics) -> Self {
        TransportHistograms {
            transport: &m.transport,
            latency_us: &m.clients.latency_us,
            connect_us: &m.clients.connect_us,
        }
    }
}

/// What the derived files are made from: the facts, the scenario text, one [`Summary`] row and
/// one set of histograms per transport (both in run order).
#[derive(Debug, Clone, Copy)]
pub struct Derived<'a> {
    /// `run.json` as stored.
    pub facts: &'a RunFacts,
    /// `scenario.toml` as stored.
    pub scenario_toml: &'a str,
    /// The rows of `summary.csv`.
    pub rows: &'a [Summary],
    /// Each transport's histograms, in the order of `rows`.
    pub histograms: &'a [TransportHistograms<'a>],
    /// Caveats shown at the top of the page (e.g. re-rendered from an older directory).
    pub notes: &'a [String],
    /// The full metrics, when known (not when re-rendering a directory without `metrics.json`):
    /// the source of `timeseries.csv`, `bytes.csv` and the page's charts over time.
    pub metrics: Option<&'a [TransportMetrics]>,
}

/// Writes every result file for `metrics` into `dir`, creating it if needed.
///
/// Existing files of the same names are replaced. On error the files written before it stay; the
/// stored inputs are written first, so whatever they hold can be re-rendered by `wsbench report`.
pub fn write_all(
    dir: &Path,
    run: &RunInfo,
    metrics: &[TransportMetrics],
) -> Result<(), ReportError> {
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
    write_derived(dir, &derived, WriteSummary::Yes)
}

/// Whether [`write_derived`] writes `summary.csv`: not when the rows were read from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteSummary {
    Yes,
    No,
}

/// Writes the files made from the stored inputs: `summary.csv` (unless told not to),
/// `latency.csv`, `timeseries.csv` and `bytes.csv` (when the metrics are known) and `report.html`.
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

pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    fs::write(path, bytes).map_err(|source| ReportError::Io {
        path: path.to_owned(),
        source,
    })
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

/// The percentile distribution of one histogram as `(percentile, value)`, ascending.
///
/// The percentiles are HdrHistogram's standard steps (`iter_quantiles(5)`) plus 50, 90, 99, 99.9,
/// 99.99 and 100. Every value comes from `value_at_quantile`, as the summary's do, so the rows
/// at 50, 90, 99, 99.9 and 100 equal `summary.csv` exactly, and a step is not shifted by the
/// iterator's accumulated float error (its 75 % step can land on the 76th of 100 samples).
/// Empty for an empty histogram.
pub(crate) fn percentile_distribution(h: &Histogram<u64>) -> Vec<(f64, u64)> {
    if h.is_empty() {
        return Vec::new();
    }
    let steps = h
        .iter_quantiles(TICKS_PER_HALF_DISTANCE)
        .map(|v| percent(v.quantile_iterated_to()))
        .filter(|p| !EXACT_PERCENTILES.iter().any(|(e, _)| same_percent(*p, *e)))
        .map(|p| (p, h.value_at_quantile(p / 100.0)));
    let exact = EXACT_PERCENTILES
        .iter()
        .map(|&(p, q)| (p, h.value_at_quantile(q)));
    let mut rows: Vec<(f64, u64)> = steps.chain(exact).collect();
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    rows
}

/// A quantile as a percentage, rounded to 10 decimals so `0.9` prints as `90`, not `90.00000000000001`.
fn percent(quantile: f64) -> f64 {
    (quantile * 1e12).round() / 1e10
}

fn same_percent(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
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
    use crate::metrics::new_histogram;
    use crate::report::summary::Summary;
    use crate::report::summary::tests::sample;

    #[test]
    fn distribution_is_ascending_and_holds_the_summary_percentiles() {
        let m = sample("ws");
        let rows = percentile_distribution(&m.clients.latency_us);
        assert!(rows.windows(2).all(|w| w[0].0 < w[1].0), "{rows:?}");
        assert_eq!(rows.first(), Some(&(0.0, 1_000)));
        let s = Summary::new(&m);
        let at = |p: f64| rows.iter().find(|r| r.0 == p).map(|r| r.1);
        assert_eq!(at(50.0), s.latency_p50_us);
        assert_eq!(at(90.0), s.latency_p90_us);
        assert_eq!(at(99.0), s.latency_p99_us);
        assert_eq!(at(99.9), s.latency_p999_us);
        assert_eq!(at(99.99), s.latency_max_us);
        assert_eq!(at(100.0), s.latency_max_us);
        // Standard steps between the exact rows are kept.
        assert_eq!(at(75.0), Some(75_007));
    }

    #[test]
    fn empty_histogram_has_no_distribution() {
        assert!(percentile_distribution(&new_histogram()).is_empty());
    }

    #[test]
    fn percent_prints_short() {
        assert_eq!(percent(0.9).to_string(), "90");
        assert_eq!(percent(0.999).to_string(), "99.9");
        assert_eq!(percent(0.999969482421875).to_string(), "99.9969482422");
    }

    #[test]
    fn hlog_names_are_safe_file_names() {
        assert_eq!(hlog_file_name("ws"), "ws.hlog");
        assert_eq!(hlog_file_name("ext/ws 1"), "ext_ws_1.hlog");
    }
}
