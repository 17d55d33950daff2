//! Turns measured [`TransportMetrics`](crate::metrics::TransportMetrics) into output: the stdout
//! table and the files of a results directory.
//!
//! Owns the derived figures ([`Summary`], one row per transport, computed once and shared by the
//! CSV and the table), `summary.csv`, `latency.csv`, one HdrHistogram interval log per transport,
//! `run.json` and the copy of the scenario. It reads metrics and never changes them; it measures
//! nothing, opens no sockets and picks no directory names (the caller passes the directory).
//!
//! - [`summary`]: the [`Summary`] row and how each figure is derived.
//! - [`files`]: [`write_all`] and the file formats.
//! - [`table`]: the side-by-side table printed at the end of a run.

pub mod files;
pub mod summary;
pub mod table;

use std::io;
use std::path::PathBuf;

use hdrhistogram::serialization::V2DeflateSerializeError;

pub use files::{RunInfo, write_all};
pub use summary::{Summary, summarize};

/// Why writing the results failed. Each variant names the file; the files written before it stay.
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
}
