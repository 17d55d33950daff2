//! One instance's link to the shared log: an appender that writes what the instance's clients
//! publish, and an ingest task that reads the log back, in order, into the instance's hub.
//!
//! The appender batches whatever queued up while the previous append was in flight into one
//! script call (one round trip, however many messages), so under load the backplane costs a
//! round trip per batch, not per message. The ingest reads up to [`READ_COUNT`] entries per
//! `XREAD`. Each entry carries the publishing instance's wall-clock time of the publish, so the
//! reading instance measures the hop publish → Redis → instance (both on this machine's clock).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hdrhistogram::Histogram;
use redis::Value;
use redis::aio::MultiplexedConnection;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{BackplaneError, BackplaneUrl, counter_key, stream_key};
use crate::server::hub::Stored;

/// Appends the messages of one batch with consecutive numbers from the room's counter, each as
/// the entry `<seq>-0`, so the stream's entry ids are the hub's sequence numbers.
/// KEYS: stream, counter. ARGV: the stream's bound, then per message its publish time (unix ns),
/// whether it is text (1/0), and its bytes. Returns the last number given.
pub const APPEND: &str = r"
local count = (#ARGV - 1) / 3
local last = redis.call('INCRBY', KEYS[2], count)
for i = 0, count - 1 do
  local id = string.format('%d-0', last - count + 1 + i)
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], id,
    't', ARGV[2 + 3 * i], 'x', ARGV[3 + 3 * i], 'd', ARGV[4 + 3 * i])
end
return last
";

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

/// A running relay: stops (its tasks aborted) when dropped.
#[derive(Debug)]
pub struct Relay<M> {
    outlet: mpsc::UnboundedSender<Queued<M>>,
    failures: mpsc::Receiver<BackplaneError>,
    tasks: Vec<JoinHandle<()>>,
}

impl<M> Drop for Relay<M> {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl<M: Send + 'static> Relay<M> {
    /// Connects to the log at `url` (room `room`, kept to about `bound` entries) and starts the
    /// appender and the ingest, which replays what the log retains and then follows it, handing
    /// each entry to `deliver` with its number. Fails if Redis cannot be reached.
    pub async fn start(
        url: &BackplaneUrl,
        room: u32,
        bound: usize,
        codec: Codec<M>,
        stats: std::sync::Arc<RelayStats>,
        deliver: impl Fn(u64, M) + Send + 'static,
    ) -> Result<Self, BackplaneError> {
        let client = url.client()?;
        let redis_err = |source| BackplaneError::Redis {
            addr: url.addr,
            source,
        };
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(BLOCK * 2));
        let writer = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(redis_err)?;
        let reader = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(redis_err)?;
        let (outlet, queue) = mpsc::unbounded_channel();
        let (fail, failures) = mpsc::channel(2);
        let (addr, key) = (url.addr, stream_key(room));
        let append = Appender {
            conn: writer,
            stream: key.clone(),
            counter: counter_key(room),
            bound,
            codec,
            stats: stats.clone(),
        };
        let ingest = Ingest {
            conn: reader,
            stream: key,
            codec,
            stats,
            started_ns: unix_ns(),
        };
        let on_fail = |fail: mpsc::Sender<BackplaneError>| {
            move |e: BackplaneError| async move {
                let _ = fail.send(e).await;
            }
        };
        let (f1, f2) = (on_fail(fail.clone()), on_fail(fail));
        let tasks = vec![
            tokio::spawn(async move {
                if let Err(e) = append.run(queue).await {
                    f1(e.at(addr)).await;
                }
            }),
            tokio::spawn(async move {
                if let Err(e) = ingest.run(deliver).await {
                    f2(e.at(addr)).await;
                }
            }),
        ];
        Ok(Relay {
            outlet,
            failures,
            tasks,
        })
    }

    /// What the hub hands its publishes to ([`Hub::forward_to`](crate::server::hub::Hub::forward_to)):
    /// queues the message, stamped with the time of the publish, for the appender.
    pub fn outlet(&self) -> impl Fn(M, Option<Stored>) + Send + Sync + 'static {
        let outlet = self.outlet.clone();
        move |message, stored| {
            let _ = outlet.send((message, unix_ns(), stored));
        }
    }

    /// Completes when the relay has failed (Redis gone, a command refused): the instance can no
    /// longer publish or deliver, and should stop.
    pub async fn failed(&mut self) -> BackplaneError {
        match self.failures.recv().await {
            Some(e) => e,
            None => std::future::pending().await,
        }
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
    stats: std::sync::Arc<RelayStats>,
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
    stats: std::sync::Arc<RelayStats>,
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

/// One entry of the log, as the append script wrote it.
#[derive(Debug, PartialEq)]
pub(crate) struct Entry {
    pub seq: u64,
    pub at_ns: u64,
    pub text: bool,
    pub payload: Bytes,
}

/// The entries of an `XREAD` reply on one stream (none for a timed-out read).
pub(crate) fn entries(reply: Value) -> Result<Vec<Entry>, String> {
    let streams = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(streams) => streams,
        Value::Map(pairs) => pairs
            .into_iter()
            .map(|(k, v)| Value::Array(vec![k, v]))
            .collect(),
        other => return Err(format!("XREAD answered {other:?}")),
    };
    let mut out = Vec::new();
    for stream in streams {
        let Value::Array(mut pair) = stream else {
            return Err("a stream is not [key, entries]".into());
        };
        let Some(Value::Array(items)) = pair.pop() else {
            return Err("a stream has no entry list".into());
        };
        for item in items {
            out.push(entry(item)?);
        }
    }
    Ok(out)
}

