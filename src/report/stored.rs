//! A results directory read back: `metrics.json` (`metrics_json`) plus the `.hlog`
//! histograms rebuild each [`TransportMetrics`] exactly, so `wsbench report DIR` re-derives
//! `summary.csv`, `latency.csv`, `timeseries.csv`, `bytes.csv`, `report.html` and the table with
//! the current code.
//!
//! Owns reading a directory's stored files and the rebuild. Writes only derived files: the
//! stored inputs of a directory are never changed.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ReportError;
use super::common::{Derived, RunFacts, TransportHistograms};
use super::files::{
    METRICS_JSON, RUN_JSON, SCENARIO_TOML, SUMMARY_CSV, WriteSummary, hlog_file_name, write_derived,
};
use super::hlog::read_histograms;
use super::metrics_json::MetricsFile;
use super::saturation::warnings;
use super::summary::{Summary, summarize};
use super::table::render_summaries;
use crate::metrics::TransportMetrics;
/// Where the rows of a re-rendered report came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummarySource {
    /// Recomputed from `metrics.json` and the `.hlog` files; `summary.csv` was rewritten.
    Recomputed,
    /// The directory has no `metrics.json` (written before it existed): the rows are
    /// `summary.csv` as stored, which was left alone.
    Stored,
}

/// What [`rerender`] did.
#[derive(Debug, Clone)]
pub struct Rerendered {
    /// The side-by-side table with the saturation warnings under it, as `wsbench run` prints them.
    pub table: String,
    /// Whether the summary was recomputed or taken as stored.
    pub summary: SummarySource,
    /// What a reader of the output should know (the summary taken as stored, columns missing
    /// from it); also shown at the top of `report.html`.
    pub notes: Vec<String>,
}

/// Rebuilds a results directory's derived files (`summary.csv`, `latency.csv`, `report.html`)
/// from its stored inputs, with this build's code; returns the table to print.
///
/// A directory without `metrics.json` still gets `latency.csv` and `report.html`, made from its
/// `summary.csv` and `.hlog` files; see [`SummarySource::Stored`].
pub fn rerender(dir: &Path) -> Result<Rerendered, ReportError> {
    let facts: RunFacts = read_json(&dir.join(RUN_JSON))?;
    let scenario_toml = read_text(&dir.join(SCENARIO_TOML))?;
    let metrics_path = dir.join(METRICS_JSON);
    let mut notes = Vec::new();
    let mut metrics = None;
    let (rows, histograms, source) = if metrics_path.exists() {
        let read = read_metrics(dir, &metrics_path)?;
        let rows = summarize(&read);
        let histograms = read
            .iter()
            .map(|m| {
                (
                    m.transport.clone(),
                    m.clients.latency_us.clone(),
                    m.clients.connect_us.clone(),
                )
            })
            .collect();
        metrics = Some(read);
        (rows, histograms, SummarySource::Recomputed)
    } else {
        let StoredSummary {
            rows,
            missing_columns,
        } = read_summary(dir)?;
        notes.push(format!(
            "no {METRICS_JSON} (written by an older wsbench): the summary is {SUMMARY_CSV} as \
             stored, not recomputed"
        ));
        if !missing_columns.is_empty() {
            notes.push(format!(
                "{SUMMARY_CSV} lacks the columns {}: shown as 0 or empty",
                missing_columns.join(", ")
            ));
        }
        let histograms = rows
            .iter()
            .map(|row| {
                let h = read_histograms(&dir.join(hlog_file_name(&row.transport)))?;
                Ok((row.transport.clone(), h.latency_us, h.connect_us))
            })
            .collect::<Result<Vec<_>, ReportError>>()?;
        (rows, histograms, SummarySource::Stored)
    };
    let borrowed: Vec<TransportHistograms<'_>> = histograms
        .iter()
        .map(|(transport, latency_us, connect_us)| TransportHistograms {
            transport,
            latency_us,
            connect_us,
        })
        .collect();
    let derived = Derived {
        facts: &facts,
        scenario_toml: &scenario_toml,
        rows: &rows,
        histograms: &borrowed,
        notes: &notes,
        metrics: metrics.as_deref(),
    };
    let write_summary = match source {
        SummarySource::Recomputed => WriteSummary::Yes,
        SummarySource::Stored => WriteSummary::No,
    };
    write_derived(dir, &derived, write_summary)?;
    let mut table = render_summaries(&rows);
    for note in super::sharded::notes(metrics.as_deref().unwrap_or_default()) {
        table.push('\n');
        table.push_str(&note);
    }
    for warning in warnings(&rows, facts.cores) {
        table.push('\n');
        table.push_str(&warning);
    }
    Ok(Rerendered {
        table,
        summary: source,
        notes,
    })
}

/// Rebuilds every transport's [`TransportMetrics`] from `metrics.json` and the `.hlog` files.
pub fn load_metrics(dir: &Path) -> Result<Vec<TransportMetrics>, ReportError> {
    read_metrics(dir, &dir.join(METRICS_JSON))
}

fn read_metrics(dir: &Path, path: &Path) -> Result<Vec<TransportMetrics>, ReportError> {
    let file: MetricsFile = read_json(path)?;
    file.into_metrics(path, |transport| {
        read_histograms(&dir.join(hlog_file_name(transport)))
    })
}

/// A directory's `summary.csv` as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSummary {
    /// The rows, in run order.
    pub rows: Vec<Summary>,
    /// Columns this wsbench writes that the file lacks (an older wsbench wrote it); in `rows`
    /// they read as 0 or empty.
    pub missing_columns: Vec<String>,
}

/// Reads a directory's `summary.csv`, also one written by an older wsbench with fewer columns.
pub fn read_summary(dir: &Path) -> Result<StoredSummary, ReportError> {
    let path = dir.join(SUMMARY_CSV);
    let csv_error = |source| ReportError::ReadCsv {
        path: path.clone(),
        source,
    };
    let text = read_text(&path)?;
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let present = reader.headers().map_err(csv_error)?.clone();
    let missing_columns = Summary::columns()
        .into_iter()
        .filter(|c| !present.iter().any(|p| p == c))
        .collect();
    let rows = reader
        .deserialize()
        .collect::<Result<Vec<Summary>, _>>()
        .map_err(csv_error)?;
    Ok(StoredSummary {
        rows,
        missing_columns,
    })
}

/// A stored text file, whole.
pub(crate) fn read_text(path: &Path) -> Result<String, ReportError> {
    fs::read_to_string(path).map_err(|source| ReportError::Read {
        path: path.to_owned(),
        source,
    })
}

/// A stored JSON file, parsed.
pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, ReportError> {
    serde_json::from_str(&read_text(path)?).map_err(|source| ReportError::ReadJson {
        path: PathBuf::from(path),
        source,
    })
}
