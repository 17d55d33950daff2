//! In a sharded run, what this shard's subscribers expect of the other shards' publishers: their
//! in-window slots, as scheduled (a shard cannot know what the others published; `wsbench merge`
//! replaces the schedule by what was published).
//!
//! Without rooms every subscriber expects every slot. With `[rooms]` a subscriber expects the
//! slots of its own room's publishers only: publisher `p` publishes into room `p mod rooms`
//! wherever it runs, so the count per room is a pure function of the slice, the same on every
//! shard. Slots are offsets from the first one, so a timeline made up now counts them as the real
//! one will.

use std::iter::once;

use tokio::time::Instant;

use crate::client::plan::LoadPlan;
use crate::client::schedule::{Timeline, window_slots_by_second};
use crate::protocol::RoomId;

/// The other shards' in-window slots, as this shard's subscribers expect them.
#[derive(Debug, Default)]
pub(super) struct Others {
    /// By second of the measured phase: slots every subscriber here expects. Without rooms
    /// only (with rooms a second's slots are expected by their rooms' members alone:
    /// [`expected_by_second`]); empty when not sharded.
    pub by_second: Vec<u64>,
    /// By room: the slots into it, each expected by every member of the room here.
    pub by_room: Vec<u64>,
}

impl Others {
    /// All of them, whatever the room.
    pub fn total(&self) -> u64 {
        self.by_room.iter().sum()
    }
}

/// The other shards' in-window slots, by second (without rooms) and by room; nothing when not
/// sharded.
pub(super) fn scheduled(plan: &LoadPlan, seconds: usize) -> Others {
    let Some(timeline) = made_up_timeline(plan) else {
        return Others::default();
    };
    let cadence = plan.cadence();
    if plan.rooms.is_none() {
        let by_second =
            window_slots_by_second(other_publishers(plan), &cadence, &timeline, seconds);
        let total = by_second.iter().sum();
        return Others {
            by_second,
            by_room: vec![total],
        };
    }
    let mut by_room = vec![0u64; plan.room_count() as usize];
    for p in other_publishers(plan) {
        let slots: u64 = window_slots_by_second(once(p), &cadence, &timeline, seconds)
            .iter()
            .sum();
        by_room[plan.publisher_room(p).0 as usize] += slots;
    }
    Others {
        by_second: Vec::new(),
        by_room,
    }
}

/// With `[rooms]` in a sharded run: by second of the measured phase, the deliveries this shard's
/// subscribers expect of the other shards' slots, each slot to the `members` of its room here.
/// Empty without rooms or when not sharded.
pub(super) fn expected_by_second(
    plan: &LoadPlan,
    seconds: usize,
    members: impl Fn(RoomId) -> u64,
) -> Vec<u64> {
    let Some(timeline) = made_up_timeline(plan).filter(|_| plan.rooms.is_some()) else {
        return Vec::new();
    };
    let cadence = plan.cadence();
    let mut by_second = vec![0u64; seconds];
    for p in other_publishers(plan) {
        let here = members(plan.publisher_room(p));
        if here == 0 {
            continue;
        }
        let slots = window_slots_by_second(once(p), &cadence, &timeline, seconds);
        for (sum, n) in by_second.iter_mut().zip(slots) {
            *sum += n * here;
        }
    }
    by_second
}

/// The publishers of the run that are not this shard's.
fn other_publishers(plan: &LoadPlan) -> impl Iterator<Item = u32> + '_ {
    let own = plan.shard.as_ref().map(|s| s.publishers.clone());
    (0..plan.publishers_total()).filter(move |p| own.as_ref().is_some_and(|o| !o.contains(p)))
}

/// A timeline starting now, with the plan's warmup and duration; `None` when not sharded.
fn made_up_timeline(plan: &LoadPlan) -> Option<Timeline> {
    plan.shard.as_ref()?;
    let now = Instant::now();
    Some(Timeline {
        epoch: now,
        publish_start: now,
        measure_start: now + plan.warmup,
        measure_end: now + plan.warmup + plan.duration,
        own: plan.own_publishers(),
    })
}
