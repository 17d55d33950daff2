//! `<transport>.hlog`: one transport's histograms in HdrHistogram's interval-log format, written
//! after a run and read back by `wsbench report`.
//!
//! Owns the file's layout (one interval tagged [`HLOG_TAG_LATENCY`] with the whole run's push
//! latency, one tagged [`HLOG_TAG_CONNECT`], then one untagged interval per second of the measured
//! phase and drain with the push latency of the deliveries that arrived in it; values in µs,
//! V2 + deflate, base64) and its reading. HDR plotters read untagged intervals by default, so they
//! plot latency over time; the whole-run histogram is stored apart, so reading it back never
//! depends on adding the seconds up. Knows nothing of the other files of a results directory.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, IntervalLogWriterError, LogEntry, Tag,
};
use hdrhistogram::serialization::{DeserializeError, Deserializer, V2DeflateSerializer};

use super::ReportError;
use super::common::write_file;
use crate::metrics::{PackedHistogram, TransportMetrics};

/// Tag of the push-latency interval in a `.hlog` file.
pub const HLOG_TAG_LATENCY: &str = "latency";
/// Tag of the connect-time interval in a `.hlog` file.
pub const HLOG_TAG_CONNECT: &str = "connect";
/// Tag of the publish round-trip interval in a `.hlog` file (absent in older files).
pub const HLOG_TAG_PUBLISH_RTT: &str = "publish_rtt";
/// Tag of the reconnect-time interval in a `.hlog` file (absent in older files).
pub const HLOG_TAG_RECONNECT: &str = "reconnect";
/// Tag of the generator's read delay (user-space − kernel receive time) in a `.hlog` file
/// (absent in older files).
pub const HLOG_TAG_GENERATOR_DELAY: &str = "generator_delay";
/// Tag of the publishers' lateness behind their schedule in a `.hlog` file (absent in older
/// files).
pub const HLOG_TAG_PUBLISH_LAG: &str = "publish_lag";
/// Tag of the replayed deliveries' latency in a `.hlog` file (absent in older files).
pub const HLOG_TAG_REPLAY: &str = "replay";
/// Tag of the broken connections' recovery times in a `.hlog` file (absent in older files).
pub const HLOG_TAG_RECOVERY: &str = "recovery";

/// One interval of an interval log, decoded.
#[derive(Debug, Clone)]
pub struct HlogInterval {
    /// The interval's `Tag=`, if it has one.
    pub tag: Option<String>,
    /// Start of the interval, in seconds since the epoch (wsbench writes absolute timestamps).
    pub start: Duration,
    /// Length of the interval.
    pub duration: Duration,
    /// The interval's histogram, in µs.
    pub histogram: Histogram<u64>,
}

/// A transport's histograms as read from its `.hlog` file.
#[derive(Debug, Clone)]
pub struct StoredHistograms {
    /// Push latency, µs.
    pub latency_us: Histogram<u64>,
    /// Connect time, µs.
    pub connect_us: Histogram<u64>,
    /// Publish round trip, µs; empty in files written before wsbench recorded it.
    pub publish_rtt_us: Histogram<u64>,
    /// Reconnect time, µs; empty in files written before wsbench recorded it.
    pub reconnect_us: Histogram<u64>,
    /// The generator's read delay per delivery, µs; empty with user-space timestamps and in
    /// files written before wsbench recorded it.
    pub generator_delay_us: Histogram<u64>,
    /// Publishers' lateness per message, µs; empty in files written before wsbench recorded it.
    pub publish_lag_us: Histogram<u64>,
    /// Latency of deliveries published during their subscriber's outage, µs; empty in files
    /// written before wsbench recorded it.
    pub replay_us: Histogram<u64>,
    /// Recovery per broken connection, µs; empty in files written before wsbench recorded it.
    pub recovery_us: Histogram<u64>,
    /// Push latency per second (the untagged intervals, in file order), packed as they are read
    /// so a long run's file never needs all its seconds decoded at once; empty in files written
    /// before wsbench kept a time series.
    pub seconds: Vec<PackedHistogram>,
}

