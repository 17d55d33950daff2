//! What one transport's load looks like and where it goes: the [`LoadPlan`] (from the scenario)
//! and the [`Target`] (a loopback address, the request paths, TLS and HTTP/2). Plain data that
//! the conductor and every client read; no I/O.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::ClientError;
use super::schedule::{Cadence, PublisherIds};
use super::shard::StartAt;
use super::spread::Spread;
use crate::codec::envelope::RunTag;
use crate::codec::payload::PayloadModel;
use crate::metrics::Slice;
use crate::protocol::{self, RoomId, TransportKind};
use crate::scenario::target::Endpoint;
use crate::scenario::template::PublishRule;
use crate::scenario::{DropFault, Network, Pattern, Rooms, Scenario, Transport};
use crate::wire::stamp::Clock;

/// What the load looks like for one transport (the scenario's common fields).
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// Receiving clients; publishers are among them.
    pub subscribers: u32,
    /// New connections per second during ramp-up.
    pub connect_rate: u32,
    /// Publishing clients.
    pub publishers: u32,
    /// Messages per second, all publishers together.
    pub rate: f64,
    /// Message size, envelope included.
    pub payload_bytes: usize,
    /// What fills each message around its envelope.
    pub payload: PayloadModel,
    /// Publishing, not recorded.
    pub warmup: Duration,
    /// Publishing and recorded.
    pub duration: Duration,
    /// Longest wait for in-flight messages after the last publish.
    pub drain: Duration,
    /// Longest time one connection attempt (TCP + handshake or join) may take.
    pub connect_timeout: Duration,
    /// Waits between reconnection attempts after a connection is lost.
    pub reconnect: crate::scenario::Backoff,
    /// The last this-many subscribers pause after every read (slow consumers).
    pub slow_readers: u32,
    /// How long a slow reader pauses after each read.
    pub slow_read_pause: Duration,
    /// This process's slice of a sharded run (`--shard`): the counts above are then the
    /// slice's. `None`: the whole run.
    pub shard: Option<Slice>,
    /// When publishing starts (`--start-at`); `None`: as soon as every client has connected.
    pub start_at: Option<StartAt>,
    /// The send pattern, churn and network: what makes the load look like a real one.
    pub shape: Shape,
    /// `[rooms]`: subscribers and publishers spread over rooms ([`LoadPlan::subscriber_room`],
    /// [`LoadPlan::publisher_room`]); `None`: one stream, and no room on the wire.
    pub rooms: Option<Rooms>,
    /// The tag this transport's messages carry; another run's messages (a server's replayed
    /// history) are `stale`. Fresh per plan; the run sets one per transport, derived alike by
    /// every shard.
    pub run: RunTag,
    /// Bucket each second's latency for a live view or scrape (`--live`, `--metrics`): off,
    /// the sampler does not compute them.
    pub live_buckets: bool,
}

/// The workload's shape beyond its size: how the sends are spaced, how many
/// connections churn, and the network between the clients and the server. The default is
/// today's plain load: steady sends, no churn, loopback as it is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    /// How the intended send times are spaced.
    pub pattern: Pattern,
    /// Seeds every random choice (Poisson send times, which connections churn, jitter).
    pub seed: u64,
    /// Connections per second, chosen at random, that close and rejoin during the measured phase.
    pub churn: u32,
    /// The path every client's bytes take to the server ([`crate::wire::delay`]).
    pub network: Network,
    /// Saturation mode: at most this many messages in flight instead of a rate
    /// ([`super::window`]).
    pub window: Option<u32>,
    /// `[clients] idle_phase`: every connection quiet this long before publishing starts.
    pub idle_phase: Option<Duration>,
    /// `[clients] idle`: connections beyond the subscribers, each in a room nobody publishes
    /// into ([`LoadPlan::idle_room`]), open through the measured phase: heartbeats only.
    pub idle: u32,
    /// `[clients] timestamps`: whose clock says when a message arrived, the kernel's receive
    /// stamp or the user-space read ([`crate::wire::stamp`]).
    pub timestamps: Clock,
    /// `[faults] drop`: connections reset abortively at every tick of the measured phase
    /// ([`super::drops`]).
    pub drop: Option<DropFault>,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            pattern: Pattern::Steady,
            seed: 1,
            churn: 0,
            network: Network::default(),
            window: None,
            idle_phase: None,
            idle: 0,
            timestamps: Clock::default(),
            drop: None,
        }
    }
}

