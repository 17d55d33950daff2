//! One [`Summary`] row per transport: the figures of `summary.csv` and of the stdout table.
//!
//! Every derived number (percentiles, ratios, CPU per delivery) is computed here, once, so the CSV
//! and the table print the same values. A ratio whose denominator is zero is `None` (an empty CSV
//! cell), never NaN or infinity.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::metrics::TransportMetrics;

/// The figures of one transport's run: one row of `summary.csv`.
///
/// The field order *is* the CSV column order, a contract checked by `tests/all/csv_contract.rs`;
/// `results/README.md` documents every column. `None` is written as an empty cell: the figure
/// does not apply (no server process measured) or its denominator was zero (no deliveries).
/// Floats are rounded by [`round_figure`]; latencies are whole microseconds. `Default` is an
/// all-zero row with every optional cell empty.
///
/// Reading a `summary.csv` written by an older wsbench, a column it lacks reads as its default
/// (0 or empty); [`Summary::columns`] tells which columns a file lacks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Summary {
    /// Transport label (`ws`, `longpoll`, …).
    pub transport: String,
    /// Subscribers asked for.
    pub subscribers: u32,
    /// Publishers asked for.
    pub publishers: u32,
    /// Length of the measured phase, in seconds.
    pub duration_s: f64,
    /// Messages published with an intended send time inside the measured phase.
    pub messages_published: u64,
    /// Publish slots inside the measured phase; more than `messages_published` when the
    /// publishers could not keep up (the server stopped accepting in time).
    pub messages_scheduled: u64,
    /// Per room, messages published into it × its subscribers that connected, summed (one
    /// room without `[rooms]`: `messages_published` × subscribers that connected).
    pub deliveries_expected: u64,
    /// Distinct in-window messages received, summed over subscribers.
    pub deliveries: u64,
    /// Expected deliveries that never arrived.
    pub lost: u64,
    /// The expected deliveries not lost, in percent of `deliveries_expected` (two decimals,
    /// never rounded up to 100 while one is lost); empty when nothing was expected.
    pub delivered_pct: Option<f64>,
    /// Messages received again after their first arrival.
    pub duplicated: u64,
    /// First arrivals that came after a later message of the same publisher.
    pub reordered: u64,
    /// Received messages without a wsbench envelope.
    pub foreign: u64,
    /// Received messages from a publisher of another room (`[rooms]`): delivered outside their
    /// room. Never deliveries; must be 0.
    pub misrouted: u64,
    /// Received messages of another run (a server that replays its history to new
    /// subscribers): counted apart, never deliveries, duplicates or losses.
    pub stale: u64,
    /// Socket.IO `upgrade` sessions whose WebSocket probe failed, so they stayed on polling;
    /// 0 for every other transport.
    pub stayed_on_polling: u64,
    /// Median push latency (receive − intended send), in µs.
    pub latency_p50_us: Option<u64>,
    /// 90th percentile push latency, in µs.
    pub latency_p90_us: Option<u64>,
    /// 99th percentile push latency, in µs.
    pub latency_p99_us: Option<u64>,
    /// 99.9th percentile push latency, in µs.
    pub latency_p999_us: Option<u64>,
    /// Largest push latency, in µs.
    pub latency_max_us: Option<u64>,
    /// Mean push latency, in µs (one decimal).
    pub latency_mean_us: Option<f64>,
    /// Median connect time (TCP + handshake or join), in µs.
    pub connect_p50_us: Option<u64>,
    /// 99th percentile connect time, in µs.
    pub connect_p99_us: Option<u64>,
    /// Median round trip of an HTTP publisher's `POST /publish`, in µs; empty for WebSocket.
    pub publish_rtt_p50_us: Option<u64>,
    /// 99th percentile publish round trip, in µs.
    pub publish_rtt_p99_us: Option<u64>,
    /// Client → server TCP payload bytes in the measured phase and drain.
    pub bytes_up: u64,
    /// Server → client TCP payload bytes in the measured phase and drain.
    pub bytes_down: u64,
    /// Message payload bytes inside `bytes_up + bytes_down` (published up + delivered down),
    /// uncompressed: what the messages are, whatever the wire made of them.
    pub payload_bytes: u64,
    /// `payload_bytes` ÷ (`bytes_up + bytes_down`): above 1, compression (permessage-deflate,
    /// gzip, br) made the wire carry fewer bytes than the payloads alone; below 1, framing and
    /// headers came on top of them.
    pub compression_ratio: Option<f64>,
    /// Non-payload wire bytes (framing, headers, requests) per delivery.
    pub overhead_bytes_per_delivery: Option<f64>,
    /// All wire bytes, both directions, per delivery.
    pub wire_bytes_per_delivery: Option<f64>,
    /// HTTP requests the clients made (0 for WebSocket).
    pub http_requests: u64,
    /// HTTP requests per delivery.
    pub http_requests_per_delivery: Option<f64>,
    /// Messages per poll response that carried any (empty when no response carried one).
    pub messages_per_response: Option<f64>,
    /// Poll responses that carried no message (a held poll that timed out, or a short poll too early).
    pub empty_polls: u64,
    /// Deliveries per second of the measured phase.
    pub deliveries_per_s: Option<f64>,
    /// Load generator CPU time (user + system) in the measured phase, in seconds.
    pub client_cpu_s: f64,
    /// Server process CPU time (user + system) in the measured phase, in seconds.
    pub server_cpu_s: Option<f64>,
    /// Load generator CPU per delivery, in µs.
    pub client_cpu_us_per_delivery: Option<f64>,
    /// Server CPU per delivery, in µs.
    pub server_cpu_us_per_delivery: Option<f64>,
    /// Server process peak resident set size, in KiB.
    pub server_peak_rss_kib: Option<u64>,
    /// Deliveries per second of server CPU time.
    pub deliveries_per_server_cpu_s: Option<f64>,
    /// The protocol tax on CPU: `server_cpu_us_per_delivery` ÷ the `raw` run's, when the same
    /// results hold a plain `raw` run (bare TCP, the floor); else empty.
    pub server_cpu_vs_raw: Option<f64>,
    /// The protocol tax on bytes: `wire_bytes_per_delivery` ÷ the `raw` run's, as above.
    pub wire_bytes_vs_raw: Option<f64>,
    /// Share of its cores the load generator used over the measured phase and drain, 0..1:
    /// `client_cpu_s` / (that wall time × cores available to the process).
    pub client_cpu_util: Option<f64>,
    /// 99th percentile event-loop lag of the load generator, in µs: how long a task woken over
    /// the measured phase and drain waited before its client thread ran it (`client::watch`).
    pub client_lag_p99_us: Option<u64>,
    /// Largest event-loop lag of the load generator, in µs.
    pub client_lag_max_us: Option<u64>,
    /// Median of the generator's own delay in reading a delivery (user-space receive time −
    /// the kernel's arrival time of its bytes), in µs; taken out of the latency figures. Empty
    /// with `[clients] timestamps = "user"`.
    pub generator_delay_p50_us: Option<u64>,
    /// 99th percentile of the generator's delay in reading a delivery, in µs.
    pub generator_delay_p99_us: Option<u64>,
    /// 99th percentile of how late a publisher handed a message to its socket after its
    /// intended send time, in µs: the generator's delay that stays in every latency figure.
    pub publish_lag_p99_us: Option<u64>,
    /// Load generator peak resident set size during this transport's run, in KiB (baseline
    /// included).
    pub client_peak_rss_kib: u64,
    /// `client_peak_rss_kib` per client connection: an upper bound, the process's baseline
    /// included.
    pub client_rss_per_connection_kib: Option<f64>,
    /// `server_peak_rss_kib` per client connection: an upper bound, the server's baseline included.
    pub server_rss_per_connection_kib: Option<f64>,
    /// Connections per second the ramp-up achieved: client connections made / the time from its
    /// first slot to its last attempt's end (at most `connect_rate`).
    pub connects_per_s: Option<f64>,
    /// Client socket bytes (both directions) during ramp-up: handshakes and joins.
    pub connect_bytes: u64,
    /// Bytes TLS added (records and any handshakes in the window: wire − plaintext above TLS)
    /// per delivery; 0 without TLS.
    pub tls_overhead_bytes_per_delivery: Option<f64>,
    /// Mean TLS handshake time, in µs; empty without TLS.
    pub tls_handshake_mean_us: Option<f64>,
    /// Clients that failed to connect.
    pub connect_errors: u64,
    /// `connect_errors` by kind: `refused:950 timed_out:50` (kinds: refused, reset, timed_out,
    /// local_limit, tls, rejected, protocol, other); empty when none failed.
    pub connect_error_kinds: String,
    /// Connections that broke after connecting.
    pub io_errors: u64,
    /// Times clients reconnected after losing their connection.
    pub reconnects: u64,
    /// Time clients spent disconnected, summed over clients, in seconds.
    pub disconnected_s: f64,
    /// Connections the generator closed on purpose (`[clients] churn`); each rejoined and is
    /// among `reconnects`.
    pub churned: u64,
    /// Median reconnect time (the successful attempt: TCP + handshake, or + the stream's head),
    /// in µs: connect time under load.
    pub reconnect_p50_us: Option<u64>,
    /// 99th percentile reconnect time, in µs.
    pub reconnect_p99_us: Option<u64>,
    /// Subscribers whose connection the drop fault reset (`[faults] drop`).
    pub dropped: u64,
    /// Of `lost`, the messages subscribers missed while their connection was down (published
    /// between a break in the measured phase and their next delivery from that publisher); 0
    /// on a transport that resumes, unless its server no longer held them.
    pub lost_away: u64,
    /// Deliveries of messages published while their subscriber was disconnected: what a
    /// resuming transport replayed (they are among `deliveries` and in the latency too).
    pub replay_deliveries: u64,
    /// Median latency of those replayed deliveries, in µs.
    pub replay_latency_p50_us: Option<u64>,
    /// 99th percentile latency of the replayed deliveries, in µs.
    pub replay_latency_p99_us: Option<u64>,
    /// Median recovery, in µs: per broken connection (lost, dropped, churned, or its server
    /// restarted), from the break to its first delivery of a message published after it was
    /// back.
    pub recovery_p50_us: Option<u64>,
    /// 95th percentile recovery, in µs.
    pub recovery_p95_us: Option<u64>,
    /// Longest recovery, in µs.
    pub recovery_max_us: Option<u64>,
    /// Connections open through the idle phase (`[clients] idle_phase`); empty without one.
    pub idle_connections: Option<u32>,
    /// Wire bytes (both directions) per connection per minute of the idle phase: heartbeats.
    pub idle_bytes_per_conn_min: Option<f64>,
    /// Server CPU per connection per minute of the idle phase, in µs.
    pub idle_server_cpu_us_per_conn_min: Option<f64>,
    /// Server memory per connection, in KiB: its peak RSS growth from before the first
    /// connection to the end of the idle phase, over the connections.
    pub idle_server_kib_per_conn: Option<f64>,
    /// False when the run was interrupted or the server died.
    pub complete: bool,
}

