use super::*;
use crate::report::summary::Summary;
use crate::report::summary::tests::sample;

#[test]
fn metrics_survive_json_and_hlog_exactly() {
    let mut m = sample("ws");
    m.measured = Duration::new(2, 123_456_789);
    m.server_usage = None;
    m.clients.counts.missed_reported = 3;
    m.clients.counts.empty_polls = 4;
    m.clients.counts.churned = 5;
    m.clients.counts.misrouted = 6;
    m.clients.reconnect_us.record(1_234).unwrap();
    m.clients.counts.dropped = 7;
    m.faults = vec![crate::metrics::FaultMark {
        at_s: 1.5,
        what: "drop reset 7 connections".into(),
    }];
    let json = serde_json::to_string(&MetricsFile::new(std::slice::from_ref(&m))).unwrap();
    let file: MetricsFile = serde_json::from_str(&json).unwrap();
    let [stored] = <[StoredTransport; 1]>::try_from(file.transports).unwrap();
    let back = stored.into_metrics(StoredHistograms {
        latency_us: m.clients.latency_us.clone(),
        connect_us: m.clients.connect_us.clone(),
        publish_rtt_us: m.clients.publish_rtt_us.clone(),
        reconnect_us: m.clients.reconnect_us.clone(),
        generator_delay_us: m.clients.generator_delay_us.clone(),
        publish_lag_us: m.clients.publish_lag_us.clone(),
        replay_us: m.clients.replay_us.clone(),
        recovery_us: m.clients.recovery_us.clone(),
        seconds: m
            .timeseries
            .seconds
            .iter()
            .map(|s| s.latency_us.clone())
            .collect(),
    });
    assert_eq!(back.timeseries, m.timeseries);
    assert_eq!(StoredTransport::from(&back), StoredTransport::from(&m));
    assert_eq!(back.measured, m.measured);
    assert_eq!(back.faults, m.faults);
    assert_eq!(Summary::new(&back), Summary::new(&m));
}

#[test]
fn unknown_fields_are_refused() {
    let json = r#"{"format":1,"transports":[],"extra":1}"#;
    assert!(serde_json::from_str::<MetricsFile>(json).is_err());
}
