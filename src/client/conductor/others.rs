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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Slice;

    /// Shard 1 of 3 of 30 subscribers and 15 publishers at 1 msg/s each, 2 s measured after a
    /// 1 s warmup; with `rooms` its table.
    fn shard_1(rooms: &str) -> LoadPlan {
        let scenario = crate::scenario::parse(
            std::path::Path::new("x.toml"),
            &format!(
                "duration = \"2s\"\nwarmup = \"1s\"\n[clients]\nsubscribers = 30\n\
                 [publish]\npublishers = 15\nrate = 15\n[transports.ws]\n{rooms}"
            ),
        )
        .unwrap();
        let mut slice = Slice::new(1, 3, 30, 15).unwrap();
        if scenario.rooms.is_some() {
            slice = slice.with_publishers_of_subscribers();
        }
        LoadPlan::from_scenario(&scenario).sliced(slice)
    }

    #[test]
    fn without_rooms_every_subscriber_expects_every_other_slot() {
        let plan = shard_1("");
        // Publishers 5..10 are this shard's; the other 10 send 2 in the window each.
        let others = scheduled(&plan, 2);
        assert_eq!((others.by_second, others.by_room), (vec![10, 10], vec![20]));
        assert!(expected_by_second(&plan, 2, |_| 10).is_empty());
    }

    #[test]
    fn with_rooms_a_room_expects_its_own_publishers_slots_only() {
        let plan = shard_1("[rooms]\ncount = 4\n");
        assert_eq!(plan.own_publishers().first, 10);
        // Publishers 0..10 are the others': rooms 0 and 1 have 3 of them, rooms 2 and 3 have 2.
        let others = scheduled(&plan, 2);
        assert!(others.by_second.is_empty());
        assert_eq!(others.by_room, [6, 6, 4, 4]);
        // Subscribers 10..20 are in rooms 2, 3, 0, 1, …: 2, 2, 3 and 3 members.
        let members = |room: RoomId| [2, 2, 3, 3][room.0 as usize];
        assert_eq!(plan.subscriber_room(0), RoomId(2));
        // Each second one slot of each other publisher, to its room's members here.
        assert_eq!(
            expected_by_second(&plan, 2, members),
            [3 * 2 + 3 * 2 + 2 * 3 + 2 * 3; 2]
        );
    }
}
