//! What one server serves on its port ([`Serving`]), and how `wsbench serve --transport` names
//! it on the command line (its clap value list, kept beside the type it lists).

use crate::protocol::TransportKind;

/// What one server serves on its port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serving {
    /// One transport, as `wsbench run` starts them: each measured alone.
    One(TransportKind),
    /// Every transport over one hub, and the chat page at `/` ([`all`](super::all)): what a browser needs to
    /// switch transports on one origin. For people, not for measuring.
    All,
}

impl From<TransportKind> for Serving {
    fn from(transport: TransportKind) -> Self {
        Serving::One(transport)
    }
}

impl std::fmt::Display for Serving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Serving::One(transport) => transport.fmt(f),
            Serving::All => f.write_str("all"),
        }
    }
}

/// `--transport` of `wsbench serve`: every [`TransportKind`] by its own name, and `all`. Only
/// `serve` takes this type, so `wsbench run --transports` cannot be given `all`.
impl clap::ValueEnum for Serving {
    fn value_variants<'a>() -> &'a [Self] {
        &[
            Serving::One(TransportKind::Ws),
            Serving::One(TransportKind::LongPoll),
            Serving::One(TransportKind::ShortPoll),
            Serving::One(TransportKind::Sse),
            Serving::One(TransportKind::Raw),
            Serving::All,
        ]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        match self {
            Serving::One(transport) => transport.to_possible_value(),
            Serving::All => Some(clap::builder::PossibleValue::new("all").help(
                "Every transport on one port over one hub, and the chat page at `/` \
                 (its URL is printed on the second line of stdout)",
            )),
        }
    }
}
