//! `wsbench check FILE [flags]`: load and validate a scenario with its overrides, as `run` would,
//! and print what a run of it would ask of the machine — per transport run: connections,
//! processes, server instances, messages, expected deliveries, descriptors and ports — without
//! starting anything. A newcomer's dry run, and a test that every shipped scenario still loads.
//!
//! The figures are the plan, not a measurement: messages are `rate × time` at the set rate (a
//! Poisson run sends about that many), expected deliveries are those messages times the
//! subscribers of the room each goes to.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use crate::client::source;
use crate::os;
use crate::protocol::TransportKind;
use crate::scenario::scaling::Balancer;
use crate::scenario::{self, Pattern, Scenario};

/// Descriptors a process keeps besides its client sockets; the same spare `run` allows.
const SPARE_FILES: u64 = 64;

/// What one transport run of the scenario needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunPlan {
    /// The run's label (`ws`, `longpoll-h2-tls`).
    pub label: String,
    /// The file has no table for this transport (`--transports` added it): it runs with the
    /// table's defaults.
    pub defaults: bool,
    /// Client connections the generator opens: every subscriber (and idle connection), plus one
    /// per publisher on an HTTP transport (whose publishers `POST` on connections of their own).
    pub connections: u64,
    /// Built-in server instances; 0 for an external `[target]`.
    pub instances: u32,
    /// The instances are `"auto"`'s count under this process's open-file limit.
    pub auto_instances: bool,
    /// Processes on the machine during the run: the generator (or its generator processes),
    /// the server instances, and the redis-server and HAProxy wsbench starts for them.
    pub processes: u32,
    /// Messages sent in the warmup and the measured phase together; `None` in saturation mode
    /// (`window`), where the server's pace decides.
    pub messages: Option<u64>,
    /// Messages whose intended send time falls in the measured phase.
    pub measured_messages: Option<u64>,
    /// Deliveries expected from the measured messages (each times its room's subscribers).
    pub expected_deliveries: Option<u64>,
    /// Open files each process is given: each generator process's, and each built-in server's
    /// (a file per subscriber and publisher it holds, and spare).
    pub descriptors: u64,
    /// Local ports reserved: one per subscriber and publisher.
    pub ports: u64,
    /// Source addresses the clients connect from (1: the kernel picks).
    pub source_addresses: u64,
    /// Ephemeral ports per source address the kernel offers.
    pub ports_per_address: u64,
}

/// Loads `path` with `overrides`, checks it against the machine's limits as `run` would, and
/// returns the plan of every transport run. Errors are `run`'s: a [`scenario::ScenarioError`],
/// an [`os::OsError`] or a [`source::SourceError`] (exit code 2).
pub fn check(
    path: &std::path::Path,
    overrides: &scenario::Overrides,
) -> anyhow::Result<Vec<RunPlan>> {
    let scenario = scenario::load_with(path, overrides)?;
    // The transports the file itself configures; `--transports` may add one it does not, which
    // then runs with that table's defaults. (A file valid only with its overrides names none.)
    let in_file: Option<Vec<TransportKind>> = scenario::load(path)
        .ok()
        .map(|s| s.transports.iter().map(|t| t.kind()).collect());
    let ports = os::ephemeral_ports()?;
    let (soft, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_err(|source| os::OsError::Sys {
        what: "getrlimit(RLIMIT_NOFILE)",
        source,
    })?;
    let nr_open = os::nr_open().unwrap_or(hard);
    let mut plans = Vec::new();
    for (transport, variant) in scenario.runs() {
        let kind = transport.kind();
        let connections = connections(&scenario, kind);
        // `run` reserves files and ports for every subscriber and every publisher, whatever the
        // transport: the limits are checked for that, as `run` checks them.
        let reserved = u64::from(scenario.clients.subscribers)
            + u64::from(scenario.clients.idle)
            + u64::from(scenario.publish.publishers);
        // Past one process's files, `run` spreads the clients over generator processes.
        let ceiling = os::nofile_ceiling()?.saturating_sub(SPARE_FILES).max(1);
        let generators = scenario.clients.processes.count(reserved, ceiling);
        let descriptors = reserved.div_ceil(u64::from(generators.max(1))) + SPARE_FILES;
        os::nofile_step(descriptors, soft, hard, nr_open, os::may_raise_hard_limit())?;
        let target = scenario
            .targets
            .endpoint(kind)
            .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |e| e.addr.ip());
        let addresses = source::plan(&scenario.clients.source_addresses, target, reserved, ports)?;
        let source_addresses = (addresses.len() as u64).max(1);
        os::check_ports(reserved, ports, source_addresses)?;
        let external = scenario.targets.endpoint(kind).is_some();
        let written = scenario.scaling_of(kind);
        // `instances = "auto"` comes to what `run` would start under this limit.
        let scaling = written.settled(reserved, ceiling, scenario.faults.instances_needed());
        let instances = if external { 0 } else { scaling.instances };
        let redis = u32::from(scaling.shared() && scenario.backplane.is_none() && !external);
        let haproxy = u32::from(scaling.balancer == Balancer::Haproxy && !external);
        let (messages, measured_messages) = messages(&scenario);
        plans.push(RunPlan {
            label: transport.label(variant),
            defaults: in_file.as_ref().is_some_and(|k| !k.contains(&kind)),
            connections,
            instances,
            auto_instances: written.auto && !external,
            processes: generators + instances + redis + haproxy,
            messages,
            measured_messages,
            expected_deliveries: measured_messages.map(|m| expected(&scenario, m)),
            descriptors,
            ports: reserved,
            source_addresses,
            ports_per_address: ports,
        });
    }
    Ok(plans)
}

