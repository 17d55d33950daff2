//! The load generator: ramp-up, one task per simulated client, the publishers and the stop rules.
//!
//! [`drive`] runs one transport through its phases — connect (at `connect_rate`), idle, warmup,
//! measure, drain — and returns what the clients recorded. Clients reach the server only over
//! sockets, each wrapped in a [`CountingStream`](crate::wire::CountingStream), so a server we did
//! not write is measured exactly like ours. Never prints or writes files: progress is reported
//! through a callback.
//!
//! Per-connection state is small, because runs go to tens of thousands of connections: a
//! subscriber task keeps its socket, a read buffer only while a frame is incomplete, its
//! [`Inbox`] (counters and an exact, compact delivery tracker) and nothing else; latency and
//! connect time go into a few shared histograms. From the start of the measured phase to the end
//! of the drain a 1 Hz sampler cuts the run into seconds (latency, bytes, connections), reported
//! as [`Phase::Tick`]; the seconds come back as the outcome's
//! [`TimeSeries`](crate::metrics::TimeSeries), and the whole run's latency is their sum.
//!
//! # Layout (each depends only on those above it)
//! - [`plan`]: what the load looks like and where it goes ([`LoadPlan`], [`Target`]).
//! - [`outcome`]: what a run tells its caller ([`Phase`], [`ClientOutcome`], [`ClientError`]).
//! - [`source`]: the loopback source addresses connections come from (past the port range).
//! - [`shard`]: a sharded run's flags and rules — the slice, the common start, each shard's
//!   own source addresses.
//! - `ctx`, `signals`, [`conn`], `inbox`, `publishing`, `backoff`: what every client shares —
//!   the context, news of the run's state, the counted socket, the receive-side bookkeeping, the
//!   publishing schedule, reconnecting.
//! - `scratch`, `h1`: the per-thread read buffer, and our HTTP/1.1 connection that reads into it
//!   (one task per connection, no buffer while idle; HTTP/2 stays on hyper).
//! - [`ws`], [`longpoll`], [`sse`], `http`: one module per transport's clients.
//! - [`workers`]: the generator's threads, one single-threaded runtime per core.
//! - [`watch`]: how late those threads run their tasks (event-loop lag), over the measured phase.
//! - `churn`: the connections closed on purpose during the measured phase (`[clients] churn`).
//! - [`window`]: saturation mode's messages in flight (`[publish] window`), counted exactly.
//! - `idle`: the idle phase before publishing, when only heartbeats flow (`[clients] idle_phase`).
//! - `sampler` and `conductor`: the 1 Hz sampler and [`drive`], which runs it all.

mod backoff;
mod churn;
mod conductor;
pub mod conn;
mod ctx;
mod drops;
mod failure;
mod framed;
mod h1;
mod h2exec;
pub mod h3;
mod http;
mod idle;
mod inbox;
pub mod longpoll;
pub mod outcome;
mod pacer;
pub mod plan;
mod poster;
mod publishing;
pub mod raw;
mod sampler;
pub mod schedule;
pub mod shard;
mod signals;
mod socketio;
pub mod source;
pub mod spread;
pub mod sse;
mod template;
mod timerfd;
pub mod watch;
pub mod window;
pub mod workers;
pub mod ws;

pub use conductor::drive;
pub use failure::ConnectError;
pub use inbox::Inbox;
pub use outcome::{ClientError, ClientOutcome, LiveStats, Phase, Ramp};
pub use plan::{LoadPlan, Paths, Shape, Target};
pub use schedule::{Cadence, Schedule, Timeline};
