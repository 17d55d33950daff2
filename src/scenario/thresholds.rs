//! `[thresholds]`: pass/fail limits on result columns, so a run can gate a CI pipeline (as k6's
//! thresholds do).
//!
//! ```toml
//! [thresholds]
//! latency_p99_us = 50000                  # a number: the column must be at most this
//! lost = 0
//! deliveries_per_server_cpu_s = ">= 90000" # or a comparison: <, <=, >, >=, ==
//! [thresholds.ws]                          # limits for one transport, replacing the common ones
//! latency_p99_us = 20000
//! [thresholds.longpoll-h2-tls]             # keyed by label: one variant of a transport
//! latency_p99_us = 30000
//! ```
//!
//! A threshold names a numeric `summary.csv` column. Owns reading the table and checking a
//! result against a limit; knows nothing of lines (the caller places errors), and the run decides
//! what a failure means (a non-zero exit).

use std::collections::BTreeMap;
use std::fmt;

use super::file::{Source, Sourced};

/// How a column is compared with its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=` (also a bare number)
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
        }
    }
}

/// One limit on one column, for every transport or for one.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The `summary.csv` column.
    pub metric: String,
    /// The comparison.
    pub op: Op,
    /// The limit.
    pub limit: f64,
    /// The transport label (`longpoll-h2`) this limit is for; `None`: every transport run
    /// without its own limit on this column.
    pub transport: Option<String>,
}

impl Threshold {
    /// Whether `value` holds; a figure that does not exist (an empty cell) never does.
    pub fn holds(&self, value: Option<f64>) -> bool {
        let Some(v) = value else { return false };
        match self.op {
            Op::Lt => v < self.limit,
            Op::Le => v <= self.limit,
            Op::Gt => v > self.limit,
            Op::Ge => v >= self.limit,
            Op::Eq => v == self.limit,
        }
    }

    /// The value as it would be written in a scenario file (a whole number as an integer).
    pub fn toml_value(&self) -> toml::Value {
        // Within ±2^53 every whole f64 is exactly an i64, and back.
        let whole = self.limit.fract() == 0.0 && self.limit.abs() < 9_007_199_254_740_992.0;
        match self.op {
            Op::Le if whole => toml::Value::Integer(self.limit as i64),
            Op::Le => toml::Value::Float(self.limit),
            op => toml::Value::String(format!("{} {}", op.symbol(), self.limit)),
        }
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.metric, self.op.symbol(), self.limit)
    }
}

/// Parses a threshold value: a number (at most), or a string such as `">= 90000"`.
pub fn parse_limit(value: &toml::Value) -> Result<(Op, f64), String> {
    let (op, number) = match value {
        toml::Value::Integer(i) => (Op::Le, *i as f64),
        toml::Value::Float(x) => (Op::Le, *x),
        toml::Value::String(s) => {
            let s = s.trim();
            let ops = [
                ("<=", Op::Le),
                (">=", Op::Ge),
                ("==", Op::Eq),
                ("<", Op::Lt),
                (">", Op::Gt),
            ];
            let (op, rest) = ops
                .iter()
                .find_map(|(sym, op)| s.strip_prefix(sym).map(|rest| (*op, rest)))
                .ok_or_else(|| format!("{s:?} must start with <, <=, >, >= or =="))?;
            let n = rest
                .trim()
                .parse::<f64>()
                .map_err(|_| format!("{s:?}: {:?} is not a number", rest.trim()))?;
            (op, n)
        }
        other => {
            return Err(format!(
                "expected a number or a comparison string, got a {}",
                other.type_str()
            ));
        }
    };
    if !number.is_finite() {
        return Err("the limit must be a finite number".into());
    }
    Ok((op, number))
}

/// Reads `[thresholds]`, in key order: each entry must name a numeric `summary.csv` column and
/// hold a valid limit, and each sub-table must be named by a transport label. The error says what
/// is wrong, with the source of the key it is about, for the caller to place. `templates`: the
/// names of the scenario's template runs, labels too.
pub fn from_table(
    table: &BTreeMap<Sourced<String>, Sourced<toml::Value>>,
    templates: &[String],
) -> Result<Vec<Threshold>, (Source, String)> {
    let columns = crate::metrics::summary::Summary::columns();
    let numeric =
        |name: &str| columns.iter().any(|c| c == name) && !matches!(name, "transport" | "complete");
    let mut out = Vec::new();
    let mut add = |transport: Option<&String>, key: &str, value: &toml::Value| {
        let table = match transport {
            Some(label) => format!("[thresholds.{label}]"),
            None => "[thresholds]".to_string(),
        };
        if !numeric(key) {
            return Err(format!(
                "{table} {key}: not a numeric summary.csv column (results/README.md lists the columns)"
            ));
        }
        let (op, limit) = parse_limit(value).map_err(|e| format!("{table} {key}: {e}"))?;
        let (metric, transport) = (key.to_string(), transport.cloned());
        out.push(Threshold {
            metric,
            op,
            limit,
            transport,
        });
        Ok(())
    };
    for (key, value) in table {
        let at = |message| (key.source.clone(), message);
        match &value.value {
            toml::Value::Table(per_transport) => {
                let label = &key.value;
                if super::variant::parse_label(label).is_none()
                    && !super::stack::is_stack_label(label)
                    && !templates.contains(label)
                {
                    return Err(at(format!(
                        "[thresholds.{label}]: not a transport label \
                         (ws, longpoll, shortpoll, sse, raw; the first four with -h2 and/or -tls, \
                         e.g. longpoll-h2-tls; or a stack's mode: socketio-polling, \
                         socketio-websocket, socketio-upgrade, nchan-longpoll, nchan-sse, nchan-ws; \
                         or a [target.template] name)"
                    )));
                }
                for (k, v) in per_transport {
                    add(Some(label), k, v).map_err(at)?;
                }
            }
            v => add(None, &key.value, v).map_err(at)?,
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_and_hold() {
        let t = |v: toml::Value| {
            let (op, limit) = parse_limit(&v).unwrap();
            Threshold {
                metric: "m".into(),
                op,
                limit,
                transport: None,
            }
        };
        let at_most = t(toml::Value::Integer(5));
        assert!(at_most.holds(Some(5.0)) && !at_most.holds(Some(5.1)) && !at_most.holds(None));
        let at_least = t(toml::Value::String(">= 90000".into()));
        assert!(at_least.holds(Some(90000.0)) && !at_least.holds(Some(1.0)));
        assert_eq!(at_least.toml_value().to_string(), "\">= 90000\"");
        assert_eq!(at_most.toml_value(), toml::Value::Integer(5));
        assert_eq!(
            t(toml::Value::Float(0.5)).toml_value(),
            toml::Value::Float(0.5)
        );
        assert_eq!(t(toml::Value::String("<1.5".into())).op, Op::Lt);
        assert!(parse_limit(&toml::Value::String("about 3".into())).is_err());
        assert!(parse_limit(&toml::Value::String(">= x".into())).is_err());
        assert!(parse_limit(&toml::Value::Boolean(true)).is_err());
    }
}