/// The generator's connections for `kind`.
fn connections(s: &Scenario, kind: TransportKind) -> u64 {
    let subscribing = u64::from(s.clients.subscribers) + u64::from(s.clients.idle);
    // Publishers that `POST` have a connection of their own (as `Target::publishes_on_subscriber`
    // decides); on WebSocket, raw and Socket.IO they send on their subscriber connection.
    let own_publishers = !matches!(
        kind,
        TransportKind::Ws | TransportKind::Raw | TransportKind::SocketIo
    );
    subscribing
        + if own_publishers {
            u64::from(s.publish.publishers)
        } else {
            0
        }
}

/// Messages in warmup + measured phase, and in the measured phase, at the set rate; a burst
/// pattern sends `burst` per `every` at most.
fn messages(s: &Scenario) -> (Option<u64>, Option<u64>) {
    if s.publish.window.is_some() {
        return (None, None);
    }
    let in_time = |d: std::time::Duration| -> u64 {
        let steady = s.publish.rate * d.as_secs_f64();
        let count = match s.publish.pattern {
            Pattern::Bursts { burst, every } => {
                let bursts = (d.as_secs_f64() / every.as_secs_f64()).ceil();
                steady.min(bursts * f64::from(burst))
            }
            _ => steady,
        };
        count.round() as u64
    };
    (
        Some(in_time(s.warmup + s.duration)),
        Some(in_time(s.duration)),
    )
}

/// Deliveries `measured` messages make: publisher `p` sends 1/P of them into room `p % R`, whose
/// subscribers are those `i` with `i % R == p % R`.
fn expected(s: &Scenario, measured: u64) -> u64 {
    let subscribers = u64::from(s.clients.subscribers);
    let publishers = u64::from(s.publish.publishers.max(1));
    let rooms = u64::from(s.rooms.map_or(1, |r| r.count).max(1));
    let room_size = |r: u64| subscribers / rooms + u64::from(r < subscribers % rooms);
    let total: u64 = (0..publishers).map(|p| room_size(p % rooms)).sum();
    // Each publisher sends measured / P messages, each to its room.
    measured * total / publishers
}

/// The plan as the command prints it: one block per transport run.
pub fn render(path: &std::path::Path, plans: &[RunPlan]) -> String {
    let mut out = format!("{}: ok, {} transport run(s)\n", path.display(), plans.len());
    let count = |n: Option<u64>| n.map_or_else(|| "as fast as the window allows".into(), group);
    for p in plans {
        let servers = match p.instances {
            0 => "external server (not started)".to_string(),
            1 => "1 built-in server".to_string(),
            n => format!("{n} built-in servers"),
        };
        let servers = match p.auto_instances {
            true => format!("{servers}, instances = \"auto\" under the open-file limit"),
            false => servers,
        };
        let _ = match p.defaults {
            true => writeln!(out, "{}: (not in the file: its table's defaults)", p.label),
            false => writeln!(out, "{}:", p.label),
        };
        let _ = writeln!(out, "  connections          {}", group(p.connections));
        let _ = writeln!(out, "  processes            {} ({servers})", p.processes);
        let _ = writeln!(out, "  messages             {}", count(p.messages));
        let _ = writeln!(out, "  measured messages    {}", count(p.measured_messages));
        let _ = writeln!(
            out,
            "  expected deliveries  {}",
            count(p.expected_deliveries)
        );
        let _ = writeln!(
            out,
            "  open files           {} per process (generator and each server)",
            group(p.descriptors)
        );
        let _ = writeln!(
            out,
            "  ports                {} from {} source address(es), {} each",
            group(p.ports),
            p.source_addresses,
            group(p.ports_per_address)
        );
    }
    out
}

/// `12345678` as `12,345,678`.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_thousands() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(12_345_678), "12,345,678");
    }

    #[test]
    fn expected_deliveries_follow_the_rooms() {
        let text = "duration = \"10s\"\n[clients]\nsubscribers = 10\n[publish]\npublishers = 3\n\
                    rate = 30\n[rooms]\ncount = 4\n[transports.ws]\n";
        let s = scenario::parse(std::path::Path::new("x.toml"), text).expect("valid");
        // Rooms 0..4 hold 3, 3, 2, 2 subscribers; publishers 0, 1, 2 publish into rooms 0, 1,
        // 2: 100 messages each, so 300 + 300 + 200.
        assert_eq!(expected(&s, 300), 800);
        assert_eq!(messages(&s), (Some(300), Some(300)));
        assert_eq!(connections(&s, TransportKind::Ws), 10);
        assert_eq!(connections(&s, TransportKind::LongPoll), 13);
    }
}
