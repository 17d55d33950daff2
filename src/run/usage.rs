//! What a transport run used: the processes' resource use at phase boundaries ([`Mark`]), and the
//! clients' outcome with those marks turned into the report's [`TransportMetrics`].

use std::time::{Duration, Instant};

use super::TransportRun;
use super::owner::Processes;
use crate::client::ClientOutcome;
use crate::fleet::FleetMark;
use crate::metrics::instances::InstanceGroup;
use crate::metrics::{
    GeneratorHealth, IdleCost, ProcessUsage, Sharding, TlsFigures, TransportMetrics,
};
use crate::os;

/// Both processes' resource use at a phase boundary (the start and the end of the measured phase).
pub(super) struct Mark {
    server: Option<ProcessUsage>,
    /// Every serving process, when there are several instances.
    pub(super) fleet: Option<FleetMark>,
    client_cpu: Option<Duration>,
    at: Instant,
}

impl Mark {
    pub(super) fn now(server: &Processes) -> Mark {
        Mark {
            server: server.usage(),
            fleet: server.fleet(),
            client_cpu: os::cpu_time(None).ok(),
            at: Instant::now(),
        }
    }
}

/// The clients' outcome and the two processes' use over the measured phase, as the report takes them.
pub(super) fn transport_metrics(
    run: &TransportRun<'_>,
    outcome: ClientOutcome,
    marks: &[Mark],
    server_alive: bool,
    instances: Option<InstanceGroup>,
) -> TransportMetrics {
    let (server_usage, client_cpu, client_watch) = match marks {
        [start, end] => (
            start.server.zip(end.server).map(|(a, b)| ProcessUsage {
                cpu: b.cpu.saturating_sub(a.cpu),
                peak_rss_kib: b.peak_rss_kib,
            }),
            start
                .client_cpu
                .zip(end.client_cpu)
                .map(|(a, b)| b.saturating_sub(a))
                .unwrap_or_default(),
            Some(GeneratorHealth {
                span: end.at.saturating_duration_since(start.at),
                cores: u32::try_from(os::cores()).unwrap_or(u32::MAX),
                lag: outcome.lag,
            }),
        ),
        _ => (None, Duration::ZERO, None),
    };
    let deliveries_expected = outcome.deliveries_expected;
    TransportMetrics {
        transport: run.label.to_string(),
        subscribers: run.plan.subscribers,
        publishers: run.plan.publishers,
        payload_bytes: run.scenario.publish.payload_bytes,
        measured: outcome.measured,
        messages_published: outcome.messages_published,
        messages_scheduled: outcome.messages_scheduled,
        deliveries_expected,
        clients: outcome.recorder,
        wire: outcome.wire,
        connect_wire: outcome.connect_wire,
        payload_wire: outcome.payload_wire,
        tls: outcome.wire_above_tls.map(|plaintext| TlsFigures {
            plaintext,
            handshakes: outcome.tls_handshakes.0,
            handshake_total: outcome.tls_handshakes.1,
        }),
        client_usage: ProcessUsage {
            cpu: client_cpu,
            peak_rss_kib: os::peak_rss_kib(None).unwrap_or(0),
        },
        server_usage,
        idle: outcome.idle,
        connections: outcome.ramp.connected,
        connect_ramp: outcome.ramp.took,
        client_watch,
        complete: outcome.complete && server_alive,
        timeseries: outcome.timeseries,
        sharding: outcome.shard.map(Sharding::Part),
        instances,
        faults: Vec::new(),
    }
}

/// The idle phase with the server's share: its CPU between the phase's marks, and its memory
/// growth from before the first connection to the phase's end (marks: connecting, idle, over).
pub(super) fn with_server(idle: IdleCost, marks: &[Mark]) -> IdleCost {
    let [before, start, end] = marks else {
        return idle;
    };
    let usage = |m: &Mark| m.server;
    IdleCost {
        server_cpu: usage(start)
            .zip(usage(end))
            .map(|(a, b)| b.cpu.saturating_sub(a.cpu)),
        server_rss_growth_kib: usage(before)
            .zip(usage(end))
            .map(|(a, b)| b.peak_rss_kib.saturating_sub(a.peak_rss_kib)),
        ..idle
    }
}

/// What the clients received or did that is counted apart from deliveries, said in words: a
/// server's replayed history (`stale`), Socket.IO sessions left on polling,
/// and reconnects the server did not recover.
pub(super) fn counted_apart(counts: &crate::metrics::Counts) -> Vec<String> {
    let mut notes = Vec::new();
    if counts.stale > 0 {
        notes.push(format!(
            "{} messages of an earlier run (the server replayed its history) were counted as \
             stale, apart from deliveries",
            counts.stale
        ));
    }
    if counts.stayed_on_polling > 0 {
        notes.push(format!(
            "{} sessions stayed on polling: their WebSocket upgrade probe failed",
            counts.stayed_on_polling
        ));
    }
    if counts.not_recovered > 0 {
        notes.push(format!(
            "{} Socket.IO reconnects asked for connection-state recovery and got a new session: \
             what was published while they were away is lost",
            counts.not_recovered
        ));
    }
    notes
}
