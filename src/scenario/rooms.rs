//! `[rooms]`: how the subscribers are split into rooms (topics), read from the mirror.
//!
//! Owns [`Rooms`] and its rules: `count = N` rooms, or `members = M` per room (the count is
//! then ⌈subscribers / M⌉), never both, at least one room and no more rooms than subscribers.
//! How subscribers and publishers are spread over the rooms is the client's
//! ([`crate::client::LoadPlan`]).

use super::fields::Rules;
use super::file::{RoomsTable, Sourced};
use super::{ScenarioError, fields::blame};

/// Most rooms a scenario may ask for (as many as subscribers at most, and no more than this).
pub const MAX_ROOMS: i64 = 1_000_000;

/// `[rooms]`: the subscribers split into this many rooms, each receiving only what is published
/// into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rooms {
    /// Rooms, each with ⌊S/count⌋ or ⌈S/count⌉ of the S subscribers.
    pub count: u32,
}

impl Rules<'_> {
    /// The rooms `table` asks for (`None` without a `[rooms]` table: one room, no room on the
    /// wire), checked against `subscribers`.
    pub(super) fn rooms(
        &self,
        table: Option<Sourced<RoomsTable>>,
        subscribers: &super::fields::Field<i64>,
    ) -> Result<Option<Rooms>, ScenarioError> {
        let Some(table) = table else {
            return Ok(None);
        };
        let table_origin = self.origin(&table.source);
        let RoomsTable { count, members } = table.value;
        let subs = subscribers.value;
        let count = match (count, members) {
            (Some(_), Some(members)) => {
                let origin = self.field(members).origin;
                return Err(self.invalid(
                    origin,
                    "[rooms] members",
                    "[rooms] takes count or members, not both: members sets the count".into(),
                ));
            }
            (None, None) => {
                return Err(self.invalid(
                    table_origin,
                    "[rooms]",
                    "[rooms] needs count (how many rooms) or members (subscribers per room)".into(),
                ));
            }
            (Some(count), None) => {
                let count = self.field(count);
                self.int_in(&count, "[rooms] count", 1..=MAX_ROOMS)?;
                let origin = blame(&[&count.origin, &subscribers.origin]);
                self.check(count.value <= subs, origin, "[rooms] count", || {
                    format!(
                        "[rooms] count must be at most subscribers ({subs}): every room needs a member (got {})",
                        count.value
                    )
                })?;
                count.value
            }
            (None, Some(members)) => {
                let members = self.field(members);
                self.int_in(&members, "[rooms] members", 1..=MAX_ROOMS)?;
                let origin = blame(&[&members.origin, &subscribers.origin]);
                self.check(members.value <= subs, origin, "[rooms] members", || {
                    format!(
                        "[rooms] members must be at most subscribers ({subs}) (got {})",
                        members.value
                    )
                })?;
                let count = (subs + members.value - 1) / members.value;
                self.check(count <= MAX_ROOMS, origin, "[rooms] members", || {
                    format!("[rooms] members makes {count} rooms, more than {MAX_ROOMS}")
                })?;
                count
            }
        };
        Ok(Some(Rooms {
            count: u32::try_from(count).expect("validated to be in range"),
        }))
    }
}
