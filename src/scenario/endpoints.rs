//! `[target]` as the rules read it: the URL of each transport's external server (on loopback
//! unless allowed off it), and the runs of other stacks' servers (Socket.IO, nchan, templates).

use super::fields::{Field, Rules, StackRuns};
use super::file::TargetTable;
use super::target::{self, Endpoint, Reach};
use super::{Origin, ScenarioError};
use crate::protocol::TransportKind;

impl Rules<'_> {
    /// `[target]` URLs, in [`TransportKind::ALL`] order, each known to be on loopback (or
    /// allowed off it, by `--allow-remote`).
    pub(super) fn endpoints(
        &self,
        target: &mut TargetTable,
    ) -> Result<Vec<Field<(TransportKind, Endpoint)>>, ScenarioError> {
        let mut out = Vec::new();
        for kind in TransportKind::ALL {
            let Some(url) = target.url_mut(kind).and_then(Option::take) else {
                continue;
            };
            let origin = self.origin(&url.source);
            let reach = if target.allow_remote {
                Reach::Remote
            } else {
                Reach::Loopback
            };
            match target::parse_with(kind, &url.value, reach) {
                Ok(endpoint) => out.push(Field {
                    value: (kind, endpoint),
                    origin,
                }),
                Err(message) => {
                    let message = format!("[target] {}: {message}", kind.label());
                    return Err(self.invalid(origin, "[target]", message));
                }
            }
        }
        Ok(out)
    }

    /// `[target] socketio` and `[target] nchan`: each stack's endpoint and one run per mode it
    /// asks for, stacks in that order; only those `--transports` names, if it names any.
    /// `rooms`: the scenario has rooms (which Socket.IO clients must join by an event).
    pub(super) fn stacks(
        &self,
        target: &mut TargetTable,
        rooms: bool,
        picked: Option<&[String]>,
    ) -> Result<StackRuns, ScenarioError> {
        let mut all = self.stack_tables(target, rooms)?;
        let Some(picked) = picked else {
            return Ok(all);
        };
        if let Some(missing) = picked.iter().find(|label| {
            all.runs
                .iter()
                .all(|r| &r.label(Default::default()) != *label)
        }) {
            return Err(self.invalid(
                Origin::Flag("--transports"),
                "[target]",
                format!(
                    "{missing} is not among the runs the file's [target] asks for (nor a \
                     transport: ws, longpoll, shortpoll, sse, raw)"
                ),
            ));
        }
        all.runs
            .retain(|r| picked.contains(&r.label(Default::default())));
        let kinds: Vec<TransportKind> = all.runs.iter().map(super::Transport::kind).collect();
        all.endpoints.retain(|(kind, _)| kinds.contains(kind));
        Ok(all)
    }

    /// Every run the `[target]` stacks ask for.
    fn stack_tables(
        &self,
        target: &mut TargetTable,
        rooms: bool,
    ) -> Result<StackRuns, ScenarioError> {
        let reach = if target.allow_remote {
            Reach::Remote
        } else {
            Reach::Loopback
        };
        let mut out = StackRuns::default();
        if let Some(table) = target.socketio.take() {
            let origin = self.origin(&table.source);
            let (endpoint, runs) = super::stack::socketio_runs(&table.value, reach, rooms)
                .map_err(|m| {
                    self.invalid(
                        origin,
                        "[target] socketio",
                        format!("[target] socketio: {m}"),
                    )
                })?;
            out.endpoints.push((TransportKind::SocketIo, endpoint));
            out.runs
                .extend(runs.into_iter().map(super::Transport::SocketIo));
        }
        if let Some(table) = target.nchan.take() {
            let origin = self.origin(&table.source);
            let (endpoint, runs) = super::stack::nchan_runs(&table.value, reach).map_err(|m| {
                self.invalid(origin, "[target] nchan", format!("[target] nchan: {m}"))
            })?;
            out.endpoints.push((TransportKind::Nchan, endpoint));
            out.runs
                .extend(runs.into_iter().map(super::Transport::Nchan));
        }
        if let Some(tables) = target.template.take() {
            for (name, table) in &tables.value {
                let origin = self.origin(&table.source);
                let (endpoint, run) = super::template::template_run(name, &table.value, reach)
                    .map_err(|m| {
                        self.invalid(
                            origin,
                            "[target.template]",
                            format!("[target.template.{name}]: {m}"),
                        )
                    })?;
                // The kind's endpoint stands for every template's in the rules that ask whether
                // a run is external; each run connects to its own.
                if !out
                    .endpoints
                    .iter()
                    .any(|(k, _)| *k == TransportKind::Template)
                {
                    out.endpoints.push((TransportKind::Template, endpoint));
                }
                out.runs.push(super::Transport::Template(Box::new(run)));
            }
        }
        Ok(out)
    }
}
