//! Turns measured [`TransportMetrics`](crate::metrics::TransportMetrics) into output: the stdout
//! table, the files of a results directory and the HTML report; reads a results directory back
//! to re-render it (`wsbench report`) or to compare two (`wsbench compare`).
//!
//! Owns the derived figures ([`Summary`], one row per transport, computed once and shared by the
//! CSV, the table and the HTML page), every file of a results directory and their formats. It
//! reads metrics and never changes them; it measures nothing, opens no sockets, prints nothing
//! and picks no directory names (the caller passes the directory and prints what it returns).
//!
//! - [`summary`]: the [`Summary`] row and how each figure is derived.
//! - `common`: what every output shares — the run's facts, the inputs of the derived files, the
//!   latency distribution, HTML escaping, writing a file. A leaf: it imports only `summary`.
//! - [`files`]: [`write_all`], the file names and the order they are written in.
//! - [`hlog`]: the `.hlog` interval logs, written and read back.
//! - [`series`]: `timeseries.csv`, each transport second by second.
//! - [`bytes`]: `bytes.csv`, wire bytes split by kind, with the codec's model beside them.
//! - `metrics_json`: `metrics.json`, the non-histogram figures of each transport (serde mirror).
//! - [`stored`]: reading a directory back; [`rerender`] rebuilds its derived files.
//! - [`table`]: the side-by-side table printed at the end of a run.
//! - [`saturation`]: whether the load generator was the bottleneck, and the warning under the table.
//! - [`sharded`]: the notes under a sharded or merged run's table (whose latency it shows);
//!   `shard_json`, the `sharding` entry of `metrics.json`.
//! - [`html`]: `report.html`, one self-contained page; its charts are drawn by `svg`.
//! - [`model`]: the line under the table that states the load model.
//! - [`thresholds`]: `[thresholds]` checked against the rows.
//! - [`mod@compare`]: two results directories side by side, with ratios.
//! - [`capacity`]: a capacity search's `capacity.csv` and its `report.html` with the capacity chart.
//! - `format`: how a figure is written for people (`12.3 ms`), shared by table, page and comparison.

pub mod bytes;
pub mod capacity;
mod common;
pub mod compare;
pub mod files;
mod format;
pub mod hlog;
pub mod html;
pub mod instances;
mod metrics_json;
pub mod model;
pub mod saturation;
pub mod series;
mod shard_json;
pub mod sharded;
pub mod stored;
pub mod summary;
mod svg;
pub mod table;
pub mod thresholds;

use std::io;
use std::path::PathBuf;

use hdrhistogram::serialization::V2DeflateSerializeError;

pub use common::{RunFacts, RunInfo};
pub use compare::compare;
pub use files::write_all;
pub use hlog::{HlogError, read_hlog};
pub use stored::{Rerendered, SummarySource, rerender};
pub use summary::{Summary, summarize};

/// Why writing or reading results failed. Each variant names the file; when writing, the files
/// written before it stay.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Creating the results directory or writing one of its files failed (permissions, disk
    /// full, read-only file system). Fix the path or free space and run again.
    #[error("cannot write {}", .path.display())]
    Io {
        /// The directory or file being written.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The CSV writer failed: opening or writing the file, or serializing a row (a bug if the
    /// file system is fine, since rows hold only numbers and labels).
    #[error("cannot write CSV file {}", .path.display())]
    Csv {
        /// The CSV file being written.
        path: PathBuf,
        /// The CSV writer's error.
        source: csv::Error,
    },
    /// `run.json` could not be serialized. Should not happen: it holds only strings and numbers.
    #[error("cannot serialize {}", .path.display())]
    Json {
        /// The JSON file being written.
        path: PathBuf,
        /// serde_json's error.
        source: serde_json::Error,
    },
    /// A histogram could not be encoded (V2 + deflate) for a `.hlog` file: compression failed or
    /// the histogram is too large for the format. The CSV files are unaffected.
    #[error("cannot encode histogram for {}", .path.display())]
    Hlog {
        /// The `.hlog` file being written.
        path: PathBuf,
        /// HdrHistogram's serialization error.
        source: V2DeflateSerializeError,
    },
    /// A stored file could not be read: the directory is not a results directory, or a file of
    /// it is missing or unreadable. Check the path.
    #[error("cannot read {}", .path.display())]
    Read {
        /// The file being read.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// A stored JSON file (`run.json`, `metrics.json`) is not what wsbench writes: damaged, edited,
    /// or from a newer wsbench that stores more.
    #[error("cannot parse {}", .path.display())]
    ReadJson {
        /// The JSON file being read.
        path: PathBuf,
        /// serde_json's error, with line and column.
        source: serde_json::Error,
    },
    /// A stored `summary.csv` does not have the columns this wsbench expects.
    #[error("cannot parse {}", .path.display())]
    ReadCsv {
        /// The CSV file being read.
        path: PathBuf,
        /// The CSV reader's error, with the record.
        source: csv::Error,
    },
    /// A stored `.hlog` file could not be decoded.
    #[error("cannot read histograms from {}", .path.display())]
    ReadHlog {
        /// The `.hlog` file being read.
        path: PathBuf,
        /// What is wrong with it.
        source: HlogError,
    },
    /// Two stored files disagree (e.g. `metrics.json` and a `.hlog` file from different runs):
    /// the directory was edited or mixed up. Re-run, or restore the files of one run.
    #[error("{reason}")]
    Inconsistent {
        /// The file that was being read.
        path: PathBuf,
        /// What does not match.
        reason: String,
    },
    /// `metrics.json` was written by a newer wsbench in a layout this one cannot read; re-render
    /// with that version.
    #[error("{} has format {format}; this wsbench reads up to {supported}", .path.display())]
    NewerFormat {
        /// The file being read.
        path: PathBuf,
        /// The file's format number.
        format: u32,
        /// The newest format this build reads.
        supported: u32,
    },
}

/// The lines printed under the table: what a sharded run's figures mean, then what the serving
/// side of a run with several instances cost.
pub fn notes_under_table(metrics: &[crate::metrics::TransportMetrics]) -> Vec<String> {
    let mut notes = sharded::notes(metrics);
    notes.extend(instances::notes(metrics));
    notes
}
