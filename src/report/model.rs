//! The one line under every table that states the load model, so a table is never read without
//! it: who publishes, how latency is counted, and how each transport's clients behave.

use crate::protocol::TransportKind;
use crate::scenario::{Network, Pattern, Scenario, Transport};

/// One line stating the load model, so a table is never read without it.
pub fn model(s: &Scenario) -> String {
    let mut line = match s.publish.window {
        None => format!(
            "model: {} subscribers ({} of them publishing, {} msg/s in all, {} B messages); \
             latency from the intended send time",
            s.clients.subscribers, s.publish.publishers, s.publish.rate, s.publish.payload_bytes
        ),
        Some(window) => format!(
            "model: {} subscribers ({} of them publishing, {} B messages); saturated: at most \
             {window} messages in flight (published, not yet at every subscriber), sent as fast as \
             that allows; latency closed-loop, from the send (not corrected for coordinated omission)",
            s.clients.subscribers, s.publish.publishers, s.publish.payload_bytes
        ),
    };
    let http = s.transports.iter().any(|t| {
        matches!(
            t,
            Transport::LongPoll { .. }
                | Transport::ShortPoll { .. }
                | Transport::Sse
                | Transport::Nchan(_)
        )
    });
    if http {
        line.push_str("; HTTP publishers POST on their own keep-alive connections");
    }
    for transport in &s.transports {
        match transport {
            Transport::Ws { resume, .. } => {
                line.push_str("; ws: publishers send on their own subscriber connection");
                if *resume {
                    line.push_str(", rejoins resume after the last message read");
                }
            }
            Transport::LongPoll { hold } => line.push_str(&format!(
                "; longpoll: subscribers poll with a cursor, held up to {}",
                humantime::format_duration(*hold)
            )),
            Transport::ShortPoll { interval } => line.push_str(&format!(
                "; shortpoll: subscribers poll every {}, answered at once",
                humantime::format_duration(*interval)
            )),
            Transport::Raw { resume } => {
                line.push_str(
                    "; raw: bare TCP, a 4-byte length before each message, publishers send on their own subscriber connection",
                );
                if *resume {
                    line.push_str(", rejoins resume after the last message read");
                }
            }
            Transport::Sse => {
                line.push_str("; sse: one event stream per subscriber, resumed with Last-Event-ID")
            }
            Transport::SocketIo(io) => {
                line.push_str(&format!(
                    "; socketio-{}: Engine.IO v4 sessions; publishers emit \"{}\" on their own session",
                    io.mode.name(),
                    io.event
                ));
                if io.recovery {
                    line.push_str(
                        ", reconnects ask for connection-state recovery (session id and last offset)",
                    );
                }
            }
            Transport::Nchan(n) => line.push_str(&format!(
                "; nchan-{}: subscribers at {}, publishers POST to {}",
                n.mode.name(),
                n.subscribe,
                n.publish
            )),
            Transport::Template(t) => line.push_str(&format!(
                "; {}: subscribers at {}, {}",
                t.name,
                t.url,
                match &t.publish {
                    crate::scenario::template::PublishRule::Post { url, .. } =>
                        format!("publishers POST to {url}"),
                    crate::scenario::template::PublishRule::Frame(_) =>
                        "publishers send a frame on their own WebSocket".to_string(),
                }
            )),
        }
    }
    if s.publish.pattern != Pattern::Steady {
        line.push_str(&format!("; sends: {}", s.publish.pattern.describe()));
    }
    if s.clients.churn > 0 {
        line.push_str(&format!(
            "; churn: {} connections/s close and rejoin during the measured phase",
            s.clients.churn
        ));
    }
    if !s.network.is_loopback() {
        line.push_str(&format!("; network: {}", describe_network(&s.network)));
    }
    let runs = s.runs();
    if runs
        .iter()
        .any(|(t, v)| v.http2 && t.kind() != TransportKind::Ws)
    {
        line.push_str("; -h2: HTTP/2, one connection per client, requests as streams");
    }
    if let Some((_, v)) = runs
        .iter()
        .find(|(t, v)| v.http2 && t.kind() == TransportKind::Ws)
    {
        line.push_str(&format!(
            "; ws-h2: WebSocket over HTTP/2 (RFC 8441), {} client(s) per connection, each a stream",
            v.streams_per_connection
        ));
    }
    if runs.iter().any(|(_, v)| v.http3) {
        line.push_str(
            "; -h3: HTTP/3 over QUIC, one connection per client from one UDP socket, bytes counted \
             as UDP payload (QUIC's framing, handshake and TLS are overhead)",
        );
    }
    if runs.iter().any(|(_, v)| v.tls && !v.http3) {
        line.push_str(
            "; -tls: TLS (rustls) with a self-signed certificate made for the run, bytes counted below TLS",
        );
    }
    line
}

/// `100ms round trip ± 10ms jitter, 1250000 B/s per connection each way`, as far as it applies.
fn describe_network(n: &Network) -> String {
    let d = |d| humantime::format_duration(d).to_string();
    let mut text = format!("{} round trip", d(n.delay));
    if !n.jitter.is_zero() {
        text.push_str(&format!(" + up to {} jitter", d(n.jitter)));
    }
    if let Some(b) = n.bandwidth {
        text.push_str(&format!(", {b} B/s per connection each way"));
    }
    text.push_str(" (emulated in the clients' sockets)");
    text
}