impl LoadPlan {
    /// The plan a scenario describes.
    pub fn from_scenario(s: &Scenario) -> Self {
        LoadPlan {
            subscribers: s.clients.subscribers,
            connect_rate: s.clients.connect_rate,
            publishers: s.publish.publishers,
            rate: s.publish.rate,
            payload_bytes: s.publish.payload_bytes,
            payload: s.publish.payload.clone(),
            warmup: s.warmup,
            duration: s.duration,
            drain: s.drain,
            connect_timeout: Duration::from_secs(10),
            reconnect: s.clients.reconnect,
            slow_readers: s.clients.slow_readers,
            slow_read_pause: s.clients.slow_read_pause,
            shard: None,
            start_at: None,
            shape: Shape {
                pattern: s.publish.pattern,
                seed: s.seed,
                churn: s.clients.churn,
                network: s.network,
                window: s.publish.window,
                idle_phase: s.clients.idle_phase,
                idle: s.clients.idle,
                timestamps: s.clients.timestamps,
                drop: s.faults.drop,
            },
            rooms: s.rooms,
            run: RunTag::fresh(),
            live_buckets: false,
        }
    }

    /// Rooms publishers publish into: `0..room_count()` (1 without `[rooms]`). A subscriber may
    /// be placed in a room past these: nobody publishes there, and it expects nothing.
    pub fn room_count(&self) -> u32 {
        self.rooms.map_or(1, |r| r.count)
    }

    /// Subscriber connections: the subscribers, then the idle connections.
    pub fn subscribing(&self) -> u32 {
        self.subscribers + self.shape.idle
    }

    /// The room the idle connections are in: the first past the publishers' rooms.
    pub fn idle_room(&self) -> RoomId {
        RoomId(self.room_count())
    }

    /// The room of connection `index` of [`LoadPlan::subscribing`]: a subscriber's, or the idle
    /// room for the idle connections after them.
    pub fn connection_room(&self, index: u32) -> RoomId {
        if index < self.subscribers {
            self.subscriber_room(index)
        } else {
            self.idle_room()
        }
    }

    /// The room of this process's subscriber `index`: round robin over the run's subscribers by
    /// their global id (`index` in one process; the slice's first id + `index` in a shard), so
    /// rooms differ in size by one at most, every shard of a run derives the same rooms, and
    /// subscriber `p` (which carries publisher `p` on WebSocket and raw; a shard holds the
    /// publishers of its own subscribers, [`Slice::with_publishers_of_subscribers`]) is in
    /// publisher `p`'s room.
    pub fn subscriber_room(&self, index: u32) -> RoomId {
        let first = self.shard.as_ref().map_or(0, |s| s.subscribers.start);
        RoomId((first + index) % self.room_count())
    }

    /// The room publisher `p` publishes into: round robin over the rooms, the same rule as the
    /// subscribers'. With fewer publishers than rooms the last rooms have none.
    pub fn publisher_room(&self, publisher: u32) -> RoomId {
        RoomId(publisher % self.room_count())
    }

    /// The room as requests name it: `None` for room 0 without `[rooms]`, so a one-room run's
    /// requests carry no room (byte for byte those of before rooms). A connection placed in a
    /// room nobody publishes into names it either way.
    pub fn on_wire(&self, room: RoomId) -> Option<RoomId> {
        (self.rooms.is_some() || room != RoomId::LOBBY).then_some(room)
    }

    /// What every publisher's schedule is made from (the whole run's publishers: a shard's
    /// keep the one-process schedule).
    pub fn cadence(&self) -> Cadence {
        Cadence {
            publishers: self.publishers_total(),
            rate: self.rate,
            pattern: self.shape.pattern,
            seed: self.shape.seed,
        }
    }

    /// This plan cut to `slice`: its subscribers and publishers (the slow readers among them),
    /// connecting at the slice's share of the connect rate, so the shards together ramp up about
    /// as fast as one process would, and closing its share of the churn.
    pub fn sliced(self, slice: Slice) -> Self {
        let share = self.connect_rate.div_ceil(slice.count).max(1);
        // The closes a second cut like the subscribers, so the shards' add up to the run's.
        let cut = |i: u32| u64::from(self.shape.churn) * u64::from(i) / u64::from(slice.count);
        let churn = cut(slice.index + 1) - cut(slice.index);
        let idle = |i: u32| u64::from(self.shape.idle) * u64::from(i) / u64::from(slice.count);
        let idle = idle(slice.index + 1) - idle(slice.index);
        LoadPlan {
            subscribers: slice.subscribers_here(),
            publishers: slice.publishers_here(),
            slow_readers: slice.slow_here(self.slow_readers),
            connect_rate: share,
            shape: Shape {
                churn: u32::try_from(churn).unwrap_or(u32::MAX),
                idle: u32::try_from(idle).unwrap_or(u32::MAX),
                ..self.shape
            },
            shard: Some(slice),
            ..self
        }
    }