/// Quantiles of the latency columns, shared with `latency.csv` so both files agree.
pub(crate) const P50: f64 = 0.5;
pub(crate) const P90: f64 = 0.9;
pub(crate) const P99: f64 = 0.99;
pub(crate) const P999: f64 = 0.999;

impl Summary {
    /// The CSV column names, in order (the field names, as the CSV writer emits them).
    pub fn columns() -> Vec<String> {
        let mut wtr = csv::Writer::from_writer(Vec::new());
        let header = wtr
            .serialize(Summary::default())
            .ok()
            .and_then(|()| wtr.into_inner().ok())
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&header);
        let first = text.lines().next().unwrap_or_default();
        first.split(',').map(str::to_owned).collect()
    }

    /// Derives the row for one transport. Reads `m`, changes nothing.
    pub fn new(m: &TransportMetrics) -> Summary {
        let rec = &m.clients;
        let deliveries = rec.counts.delivery.delivered;
        let per_delivery = |x: f64| ratio(x, deliveries as f64);
        let seconds = m.measured.as_secs_f64();
        let client_cpu = m.client_usage.cpu.as_secs_f64();
        let server_cpu = m.server_usage.map(|u| u.cpu.as_secs_f64());
        let wire = m.wire.total() as f64;
        let payload = m.payload_wire.total();
        let lag = m.client_watch.and_then(|w| w.lag);
        let per_connection = |kib: u64| ratio(kib as f64, f64::from(m.connections));
        Summary {
            transport: m.transport.clone(),
            subscribers: m.subscribers,
            publishers: m.publishers,
            duration_s: round_figure(seconds),
            messages_published: m.messages_published,
            messages_scheduled: m.messages_scheduled,
            deliveries_expected: m.deliveries_expected,
            deliveries,
            lost: rec.counts.delivery.lost,
            delivered_pct: delivered_pct(rec.counts.delivery.lost, m.deliveries_expected),
            duplicated: rec.counts.delivery.duplicated,
            reordered: rec.counts.delivery.reordered,
            foreign: rec.counts.foreign,
            misrouted: rec.counts.misrouted,
            stale: rec.counts.stale,
            stayed_on_polling: rec.counts.stayed_on_polling,
            latency_p50_us: quantile(&rec.latency_us, P50),
            latency_p90_us: quantile(&rec.latency_us, P90),
            latency_p99_us: quantile(&rec.latency_us, P99),
            latency_p999_us: quantile(&rec.latency_us, P999),
            latency_max_us: quantile(&rec.latency_us, 1.0),
            latency_mean_us: (!rec.latency_us.is_empty())
                .then(|| (rec.latency_us.mean() * 10.0).round() / 10.0),
            connect_p50_us: quantile(&rec.connect_us, P50),
            connect_p99_us: quantile(&rec.connect_us, P99),
            publish_rtt_p50_us: quantile(&rec.publish_rtt_us, P50),
            publish_rtt_p99_us: quantile(&rec.publish_rtt_us, P99),
            bytes_up: m.wire.up,
            bytes_down: m.wire.down,
            payload_bytes: payload,
            compression_ratio: ratio(payload as f64, wire),
            // A signed difference: negative when compression made the wire carry fewer bytes
            // than the payloads; without it, a negative value is a bug.
            overhead_bytes_per_delivery: per_delivery(wire - payload as f64),
            wire_bytes_per_delivery: per_delivery(wire),
            http_requests: rec.counts.http_requests,
            http_requests_per_delivery: per_delivery(rec.counts.http_requests as f64),
            messages_per_response: ratio(
                rec.counts.messages_in_responses as f64,
                rec.counts.responses_with_messages as f64,
            ),
            empty_polls: rec.counts.empty_polls,
            deliveries_per_s: ratio(deliveries as f64, seconds),
            client_cpu_s: round_figure(client_cpu),
            server_cpu_s: server_cpu.map(round_figure),
            client_cpu_us_per_delivery: per_delivery(client_cpu * 1e6),
            server_cpu_us_per_delivery: server_cpu.and_then(|s| per_delivery(s * 1e6)),
            server_peak_rss_kib: m.server_usage.map(|u| u.peak_rss_kib),
            deliveries_per_server_cpu_s: server_cpu.and_then(|s| ratio(deliveries as f64, s)),
            // Set across rows by `summarize`, which sees the raw run.
            server_cpu_vs_raw: None,
            wire_bytes_vs_raw: None,
            client_cpu_util: m
                .client_watch
                .and_then(|w| w.cpu_util(m.client_usage.cpu))
                .map(round_figure),
            client_lag_p99_us: lag.map(|l| l.p99_us),
            client_lag_max_us: lag.map(|l| l.max_us),
            generator_delay_p50_us: quantile(&rec.generator_delay_us, P50),
            generator_delay_p99_us: quantile(&rec.generator_delay_us, P99),
            publish_lag_p99_us: quantile(&rec.publish_lag_us, P99),
            client_peak_rss_kib: m.client_usage.peak_rss_kib,
            client_rss_per_connection_kib: per_connection(m.client_usage.peak_rss_kib),
            connects_per_s: (!m.connect_ramp.is_zero())
                .then(|| ratio(f64::from(m.connections), m.connect_ramp.as_secs_f64()))
                .flatten()
                .map(round_figure),
            server_rss_per_connection_kib: m
                .server_usage
                .and_then(|u| per_connection(u.peak_rss_kib)),
            connect_bytes: m.connect_wire.total(),
            tls_overhead_bytes_per_delivery: match m.tls {
                Some(t) => per_delivery(wire - t.plaintext.total() as f64),
                None => per_delivery(0.0),
            },
            tls_handshake_mean_us: m
                .tls
                .and_then(|t| ratio(t.handshake_total.as_secs_f64() * 1e6, t.handshakes as f64)),
            connect_errors: rec.counts.connect_errors.total(),
            connect_error_kinds: rec.counts.connect_errors.to_field(),
            io_errors: rec.counts.io_errors,
            reconnects: rec.counts.reconnects,
            disconnected_s: round_figure(rec.counts.disconnected.as_secs_f64()),
            churned: rec.counts.churned,
            reconnect_p50_us: quantile(&rec.reconnect_us, P50),
            reconnect_p99_us: quantile(&rec.reconnect_us, P99),
            dropped: rec.counts.dropped,
            lost_away: rec.counts.lost_away,
            replay_deliveries: rec.replay_us.len(),
            replay_latency_p50_us: quantile(&rec.replay_us, P50),
            replay_latency_p99_us: quantile(&rec.replay_us, P99),
            recovery_p50_us: quantile(&rec.recovery_us, P50),
            recovery_p95_us: quantile(&rec.recovery_us, 0.95),
            recovery_max_us: quantile(&rec.recovery_us, 1.0),
            idle_connections: m.idle.map(|i| i.connections),
            idle_bytes_per_conn_min: m
                .idle
                .and_then(|i| i.bytes_per_conn_min())
                .map(round_figure),
            idle_server_cpu_us_per_conn_min: m
                .idle
                .and_then(|i| i.server_cpu_us_per_conn_min())
                .map(round_figure),
            idle_server_kib_per_conn: m
                .idle
                .and_then(|i| i.server_kib_per_conn())
                .map(round_figure),
            complete: m.complete,
        }
    }
}

