//! One instance's link to the shared log, per room: an appender that writes what the instance's
//! clients publish into the room, and an ingest task that reads the room's stream back, in order,
//! into the instance's hub.
//!
//! The appender batches whatever queued up while the previous append was in flight into one
//! script call (one round trip, however many messages), so under load the backplane costs a
//! round trip per batch, not per message. The ingest reads up to [`READ_COUNT`] entries per
//! `XREAD`. Each entry carries the publishing instance's wall-clock time of the publish, so the
//! reading instance measures the hop publish → Redis → instance (both on one host's clock).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hdrhistogram::Histogram;
use redis::Value;
use redis::aio::MultiplexedConnection;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::hub::Stored;
use crate::backplane::entry::{APPEND, entries};
use crate::backplane::{BackplaneError, BackplaneUrl, Keys};

/// Most entries one `XREAD` returns.
pub const READ_COUNT: usize = 1024;
/// Most messages one append script call carries.
const APPEND_BATCH: usize = 256;
/// How long one `XREAD` blocks when there is nothing new; the connection's own timeout is longer.
const BLOCK: Duration = Duration::from_secs(5);

/// How a hub's stored message crosses the log: its payload bytes and whether it is text out,
/// the stored form rebuilt from them in.
#[derive(Debug)]
pub struct Codec<M> {
    /// The message's payload, as a client published it.
    pub payload: fn(&M) -> &[u8],
    /// Whether it was published as text (a WebSocket text message); false elsewhere.
    pub text: fn(&M) -> bool,
    /// The stored form of a payload read from the log.
    pub rebuild: fn(Bytes, bool) -> M,
}

// By hand: derived, they would ask `M: Copy`, and function pointers are always copied.
impl<M> Clone for Codec<M> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M> Copy for Codec<M> {}

/// What one instance's relay did, for the report: read by `wsbench serve --stats` at exit.
#[derive(Debug)]
pub struct RelayStats {
    /// Messages this instance appended to the log.
    pub appended: AtomicU64,
    /// Entries this instance read from the log and stored (replays of old entries included).
    pub ingested: AtomicU64,
    /// Publish (on any instance) → stored in this instance's hub, in microseconds, for entries
    /// published after this relay started.
    pub hop_us: Mutex<Histogram<u64>>,
}

impl Default for RelayStats {
    fn default() -> Self {
        RelayStats {
            appended: AtomicU64::new(0),
            ingested: AtomicU64::new(0),
            hop_us: Mutex::new(crate::metrics::new_histogram()),
        }
    }
}

/// A message waiting for the appender: the publish time (unix ns), and who waits for the log to
/// hold it.
type Queued<M> = (M, u64, Option<Stored>);

/// One instance's relays, one per room: a room's publishes go to its stream, and its stream
/// comes back, numbered, into the hub. A room's relay starts when the room is joined
/// ([`Relays::join`]). All rooms append over one shared connection (a script call does not hold
/// it); each room reads over its own (an `XREAD BLOCK` holds its connection until it answers), so
/// an instance keeps one Redis connection per room it has, plus one. Stops every room's relay
/// (its tasks aborted) when dropped.
#[derive(Debug)]
pub struct Relays<M> {
    client: redis::Client,
    addr: std::net::SocketAddr,
    writer: MultiplexedConnection,
    /// The names of the rooms' streams and counters.
    keys: Keys,
    /// The streams' bound, in entries.
    bound: usize,
    codec: Codec<M>,
    stats: Arc<RelayStats>,
    /// The first failure of any room's relay goes here ([`Failures`]).
    fail: mpsc::Sender<BackplaneError>,
    rooms: Mutex<HashMap<u32, RoomRelay<M>>>,
}

/// One room's relay: where its publishes queue, and its appender and ingest.
#[derive(Debug)]
struct RoomRelay<M> {
    outlet: mpsc::UnboundedSender<Queued<M>>,
    tasks: [JoinHandle<()>; 2],
}

/// Where the relays report failing (Redis gone, a command refused): the instance can no longer
/// publish or deliver, and should stop.
#[derive(Debug)]
pub struct Failures(mpsc::Receiver<BackplaneError>);

impl Failures {
    /// Completes with the first relay failure.
    pub async fn first(&mut self) -> BackplaneError {
        match self.0.recv().await {
            Some(e) => e,
            None => std::future::pending().await,
        }
    }
}

