//! What idleness costs: the figures of the idle phase (`[clients] idle_phase`), when every
//! connection is open and nobody publishes, so all that flows is heartbeats (WebSocket pings,
//! SSE keep-alive comments, long-polls answered empty at their hold and sent again).
//!
//! This is the table a mobile or IoT team needs: most of their connections are idle most of the
//! time, and what each one costs per minute decides between polling and a held connection.

use std::time::Duration;

use super::WireBytes;

/// The idle phase as measured: the clients' bytes, and the server's CPU and memory when wsbench
/// samples the server.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct IdleCost {
    /// Client connections open when the phase began (subscribers, and HTTP publishers' own).
    pub connections: u32,
    /// How long the phase lasted (shorter than asked if the run was interrupted).
    pub span: Duration,
    /// Client socket bytes over the phase, both directions.
    pub wire: WireBytes,
    /// The server's CPU time over the phase; `None` when the server is not sampled.
    pub server_cpu: Option<Duration>,
    /// How much the server's peak RSS grew from before the first connection to the end of the
    /// phase, in KiB: the memory the connections hold. `None` when the server is not sampled.
    pub server_rss_growth_kib: Option<u64>,
}

impl IdleCost {
    /// Connection-minutes the phase covered: the divisor of every per-connection-minute figure.
    fn connection_minutes(&self) -> f64 {
        f64::from(self.connections) * self.span.as_secs_f64() / 60.0
    }

    /// Wire bytes (both directions) per connection per minute.
    pub fn bytes_per_conn_min(&self) -> Option<f64> {
        per(self.wire.total() as f64, self.connection_minutes())
    }

    /// Server CPU per connection per minute, in µs.
    pub fn server_cpu_us_per_conn_min(&self) -> Option<f64> {
        let cpu = self.server_cpu?.as_secs_f64() * 1e6;
        per(cpu, self.connection_minutes())
    }

    /// Server memory per connection, in KiB.
    pub fn server_kib_per_conn(&self) -> Option<f64> {
        per(
            self.server_rss_growth_kib? as f64,
            f64::from(self.connections),
        )
    }

    /// Adds another shard's idle phase: connections and bytes add up; the shards share one
    /// server and idle together, so its CPU and memory are taken once (the largest reading) and
    /// the span is the longest.
    pub fn merge(&mut self, other: &IdleCost) {
        self.connections += other.connections;
        self.wire.up += other.wire.up;
        self.wire.down += other.wire.down;
        self.span = self.span.max(other.span);
        self.server_cpu = self.server_cpu.max(other.server_cpu);
        self.server_rss_growth_kib = self.server_rss_growth_kib.max(other.server_rss_growth_kib);
    }
}

/// `num / den`, or `None` when there is nothing to divide by.
fn per(num: f64, den: f64) -> Option<f64> {
    (den > 0.0).then(|| num / den)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_connection_minute_figures() {
        let idle = IdleCost {
            connections: 100,
            span: Duration::from_secs(30),
            wire: WireBytes { up: 600, down: 200 },
            server_cpu: Some(Duration::from_millis(5)),
            server_rss_growth_kib: Some(2_000),
        };
        // 100 connections × half a minute = 50 connection-minutes.
        assert_eq!(idle.bytes_per_conn_min(), Some(16.0));
        assert_eq!(idle.server_cpu_us_per_conn_min(), Some(100.0));
        assert_eq!(idle.server_kib_per_conn(), Some(20.0));
        let unsampled = IdleCost {
            server_cpu: None,
            server_rss_growth_kib: None,
            ..idle
        };
        assert_eq!(unsampled.server_cpu_us_per_conn_min(), None);
        assert_eq!(IdleCost::default().bytes_per_conn_min(), None);
    }

    #[test]
    fn shards_add_connections_and_bytes_and_share_the_server() {
        let mut a = IdleCost {
            connections: 10,
            span: Duration::from_secs(30),
            wire: WireBytes { up: 1, down: 2 },
            server_cpu: Some(Duration::from_millis(3)),
            server_rss_growth_kib: Some(100),
        };
        let b = IdleCost {
            connections: 20,
            span: Duration::from_secs(31),
            wire: WireBytes { up: 10, down: 20 },
            server_cpu: Some(Duration::from_millis(4)),
            server_rss_growth_kib: Some(90),
        };
        a.merge(&b);
        assert_eq!(a.connections, 30);
        assert_eq!(a.wire, WireBytes { up: 11, down: 22 });
        assert_eq!(a.span, Duration::from_secs(31));
        assert_eq!(a.server_cpu, Some(Duration::from_millis(4)));
        assert_eq!(a.server_rss_growth_kib, Some(100));
    }
}
