//! The workload's shape beyond its rate: `[publish] pattern` (how send times are spaced) and
//! `[network] bandwidth` (how fast a connection's bytes cross), read from the TOML values that
//! take more than one form, and written back.
//!
//! Owns [`Pattern`] and the parsing of both values into typed ones, with messages that say what
//! is allowed; which line an error names, and the ranges that span fields, are
//! [`rules`](super::rules)'. Knows nothing of schedules or sockets: the client turns a pattern
//! into send times, and `wire::delay` a bandwidth into arrival times.

use std::time::Duration;

/// `[publish] pattern`: how the publishers' intended send times are spaced. Latency is always
/// measured from the intended time, so a burst that outruns a transport shows as latency (no
/// coordinated omission).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum Pattern {
    /// Evenly spaced at `rate` (`"steady"`).
    #[default]
    Steady,
    /// A Poisson process at `rate` on average (`"poisson"`): independent, exponentially
    /// distributed gaps, drawn from the scenario's `seed`, so a rerun sends at the same times.
    Poisson,
    /// `{ burst = 20, every = "5s" }`: `burst` messages at `rate`, one burst every `every`
    /// (from the first message of one burst to the first of the next).
    Bursts {
        /// Messages per burst, all publishers together.
        burst: u32,
        /// From one burst's start to the next's.
        every: Duration,
    },
}

impl Pattern {
    /// The messages per second over a long run, given `rate` (for bursts, `burst / every`).
    pub fn average_rate(&self, rate: f64) -> f64 {
        match self {
            Pattern::Steady | Pattern::Poisson => rate,
            Pattern::Bursts { burst, every } => f64::from(*burst) / every.as_secs_f64(),
        }
    }

    /// The value as a scenario file writes it.
    pub fn toml_value(&self) -> toml::Value {
        match self {
            Pattern::Steady => toml::Value::String("steady".into()),
            Pattern::Poisson => toml::Value::String("poisson".into()),
            Pattern::Bursts { burst, every } => {
                let mut table = toml::Table::new();
                table.insert("burst".into(), toml::Value::Integer(i64::from(*burst)));
                let every = humantime::format_duration(*every).to_string();
                table.insert("every".into(), toml::Value::String(every));
                toml::Value::Table(table)
            }
        }
    }

    /// A short description for the model line: `poisson`, `bursts of 20 every 5s`.
    pub fn describe(&self) -> String {
        match self {
            Pattern::Steady => "steady".into(),
            Pattern::Poisson => "poisson".into(),
            Pattern::Bursts { burst, every } => {
                format!(
                    "bursts of {burst} every {}",
                    humantime::format_duration(*every)
                )
            }
        }
    }
}

/// Reads a `pattern` value: `"steady"`, `"poisson"` or `{ burst = N, every = "<duration>" }`.
/// Ranges are checked here too (burst 1..=1,000,000, every 1ms..=1h); the rule between a burst
/// and the rate is the caller's. The message starts after the field's name.
pub fn parse_pattern(v: &toml::Value) -> Result<Pattern, String> {
    const EXPECTED: &str = r#"expected "steady", "poisson" or { burst = 20, every = "5s" }"#;
    let table = match v {
        toml::Value::String(s) if s == "steady" => return Ok(Pattern::Steady),
        toml::Value::String(s) if s == "poisson" => return Ok(Pattern::Poisson),
        toml::Value::Table(t) => t,
        other => return Err(format!("{EXPECTED} (got {other})")),
    };
    if let Some(key) = table
        .keys()
        .find(|k| !["burst", "every"].contains(&k.as_str()))
    {
        return Err(format!("unknown key `{key}`: {EXPECTED}"));
    }
    let burst = match table.get("burst") {
        Some(toml::Value::Integer(n)) if (1..=1_000_000).contains(n) => {
            u32::try_from(*n).map_err(|_| format!("burst must be at most 1000000 (got {n})"))?
        }
        Some(toml::Value::Integer(n)) => {
            return Err(format!("burst must be between 1 and 1000000 (got {n})"));
        }
        Some(other) => return Err(format!("burst must be an integer (got {other})")),
        None => return Err(format!("a burst needs both keys: {EXPECTED}")),
    };
    let every = match table.get("every") {
        Some(toml::Value::String(s)) => humantime::parse_duration(s)
            .map_err(|e| format!("every: invalid duration {s:?}: {e}"))?,
        Some(other) => return Err(format!("every must be a duration string (got {other})")),
        None => return Err(format!("a burst needs both keys: {EXPECTED}")),
    };
    let (min, max) = (Duration::from_millis(1), Duration::from_secs(3600));
    if !(min..=max).contains(&every) {
        return Err(format!(
            "every must be between 1ms and 1h (got {})",
            humantime::format_duration(every)
        ));
    }
    Ok(Pattern::Bursts { burst, every })
}