    /// The ids this process's publishers send as: `0..publishers`, or the slice's.
    pub fn own_publishers(&self) -> PublisherIds {
        match &self.shard {
            Some(slice) => slice.publishers.clone().into(),
            None => (0..self.publishers).into(),
        }
    }

    /// Publishers of the whole run: the schedule's `P`.
    pub fn publishers_total(&self) -> u32 {
        self.shard
            .as_ref()
            .map_or(self.publishers, |s| s.publishers_total)
    }
}

/// Where the clients connect. Only loopback addresses are accepted, unless the user allowed a
/// remote `[target]` on purpose (`--allow-remote`, for shards in pods that reach the server
/// through a Service address).
#[derive(Debug, Clone)]
pub struct Target {
    /// Which protocol the clients speak, with its client-side options (e.g. short-poll interval).
    pub transport: Transport,
    /// The server's address.
    pub addr: SocketAddr,
    /// Where on the server each request goes.
    pub paths: Paths,
    /// Sent as `Authorization: Bearer <token>` on every request and upgrade, if the server wants one.
    pub token: Option<String>,
    /// Speak HTTP/2 (h2c with prior knowledge, or h2 by ALPN over TLS): the HTTP transports'
    /// requests, or WebSocket by extended CONNECT (RFC 8441).
    pub http2: bool,
    /// WebSocket over HTTP/2: clients per HTTP/2 connection, each on its own stream (1: a
    /// connection each).
    pub streams_per_connection: u32,
    /// Connect over TLS with this configuration (it trusts the server's certificate and offers
    /// the right ALPN protocol); `None`: plain TCP.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The local addresses connections come from, in turn (shared: it counts what each made).
    pub sources: Arc<super::source::Sources>,
    /// Where each new connection goes: `addr`, or with several server instances reached
    /// directly (`balancer = "client"`), the next instance in turn (shared by every client).
    pub spread: Arc<Spread>,
    /// WebSocket: offer permessage-deflate, asking the server for this.
    pub deflate: Option<crate::codec::ws::negotiate::Offer>,
    /// Long-poll, short-poll and SSE: ask for answers in this coding (`Accept-Encoding: gzip`
    /// or `br`), and decode what comes back.
    pub compress: crate::codec::coding::Coding,
    /// Long-poll, short-poll, SSE and the publisher's POSTs over HTTP/3 (QUIC, to the UDP
    /// port of `addr`'s number), with `tls`'s trust and ALPN `h3`.
    pub http3: bool,
}

/// Request paths on the target server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// WebSocket upgrade.
    pub ws: String,
    /// Long- and short-poll reads.
    pub poll: String,
    /// HTTP publishing.
    pub publish: String,
    /// The SSE stream.
    pub events: String,
}

impl Default for Paths {
    /// The built-in servers' paths.
    fn default() -> Self {
        Paths {
            ws: protocol::WS_PATH.into(),
            poll: protocol::POLL_PATH.into(),
            publish: protocol::PUBLISH_PATH.into(),
            events: protocol::EVENTS_PATH.into(),
        }
    }
}

impl Target {
    /// The address the next connection dials.
    pub fn dial_addr(&self) -> SocketAddr {
        self.spread.next(self.addr)
    }
}

impl Target {
    /// A built-in server on a loopback address.
    pub fn new(transport: Transport, addr: SocketAddr) -> Result<Self, ClientError> {
        if !addr.ip().is_loopback() {
            return Err(ClientError::NotLoopback(addr));
        }
        Ok(Target::at(transport, addr))
    }

    /// A target at `addr`, wherever it is: only for addresses already checked.
    fn at(transport: Transport, addr: SocketAddr) -> Self {
        Target {
            transport,
            addr,
            paths: Paths::default(),
            token: None,
            http2: false,
            streams_per_connection: 1,
            tls: None,
            sources: Arc::default(),
            spread: Arc::default(),
            deflate: None,
            compress: crate::codec::coding::Coding::Identity,
            http3: false,
        }
    }

