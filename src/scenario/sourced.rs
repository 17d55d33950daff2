//! A value of the scenario's serde mirror with where it came from: a byte span of the file, the
//! flag that wrote over it, or a validated scenario (nowhere). Below every table of the mirror
//! ([`file`](super::file), `transport_tables`), so they share it
//! without importing each other.

use std::ops::Range;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value of the mirror and where it came from. Reads and writes as the bare value; compares by
/// value only, so that it can key a map.
#[derive(Debug, Clone)]
pub struct Sourced<T> {
    /// The value, as TOML has it.
    pub value: T,
    /// Where it was written.
    pub source: Source,
}

/// Where a [`Sourced`] value was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// In the file, at these bytes of its text.
    Span(Range<usize>),
    /// By this command-line flag, e.g. `--rate`.
    Flag(&'static str),
    /// Nowhere: the value of an already validated [`Scenario`](super::Scenario).
    Scenario,
}

/// Absent: an empty value, written nowhere (a file that targets only another stack's server
/// has no `[transports]`).
impl<T: Default> Default for Sourced<T> {
    fn default() -> Self {
        Sourced::scenario(T::default())
    }
}

impl<T> Sourced<T> {
    /// `value`, given by `flag`.
    pub fn flag(value: T, flag: &'static str) -> Sourced<T> {
        Sourced {
            value,
            source: Source::Flag(flag),
        }
    }

    /// `value`, taken from a validated [`Scenario`](super::Scenario).
    pub fn scenario(value: T) -> Sourced<T> {
        Sourced {
            value,
            source: Source::Scenario,
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Sourced<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = toml::Spanned::<T>::deserialize(deserializer)?;
        Ok(Sourced {
            source: Source::Span(spanned.span()),
            value: spanned.into_inner(),
        })
    }
}

impl<T: Serialize> Serialize for Sourced<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(serializer)
    }
}

impl<T: PartialEq> PartialEq for Sourced<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T: Eq> Eq for Sourced<T> {}

impl<T: Ord> PartialOrd for Sourced<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<T: Ord> Ord for Sourced<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.value.cmp(&other.value)
    }
}

/// A key that may be left out.
pub type Opt<T> = Option<Sourced<T>>;
