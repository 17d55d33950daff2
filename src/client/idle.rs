//! The idle phase (`[clients] idle_phase`): after the ramp-up and before the first publish, every
//! connection stays open and quiet for a while, so what flows is what idleness costs on this
//! transport — WebSocket pings and pongs, SSE keep-alive comments, long-polls answered empty at
//! their hold and sent again, short-polls every interval.
//!
//! The subscribers need nothing special for it: before the timeline is fixed they read (and
//! answer pings, and re-poll) as they always do, and publishers wait for the timeline. The phase
//! only holds the timeline back and reads the wire meter around it; the caller samples the
//! server at the [`Phase::Idle`] and [`Phase::IdleOver`] marks.

use std::time::Duration;

use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use super::ctx::Ctx;
use super::outcome::Phase;
use crate::metrics::IdleCost;

/// Lets the ramp-up's last exchanges finish before the phase is measured: a long-poll subscriber
/// counts as connected when its join is answered, and sends its first held poll just after.
const SETTLE: Duration = Duration::from_millis(50);

/// Holds every connection quiet for `span` (or until the run is cancelled) after a short settle,
/// and returns the clients' side of what it cost: `connections` open, the span, and their bytes.
pub(super) async fn phase(
    ctx: &Ctx,
    span: Duration,
    connections: u32,
    cancel: &CancellationToken,
    on_phase: &mut dyn FnMut(Phase),
) -> IdleCost {
    let settled = tokio::select! {
        _ = cancel.cancelled() => false,
        () = tokio::time::sleep(SETTLE) => true,
    };
    on_phase(Phase::Idle { span });
    let (start, wire_start) = (Instant::now(), ctx.meter.read());
    if settled {
        tokio::select! {
            _ = cancel.cancelled() => {}
            _ = sleep_until(start + span) => {}
        }
    }
    let wire = ctx.meter.read().since(wire_start);
    let span = start.elapsed();
    on_phase(Phase::IdleOver);
    IdleCost {
        connections,
        span,
        wire,
        server_cpu: None,
        server_rss_growth_kib: None,
    }
}