/// Least and most `[network] bandwidth`, bytes per second: 1 kB/s to 10 GB/s.
pub const BANDWIDTH: std::ops::RangeInclusive<u64> = 1_000..=10_000_000_000;

/// Reads a `bandwidth` value into bytes per second: an integer (bytes per second) or a string
/// such as `"10Mbit/s"`, `"1.5MB/s"` or `"500kB/s"` (decimal prefixes k, M, G; `B` bytes,
/// `bit` bits). The message starts after the field's name.
pub fn parse_bandwidth(v: &toml::Value) -> Result<u64, String> {
    const EXPECTED: &str =
        r#"must be bytes per second (an integer) or a rate such as "10Mbit/s" or "1MB/s""#;
    let bytes_per_s = match v {
        toml::Value::Integer(n) => *n as f64,
        toml::Value::String(s) => parse_rate(s).ok_or_else(|| format!("{EXPECTED} (got {s:?})"))?,
        other => return Err(format!("{EXPECTED} (got {other})")),
    };
    let (min, max) = (*BANDWIDTH.start(), *BANDWIDTH.end());
    if !(min as f64..=max as f64).contains(&bytes_per_s) {
        return Err(format!(
            "must be between {min} and {max} bytes per second (got {bytes_per_s})"
        ));
    }
    Ok(bytes_per_s.round() as u64)
}

/// `"<number><prefix><unit>/s"` in bytes per second; `None` if it is not one.
fn parse_rate(s: &str) -> Option<f64> {
    let per_s = s.trim().strip_suffix("/s")?;
    let split = per_s.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = per_s.split_at(split);
    let number: f64 = number.trim().parse().ok()?;
    let (scale, unit) = match unit.chars().next()? {
        'k' => (1e3, &unit[1..]),
        'M' => (1e6, &unit[1..]),
        'G' => (1e9, &unit[1..]),
        _ => (1.0, unit),
    };
    let bytes = match unit {
        "B" => 1.0,
        "bit" => 0.125,
        _ => return None,
    };
    (number.is_finite() && number >= 0.0).then_some(number * scale * bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toml(text: &str) -> toml::Value {
        let table: toml::Table = toml::from_str(&format!("v = {text}")).unwrap();
        table["v"].clone()
    }

    #[test]
    fn patterns_read_and_write_back() {
        for (text, pattern) in [
            (r#""steady""#, Pattern::Steady),
            (r#""poisson""#, Pattern::Poisson),
            (
                r#"{ burst = 20, every = "5s" }"#,
                Pattern::Bursts {
                    burst: 20,
                    every: Duration::from_secs(5),
                },
            ),
        ] {
            assert_eq!(parse_pattern(&toml(text)), Ok(pattern));
            assert_eq!(parse_pattern(&pattern.toml_value()), Ok(pattern));
        }
    }

    #[test]
    fn bad_patterns_say_what_is_allowed() {
        let err = |text| parse_pattern(&toml(text)).unwrap_err();
        assert!(err(r#""bursty""#).starts_with("expected \"steady\", \"poisson\" or"));
        assert!(err(r#"{ burst = 20 }"#).starts_with("a burst needs both keys"));
        assert!(err(r#"{ burst = 20, every = "5s", size = 1 }"#).starts_with("unknown key `size`"));
        assert_eq!(
            err(r#"{ burst = 0, every = "5s" }"#),
            "burst must be between 1 and 1000000 (got 0)"
        );
        assert_eq!(
            err(r#"{ burst = 2, every = "0s" }"#),
            "every must be between 1ms and 1h (got 0s)"
        );
        assert!(err(r#"{ burst = 2, every = "soon" }"#).starts_with("every: invalid duration"));
    }

    #[test]
    fn bandwidths_in_bytes_or_bits_per_second() {
        let read = |text| parse_bandwidth(&toml(text));
        assert_eq!(read("125000"), Ok(125_000));
        assert_eq!(read(r#""1Mbit/s""#), Ok(125_000));
        assert_eq!(read(r#""1.5MB/s""#), Ok(1_500_000));
        assert_eq!(read(r#""500kB/s""#), Ok(500_000));
        assert_eq!(read(r#""10 Gbit/s""#), Ok(1_250_000_000));
        assert!(
            read(r#""fast""#)
                .unwrap_err()
                .starts_with("must be bytes per second")
        );
        assert!(
            read("10")
                .unwrap_err()
                .starts_with("must be between 1000 and")
        );
        assert!(read(r#""1Mbps""#).is_err());
    }
}
