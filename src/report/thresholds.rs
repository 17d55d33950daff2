//! `[thresholds]` checked against the summary rows: which held, which failed, as k6 prints them.
//! The rule (which limit applies to which transport) lives here; the scenario only parses limits.

use super::summary::Summary;
use crate::scenario::thresholds::Threshold;

/// The outcome of [`check`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checked {
    /// What to print under the table, one line each; empty when the scenario has no thresholds.
    pub lines: Vec<String>,
    /// How many limits did not hold.
    pub failed: usize,
}

/// Every threshold that applies to each transport, held or not, as lines to print under the
/// table (none when there are no thresholds), and how many failed. A transport's own limit on a
/// column replaces the common one.
pub fn check(thresholds: &[Threshold], rows: &[Summary]) -> Checked {
    let mut checked = Checked::default();
    if thresholds.is_empty() {
        return checked;
    }
    checked.lines.push("thresholds:".to_string());
    for row in rows {
        let label = Some(row.transport.as_str());
        let values = serde_json::to_value(row).unwrap_or_default();
        let applies = |t: &&Threshold| match &t.transport {
            Some(own) => Some(own.as_str()) == label,
            None => !thresholds
                .iter()
                .any(|o| o.transport.as_deref() == label && o.metric == t.metric),
        };
        for t in thresholds.iter().filter(applies) {
            let value = values.get(&t.metric).and_then(serde_json::Value::as_f64);
            let held = t.holds(value);
            checked.failed += usize::from(!held);
            let shown = value.map_or_else(|| "–".to_string(), |v| v.to_string());
            let mark = if held { "ok  " } else { "FAIL" };
            checked.lines.push(format!(
                "  {mark} {:<10} {} = {shown} (limit {t})",
                row.transport, t.metric
            ));
        }
    }
    checked
}
