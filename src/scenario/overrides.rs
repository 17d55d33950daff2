//! Command-line overrides: values that replace the file's before the one validation.
//!
//! Owns [`Overrides`], a plain struct of optional values, and writing them over a
//! [`ScenarioFile`], each sourced to its flag so that an error about it names the flag instead of
//! a line. The struct is also the flags' one definition: it derives clap's `Args`, and the `cli`
//! module flattens it into `run`, `check` and `capacity`, so a field, its flag and the flag an
//! error blames are written once, here. Parses nothing itself and checks nothing: the values meet
//! the same rules as the file's.

use std::time::Duration;

use super::file::{ScenarioFile, Source, Sourced};
use super::stack::RunPick;

/// Values given on the command line for some of the scenario's common fields; `None` keeps the
/// file's. Each flag is the field's name (`--payload-bytes` for `payload_bytes`) and its help
/// names the scenario field it replaces. Numbers are the file's types (`i64`) and take a sign
/// (`--rate -5`), so a value out of range meets the field's rule and its message, as in the file.
#[derive(Debug, Clone, Default, PartialEq, clap::Args)]
pub struct Overrides {
    /// `[clients] subscribers`
    #[arg(long, allow_negative_numbers = true)]
    pub subscribers: Option<i64>,
    /// `[publish] publishers`
    #[arg(long, allow_negative_numbers = true)]
    pub publishers: Option<i64>,
    /// `[publish] rate` (messages per second, all publishers together)
    #[arg(long, allow_negative_numbers = true)]
    pub rate: Option<f64>,
    /// `[publish] payload_bytes`
    #[arg(long, allow_negative_numbers = true)]
    pub payload_bytes: Option<i64>,
    /// `duration` (measured phase per transport, e.g. `20s`)
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// `warmup` (e.g. `2s`)
    #[arg(long, value_parser = humantime::parse_duration)]
    pub warmup: Option<Duration>,
    /// Run only these transports, in this order (e.g. `ws,longpoll`). One without a
    /// `[transports.X]` table in the file runs with that table's defaults. A `[target]` stack's
    /// runs are named by label (`socketio-polling`, `nchan-sse`) and run after the built-in ones.
    #[arg(long, value_delimiter = ',', value_parser = str::parse::<RunPick>)]
    pub transports: Option<Vec<RunPick>>,
    /// `[target] server_pid`: sample this external server process's CPU time and memory.
    #[arg(long, value_name = "PID", allow_negative_numbers = true)]
    pub server_pid: Option<i64>,
    /// `[target]` URLs and `[backplane] redis` may name addresses off loopback: for shards in a
    /// cluster, which reach the server through a Service address. False: loopback only. Not a
    /// flag of its own here: the commands that take `--allow-remote` set it.
    #[arg(skip)]
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
        if let Some(picks) = transports {
            let (mut kinds, mut stacks) = (Vec::new(), Vec::new());
            for pick in picks {
                match pick {
                    RunPick::Transport(kind) => kinds.push(*kind),
                    RunPick::Stack(label) => stacks.push(label.clone()),
                }
            }
            self.transports.value.run_order = Some(kinds);
            self.transports.value.stack_order = Some(stacks);
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