/// Why an interval log could not be read. Wrapped in [`ReportError::ReadHlog`] with the file.
#[derive(Debug, thiserror::Error)]
pub enum HlogError {
    /// A line is not valid interval-log syntax: the file is damaged or not an interval log.
    #[error("not an interval log line at byte {offset}")]
    Syntax {
        /// Byte offset of the line in the file.
        offset: usize,
    },
    /// An interval's histogram is not valid base64: the file is damaged.
    #[error("an interval's histogram is not valid base64")]
    Base64,
    /// An interval's histogram could not be decoded (damaged, or a format this crate lacks).
    #[error("an interval's histogram cannot be decoded")]
    Decode(#[source] DeserializeError),
    /// Intervals of one tag could not be added together (they use different precision).
    #[error("the intervals tagged {0} do not add up (different precision)")]
    Merge(String),
    /// The log has no interval with this tag; wsbench always writes both tags.
    #[error("no interval tagged {0}")]
    MissingTag(&'static str),
}

/// Writes HdrHistogram's interval log: one interval tagged `latency`, one tagged `connect`, then
/// one untagged interval per second of [`TransportMetrics::timeseries`].
///
/// The two tagged intervals start at the run's start (absolute seconds since the epoch, with a
/// matching `StartTime` header) and last the measured phase; connect samples come from the
/// ramp-up before it. Each second starts at its own wall-clock time and lasts as long as it did.
pub(crate) fn write_hlog(
    path: &Path,
    started: SystemTime,
    m: &TransportMetrics,
) -> Result<(), ReportError> {
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
         Tag={HLOG_TAG_LATENCY} is push latency of the whole run, Tag={HLOG_TAG_CONNECT} is \
         connect time, Tag={HLOG_TAG_PUBLISH_RTT} is the publishers' POST round trip, \
         Tag={HLOG_TAG_RECONNECT} is reconnect time, Tag={HLOG_TAG_GENERATOR_DELAY} is the \
         generator's read delay, Tag={HLOG_TAG_PUBLISH_LAG} is the publishers' lateness; \
         untagged intervals are push latency second by second",
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
        (HLOG_TAG_PUBLISH_RTT, &m.clients.publish_rtt_us),
        (HLOG_TAG_RECONNECT, &m.clients.reconnect_us),
        (HLOG_TAG_GENERATOR_DELAY, &m.clients.generator_delay_us),
        (HLOG_TAG_PUBLISH_LAG, &m.clients.publish_lag_us),
        (HLOG_TAG_REPLAY, &m.clients.replay_us),
        (HLOG_TAG_RECOVERY, &m.clients.recovery_us),
    ] {
        let tag = Tag::new(tag).expect("the tag constants hold no ',', ' ' or newline");
        log.write_histogram(h, start, m.measured, Some(tag))
            .map_err(hlog_error)?;
    }
    let mut at = m.timeseries.start_unix;
    for second in &m.timeseries.seconds {
        log.write_histogram(&second.latency_us.unpack(), at, second.duration, None)
            .map_err(hlog_error)?;
        at += second.duration;
    }
    drop(log);
    write_file(path, &buf)
}

/// Decodes every interval of an interval log (the bytes of a `.hlog` file), in file order.
///
/// `StartTime`/`BaseTime` headers are skipped: wsbench writes absolute interval timestamps.
pub fn read_hlog(log: &[u8]) -> Result<Vec<HlogInterval>, HlogError> {
    let mut intervals = Vec::new();
    decode_intervals(log, |i| intervals.push(i))?;
    Ok(intervals)
}

/// Decodes the intervals of an interval log one at a time, in file order, handing each to `each`.
fn decode_intervals(log: &[u8], mut each: impl FnMut(HlogInterval)) -> Result<(), HlogError> {
    let mut deserializer = Deserializer::new();
    for entry in IntervalLogIterator::new(log) {
        let interval = match entry {
            Ok(LogEntry::Interval(i)) => i,
            Ok(LogEntry::StartTime(_) | LogEntry::BaseTime(_)) => continue,
            Err(hdrhistogram::serialization::interval_log::LogIteratorError::ParseError {
                offset,
            }) => return Err(HlogError::Syntax { offset }),
        };
        let bytes = base64_decode(interval.encoded_histogram()).ok_or(HlogError::Base64)?;
        let histogram = deserializer
            .deserialize(&mut bytes.as_slice())
            .map_err(HlogError::Decode)?;
        each(HlogInterval {
            tag: interval.tag().map(|t| t.as_str().to_owned()),
            start: interval.start_timestamp(),
            duration: interval.duration(),
            histogram,
        });
    }
    Ok(())
}

/// Reads a transport's `.hlog` file: the sum of its `latency` intervals and of its `connect`
/// intervals (wsbench writes one of each; several would be time slices of one run).
pub fn read_histograms(path: &Path) -> Result<StoredHistograms, ReportError> {
    let bytes = std::fs::read(path).map_err(|source| ReportError::Read {
        path: path.to_owned(),
        source,
    })?;
    let read_error = |source| ReportError::ReadHlog {
        path: path.to_owned(),
        source,
    };
    let (mut tagged, mut seconds) = (Vec::new(), Vec::new());
    decode_intervals(&bytes, |i| match i.tag {
        Some(_) => tagged.push(i),
        None => seconds.push(PackedHistogram::pack(&i.histogram)),
    })
    .map_err(read_error)?;
    Ok(StoredHistograms {
        latency_us: sum_tagged(&tagged, HLOG_TAG_LATENCY).map_err(read_error)?,
        connect_us: sum_tagged(&tagged, HLOG_TAG_CONNECT).map_err(read_error)?,
        publish_rtt_us: match sum_tagged(&tagged, HLOG_TAG_PUBLISH_RTT) {
            Err(HlogError::MissingTag(_)) => crate::metrics::new_histogram(),
            other => other.map_err(read_error)?,
        },
        reconnect_us: optional(&tagged, HLOG_TAG_RECONNECT).map_err(read_error)?,
        generator_delay_us: optional(&tagged, HLOG_TAG_GENERATOR_DELAY).map_err(read_error)?,
        publish_lag_us: optional(&tagged, HLOG_TAG_PUBLISH_LAG).map_err(read_error)?,
        replay_us: optional(&tagged, HLOG_TAG_REPLAY).map_err(read_error)?,
        recovery_us: optional(&tagged, HLOG_TAG_RECOVERY).map_err(read_error)?,
        seconds,
    })
}

/// [`sum_tagged`] of a tag older files lack: empty when absent.
fn optional(intervals: &[HlogInterval], tag: &'static str) -> Result<Histogram<u64>, HlogError> {
    match sum_tagged(intervals, tag) {
        Err(HlogError::MissingTag(_)) => Ok(crate::metrics::new_histogram()),
        other => other,
    }
}

/// The sum of the intervals tagged `tag`. A single interval is returned as decoded, so a
/// histogram read back equals the one written.
fn sum_tagged(intervals: &[HlogInterval], tag: &'static str) -> Result<Histogram<u64>, HlogError> {
    let mut tagged = intervals
        .iter()
        .filter(|i| i.tag.as_deref() == Some(tag))
        .map(|i| &i.histogram);
    let mut sum = tagged.next().ok_or(HlogError::MissingTag(tag))?.clone();
    for h in tagged {
        sum.auto(true);
        sum.add(h).map_err(|_| HlogError::Merge(tag.to_owned()))?;
    }
    Ok(sum)
}

/// Standard base64 with optional `=` padding, as interval logs encode histograms. `None` for
/// any other character or an impossible length.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let body = text.trim_end_matches('=');
    if text.len() - body.len() > 2 || body.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in body.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::summary::tests::sample;

