//! The exposition's names, values and order, from known metrics.

use super::*;
use crate::metrics::summary::tests::sample;

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

#[test]
fn the_file_holds_summary_csv_counts_and_both_phases_latency() {
    let text = RunMetrics::of_finished(&[sample("ws"), sample("sse")]);
    let l = lines(&text);
    for expected in [
        "# TYPE wsbench_deliveries counter",
        r#"wsbench_deliveries_total{transport="ws"} 50"#,
        r#"wsbench_published_total{transport="sse"} 10"#,
        r#"wsbench_duplicated_total{transport="ws"} 1"#,
        r#"wsbench_lost_total{transport="ws"} 0"#,
        r#"wsbench_connects_total{transport="ws"} 5"#,
        r#"wsbench_wire_bytes_total{transport="ws",kind="up"} 2000"#,
        r#"wsbench_wire_bytes_total{transport="ws",kind="connect"} 500"#,
        // Of 2 s measured, seconds 0 and 1 are the phase's (1–90 ms), second 2 the drain's.
        r#"wsbench_latency_seconds_count{transport="ws",phase="measured"} 90"#,
        r#"wsbench_latency_seconds_count{transport="ws",phase="drain"} 10"#,
        r#"wsbench_latency_seconds_bucket{le="0.01",transport="ws",phase="measured"} 10"#,
        r#"wsbench_latency_seconds_bucket{le="+Inf",transport="ws",phase="drain"} 10"#,
    ] {
        assert!(l.contains(&expected), "{expected} not in\n{text}");
    }
    assert!(text.ends_with("# EOF\n"));
    // Sorted by labels, whatever order the registry's hash map keeps.
    let sse = text.find(r#"wsbench_deliveries_total{transport="sse"}"#);
    let ws = text.find(r#"wsbench_deliveries_total{transport="ws"}"#);
    assert!(sse < ws);
    assert_eq!(
        text,
        RunMetrics::of_finished(&[sample("ws"), sample("sse")])
    );
}

#[test]
fn counters_only_go_up_and_end_at_the_row() {
    let m = RunMetrics::new();
    m.start("ws");
    let second = SecondFigures {
        deliveries: 30,
        published: 6,
        connections: 5,
        missing: 4,
        ..SecondFigures::default()
    };
    m.second("ws", LatencyPhase::Measured, &second);
    let text = m.encode();
    assert!(text.contains("wsbench_deliveries_total{transport=\"ws\"} 30\n"));
    assert!(text.contains("wsbench_missing{transport=\"ws\"} 4\n"));
    m.finish("ws", &sample("ws"));
    let text = m.encode();
    assert!(text.contains("wsbench_deliveries_total{transport=\"ws\"} 50\n"));
    assert!(text.contains("wsbench_connections{transport=\"ws\"} 0\n"));
    let c = Counter::default();
    c.inc_by(7);
    raise(&c, 3);
    assert_eq!(c.get(), 7);
}

#[test]
fn the_grafana_dashboard_asks_only_for_metrics_that_exist() {
    let m = RunMetrics::new();
    m.finish("ws", &sample("ws"));
    m.usage("ws", Some(SideUsage::default()), SideUsage::default());
    let text = m.encode();
    let dashboard = include_str!("../../scripts/grafana/dashboard.json");
    let mut asked = 0;
    for (i, _) in dashboard.match_indices("wsbench_") {
        let name: String = dashboard[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        asked += 1;
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("{name}{{"))
                    || l == format!("# TYPE {name} histogram")),
            "the dashboard asks for {name}, which no scrape has"
        );
    }
    assert!(asked >= 10, "{asked}");
}

#[test]
fn a_second_belongs_to_the_phase_it_ended_in() {
    let measured = Duration::from_secs(2);
    assert_eq!(LatencyPhase::of_second(0, measured), LatencyPhase::Measured);
    assert_eq!(LatencyPhase::of_second(1, measured), LatencyPhase::Measured);
    assert_eq!(LatencyPhase::of_second(2, measured), LatencyPhase::Drain);
}