impl From<&TransportMetrics> for Summary {
    fn from(m: &TransportMetrics) -> Summary {
        Summary::new(m)
    }
}

/// One [`Summary`] per transport, in run order, with each one's protocol tax over the plain
/// `raw` run when there is one.
pub fn summarize(metrics: &[TransportMetrics]) -> Vec<Summary> {
    let mut rows: Vec<Summary> = metrics.iter().map(Summary::new).collect();
    let floor = rows
        .iter()
        .find(|r| r.transport == crate::protocol::TransportKind::Raw.label())
        .map(|r| (r.server_cpu_us_per_delivery, r.wire_bytes_per_delivery));
    if let Some((cpu, wire)) = floor {
        for row in &mut rows {
            row.server_cpu_vs_raw = row
                .server_cpu_us_per_delivery
                .zip(cpu)
                .and_then(|(a, b)| ratio(a, b));
            row.wire_bytes_vs_raw = row
                .wire_bytes_per_delivery
                .zip(wire)
                .and_then(|(a, b)| ratio(a, b));
        }
    }
    rows
}

/// The value at `q` (0.0–1.0), or `None` for an empty histogram.
pub(crate) fn quantile(h: &Histogram<u64>, q: f64) -> Option<u64> {
    (!h.is_empty()).then(|| h.value_at_quantile(q))
}