impl<M> Drop for Relays<M> {
    fn drop(&mut self) {
        let rooms = self.rooms.get_mut().unwrap_or_else(|e| e.into_inner());
        for relay in rooms.values() {
            relay.tasks.iter().for_each(JoinHandle::abort);
        }
    }
}

/// Connection and response timeouts: a read blocks [`BLOCK`] at most, so twice that is a failure.
fn connection_config() -> redis::AsyncConnectionConfig {
    redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_response_timeout(Some(BLOCK * 2))
}

impl<M: Send + 'static> Relays<M> {
    /// Connects to the log at `url`, under `keys` (each room's stream kept to about `bound`
    /// entries), with no room joined yet. Fails if Redis cannot be reached.
    pub async fn connect(
        url: &BackplaneUrl,
        keys: Keys,
        bound: usize,
        codec: Codec<M>,
        stats: Arc<RelayStats>,
    ) -> Result<(Self, Failures), BackplaneError> {
        let client = url.client()?;
        let writer = client
            .get_multiplexed_async_connection_with_config(&connection_config())
            .await
            .map_err(|source| BackplaneError::Redis {
                addr: url.addr,
                source,
            })?;
        let (fail, failures) = mpsc::channel(1);
        let relays = Relays {
            client,
            addr: url.addr,
            writer,
            keys,
            bound,
            codec,
            stats,
            fail,
            rooms: Mutex::new(HashMap::new()),
        };
        Ok((relays, Failures(failures)))
    }

    /// Starts room `room`'s relay unless it runs: the appender, and the ingest, which connects,
    /// replays what the room's stream retains and then follows it, handing each entry to
    /// `deliver` with its number. Publishes queued before the ingest connects are appended
    /// meanwhile, and read back like the rest.
    pub fn join(&self, room: u32, deliver: impl Fn(u64, M) + Send + 'static) {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        if rooms.contains_key(&room) {
            return;
        }
        let (outlet, queue) = mpsc::unbounded_channel();
        let append = Appender {
            conn: self.writer.clone(),
            stream: self.keys.stream(room),
            counter: self.keys.counter(room),
            bound: self.bound,
            codec: self.codec,
            stats: self.stats.clone(),
        };
        let (client, stream, codec, stats) = (
            self.client.clone(),
            self.keys.stream(room),
            self.codec,
            self.stats.clone(),
        );
        let started_ns = unix_ns();
        let ingest = async move {
            let conn = client
                .get_multiplexed_async_connection_with_config(&connection_config())
                .await?;
            let ingest = Ingest {
                conn,
                stream,
                codec,
                stats,
                started_ns,
            };
            ingest.run(deliver).await
        };
        let on_fail = |fail: mpsc::Sender<BackplaneError>, addr| {
            move |e: TaskError| {
                // The first failure is enough to stop the instance; later ones are not kept.
                let _ = fail.try_send(e.at(addr));
            }
        };
        let (f1, f2) = (
            on_fail(self.fail.clone(), self.addr),
            on_fail(self.fail.clone(), self.addr),
        );
        let tasks = [
            tokio::spawn(async move {
                if let Err(e) = append.run(queue).await {
                    f1(e);
                }
            }),
            tokio::spawn(async move {
                if let Err(e) = ingest.await {
                    f2(e);
                }
            }),
        ];
        rooms.insert(room, RoomRelay { outlet, tasks });
    }

    /// Queues `message`, stamped with the time of the publish, for room `room`'s appender; what
    /// the hub hands its publishes to ([`Hub::forward_to`](crate::server::hub::Hub::forward_to)).
    /// A room not joined cannot happen (the hub joins every room it makes); if it did, the
    /// message is dropped and its waiter told it was not stored.
    pub fn send(&self, room: u32, message: M, stored: Option<Stored>) {
        let rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(relay) = rooms.get(&room) {
            let _ = relay.outlet.send((message, unix_ns(), stored));
        }
    }

    /// Lets every room's appender write what is queued, then stops every relay: waits until the
    /// queues are empty and their last script calls returned, or `within` passed. A publish sent
    /// after this is dropped (the instance is stopping; its connections are gone).
    pub async fn flush(&self, within: Duration) {
        let rooms = std::mem::take(&mut *self.rooms.lock().unwrap_or_else(|e| e.into_inner()));
        let mut appenders = Vec::with_capacity(rooms.len());
        for relay in rooms.into_values() {
            let RoomRelay {
                outlet,
                tasks: [append, ingest],
            } = relay;
            // The appender ends once its queue is closed and empty.
            drop(outlet);
            ingest.abort();
            appenders.push(append);
        }
        let all = async {
            for append in appenders.iter_mut() {
                let _ = append.await;
            }
        };
        if tokio::time::timeout(within, all).await.is_err() {
            appenders.iter().for_each(JoinHandle::abort);
        }
    }

    /// Rooms with a running relay.
    pub fn rooms(&self) -> usize {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// An error of a relay task before it knows Redis's address.
enum TaskError {
    Redis(redis::RedisError),
    Entry { key: String, reason: String },
}

impl TaskError {
    fn at(self, addr: std::net::SocketAddr) -> BackplaneError {
        match self {
            TaskError::Redis(source) => BackplaneError::Redis { addr, source },
            TaskError::Entry { key, reason } => BackplaneError::Entry { key, reason },
        }
    }
}

impl From<redis::RedisError> for TaskError {
    fn from(e: redis::RedisError) -> Self {
        TaskError::Redis(e)
    }
}

struct Appender<M> {
    conn: MultiplexedConnection,
    stream: String,
    counter: String,
    bound: usize,
    codec: Codec<M>,
    stats: Arc<RelayStats>,
}

impl<M> Appender<M> {
    /// Appends queued messages in arrival order until the queue closes (the hub is gone).
    /// Each message's waiter (if any) is told once the script has returned: the log holds it.
    async fn run(mut self, mut queue: mpsc::UnboundedReceiver<Queued<M>>) -> Result<(), TaskError> {
        let script = redis::Script::new(APPEND);
        let mut batch = Vec::with_capacity(APPEND_BATCH);
        while let Some(first) = queue.recv().await {
            batch.push(first);
            while batch.len() < APPEND_BATCH {
                match queue.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            let mut call = script.prepare_invoke();
            call.key(&self.stream).key(&self.counter).arg(self.bound);
            for (message, at, _) in &batch {
                call.arg(*at)
                    .arg(u8::from((self.codec.text)(message)))
                    .arg((self.codec.payload)(message));
            }
            let _: u64 = call.invoke_async(&mut self.conn).await?;
            self.stats
                .appended
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            for (_, _, stored) in batch.drain(..) {
                if let Some(stored) = stored {
                    let _ = stored.send(());
                }
            }
        }
        Ok(())
    }
}

struct Ingest<M> {
    conn: MultiplexedConnection,
    stream: String,
    codec: Codec<M>,
    stats: Arc<RelayStats>,
    /// Entries published before this are replays: not counted in the hop latency.
    started_ns: u64,
}

impl<M> Ingest<M> {
    /// Reads the stream from its retained start, in order, for ever (or until Redis fails).
    async fn run(mut self, deliver: impl Fn(u64, M)) -> Result<(), TaskError> {
        let mut last = "0-0".to_string();
        loop {
            let reply: Value = redis::cmd("XREAD")
                .arg("COUNT")
                .arg(READ_COUNT)
                .arg("BLOCK")
                .arg(BLOCK.as_millis() as u64)
                .arg("STREAMS")
                .arg(&self.stream)
                .arg(&last)
                .query_async(&mut self.conn)
                .await?;
            let entries = entries(reply).map_err(|reason| TaskError::Entry {
                key: self.stream.clone(),
                reason,
            })?;
            let now = unix_ns();
            let mut hops = Vec::with_capacity(entries.len());
            for entry in entries {
                if entry.at_ns >= self.started_ns {
                    hops.push(now.saturating_sub(entry.at_ns) / 1000);
                }
                last = format!("{}-0", entry.seq);
                deliver(entry.seq, (self.codec.rebuild)(entry.payload, entry.text));
                self.stats.ingested.fetch_add(1, Ordering::Relaxed);
            }
            if !hops.is_empty() {
                let mut hist = self.stats.hop_us.lock().unwrap_or_else(|e| e.into_inner());
                for hop in hops {
                    // `record`, not `saturating_record`: only `record` grows the histogram.
                    let _ = hist.record(hop.max(1));
                }
            }
        }
    }
}

/// Now, in nanoseconds since the Unix epoch (0 if the clock is before it).
fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hop_histogram_keeps_long_hops() {
        let stats = RelayStats::default();
        let mut h = stats.hop_us.lock().unwrap();
        for hop in [1000u64, 1100, 1200, 5_000_000] {
            h.record(hop).unwrap();
        }
        let f = crate::metrics::instances::HopFigures::of(&h);
        assert_eq!((f.count, f.p50_us), (4, 1100));
        assert!(h.equivalent(f.max_us, 5_000_000), "{f:?}");
    }
}
