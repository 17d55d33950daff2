//! The pieces every output of a results directory is made from and shares: the run's facts, the
//! inputs of the derived files ([`Derived`]), the latency distribution, HTML escaping and writing
//! a file. A leaf of `report`: it imports only [`super::summary`] (the rows) and the error type,
//! so the writers (`files`, `hlog`), the page (`html`) and its charts (`svg`) all depend on it
//! and never on each other for these.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::ReportError;
use super::summary::{P50, P90, P99, P999, Summary};
use crate::metrics::TransportMetrics;

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

/// Writes `bytes` to `path`, naming the path in the error.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    fs::write(path, bytes).map_err(|source| ReportError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Escapes text for HTML and SVG content and attribute values (`&`, `<`, `>`, `"`, `'`).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::new_histogram;
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
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
    }
}