    #[test]
    fn decodes_base64() {
        assert_eq!(base64_decode("").unwrap(), b"");
        assert_eq!(base64_decode("Zg==").unwrap(), b"f");
        assert_eq!(base64_decode("Zm8=").unwrap(), b"fo");
        assert_eq!(base64_decode("Zm9v").unwrap(), b"foo");
        assert_eq!(base64_decode("Zm9vYmFy").unwrap(), b"foobar");
        assert_eq!(base64_decode("+/+/").unwrap(), [0xfb, 0xff, 0xbf]);
        assert_eq!(base64_decode("Zm9v!"), None);
        assert_eq!(base64_decode("Z"), None);
        assert_eq!(base64_decode("Zg==="), None);
    }

    #[test]
    fn reads_back_what_it_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ws.hlog");
        let m = sample("ws");
        let started = UNIX_EPOCH + Duration::from_millis(1_700_000_000_250);
        write_hlog(&path, started, &m).unwrap();

        let intervals = read_hlog(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(intervals.len(), 8 + m.timeseries.seconds.len());
        assert_eq!(intervals[0].tag.as_deref(), Some(HLOG_TAG_LATENCY));
        assert_eq!(intervals[0].start, Duration::from_millis(1_700_000_000_250));
        assert_eq!(intervals[0].duration, m.measured);
        assert_eq!(intervals[1].tag.as_deref(), Some(HLOG_TAG_CONNECT));
        assert_eq!(intervals[2].tag.as_deref(), Some(HLOG_TAG_PUBLISH_RTT));
        assert_eq!(intervals[3].tag.as_deref(), Some(HLOG_TAG_RECONNECT));
        assert_eq!(intervals[4].tag.as_deref(), Some(HLOG_TAG_GENERATOR_DELAY));
        assert_eq!(intervals[5].tag.as_deref(), Some(HLOG_TAG_PUBLISH_LAG));
        assert_eq!(intervals[6].tag.as_deref(), Some(HLOG_TAG_REPLAY));
        assert_eq!(intervals[7].tag.as_deref(), Some(HLOG_TAG_RECOVERY));

        let read = read_histograms(&path).unwrap();
        assert_eq!(read.latency_us, m.clients.latency_us);
        assert_eq!(read.connect_us, m.clients.connect_us);
        assert_eq!(read.publish_rtt_us, m.clients.publish_rtt_us);
        assert_eq!(read.reconnect_us, m.clients.reconnect_us);
        assert_eq!(read.generator_delay_us, m.clients.generator_delay_us);
        assert_eq!(read.publish_lag_us, m.clients.publish_lag_us);
        assert_eq!(read.replay_us, m.clients.replay_us);
        assert_eq!(read.recovery_us, m.clients.recovery_us);
        let seconds: Vec<_> = m.timeseries.seconds.iter().map(|s| &s.latency_us).collect();
        assert_eq!(read.seconds.iter().collect::<Vec<_>>(), seconds);
        assert_eq!(intervals[8].histogram, seconds[0].unpack());
        assert!(!seconds.is_empty());
        assert_eq!(
            intervals[9].start,
            m.timeseries.start_unix + m.timeseries.seconds[0].duration
        );
        assert_eq!(intervals[9].tag, None);
    }

