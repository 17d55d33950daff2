//! What the two-shape pipeline adds to the behaviour `tests/all/scenario_errors.rs` pins: flags are
//! written over the file's mirror before its one validation, and the scenario as run loads back.

use std::path::Path;
use std::time::Duration;

use super::file::{ScenarioFile, Source};
use super::*;

const BASE: &str = "name = \"x\"\nduration = \"20s\"\n[clients]\nsubscribers = 10\n\
                    [publish]\nrate = 100\n[transports.ws]\n[transports.sse]\n";

fn with(o: Overrides, text: &str) -> Result<Scenario, ScenarioError> {
    parse_with(Path::new("x.toml"), text, &o)
}

#[test]
fn the_mirror_keeps_spans_and_flags() {
    let mut file = ScenarioFile::from_toml(Path::new("x.toml"), BASE).unwrap();
    let at = BASE.find("10\n").unwrap();
    assert_eq!(file.clients.subscribers.source, Source::Span(at..at + 2));
    file.override_with(&Overrides {
        subscribers: Some(3),
        transports: Some(vec![TransportKind::Sse.into()]),
        ..Overrides::default()
    });
    assert_eq!(file.clients.subscribers.value, 3);
    assert_eq!(
        file.clients.subscribers.source,
        Source::Flag("--subscribers")
    );
    assert_eq!(file.transports.source, Source::Flag("--transports"));
    // Untouched values keep their spans.
    assert!(matches!(
        file.publish.rate.map(|r| r.source),
        Some(Source::Span(_))
    ));
}

#[test]
fn a_flag_replaces_a_file_value_before_it_is_checked() {
    let broken = BASE.replace("subscribers = 10", "subscribers = 0");
    let s = with(
        Overrides {
            subscribers: Some(5),
            ..Overrides::default()
        },
        &broken,
    )
    .unwrap();
    assert_eq!(s.clients.subscribers, 5);
}

#[test]
fn a_shorter_duration_flag_must_still_hold_the_restart() {
    let text = format!("{BASE}[faults]\nrestart_server_at = \"10s\"\n");
    let e = with(
        Overrides {
            duration: Some(Duration::from_secs(5)),
            ..Overrides::default()
        },
        &text,
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("--duration: [faults] restart_server_at must fall inside"),
        "{e}"
    );
}

#[test]
fn the_scenario_as_run_loads_back_when_a_flag_drops_a_targeted_transport() {
    let text = format!("{BASE}[target]\nsse = \"http://127.0.0.1:9000/events\"\n");
    let s = with(
        Overrides {
            transports: Some(vec![TransportKind::Ws.into()]),
            ..Overrides::default()
        },
        &text,
    )
    .unwrap();
    assert_eq!(s.targets.endpoints, []);
    assert_eq!(parse(Path::new("as-run.toml"), &s.to_toml()).unwrap(), s);
}

#[test]
fn overriding_a_validated_scenario_keeps_its_run_order() {
    let o = Overrides {
        transports: Some(vec![TransportKind::Sse.into(), TransportKind::Ws.into()]),
        ..Overrides::default()
    };
    let s = with(o, BASE).unwrap();
    let again = s
        .with_overrides(&Overrides {
            rate: Some(7.0),
            ..Overrides::default()
        })
        .unwrap();
    assert_eq!(again.transports, s.transports);
    assert_eq!(again.publish.rate, 7.0);
}

/// Stacks' runs come after the built-in transports, each by its label; `--transports` picks them
/// by label, and the scenario as run (capacity's steps load it back) asks for the same runs.
#[test]
fn stack_runs_are_picked_by_label_and_load_back() {
    let text = format!(
        "{BASE}[target]\nsocketio = {{ url = \"http://127.0.0.1:3000\" }}\n\
         nchan = {{ url = \"http://127.0.0.1:8080\", transports = [\"sse\"] }}\n\
         [thresholds.socketio-upgrade]\nlost = 0\n"
    );
    let labels =
        |s: &Scenario| -> Vec<String> { s.runs().iter().map(|(t, v)| t.label(*v)).collect() };
    let all = with(Overrides::default(), &text).unwrap();
    assert_eq!(
        labels(&all),
        [
            "ws",
            "sse",
            "socketio-polling",
            "socketio-websocket",
            "socketio-upgrade",
            "nchan-sse"
        ]
    );
    let again = parse_with(
        Path::new("as-run.toml"),
        &all.to_toml(),
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(labels(&again), labels(&all));
    let stack = |label: &str| RunPick::Stack(label.into());
    let picked = Overrides {
        transports: Some(vec![
            TransportKind::Sse.into(),
            stack("nchan-sse"),
            stack("socketio-websocket"),
        ]),
        ..Overrides::default()
    };
    let some = with(picked, &text).unwrap();
    assert_eq!(labels(&some), ["sse", "socketio-websocket", "nchan-sse"]);
    let only_ws = Overrides {
        transports: Some(vec![TransportKind::Ws.into()]),
        ..Overrides::default()
    };
    assert_eq!(labels(&with(only_ws, &text).unwrap()), ["ws"]);
    let missing = Overrides {
        transports: Some(vec![stack("nchan-ws")]),
        ..Overrides::default()
    };
    let e = with(missing, &text).unwrap_err().to_string();
    assert!(e.contains("nchan-ws is not among the runs"), "{e}");
}

#[test]
fn timestamps_default_to_the_kernel_and_read_back() {
    let s = with(Overrides::default(), BASE).unwrap();
    assert_eq!(s.clients.timestamps, crate::wire::stamp::Clock::default());
    let user = BASE.replace(
        "subscribers = 10\n",
        "subscribers = 10\ntimestamps = \"user\"\n",
    );
    let s = with(Overrides::default(), &user).unwrap();
    assert_eq!(s.clients.timestamps, crate::wire::stamp::Clock::User);
    // The scenario as run says which clock it ran on.
    let again = parse_with(Path::new("x.toml"), &s.to_toml(), &Overrides::default()).unwrap();
    assert_eq!(again.clients.timestamps, crate::wire::stamp::Clock::User);
}

#[test]
fn kernel_timestamps_where_there_are_none_are_an_error_naming_the_key() {
    let text = BASE.replace(
        "subscribers = 10\n",
        "subscribers = 10\ntimestamps = \"kernel\"\n",
    );
    let mut file = ScenarioFile::from_toml(Path::new("x.toml"), &text).unwrap();
    let rules = fields::Rules {
        path: Some(Path::new("x.toml")),
        text: &text,
    };
    let asked = file.clients.timestamps.take();
    let e = rules.timestamps(asked.clone(), false).unwrap_err();
    assert_eq!(
        e.to_string(),
        "x.toml:5: [clients] timestamps = \"kernel\" needs the kernel's receive timestamps \
         (Linux SO_TIMESTAMPING), which this platform lacks; use \"user\""
    );
    // Absent, the default falls back to the user's clock there, silently: nobody asked.
    assert_eq!(
        rules.timestamps(None, false).unwrap(),
        crate::wire::stamp::Clock::User
    );
    assert_eq!(
        rules.timestamps(asked, true).unwrap(),
        crate::wire::stamp::Clock::Kernel
    );
    let bad = BASE.replace(
        "subscribers = 10\n",
        "subscribers = 10\ntimestamps = \"tsc\"\n",
    );
    let e = with(Overrides::default(), &bad).unwrap_err();
    assert_eq!(
        e.to_string(),
        "x.toml:5: [clients] timestamps must be \"kernel\" or \"user\" (got \"tsc\")"
    );
}
