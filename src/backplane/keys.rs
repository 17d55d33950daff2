//! Where one run's streams live in Redis: every key starts with a prefix, so runs (or transports
//! of one run) sharing a Redis never read each other's messages, and a run can find and delete
//! exactly the keys it made when it ends.

use super::{BackplaneError, BackplaneUrl};

/// Longest key prefix: a key is the prefix, `:room:`, a room number and maybe `:seq`.
const MAX_PREFIX: usize = 128;

/// The keys of one shared log: room `K`'s stream `{prefix}:room:{K}` and its counter
/// `{prefix}:room:{K}:seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

impl Default for Keys {
    /// `wsbench`: what `wsbench serve --backplane` uses unless given `--key-prefix`.
    fn default() -> Self {
        Keys {
            prefix: "wsbench".into(),
        }
    }
}

impl Keys {
    /// Keys under `prefix`: 1 to 128 characters from `A-Z a-z 0-9 _ . : -`, so the prefix is
    /// never a glob pattern when the run's keys are looked up to be deleted.
    pub fn new(prefix: &str) -> Result<Keys, BackplaneError> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "_.:-".contains(c);
        if prefix.is_empty() || prefix.len() > MAX_PREFIX || !prefix.chars().all(allowed) {
            return Err(BackplaneError::KeyPrefix(prefix.to_string()));
        }
        Ok(Keys {
            prefix: prefix.to_string(),
        })
    }

    /// The prefix, as given.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The stream of room `room`.
    pub fn stream(&self, room: u32) -> String {
        format!("{}:room:{room}", self.prefix)
    }

    /// The counter that numbers room `room`'s messages.
    pub fn counter(&self, room: u32) -> String {
        format!("{}:room:{room}:seq", self.prefix)
    }

    /// The `SCAN MATCH` pattern of every key of this log (streams and counters of every room).
    fn pattern(&self) -> String {
        format!("{}:room:*", self.prefix)
    }
}

/// Most keys one `SCAN` step looks at (a hint to Redis) and one `UNLINK` removes.
const BATCH: usize = 1000;

/// Deletes every key of `keys` from the Redis at `url` (`SCAN` then `UNLINK`); returns how many
/// it removed. What a run does at its end with a Redis it did not start.
pub async fn delete(url: &BackplaneUrl, keys: &Keys) -> Result<u64, BackplaneError> {
    let mut conn = url.connect().await?;
    let redis_err = |source| BackplaneError::Redis {
        addr: url.addr,
        source,
    };
    let (mut cursor, mut deleted) = (0u64, 0u64);
    loop {
        let (next, found): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(keys.pattern())
            .arg("COUNT")
            .arg(BATCH)
            .query_async(&mut conn)
            .await
            .map_err(redis_err)?;
        for chunk in found.chunks(BATCH) {
            let n: u64 = redis::cmd("UNLINK")
                .arg(chunk)
                .query_async(&mut conn)
                .await
                .map_err(redis_err)?;
            deleted += n;
        }
        if next == 0 {
            return Ok(deleted);
        }
        cursor = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_the_prefix_and_refuse_glob_characters() {
        let keys = Keys::default();
        assert_eq!(keys.stream(0), "wsbench:room:0");
        assert_eq!(keys.counter(4), "wsbench:room:4:seq");
        let keys = Keys::new("wsbench:123-abc:sse-tls").unwrap();
        assert_eq!(keys.stream(7), "wsbench:123-abc:sse-tls:room:7");
        assert_eq!(keys.counter(7), "wsbench:123-abc:sse-tls:room:7:seq");
        assert_eq!(keys.pattern(), "wsbench:123-abc:sse-tls:room:*");
        for bad in ["", "a*", "a?b", "a[b]", "a b", "a\\b", &"x".repeat(129)] {
            assert!(
                matches!(Keys::new(bad), Err(BackplaneError::KeyPrefix(_))),
                "{bad:?}"
            );
        }
    }
}
