//! One transport's plan: everything its runs need — its options, its variants, how many
//! instances serve it, an external target, the server's heartbeat — gathered from the
//! scenario's tables in one place, so the run never looks a setting up by transport kind.
//!
//! The validated [`Scenario`] keeps the tables' shape (it writes itself back as a file,
//! [`Scenario::to_toml`]); [`Scenario::plans`] is the one place that joins them per transport.
//! A new per-transport setting is a key in the mirror ([`file`](super::file)), its rule
//! (`scenario::readers`) and a field here.

use std::time::Duration;

use super::scaling::Scaling;
use super::target::Endpoint;
use super::variant::Variant;
use super::{Scenario, Transport};
use crate::protocol::TransportKind;

/// One transport of a scenario, with every setting its runs use.
#[derive(Debug, Clone, PartialEq)]
pub struct TransportPlan {
    /// The transport and its table's client options.
    pub options: Transport,
    /// Each run of it, in order (plain, `-h2`, `-tls`, `-h2-tls`): one label each.
    pub variants: Vec<Variant>,
    /// How many built-in instances serve it, behind what.
    pub scaling: Scaling,
    /// `[target]`: the external server it runs against; `None`: the built-in one.
    pub target: Option<Endpoint>,
    /// The built-in server's heartbeat (`[transports.ws] server_ping`, `[transports.sse]
    /// keepalive`); `None` for the other transports or when not set.
    pub heartbeat: Option<Duration>,
}

impl TransportPlan {
    /// The transport's kind.
    pub fn kind(&self) -> TransportKind {
        self.options.kind()
    }

    /// The label of its run carried as `variant` (`longpoll-h2`, `socketio-polling`).
    pub fn label(&self, variant: Variant) -> String {
        self.options.label(variant)
    }
}

impl Scenario {
    /// One plan per transport, in run order.
    pub fn plans(&self) -> Vec<TransportPlan> {
        self.transports
            .iter()
            .map(|transport| {
                let kind = transport.kind();
                TransportPlan {
                    options: transport.clone(),
                    variants: self.variants_of(kind).expand(),
                    scaling: self.scaling_of(kind),
                    target: match transport {
                        Transport::Template(t) => Some(t.endpoint.clone()),
                        _ => self.targets.endpoint(kind).cloned(),
                    },
                    heartbeat: match kind {
                        TransportKind::Ws => self.heartbeats.ws_ping,
                        TransportKind::Sse => self.heartbeats.sse_keepalive,
                        _ => None,
                    },
                }
            })
            .collect()
    }
}
