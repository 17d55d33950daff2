//! The commands a run sends to a Redis it may not have started: whether it answers, and its own
//! count of the bytes it moved.

use std::time::Duration;

use super::{BackplaneError, BackplaneUrl};

/// Redis's own count of the bytes it received and sent (`INFO stats`), over every client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RedisBytes {
    /// `total_net_input_bytes`.
    pub input: u64,
    /// `total_net_output_bytes`.
    pub output: u64,
}

/// Whether the Redis at `url` answers a `PING` (within seconds).
pub async fn ping(url: &BackplaneUrl) -> Result<(), BackplaneError> {
    let mut conn = url.connect().await?;
    redis::cmd("PING")
        .query_async::<String>(&mut conn)
        .await
        .map(drop)
        .map_err(|source| BackplaneError::Redis {
            addr: url.addr,
            source,
        })
}

/// The bytes Redis at `url` has received and sent so far, by its own count.
pub async fn bytes(url: &BackplaneUrl) -> Result<RedisBytes, BackplaneError> {
    let mut conn = url.connect().await?;
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query_async(&mut conn)
        .await
        .map_err(|source| BackplaneError::Redis {
            addr: url.addr,
            source,
        })?;
    Ok(parse_bytes(&info))
}

/// [`bytes()`], blocking for at most about `within` (for a sampler that cannot await: a quick
/// `INFO` on loopback).
pub fn bytes_now(url: &BackplaneUrl, within: Duration) -> Result<RedisBytes, BackplaneError> {
    let redis_err = |source| BackplaneError::Redis {
        addr: url.addr,
        source,
    };
    let mut conn = url
        .client()?
        .get_connection_with_timeout(within)
        .map_err(redis_err)?;
    conn.set_read_timeout(Some(within)).map_err(redis_err)?;
    conn.set_write_timeout(Some(within)).map_err(redis_err)?;
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query(&mut conn)
        .map_err(redis_err)?;
    Ok(parse_bytes(&info))
}

fn parse_bytes(info: &str) -> RedisBytes {
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.trim().parse().ok())
            .unwrap_or(0)
    };
    RedisBytes {
        input: field("total_net_input_bytes"),
        output: field("total_net_output_bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_stats_give_the_byte_counts() {
        let info = "# Stats\r\ntotal_connections_received:3\r\ntotal_net_input_bytes:1234\r\ntotal_net_output_bytes:98765\r\n";
        assert_eq!(
            parse_bytes(info),
            RedisBytes {
                input: 1234,
                output: 98765
            }
        );
    }
}
