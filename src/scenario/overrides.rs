//! Command-line overrides: values that replace the file's before the one validation.
//!
//! Owns [`Overrides`], a plain struct of optional values that the `cli` module fills from flags
//! (and tests write out), and writing them over a [`ScenarioFile`], each sourced to its flag so
//! that an error about it names the flag instead of a line. Knows nothing of clap or how flags are
//! parsed, and checks nothing: the values meet the same rules as the file's.

use std::time::Duration;

use super::file::{ScenarioFile, Source, Sourced};
use crate::protocol::TransportKind;

/// Values given on the command line for some of the scenario's common fields; `None` keeps the
/// file's. Each names the field it replaces. Numbers are the file's types (`i64`), so a negative
/// one meets the field's rule rather than a parser's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// `[clients] subscribers` (`--subscribers`)
    pub subscribers: Option<i64>,
    /// `[publish] publishers` (`--publishers`)
    pub publishers: Option<i64>,
    /// `[publish] rate`, messages per second, all publishers together (`--rate`)
    pub rate: Option<f64>,
    /// `[publish] payload_bytes` (`--payload-bytes`)
    pub payload_bytes: Option<i64>,
    /// `duration`, the measured phase per transport (`--duration`)
    pub duration: Option<Duration>,
    /// `warmup` (`--warmup`)
    pub warmup: Option<Duration>,
    /// The transports to run, in this order (`--transports`). One the file does not configure
    /// runs with its defaults ([`Transport::default_for`](super::Transport::default_for)).
    pub transports: Option<Vec<TransportKind>>,
    /// `[target] server_pid`: an external server process to sample (`--server-pid`)
    pub server_pid: Option<i64>,
    /// `[target]` URLs and `[backplane] redis` may name addresses off loopback
    /// (`--allow-remote`): for shards in a cluster, which reach the server through a Service
    /// address. False: loopback only.
    pub allow_remote: bool,
}

impl ScenarioFile {
    /// Writes the values `o` gives over this file's, each sourced to its flag.
    pub fn override_with(&mut self, o: &Overrides) {
        let Overrides {
            subscribers,
            publishers,
            rate,
            payload_bytes,
            duration,
            warmup,
            transports,
            server_pid,
            allow_remote,
        } = o;
        let text = |d: &Duration| humantime::format_duration(*d).to_string();
        if let Some(n) = subscribers {
            self.clients.subscribers = Sourced::flag(*n, "--subscribers");
        }
        if let Some(n) = publishers {
            self.publish.publishers = Some(Sourced::flag(*n, "--publishers"));
        }
        if let Some(r) = rate {
            self.publish.rate = Some(Sourced::flag(*r, "--rate"));
        }
        if let Some(n) = payload_bytes {
            self.publish.payload_bytes = Some(Sourced::flag(*n, "--payload-bytes"));
        }
        if let Some(d) = duration {
            self.duration = Sourced::flag(text(d), "--duration");
        }
        if let Some(d) = warmup {
            self.warmup = Some(Sourced::flag(text(d), "--warmup"));
        }
        if let Some(kinds) = transports {
            self.transports.value.run_order = Some(kinds.clone());
            self.transports.source = Source::Flag("--transports");
        }
        if let Some(pid) = server_pid {
            let target = self.target.get_or_insert_default();
            target.server_pid = Some(Sourced::flag(*pid, "--server-pid"));
        }
        if *allow_remote {
            if let Some(target) = self.target.as_mut() {
                target.allow_remote = true;
            }
            if let Some(backplane) = self.backplane.as_mut() {
                backplane.value.allow_remote = true;
            }
        }
    }
}