    /// A server wsbench did not start, at a `[target]` endpoint: on loopback, or elsewhere when
    /// the scenario was loaded with `--allow-remote` (the endpoint says so).
    pub fn external(transport: Transport, endpoint: &Endpoint) -> Result<Self, ClientError> {
        let kind = transport.kind();
        let mut target = if endpoint.remote_allowed {
            Target::at(transport, endpoint.addr)
        } else {
            Target::new(transport, endpoint.addr)?
        };
        target.paths = match &target.transport {
            // nchan's locations are relative to its base URL, `{room}` standing for the channel.
            Transport::Nchan(n) => {
                let base = endpoint.path.trim_end_matches('/');
                let subscribe = format!("{base}{}", n.subscribe);
                Paths {
                    ws: subscribe.clone(),
                    poll: subscribe.clone(),
                    publish: format!("{base}{}", n.publish),
                    events: subscribe,
                }
            }
            // A template's subscribe path serves every subscriber, `{room}` in place.
            Transport::Template(t) => Paths {
                ws: t.subscribe.clone(),
                poll: t.subscribe.clone(),
                publish: match &t.publish {
                    PublishRule::Post { path, .. } => path.clone(),
                    PublishRule::Frame(_) => String::new(),
                },
                events: t.subscribe.clone(),
            },
            _ => Paths {
                ws: endpoint.path.clone(),
                poll: endpoint.http_path(kind, "poll"),
                publish: endpoint.http_path(kind, "publish"),
                events: endpoint.path.clone(),
            },
        };
        Ok(target)
    }

    /// Which protocol the clients speak.
    pub fn kind(&self) -> TransportKind {
        self.transport.kind()
    }

    /// Whether its WebSocket or raw subscribers ask to be resumable (`[transports.ws] resume`,
    /// `[transports.raw] resume`).
    pub fn resumes(&self) -> bool {
        matches!(
            self.transport,
            Transport::Ws { resume: true, .. } | Transport::Raw { resume: true }
        )
    }

    /// Whether a publisher sends on its own subscriber connection (WebSocket, raw, Socket.IO),
    /// rather than `POST`ing on a keep-alive connection of its own (HTTP transports, and every
    /// nchan mode: nchan publishes what reaches its publisher location).
    pub fn publishes_on_subscriber(&self) -> bool {
        match &self.transport {
            Transport::Template(t) => matches!(t.publish, PublishRule::Frame(_)),
            _ => matches!(
                self.kind(),
                TransportKind::Ws | TransportKind::Raw | TransportKind::SocketIo
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_spread_subscribers_and_publishers_round_robin_and_name_the_room_only_with_rooms() {
        let scenario = crate::scenario::parse(
            std::path::Path::new("x.toml"),
            "duration = \"2s\"\n[clients]\nsubscribers = 10\n[publish]\npublishers = 3\n\
             rate = 30\n[transports.ws]\n[rooms]\nmembers = 3\n",
        )
        .unwrap();
        let plan = LoadPlan::from_scenario(&scenario);
        assert_eq!(plan.room_count(), 4);
        let mut members = [0; 4];
        for i in 0..plan.subscribers {
            members[plan.subscriber_room(i).0 as usize] += 1;
        }
        assert_eq!(members, [3, 3, 2, 2]);
        // A WebSocket publisher rides subscriber p's connection: the same room.
        for p in 0..plan.publishers {
            assert_eq!(plan.publisher_room(p), plan.subscriber_room(p));
        }
        assert_eq!(plan.on_wire(RoomId(2)), Some(RoomId(2)));
        let plain = LoadPlan {
            rooms: None,
            ..plan
        };
        assert_eq!(
            (plain.room_count(), plain.subscriber_room(7)),
            (1, RoomId(0))
        );
        assert_eq!(plain.on_wire(RoomId(0)), None);
        // A connection placed where nobody publishes (an idle one) still names its room.
        assert_eq!(plain.on_wire(RoomId(9)), Some(RoomId(9)));
    }

    #[test]
    fn shards_close_their_share_of_the_churn_and_keep_the_run_s_cadence() {
        let scenario = crate::scenario::parse(
            std::path::Path::new("x.toml"),
            "duration = \"2s\"\n[clients]\nsubscribers = 30\nchurn = 10\n\
             [publish]\npublishers = 3\nrate = 30\npattern = \"poisson\"\n[transports.ws]\n",
        )
        .unwrap();
        let whole = LoadPlan::from_scenario(&scenario);
        let shards: Vec<LoadPlan> = (0..3)
            .map(|i| whole.clone().sliced(Slice::new(i, 3, 30, 3).unwrap()))
            .collect();
        let churn: Vec<u32> = shards.iter().map(|p| p.shape.churn).collect();
        assert_eq!(churn, [3, 3, 4]);
        for shard in &shards {
            assert_eq!(shard.cadence(), whole.cadence());
        }
    }
}
