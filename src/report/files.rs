//! The files of one results directory: `summary.csv`, `latency.csv`, `<transport>.hlog`,
//! `run.json` and `scenario.toml`. See `results/README.md` for what each holds.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{
    IntervalLogWriterBuilder, IntervalLogWriterError, Tag,
};
use serde::Serialize;

use super::ReportError;
use super::summary::{P50, P90, P99, P999, summarize};
use crate::metrics::TransportMetrics;

/// One row per transport: the [`Summary`](super::Summary) columns.
pub const SUMMARY_CSV: &str = "summary.csv";
/// The latency percentile distribution of every transport, for charts.
pub const LATENCY_CSV: &str = "latency.csv";
/// Facts about the run itself: version, start time, command line.
pub const RUN_JSON: &str = "run.json";
/// The resolved scenario, verbatim.
pub const SCENARIO_TOML: &str = "scenario.toml";

/// Tag of the push-latency interval in a `.hlog` file.
pub const HLOG_TAG_LATENCY: &str = "latency";
/// Tag of the connect-time interval in a `.hlog` file.
pub const HLOG_TAG_CONNECT: &str = "connect";

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

/// Writes every result file for `metrics` into `dir`, creating it if needed.
///
/// Existing files of the same names are replaced. On error the files written before it stay.
pub fn write_all(
    dir: &Path,
    run: &RunInfo,
    metrics: &[TransportMetrics],
) -> Result<(), ReportError> {
    fs::create_dir_all(dir).map_err(|source| ReportError::Io {
        path: dir.to_owned(),
        source,
    })?;
    write_run_json(&dir.join(RUN_JSON), run, metrics)?;
    write_file(&dir.join(SCENARIO_TOML), run.scenario_toml.as_bytes())?;
    write_csv(&dir.join(SUMMARY_CSV), &summarize(metrics))?;
    write_latency_csv(&dir.join(LATENCY_CSV), metrics)?;
    for m in metrics {
        write_hlog(&dir.join(hlog_file_name(&m.transport)), run.started, m)?;
    }
    Ok(())
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

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
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

fn write_latency_csv(path: &Path, metrics: &[TransportMetrics]) -> Result<(), ReportError> {
    let mut rows: Vec<LatencyRow<'_>> = metrics
        .iter()
        .flat_map(|m| {
            percentile_distribution(&m.clients.latency_us)
                .into_iter()
                .map(|(percentile, latency_us)| LatencyRow {
                    transport: &m.transport,
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

/// Writes HdrHistogram's interval log: one interval tagged `latency`, one tagged `connect`.
///
/// Both intervals start at the run's start (absolute seconds since the epoch, with a matching
/// `StartTime` header) and last the measured phase; connect samples come from the ramp-up before it.
fn write_hlog(path: &Path, started: SystemTime, m: &TransportMetrics) -> Result<(), ReportError> {
    let hlog_error = |e| match e {
        IntervalLogWriterError::SerializeError(source) => ReportError::Hlog {
            path: path.to_owned(),
            source,
        },
        IntervalLogWriterError::IoError(source) => ReportError::Io {
            path: path.to_owned(),
            source,
        },
    };
    let start = started.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let comment = format!(
        "wsbench {} transport={}: values in microseconds (µs); \
         Tag={HLOG_TAG_LATENCY} is push latency, Tag={HLOG_TAG_CONNECT} is connect time",
        env!("CARGO_PKG_VERSION"),
        m.transport,
    );
    let mut buf = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let mut log = IntervalLogWriterBuilder::new()
        .add_comment(&comment)
        .with_start_time(started)
        .begin_log_with(&mut buf, &mut serializer)
        .map_err(|source| ReportError::Io {
            path: path.to_owned(),
            source,
        })?;
    for (tag, h) in [
        (HLOG_TAG_LATENCY, &m.clients.latency_us),
        (HLOG_TAG_CONNECT, &m.clients.connect_us),
    ] {
        let tag = Tag::new(tag).expect("the tag constants hold no ',', ' ' or newline");
        log.write_histogram(h, start, m.measured, Some(tag))
            .map_err(hlog_error)?;
    }
    drop(log);
    write_file(path, &buf)
}

/// The shape of `run.json`.
#[derive(Serialize)]
struct RunJson<'a> {
    tool: &'static str,
    version: &'static str,
    started_utc: String,
    cores: usize,
    complete: bool,
    command: &'a [String],
    transports: Vec<&'a str>,
    scenario_file: String,
}

fn write_run_json(
    path: &Path,
    run: &RunInfo,
    metrics: &[TransportMetrics],
) -> Result<(), ReportError> {
    let json = RunJson {
        tool: "wsbench",
        version: env!("CARGO_PKG_VERSION"),
        started_utc: humantime::format_rfc3339_seconds(run.started).to_string(),
        cores: run.cores,
        complete: run.complete,
        command: &run.command,
        transports: metrics.iter().map(|m| m.transport.as_str()).collect(),
        scenario_file: run.scenario_path.display().to_string(),
    };
    let mut text = serde_json::to_string_pretty(&json).map_err(|source| ReportError::Json {
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
