//! The backplane's vocabulary: where the shared log lives ([`BackplaneUrl`]), the names of its
//! keys ([`Keys`]), the format of its entries ([`entry`]), and the few commands a run sends to a
//! Redis it did not start (is it there, its byte counters, deleting a run's keys: [`probe`],
//! [`keys::delete`]). A leaf: it imports nothing of the crate, so both the server's relay and the
//! run's helper programs (`program`) can use it.
//!
//! # How the shared log works
//! One ordered log (a Redis Stream per room) that every server instance publishes into and reads
//! back from, so a message published on one instance reaches the subscribers of every instance,
//! numbered alike everywhere.
//! - Each instance keeps its own hub. With a backplane the hub's publishes go to its outlet: the
//!   server's relay (`server::relay`) appends them to the room's stream with one Lua script
//!   ([`entry::APPEND`]) that numbers them from a counter and adds each with the explicit entry
//!   id `<seq>-0`. The stream entry id *is* the hub sequence number, the long-poll cursor and the
//!   SSE `Last-Event-ID`.
//! - One ingest task per room and instance reads the room's stream in order (`XREAD BLOCK`) from
//!   its retained start and stores each entry at its number. So every instance's ring holds the
//!   same messages under the same numbers, and a client that reconnects to another instance
//!   resumes with the cursor it had: nothing lost, nothing twice.
//! - WebSocket and raw use the same stream although pub/sub would do for them (they join at the
//!   end and keep no cursor across instances): one mechanism, one cost to measure.
//! - The stream is trimmed (`MAXLEN ~`) to about the ring's size: Redis's memory is bounded as
//!   the hub's is, and a reader further behind sees the gap as missed messages.
//!
//! Keys are per room (`{prefix}:room:{K}`, its counter `{prefix}:room:{K}:seq`: [`Keys`]), and
//! so are the relays: an instance starts a room's when it first has the room. `wsbench run`
//! gives each transport run its own prefix, so runs sharing an existing Redis never see each
//! other's messages, and deletes its keys at the end.
//!
//! The processes (a private `redis-server`, HAProxy) are started by [`crate::program`].

pub mod entry;
pub mod keys;
pub mod probe;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

pub use keys::Keys;
pub use probe::RedisBytes;

/// Why the backplane could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BackplaneError {
    /// The URL is not `redis://IP:PORT[/DB]`.
    #[error("backplane URL {url:?}: {reason}")]
    Url {
        /// As given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The URL names a Redis off loopback, and `--allow-remote` was not given.
    #[error(
        "backplane URL {0:?} is not on loopback: wsbench sends nothing off loopback without --allow-remote"
    )]
    NotLoopback(String),
    /// Talking to Redis failed (connection refused, a command's error, a lost connection).
    #[error("redis at {addr}: {source}")]
    Redis {
        /// Where.
        addr: SocketAddr,
        /// The client's error.
        #[source]
        source: redis::RedisError,
    },
    /// A key prefix (`--key-prefix`) that is empty, too long or has characters other than
    /// `A-Z a-z 0-9 _ . : -`.
    #[error("key prefix {0:?}: 1 to 128 characters from A-Z a-z 0-9 _ . : - (no glob characters)")]
    KeyPrefix(String),
    /// An entry read from the stream is not one this relay wrote.
    #[error("stream {key}: malformed entry: {reason}")]
    Entry {
        /// The stream.
        key: String,
        /// What was wrong.
        reason: String,
    },
}

/// Where the shared log lives: a Redis reached by IP address (no name lookups).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackplaneUrl {
    /// Redis's address.
    pub addr: SocketAddr,
    /// The logical database (`/DB` in the URL), 0 by default.
    pub db: u16,
}

impl BackplaneUrl {
    /// Parses `redis://IP:PORT[/DB]`; refuses an address off loopback unless `allow_remote`.
    pub fn parse(url: &str, allow_remote: bool) -> Result<Self, BackplaneError> {
        let bad = |reason: &str| BackplaneError::Url {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let rest = url.strip_prefix("redis://").ok_or_else(|| {
            bad("must start with redis:// (TLS and Unix sockets are not supported)")
        })?;
        let (host, db) = match rest.split_once('/') {
            Some((host, "")) => (host, 0),
            Some((host, db)) => (
                host,
                db.parse()
                    .map_err(|_| bad("the database must be a number"))?,
            ),
            None => (rest, 0),
        };
        if host.contains('@') {
            return Err(bad("credentials are not supported"));
        }
        let addr: SocketAddr = host
            .parse()
            .map_err(|_| bad("the host must be IP:PORT (e.g. 127.0.0.1:6379; no names)"))?;
        if !allow_remote && !addr.ip().is_loopback() {
            return Err(BackplaneError::NotLoopback(url.to_string()));
        }
        Ok(BackplaneUrl { addr, db })
    }

    /// A Redis on this host's loopback at `port`, database 0.
    pub fn loopback(port: u16) -> Self {
        BackplaneUrl {
            addr: SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), port),
            db: 0,
        }
    }

    /// The client's connection info.
    pub fn client(&self) -> Result<redis::Client, BackplaneError> {
        use redis::IntoConnectionInfo;
        let redis_err = |source| BackplaneError::Redis {
            addr: self.addr,
            source,
        };
        let info = redis::ConnectionAddr::Tcp(self.addr.ip().to_string(), self.addr.port())
            .into_connection_info()
            .map_err(redis_err)?
            .set_redis_settings(redis::RedisConnectionInfo::default().set_db(i64::from(self.db)));
        redis::Client::open(info).map_err(redis_err)
    }

    /// A connection for a few commands, failing within seconds if Redis does not answer.
    pub async fn connect(&self) -> Result<redis::aio::MultiplexedConnection, BackplaneError> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)));
        self.client()?
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|source| BackplaneError::Redis {
                addr: self.addr,
                source,
            })
    }
}

impl std::fmt::Display for BackplaneUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "redis://{}", self.addr)?;
        if self.db != 0 {
            write!(f, "/{}", self.db)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_ip_and_port_on_loopback_unless_allowed() {
        let url = BackplaneUrl::parse("redis://127.0.0.1:6379", false).unwrap();
        assert_eq!((url.addr.port(), url.db), (6379, 0));
        assert_eq!(url.to_string(), "redis://127.0.0.1:6379");
        let url = BackplaneUrl::parse("redis://[::1]:7000/3", false).unwrap();
        assert_eq!((url.addr.port(), url.db), (7000, 3));
        assert_eq!(url.to_string(), "redis://[::1]:7000/3");
        assert!(matches!(
            BackplaneUrl::parse("redis://10.0.0.5:6379", false),
            Err(BackplaneError::NotLoopback(_))
        ));
        assert_eq!(
            BackplaneUrl::parse("redis://10.0.0.5:6379", true)
                .unwrap()
                .addr
                .ip()
                .to_string(),
            "10.0.0.5"
        );
        for bad in [
            "http://127.0.0.1:6379",
            "redis://localhost:6379",
            "redis://127.0.0.1",
            "redis://u:p@127.0.0.1:6379",
            "redis://127.0.0.1:6379/x",
            "rediss://127.0.0.1:6379",
        ] {
            let e = BackplaneUrl::parse(bad, true).unwrap_err();
            assert!(matches!(e, BackplaneError::Url { .. }), "{bad}: {e}");
        }
    }
}
