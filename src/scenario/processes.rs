//! `[clients] processes`: how many generator processes a run's clients are spread over.
//!
//! One process may hold only so many descriptors (the open-file limit, at most `fs.nr_open`),
//! and every client connection is one. Past that, `wsbench run` starts generator children
//! itself, each running one shard of the load ([`crate::client::shard`]), and merges their
//! results. Owns the setting, reading the key's value and the count `"auto"` comes to for given
//! figures; starting the children is `run`'s.

/// Most generator processes a scenario may ask for: a shard's loopback addresses are
/// 127.`i / 256`.`i % 256`.k, and a few dozen already hold millions of connections.
pub const MAX_PROCESSES: u32 = 64;

/// How the clients are spread over processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Processes {
    /// One process while the connections fit under its descriptor limit, else as few as hold
    /// them ([`Processes::count`]). The default.
    #[default]
    Auto,
    /// `processes = N`: exactly N generator processes, whatever the connection count (1: the
    /// run stays in one process and is refused past its limit).
    Count(u32),
}

impl Processes {
    /// The key's value as written back in a scenario file.
    pub fn toml_value(self) -> toml::Value {
        match self {
            Processes::Auto => toml::Value::String("auto".into()),
            Processes::Count(n) => toml::Value::Integer(i64::from(n)),
        }
    }

    /// The generator processes for `connections` client connections when one process may open
    /// `per_process` of them (its descriptor limit less what it keeps spare): a count as given,
    /// or for `Auto` the fewest that hold them, each at most `per_process`.
    pub fn count(self, connections: u64, per_process: u64) -> u32 {
        match self {
            Processes::Count(n) => n,
            Processes::Auto => {
                let needed = connections.div_ceil(per_process.max(1)).max(1);
                u32::try_from(needed).unwrap_or(u32::MAX)
            }
        }
    }
}

/// Reads the key's value: `"auto"` or a count from 1 to [`MAX_PROCESSES`]. The error says what
/// is wrong, starting with the key, for the caller to locate.
pub fn parse(value: &toml::Value) -> Result<Processes, String> {
    const KEY: &str = "[clients] processes";
    match value {
        toml::Value::String(s) if s == "auto" => Ok(Processes::Auto),
        toml::Value::Integer(n) => match u32::try_from(*n) {
            Ok(n) if (1..=MAX_PROCESSES).contains(&n) => Ok(Processes::Count(n)),
            _ => Err(format!(
                "{KEY} must be \"auto\" or between 1 and {MAX_PROCESSES} (got {n})"
            )),
        },
        other => Err(format!(
            "{KEY} must be \"auto\" or a count of generator processes (got {other})"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_takes_the_fewest_processes_that_hold_the_connections() {
        // 20,000 open files less 64 spare: 19,936 connections per process.
        let per = 20_000 - 64;
        assert_eq!(Processes::Auto.count(19_936, per), 1);
        assert_eq!(Processes::Auto.count(19_937, per), 2);
        assert_eq!(Processes::Auto.count(101_000, per), 6);
        assert_eq!(Processes::Auto.count(0, per), 1);
        assert_eq!(Processes::Count(3).count(10, per), 3);
        assert_eq!(Processes::Count(1).count(101_000, per), 1);
    }

    #[test]
    fn the_key_reads_auto_or_a_count() {
        let int = toml::Value::Integer;
        assert_eq!(parse(&"auto".into()), Ok(Processes::Auto));
        assert_eq!(parse(&int(3)), Ok(Processes::Count(3)));
        assert!(parse(&int(0)).unwrap_err().contains("between 1 and 64"));
        assert!(parse(&int(65)).unwrap_err().contains("(got 65)"));
        assert!(parse(&"many".into()).unwrap_err().contains("\"auto\""));
        for p in [Processes::Auto, Processes::Count(7)] {
            assert_eq!(parse(&p.toml_value()), Ok(p));
        }
    }
}