/// `num / den`, rounded by [`round_figure`]; `None` when `den` is zero or the result not finite.
fn ratio(num: f64, den: f64) -> Option<f64> {
    let r = num / den;
    (den != 0.0 && r.is_finite()).then(|| round_figure(r))
}

/// The share of the expected deliveries that were not lost, in percent, two decimals, rounded
/// down: a run that lost one delivery in a million shows 99.99, never 100. Counted from `lost`
/// (each subscriber's own expected, less what it received), so it agrees with `lost` even when
/// a message a publisher saw no answer for (the run stopped first) was delivered all the same.
fn delivered_pct(lost: u64, expected: u64) -> Option<f64> {
    (expected > 0).then(|| {
        let kept = u128::from(expected.saturating_sub(lost));
        let basis_points = kept * 10_000 / u128::from(expected);
        basis_points as f64 / 100.0
    })
}

/// Rounds a float figure for the CSV: 3 decimals, or 4 significant digits below 1, so small ratios
/// such as HTTP requests per delivery (`0.01234`) keep their precision instead of showing `0.012`.
pub fn round_figure(x: f64) -> f64 {
    let decimals = if x == 0.0 || x.abs() >= 1.0 {
        3
    } else {
        // |x| < 1: log10 is negative; 0.0123 → floor −2 → 5 decimals → 4 significant digits.
        (3 - x.abs().log10().floor() as i32).min(12)
    };
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

#[cfg(test)]
pub(crate) mod tests;