    #[test]
    fn a_log_from_before_publish_round_trips_reads_them_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("longpoll.hlog");
        let mut m = sample("longpoll");
        m.clients.record_publish_rtt(Duration::from_micros(800));
        write_hlog(&path, UNIX_EPOCH, &m).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let tag = format!("Tag={HLOG_TAG_PUBLISH_RTT},");
        assert!(text.contains(&tag));
        let older: String = text
            .lines()
            .filter(|l| !l.starts_with(&tag))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&path, older).unwrap();
        let read = read_histograms(&path).unwrap();
        assert!(read.publish_rtt_us.is_empty());
        assert_eq!(read.latency_us, m.clients.latency_us);
        // Reconnect times came later still: a log without them reads them as empty too.
        let older: String = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with(&format!("Tag={HLOG_TAG_RECONNECT},")))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&path, older).unwrap();
        assert!(read_histograms(&path).unwrap().reconnect_us.is_empty());
    }

    #[test]
    fn intervals_of_one_tag_add_up() {
        let m = sample("ws");
        let interval = |tag: &str| HlogInterval {
            tag: Some(tag.to_owned()),
            start: Duration::ZERO,
            duration: Duration::from_secs(1),
            histogram: m.clients.latency_us.clone(),
        };
        let intervals = [
            interval("latency"),
            interval("connect"),
            interval("latency"),
        ];
        let sum = sum_tagged(&intervals, HLOG_TAG_LATENCY).unwrap();
        assert_eq!(sum.len(), 2 * m.clients.latency_us.len());
        assert!(matches!(
            sum_tagged(&intervals[1..2], HLOG_TAG_LATENCY),
            Err(HlogError::MissingTag("latency"))
        ));
    }

    #[test]
    fn damaged_logs_are_errors_not_panics() {
        assert!(matches!(
            read_hlog(b"Tag=latency,1.0,2.0,3.0,@@@@\n"),
            Err(HlogError::Base64)
        ));
        assert!(matches!(
            read_hlog(b"Tag=latency,1.0,2.0,3.0,AAAA\n"),
            Err(HlogError::Decode(_))
        ));
        assert!(matches!(
            read_hlog(b"this is not a log\n"),
            Err(HlogError::Syntax { .. })
        ));
    }
}