fn entry(item: Value) -> Result<Entry, String> {
    let Value::Array(parts) = item else {
        return Err("an entry is not [id, fields]".into());
    };
    let mut parts = parts.into_iter();
    let (Some(Value::BulkString(id)), Some(Value::Array(fields))) = (parts.next(), parts.next())
    else {
        return Err("an entry is not [id, fields]".into());
    };
    let id = String::from_utf8_lossy(&id).into_owned();
    let seq = id
        .strip_suffix("-0")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("entry id {id} is not <seq>-0"))?;
    let (mut at_ns, mut text, mut payload) = (None, false, None);
    let mut fields = fields.into_iter();
    while let (Some(Value::BulkString(name)), Some(Value::BulkString(value))) =
        (fields.next(), fields.next())
    {
        match name.as_slice() {
            b"t" => {
                at_ns = std::str::from_utf8(&value)
                    .ok()
                    .and_then(|v| v.parse().ok())
            }
            b"x" => text = value == b"1",
            b"d" => payload = Some(Bytes::from(value)),
            _ => {}
        }
    }
    match (at_ns, payload) {
        (Some(at_ns), Some(payload)) => Ok(Entry {
            seq,
            at_ns,
            text,
            payload,
        }),
        _ => Err(format!("entry {id} lacks its time or its data")),
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

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

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

    #[test]
    fn xread_replies_become_numbered_entries() {
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("wsbench:room:0"),
            Value::Array(vec![
                Value::Array(vec![
                    bulk("7-0"),
                    Value::Array(vec![
                        bulk("t"),
                        bulk("123"),
                        bulk("x"),
                        bulk("1"),
                        bulk("d"),
                        bulk("hi"),
                    ]),
                ]),
                Value::Array(vec![
                    bulk("8-0"),
                    Value::Array(vec![
                        bulk("t"),
                        bulk("124"),
                        bulk("x"),
                        bulk("0"),
                        bulk("d"),
                        bulk(""),
                    ]),
                ]),
            ]),
        ])]);
        let got = entries(reply).unwrap();
        assert_eq!(
            got,
            vec![
                Entry {
                    seq: 7,
                    at_ns: 123,
                    text: true,
                    payload: Bytes::from_static(b"hi")
                },
                Entry {
                    seq: 8,
                    at_ns: 124,
                    text: false,
                    payload: Bytes::new()
                },
            ]
        );
        assert!(entries(Value::Nil).unwrap().is_empty());
        let foreign = Value::Array(vec![Value::Array(vec![
            bulk("k"),
            Value::Array(vec![Value::Array(vec![
                bulk("1700000000000-3"),
                Value::Array(vec![]),
            ])]),
        ])]);
        assert!(entries(foreign).unwrap_err().contains("not <seq>-0"));
    }
}
