//! One [`Summary`] row per transport, as the report writes and reads it: defined beside the
//! metrics it is derived from ([`crate::metrics::summary`]), so the scenario can check its column
//! names without importing the report.

#[cfg(test)]
pub(crate) use crate::metrics::summary::tests;
pub use crate::metrics::summary::*;
