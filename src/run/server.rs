//! How a transport run's server is started: the built-in one's options, one process or a fleet
//! of instances, or an external target; and the progress note that says which.

use std::path::Path;
use std::sync::Arc;

use super::TransportRun;
use super::owner::ServerUnderTest;
use crate::backplane::Keys;
use crate::child::{ServeOptions, ServerChild};
use crate::client::Target;
use crate::client::source::Sources;
use crate::fleet::Fleet;
use crate::os;
use crate::protocol::TransportKind;
use crate::scenario::Transport;

/// How the built-in server for `run` is started (an external target ignores this, except for the
/// TLS certificate the clients trust).
pub(super) fn serve_options(run: &TransportRun<'_>) -> anyhow::Result<ServeOptions> {
    let kind = run.transport.kind();
    let tls = match (run.variant.tls, run.cert) {
        (true, Some(cert)) => Some(cert.files.clone()),
        (true, None) => anyhow::bail!("a TLS run needs the run's certificate"),
        (false, _) => None,
    };
    let hold = match run.transport.options {
        Transport::LongPoll { hold } => Some(hold),
        _ => None,
    };
    // A restart fault keeps the HTTP hub in a file, so the restarted server continues the stream.
    let state_file = (run.scenario.faults.restart_server_at.is_some()
        && !matches!(kind, TransportKind::Ws | TransportKind::Raw))
    .then(|| {
        std::env::temp_dir().join(format!("wsbench-{}-{}.hub", std::process::id(), run.label))
    });
    if let Some(path) = &state_file {
        let _ = std::fs::remove_file(path);
    }
    Ok(ServeOptions {
        transport: kind,
        hold,
        heartbeat: run.transport.heartbeat,
        state_file,
        tls,
        backplane: None,
        keys: Keys::default(),
    })
}

/// Starts the built-in server (unless `[target]` names an external one) and says how the clients
/// reach it.
pub(super) async fn start_server(
    run: &TransportRun<'_>,
    options: &ServeOptions,
    server_bin: &Path,
) -> anyhow::Result<(ServerUnderTest, Target)> {
    let (scenario, variant) = (run.scenario, run.variant);
    let scaling = run.transport.scaling;
    let transport = &run.transport.options;
    let (server, target) = match &run.transport.target {
        Some(endpoint) => (
            ServerUnderTest::External(scenario.targets.server_pid),
            Target {
                token: scenario.targets.token.clone(),
                ..Target::external(transport.clone(), endpoint)?
            },
        ),
        None if !scaling.is_default() => {
            // Its own keys: another run, or another transport of this one, may share the Redis.
            let keys = Keys::new(&format!("wsbench:{}:{}", run.run_id, run.label))?;
            let existing = scenario.backplane.as_ref();
            let fleet =
                Fleet::start(server_bin, options, scaling, run.plan, existing, keys).await?;
            let target = fleet.target(transport.clone())?;
            (ServerUnderTest::Fleet(Box::new(fleet)), target)
        }
        None => {
            let child = ServerChild::spawn(server_bin, options, None).await?;
            let target = Target::new(transport.clone(), child.addr)?;
            (ServerUnderTest::ours(child), target)
        }
    };
    let tls = match (variant.tls, run.cert) {
        (true, Some(cert)) => Some(cert.client_config(variant.http2)?),
        _ => None,
    };
    let target = Target {
        http2: variant.http2,
        streams_per_connection: variant.streams_per_connection,
        tls,
        sources: Arc::new(Sources::new(run.sources.to_vec())?),
        deflate: variant.deflate,
        compress: variant.compress,
        http3: variant.http3,
        ..target
    };
    Ok((server, target))
}

/// The progress note that says what the clients load and from where.
pub(super) fn describe(server: &ServerUnderTest, target: &Target) -> String {
    let mut note = format!("target {} ({}", target.addr, server.describe());
    if matches!(server, ServerUnderTest::Ours(_)) {
        // The server asks for the most; the kernel gives it net.core.somaxconn.
        if let Ok(backlog) = os::somaxconn() {
            note += &format!(", listen backlog {backlog} = net.core.somaxconn");
        }
    }
    note.push(')');
    if target.http3 {
        // The built-in server's QUIC endpoint shares the TCP listener's port number.
        note += &format!("; HTTP/3 on UDP port {}", target.addr.port());
    }
    if let Some(from) = target.sources.describe() {
        note += &format!("; clients connect from {from}");
    }
    note
}
