//! Scenario loading through the public API: the shipped files load with the right values, and
//! every kind of mistake gets a one-line message naming the file (or flag), the line and the field.

use std::path::{Path, PathBuf};
use std::time::Duration;

use wsbench::protocol::TransportKind;
use wsbench::scenario::sources::SourceAddresses;
use wsbench::scenario::{
    Clients, DEFAULT_BACKOFF, DEFAULT_HOLD, Faults, Heartbeats, Network, Origin, Overrides,
    Pattern, Publish, Rooms, Scenario, ScenarioError, Targets, Transport, WsClient, load, parse,
};

/// A valid scenario; the tests below break one line of it at a time.
const BASE: &str = r#"name = "x"
duration = "20s"
warmup = "2s"
[clients]
subscribers = 1000
connect_rate = 500
[publish]
publishers = 10
rate = 100
payload_bytes = 64
[transports.ws]
[transports.longpoll]
hold = "30s"
"#;

const PATH: &str = "scenarios/x.toml";

/// `BASE` with 1-based line `n` replaced by `with` (which may be empty or span several lines).
fn base_with(n: usize, with: &str) -> String {
    let mut lines: Vec<&str> = BASE.lines().collect();
    lines[n - 1] = with;
    lines.join("\n") + "\n"
}

fn err(text: &str) -> String {
    let e = parse(Path::new(PATH), text).expect_err("the scenario should be refused");
    let msg = e.to_string();
    assert!(!msg.contains('\n'), "message is not one line: {msg}");
    msg
}

fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name)
}

fn chat() -> Scenario {
    load(&shipped("chat.toml")).expect("scenarios/chat.toml loads")
}

#[test]
fn chat_toml_loads_with_its_values() {
    let expected = Scenario {
        name: "chat".into(),
        duration: Duration::from_secs(20),
        warmup: Duration::from_secs(2),
        drain: Duration::from_secs(5),
        clients: Clients {
            subscribers: 1000,
            connect_rate: 500,
            reconnect: DEFAULT_BACKOFF,
            slow_readers: 0,
            slow_read_pause: Duration::from_millis(100),
            source_addresses: SourceAddresses::Auto,
            churn: 0,
            idle_phase: None,
            idle: 0,
            timestamps: wsbench::wire::stamp::Clock::default(),
            processes: wsbench::scenario::processes::Processes::Auto,
        },
        publish: Publish {
            publishers: 10,
            rate: 100.0,
            window: None,
            payload_bytes: 64,
            pattern: Pattern::Steady,
            payload: wsbench::codec::payload::PayloadModel::Padding,
        },
        transports: vec![
            Transport::Ws {
                ping_interval: None,
                client: WsClient::Wsbench,
                resume: true,
            },
            Transport::LongPoll {
                hold: Duration::from_secs(30),
            },
            Transport::ShortPoll {
                interval: Duration::from_secs(1),
            },
            Transport::Sse,
        ],
        variants: Vec::new(),
        scaling: Vec::new(),
        targets: Targets::default(),
        thresholds: Vec::new(),
        faults: Faults::default(),
        seed: 1,
        heartbeats: Heartbeats::default(),
        network: Network::default(),
        rooms: None,
        backplane: None,
    };
    assert_eq!(chat(), expected);
}

/// The tutorial's six use cases ship as scenarios, each saying in its header what it models.
#[test]
fn the_use_case_scenarios_load_and_say_what_they_model() {
    for name in ["chat-rooms", "collab", "game", "ticker", "scores", "iot"] {
        let path = shipped(&format!("{name}.toml"));
        let s = load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(s.name, name);
        assert_eq!(
            s.transports.len(),
            5,
            "{name}: every transport, raw included"
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let header = text.lines().take_while(|l| l.starts_with('#')).count();
        assert!(
            header >= 3,
            "{name}: a header comment says what it models and why"
        );
    }
    let rooms = |name: &str| load(&shipped(name)).unwrap().rooms.map(|r| r.count);
    assert_eq!(rooms("chat-rooms.toml"), Some(100));
    assert_eq!(rooms("collab.toml"), Some(100));
    assert_eq!(rooms("game.toml"), Some(100));
    let iot = load(&shipped("iot.toml")).unwrap();
    assert_eq!(iot.clients.idle, 18_000);
    assert!(iot.clients.idle_phase.is_some());
}

/// The 100,000-subscriber rooms scenario: rooms of 100, each with one publisher of its own
/// sending 1 message a second (publisher `p` publishes into room `p`), spread over processes.
#[test]
fn the_rooms_100k_scenario_gives_each_room_of_100_one_message_a_second() {
    let s = load(&shipped("rooms-100k.toml")).unwrap();
    assert_eq!(s.name, "rooms-100k");
    assert_eq!(s.clients.subscribers, 100_000);
    let rooms = s.rooms.unwrap().count;
    assert_eq!(rooms, 1_000);
    assert_eq!(s.publish.publishers, rooms);
    assert_eq!(s.publish.rate, f64::from(rooms));
    assert_eq!(
        s.clients.processes,
        wsbench::scenario::processes::Processes::Auto
    );
}

#[test]
fn tiny_toml_loads() {
    let tiny = load(&shipped("tiny.toml")).unwrap();
    assert_eq!(tiny.name, "tiny");
    assert_eq!(tiny.duration, Duration::from_secs(2));
    assert_eq!(tiny.warmup, Duration::ZERO);
    assert_eq!(tiny.clients.subscribers, 50);
    assert_eq!(tiny.publish.publishers, 5);
    assert_eq!(tiny.publish.rate, 50.0);
    assert_eq!(tiny.transports.len(), 4);
}

/// The A/B pair for comparing the two WebSocket clients: chat.toml's load, WebSocket only, and
/// nothing but the client (and the name) differs.
#[test]
fn ws_client_scenarios_differ_only_in_the_client() {
    let ours = load(&shipped("ws-wsbench.toml")).unwrap();
    let theirs = load(&shipped("ws-tungstenite.toml")).unwrap();
    let chat = load(&shipped("chat.toml")).unwrap();
    assert_eq!(
        (ours.clients.clone(), ours.publish.clone()),
        (chat.clients, chat.publish)
    );
    assert_eq!((ours.duration, ours.warmup), (chat.duration, chat.warmup));
    let ws = |client| Transport::Ws {
        ping_interval: None,
        client,
        resume: client == WsClient::Wsbench,
    };
    assert_eq!(ours.transports, [ws(WsClient::Wsbench)]);
    assert_eq!(theirs.transports, [ws(WsClient::Tungstenite)]);
    assert_eq!(
        Scenario {
            name: ours.name.clone(),
            transports: ours.transports.clone(),
            ..theirs
        },
        ours
    );
}

#[test]
fn variants_toml_runs_every_transport_in_every_variant() {
    let s = load(&shipped("variants.toml")).unwrap();
    let labels: Vec<String> = s.runs().iter().map(|(t, v)| v.label(t.kind())).collect();
    assert_eq!(
        labels,
        [
            "ws",
            "ws-tls",
            "longpoll",
            "longpoll-h2",
            "longpoll-tls",
            "longpoll-h2-tls",
            "shortpoll",
            "shortpoll-h2",
            "shortpoll-tls",
            "shortpoll-h2-tls",
            "sse",
            "sse-h2",
            "sse-tls",
            "sse-h2-tls",
        ]
    );
}

#[test]
fn defaults_fill_in_and_name_comes_from_the_file_stem() {
    let text = "duration = \"1s\"\n[clients]\nsubscribers = 3\n[publish]\nrate = 2.5\n[transports.longpoll]\n";
    let s = parse(Path::new("dir/my-run.toml"), text).unwrap();
    assert_eq!(s.name, "my-run");
    assert_eq!(
        (s.warmup, s.drain),
        (Duration::ZERO, Duration::from_secs(5))
    );
    assert_eq!(s.clients.connect_rate, 1000);
    assert_eq!((s.publish.publishers, s.publish.payload_bytes), (1, 64));
    assert_eq!(s.publish.rate, 2.5);
    assert_eq!(
        s.transports,
        vec![Transport::default_for(TransportKind::LongPoll).unwrap()]
    );
}

#[test]
fn unknown_top_level_key() {
    let msg = err(&base_with(3, "warmpu = \"2s\""));
    assert!(
        msg.starts_with("scenarios/x.toml:3:1: warmpu: unknown field `warmpu`, expected one of"),
        "{msg}"
    );
}

#[test]
fn unknown_key_in_a_table() {
    assert_eq!(
        err(&base_with(6, "conect_rate = 500")),
        "scenarios/x.toml:6:1: [clients] conect_rate: unknown field `conect_rate`, \
         expected one of `subscribers`, `connect_rate`, `reconnect`, `slow_readers`, `slow_read_pause`, `source_addresses`, `churn`, `idle_phase`, `idle`, `timestamps`, `processes`"
    );
}

#[test]
fn unknown_transport() {
    assert_eq!(
        err(&base_with(11, "[transports.carrier_pigeon]")),
        "scenarios/x.toml:11:13: [transports] carrier_pigeon: unknown field `carrier_pigeon`, \
         expected one of `ws`, `longpoll`, `shortpoll`, `sse`, `raw`"
    );
}

#[test]
fn bad_compress_values_name_file_line_and_field() {
    let with = |value: &str| base_with(13, &format!("hold = \"30s\"\ncompress = {value}"));
    let expected =
        r#"expected "none", "gzip", "br" or a list of them such as ["none", "gzip", "br"]"#;
    assert_eq!(
        err(&with("\"zstd\"")),
        format!("scenarios/x.toml:14: [transports.longpoll] compress: {expected} (got \"zstd\")")
    );
    assert_eq!(
        err(&with("[\"none\", \"brotli\"]")),
        format!("scenarios/x.toml:14: [transports.longpoll] compress: {expected} (got \"brotli\")")
    );
    assert_eq!(
        err(&with("true")),
        format!("scenarios/x.toml:14: [transports.longpoll] compress: {expected} (got true)")
    );
    assert_eq!(
        err(&with("[]")),
        "scenarios/x.toml:14: [transports.longpoll] compress: the list must not be empty"
    );
    assert!(parse(Path::new(PATH), &with("[\"none\", \"br\"]")).is_ok());
}

#[test]
fn wrong_type() {
    assert_eq!(
        err(&base_with(5, "subscribers = \"many\"")),
        "scenarios/x.toml:5:15: [clients] subscribers: invalid type: string \"many\", expected an integer"
    );
    let msg = err(&base_with(2, "duration = 20"));
    assert!(
        msg.starts_with("scenarios/x.toml:2:12: duration: invalid type: integer `20`"),
        "{msg}"
    );
}

#[test]
fn bad_duration() {
    let msg = err(&base_with(2, "duration = \"20 parsecs\""));
    assert!(
        msg.starts_with("scenarios/x.toml:2: duration: invalid duration \"20 parsecs\": "),
        "{msg}"
    );
}

#[test]
fn zero_negative_and_huge_subscribers() {
    assert_eq!(
        err(&base_with(5, "subscribers = 0")),
        "scenarios/x.toml:5: [clients] subscribers must be at least 1 (got 0)"
    );
    assert_eq!(
        err(&base_with(5, "subscribers = -5")),
        "scenarios/x.toml:5: [clients] subscribers must be at least 1 (got -5)"
    );
    assert_eq!(
        err(&base_with(5, "subscribers = 2_000_000")),
        "scenarios/x.toml:5: [clients] subscribers must be at most 1000000 (got 2000000)"
    );
    let msg = err(&base_with(5, "subscribers = 99999999999999999999999"));
    assert!(
        msg.starts_with("scenarios/x.toml:5:15: [clients] subscribers: "),
        "{msg}"
    );
}

#[test]
fn rate_zero_negative_and_not_a_number() {
    assert_eq!(
        err(&base_with(9, "rate = 0")),
        "scenarios/x.toml:9: [publish] rate must be > 0 (got 0)"
    );
    assert!(
        err(&base_with(9, "rate = -1.5"))
            .starts_with("scenarios/x.toml:9: [publish] rate must be > 0")
    );
    assert!(
        err(&base_with(9, "rate = nan"))
            .starts_with("scenarios/x.toml:9: [publish] rate must be > 0")
    );
    assert!(
        err(&base_with(9, "rate = inf"))
            .starts_with("scenarios/x.toml:9: [publish] rate must be at most")
    );
}

/// Saturation mode: `window` instead of `rate`, never both, never neither.
#[test]
fn window_replaces_the_rate() {
    let s = parse(Path::new(PATH), &base_with(9, "window = 8")).unwrap();
    assert_eq!((s.publish.window, s.publish.rate), (Some(8), 0.0));
    // It survives the round trip through the stored scenario.
    let again = parse(Path::new(PATH), &s.to_toml()).unwrap();
    assert_eq!(again.publish, s.publish);
    assert_eq!(
        err(&base_with(9, "rate = 100\nwindow = 8")),
        "scenarios/x.toml:10: [publish] rate and window exclude each other: rate publishes on a \
         schedule (open loop), window as fast as the messages in flight allow (closed loop); keep one"
    );
    assert_eq!(
        err(&base_with(9, "")),
        "scenarios/x.toml:7: [publish] needs rate (messages per second) or window (messages in \
         flight, saturation mode)"
    );
    assert_eq!(
        err(&base_with(9, "window = 0")),
        "scenarios/x.toml:9: [publish] window must be at least 1 (got 0)"
    );
    assert_eq!(
        err(&base_with(9, "window = 8\npattern = \"poisson\"")),
        "scenarios/x.toml:10: [publish] pattern spaces a rate's send times; with window the \
         sends follow the deliveries: remove one"
    );
    assert_eq!(
        err(&base_with(9, "window = 8").replace(
            "payload_bytes = 64\n",
            "payload_bytes = 64\n[rooms]\ncount = 4\n"
        )),
        "scenarios/x.toml:9: [publish] window does not run with [rooms] yet: the window waits \
         for every subscriber, and a room's message reaches only its members; use rate"
    );
    // A flag's rate over a file's window is blamed on the flag.
    let flags = Overrides {
        rate: Some(50.0),
        ..Overrides::default()
    };
    let path = std::env::temp_dir().join(format!("wsbench-window-{}.toml", std::process::id()));
    std::fs::write(&path, base_with(9, "window = 8")).unwrap();
    let e = wsbench::scenario::load_with(&path, &flags)
        .unwrap_err()
        .to_string();
    std::fs::remove_file(&path).unwrap();
    assert!(
        e.contains("--rate") && e.contains("exclude each other"),
        "{e}"
    );
}

#[test]
fn payload_too_small() {
    let msg = err(&base_with(10, "payload_bytes = 10"));
    assert!(
        msg.starts_with("scenarios/x.toml:10: [publish] payload_bytes must be at least"),
        "{msg}"
    );
    assert!(
        msg.contains("payload too small for the message header"),
        "{msg}"
    );
}

#[test]
fn more_publishers_than_subscribers() {
    let msg = err(&base_with(8, "publishers = 2000"));
    assert!(
        msg.starts_with("scenarios/x.toml:8: [publish] publishers (2000) must be at most [clients] subscribers (1000)"),
        "{msg}"
    );
}

#[test]
fn warmup_too_long() {
    let msg = err(&base_with(3, "warmup = \"15m\""));
    assert!(
        msg.starts_with("scenarios/x.toml:3: warmup must be at most 10m (got 15m): "),
        "{msg}"
    );
}

#[test]
fn too_many_messages() {
    let text = base_with(2, "duration = \"1h\"");
    let msg = err(&text.replace("rate = 100\n", "rate = 100000\n"));
    assert!(
        msg.starts_with("scenarios/x.toml:9: [publish] rate × (warmup + duration)"),
        "{msg}"
    );
    assert!(msg.contains("100000000"), "{msg}");
}

#[test]
fn bad_name() {
    let msg = err(&base_with(1, "name = \"../etc\""));
    assert!(
        msg.starts_with("scenarios/x.toml:1: name must be 1 to 64 characters"),
        "{msg}"
    );
}

#[test]
fn no_transports() {
    let text = base_with(11, "[transports]").replace("[transports.longpoll]\nhold = \"30s\"\n", "");
    assert_eq!(
        err(&text),
        "scenarios/x.toml:11: [transports] needs at least one of [transports.ws], \
         [transports.longpoll], [transports.shortpoll] or [transports.sse]"
    );
}

#[test]
fn bad_hold() {
    let msg = err(&base_with(13, "hold = \"0s\""));
    assert!(
        msg.starts_with(
            "scenarios/x.toml:13: [transports.longpoll] hold must be between 1ms and 10m (got 0s)"
        ),
        "{msg}"
    );
}

#[test]
fn missing_tables_and_keys() {
    let no_clients = BASE.replace("[clients]\nsubscribers = 1000\nconnect_rate = 500\n", "");
    assert_eq!(
        err(&no_clients),
        "scenarios/x.toml: missing field `clients`"
    );
    assert_eq!(
        err(&base_with(5, "")),
        "scenarios/x.toml:4:1: [clients] missing field `subscribers`"
    );
}

#[test]
fn empty_file() {
    assert_eq!(err(""), "scenarios/x.toml: missing field `duration`");
}

#[test]
fn garbage() {
    let msg = err("\u{0}\u{1}]]] {{ = = ");
    assert!(msg.starts_with("scenarios/x.toml:1:"), "{msg}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("binary.toml");
    std::fs::write(&path, b"name = 1\n\xff\xfe\x00garbage").unwrap();
    let msg = load(&path).unwrap_err().to_string();
    assert_eq!(
        msg,
        format!(
            "{}:2:1: not UTF-8 text; a scenario file is a UTF-8 TOML file",
            path.display()
        )
    );
}

#[test]
fn missing_file() {
    let msg = load(Path::new("scenarios/no-such-file.toml"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        msg,
        "scenarios/no-such-file.toml: cannot read the scenario file"
    );
}

#[test]
fn every_prefix_is_answered_without_panic() {
    for end in (0..=BASE.len()).filter(|&i| BASE.is_char_boundary(i)) {
        if let Err(e) = parse(Path::new(PATH), &BASE[..end]) {
            let msg = e.to_string();
            assert!(msg.starts_with(PATH) && !msg.contains('\n'), "{msg}");
        }
    }
}

#[test]
fn overrides_change_values() {
    let o = Overrides {
        subscribers: Some(20),
        publishers: Some(2),
        rate: Some(12.5),
        payload_bytes: Some(1024),
        duration: Some(Duration::from_secs(3)),
        warmup: Some(Duration::ZERO),
        transports: Some(vec![TransportKind::LongPoll.into()]),
        server_pid: None,
        allow_remote: false,
    };
    let s = chat().with_overrides(&o).unwrap();
    assert_eq!(s.clients.subscribers, 20);
    assert_eq!(s.publish.publishers, 2);
    assert_eq!(s.publish.rate, 12.5);
    assert_eq!(s.publish.payload_bytes, 1024);
    assert_eq!(
        (s.duration, s.warmup),
        (Duration::from_secs(3), Duration::ZERO)
    );
    assert_eq!(
        s.transports,
        vec![Transport::LongPoll {
            hold: Duration::from_secs(30)
        }]
    );
}

#[test]
fn transports_flag_picks_orders_and_defaults() {
    let ws_only = parse(
        Path::new(PATH),
        &BASE.replace("[transports.longpoll]\nhold = \"30s\"\n", ""),
    )
    .unwrap();
    let o = Overrides {
        transports: Some(vec![
            TransportKind::LongPoll.into(),
            TransportKind::Ws.into(),
        ]),
        ..Overrides::default()
    };
    let s = ws_only.with_overrides(&o).unwrap();
    assert_eq!(
        s.transports,
        vec![
            Transport::LongPoll { hold: DEFAULT_HOLD },
            Transport::Ws {
                ping_interval: None,
                client: WsClient::Wsbench,
                resume: true,
            }
        ]
    );
}

fn flag_err(o: Overrides) -> String {
    chat()
        .with_overrides(&o)
        .expect_err("the override should be refused")
        .to_string()
}

#[test]
fn invalid_overrides_name_the_flag() {
    let msg = flag_err(Overrides {
        rate: Some(0.0),
        ..Overrides::default()
    });
    assert_eq!(msg, "--rate: [publish] rate must be > 0 (got 0)");
    let msg = flag_err(Overrides {
        subscribers: Some(5),
        ..Overrides::default()
    });
    assert!(
        msg.starts_with(
            "--subscribers: [publish] publishers (10) must be at most [clients] subscribers (5)"
        ),
        "{msg}"
    );
    let msg = flag_err(Overrides {
        publishers: Some(2000),
        ..Overrides::default()
    });
    assert!(
        msg.starts_with("--publishers: [publish] publishers (2000)"),
        "{msg}"
    );
    let msg = flag_err(Overrides {
        payload_bytes: Some(10),
        ..Overrides::default()
    });
    assert!(
        msg.starts_with("--payload-bytes: [publish] payload_bytes must be at least"),
        "{msg}"
    );
    let msg = flag_err(Overrides {
        duration: Some(Duration::from_secs(7200)),
        ..Overrides::default()
    });
    assert_eq!(
        msg,
        "--duration: duration must be between 100ms and 1h (got 2h)"
    );
    let msg = flag_err(Overrides {
        warmup: Some(Duration::from_secs(3600)),
        ..Overrides::default()
    });
    assert!(
        msg.starts_with("--warmup: warmup must be at most 10m (got 1h)"),
        "{msg}"
    );
    let msg = flag_err(Overrides {
        transports: Some(vec![TransportKind::Ws.into(), TransportKind::Ws.into()]),
        ..Overrides::default()
    });
    assert_eq!(
        msg,
        "--transports: [transports] lists ws twice; each transport runs at most once"
    );
    let msg = flag_err(Overrides {
        transports: Some(vec![]),
        ..Overrides::default()
    });
    assert!(
        msg.starts_with("--transports: [transports] needs at least one"),
        "{msg}"
    );
}

#[test]
fn a_flag_that_breaks_the_message_bound_is_named() {
    let fast = base_with(9, "rate = 100000");
    let s = parse(Path::new(PATH), &fast).unwrap();
    let o = Overrides {
        duration: Some(Duration::from_secs(1800)),
        ..Overrides::default()
    };
    let msg = s.with_overrides(&o).unwrap_err().to_string();
    assert!(
        msg.starts_with("--duration: [publish] rate × (warmup + duration)"),
        "{msg}"
    );
}

#[test]
fn to_toml_round_trips() {
    let tiny = load(&shipped("tiny.toml")).unwrap();
    let odd = chat()
        .with_overrides(&Overrides {
            rate: Some(0.1),
            duration: Some(Duration::from_millis(90_250)),
            warmup: Some(Duration::from_nanos(1_500_000_007)),
            ..Overrides::default()
        })
        .unwrap();
    for s in [chat(), tiny, odd] {
        let text = s.to_toml();
        assert_eq!(parse(Path::new("as-run.toml"), &text).unwrap(), s, "{text}");
    }
}

#[test]
fn to_toml_notes_a_run_order_the_file_cannot_hold() {
    let o = Overrides {
        transports: Some(vec![
            TransportKind::LongPoll.into(),
            TransportKind::Ws.into(),
        ]),
        ..Overrides::default()
    };
    let s = chat().with_overrides(&o).unwrap();
    let text = s.to_toml();
    assert!(
        text.contains("# Transports run in this order: longpoll, ws."),
        "{text}"
    );
    // A file runs its transports in the fixed order, so the override's order is only noted.
    let back = parse(Path::new("as-run.toml"), &text).unwrap();
    assert_eq!(back.transports, chat().transports[..2]);
}

#[test]
fn range_edges_are_inclusive() {
    let ok = |line: usize, with: &str| parse(Path::new(PATH), &base_with(line, with)).is_ok();
    assert!(ok(2, "duration = \"100ms\""));
    assert!(!ok(2, "duration = \"99ms\""));
    assert!(ok(2, "duration = \"1h\""));
    assert!(!ok(2, "duration = \"1h 1ns\""));
    assert!(ok(3, "drain = \"60s\""));
    assert!(!ok(3, "drain = \"61s\""));
    assert!(ok(3, "warmup = \"10m\""));
    assert!(ok(6, "connect_rate = 100000"));
    assert!(!ok(6, "connect_rate = 100001"));
    assert!(ok(
        10,
        &format!(
            "payload_bytes = {}",
            wsbench::codec::envelope::MAX_HEADER_LEN
        )
    ));
    assert!(ok(10, "payload_bytes = 65536"));
    assert!(!ok(10, "payload_bytes = 65537"));
    assert!(ok(13, "hold = \"1ms\""));
    assert!(!ok(13, "hold = \"10m 1ms\""));
}

#[test]
fn message_bound_counts_warmup() {
    // 100 000 msg/s × (990 s + warmup): exactly the bound with a 10 s warmup, over it with 11 s.
    let text = |warmup: &str| {
        base_with(2, "duration = \"990s\"")
            .replace("rate = 100\n", "rate = 100000\n")
            .replace("warmup = \"2s\"", warmup)
    };
    assert!(parse(Path::new(PATH), &text("warmup = \"10s\"")).is_ok());
    let msg = err(&text("warmup = \"11s\""));
    assert!(
        msg.starts_with("scenarios/x.toml:9: [publish] rate × (warmup + duration)"),
        "{msg}"
    );
}

#[test]
fn invalid_errors_carry_origin_and_field() {
    let e = parse(Path::new(PATH), &base_with(2, "duration = \"5h\"")).unwrap_err();
    let ScenarioError::Invalid { origin, field, .. } = e else {
        panic!("expected ScenarioError::Invalid, got {e}");
    };
    assert_eq!(origin, Origin::File { line: 2, col: 12 });
    assert_eq!(field, "duration");
}

#[test]
fn nan_rate_flag_is_refused() {
    let msg = flag_err(Overrides {
        rate: Some(f64::NAN),
        ..Overrides::default()
    });
    assert_eq!(msg, "--rate: [publish] rate must be > 0 (got NaN)");
}

#[test]
fn short_poll_and_sse_tables() {
    let more = |tail: &str| base_with(13, &format!("hold = \"30s\"\n{tail}"));
    let text = more("[transports.shortpoll]\ninterval = \"250ms\"\n[transports.sse]");
    let s = parse(Path::new(PATH), &text).unwrap();
    let kinds: Vec<_> = s.transports.iter().map(|t| t.kind().label()).collect();
    assert_eq!(kinds, ["ws", "longpoll", "shortpoll", "sse"]);
    assert!(s.transports.contains(&Transport::ShortPoll {
        interval: Duration::from_millis(250)
    }));
    assert_eq!(
        err(&more("[transports.shortpoll]\ninterval = \"1ms\"")),
        "scenarios/x.toml:15: [transports.shortpoll] interval must be between 10ms and 1h (got 1ms)"
    );
    let msg = err(&more("[transports.sse]\nretry = 3"));
    assert!(
        msg.starts_with("scenarios/x.toml:15:1: [transports.sse] retry: unknown field `retry`"),
        "{msg}"
    );
}

#[test]
fn external_targets() {
    let more = |tail: &str| base_with(13, &format!("hold = \"30s\"\n{tail}"));
    let text = more("[target]\nws = \"ws://127.0.0.1:8080/\"\nserver_pid = 42");
    let s = parse(Path::new(PATH), &text).unwrap();
    let ws = s.targets.endpoint(TransportKind::Ws).unwrap();
    assert_eq!((ws.addr.port(), ws.path.as_str()), (8080, "/"));
    assert_eq!(s.targets.server_pid, Some(42));
    assert!(s.targets.endpoint(TransportKind::LongPoll).is_none());
    // The resolved scenario keeps the target.
    assert_eq!(parse(Path::new(PATH), &s.to_toml()).unwrap(), s);

    assert_eq!(
        err(&more("[target]\nws = \"ws://192.0.2.7:80/\"")),
        "scenarios/x.toml:15: [target] ws: \"ws://192.0.2.7:80/\": only loopback targets are \
         allowed (127.0.0.0/8, [::1], localhost); `--allow-remote` accepts an IP off loopback, \
         for sharded runs in a cluster"
    );
    assert_eq!(
        err(&more("[target]\nsse = \"http://127.0.0.1:9000/events\"")),
        "scenarios/x.toml:15: [target] sse is set but [transports.sse] is not: add the table to run it"
    );
    let msg = err(&more("[target]\nserver_pid = 0"));
    assert!(
        msg.starts_with("scenarios/x.toml:15: [target] server_pid must be a process id"),
        "{msg}"
    );
}

#[test]
fn thresholds_parse_and_name_bad_entries() {
    let more = |tail: &str| base_with(13, &format!("hold = \"30s\"\n{tail}"));
    let text = more(
        "[thresholds]\nlost = 0\nlatency_p99_us = 50000\n[thresholds.ws]\n\
         deliveries_per_server_cpu_s = \">= 90000\"",
    );
    let s = parse(Path::new(PATH), &text).unwrap();
    assert_eq!(s.thresholds.len(), 3);
    let own = s
        .thresholds
        .iter()
        .find(|t| t.transport.as_deref() == Some("ws"))
        .unwrap();
    assert_eq!(own.to_string(), "deliveries_per_server_cpu_s >= 90000");
    assert_eq!(parse(Path::new(PATH), &s.to_toml()).unwrap(), s);

    assert_eq!(
        err(&more("[thresholds]\nlatency_p98_us = 5")),
        "scenarios/x.toml:15: [thresholds] latency_p98_us: not a numeric summary.csv column \
         (results/README.md lists the columns)"
    );
    let msg = err(&more("[thresholds]\nlost = \"about none\""));
    assert!(
        msg.starts_with("scenarios/x.toml:15: [thresholds] lost: \"about none\" must start with"),
        "{msg}"
    );
    let msg = err(&more("[thresholds.carrier_pigeon]\nlost = 0"));
    assert!(
        msg.contains("[thresholds.carrier_pigeon]: not a transport"),
        "{msg}"
    );
}

#[test]
fn reconnect_backoff_and_server_restart() {
    let text = base_with(
        6,
        "connect_rate = 500\nreconnect = { initial = \"50ms\", max = \"2s\" }",
    ) + "[faults]\nrestart_server_at = \"5s\"\n";
    let s = parse(Path::new(PATH), &text).unwrap();
    assert_eq!(s.clients.reconnect.initial, Duration::from_millis(50));
    assert_eq!(s.faults.restart_server_at, Some(Duration::from_secs(5)));
    assert_eq!(parse(Path::new(PATH), &s.to_toml()).unwrap(), s);

    let msg = err(&base_with(
        6,
        "connect_rate = 500\nreconnect = { initial = \"2s\", max = \"1s\" }",
    ));
    assert!(
        msg.contains("reconnect.max must be at least reconnect.initial"),
        "{msg}"
    );
    let msg = err(&(BASE.to_string() + "[faults]\nrestart_server_at = \"25s\"\n"));
    assert!(
        msg.starts_with(
            "scenarios/x.toml:15: [faults] restart_server_at must fall inside the measured phase"
        ),
        "{msg}"
    );
}

#[test]
fn websocket_heartbeat() {
    let text = base_with(11, "[transports.ws]\nping_interval = \"15s\"");
    let s = parse(Path::new(PATH), &text).unwrap();
    assert_eq!(
        s.transports[0],
        Transport::Ws {
            ping_interval: Some(Duration::from_secs(15)),
            client: WsClient::Wsbench,
            resume: true,
        }
    );
    assert_eq!(parse(Path::new(PATH), &s.to_toml()).unwrap(), s);
    let msg = err(&base_with(11, "[transports.ws]\nping_interval = \"10ms\""));
    assert!(
        msg.starts_with("scenarios/x.toml:12: [transports.ws] ping_interval must be between"),
        "{msg}"
    );
}

#[test]
fn server_heartbeats() {
    let text = base_with(
        11,
        "[transports.ws]\nserver_ping = \"30s\"\n[transports.sse]\nkeepalive = \"15s\"",
    );
    let s = parse(Path::new(PATH), &text).unwrap();
    assert_eq!(
        s.heartbeats,
        Heartbeats {
            ws_ping: Some(Duration::from_secs(30)),
            sse_keepalive: Some(Duration::from_secs(15)),
        }
    );
    assert_eq!(parse(Path::new(PATH), &s.to_toml()).unwrap(), s);
    let msg = err(&base_with(11, "[transports.ws]\nserver_ping = \"1ms\""));
    assert!(
        msg.starts_with("scenarios/x.toml:12: [transports.ws] server_ping must be between"),
        "{msg}"
    );
    let msg = err(&base_with(11, "[transports.sse]\nkeepalive = \"often\""));
    assert!(
        msg.starts_with("scenarios/x.toml:12: [transports.sse] keepalive: invalid duration"),
        "{msg}"
    );
}

#[test]
fn idle_phase() {
    let text = base_with(6, "connect_rate = 500\nidle_phase = \"30s\"");
    let s = parse(Path::new(PATH), &text).unwrap();
    assert_eq!(s.clients.idle_phase, Some(Duration::from_secs(30)));
    assert_eq!(parse(Path::new(PATH), &s.to_toml()).unwrap(), s);
    // Idle connections bring an idle phase with them, so their cost is reported.
    let s = parse(
        Path::new(PATH),
        &base_with(6, "connect_rate = 500\nidle = 2000"),
    )
    .unwrap();
    assert_eq!(
        (s.clients.idle, s.clients.idle_phase),
        (2000, Some(Duration::from_secs(30)))
    );
    assert_eq!(parse(Path::new(PATH), &s.to_toml()).unwrap(), s);
    let msg = err(&base_with(6, "connect_rate = 500\nidle = -1"));
    assert!(
        msg.starts_with("scenarios/x.toml:7: [clients] idle must be at least 0 (got -1)"),
        "{msg}"
    );
    let msg = err(&base_with(6, "connect_rate = 500\nidle_phase = \"500ms\""));
    assert!(
        msg.starts_with("scenarios/x.toml:7: [clients] idle_phase must be between"),
        "{msg}"
    );
}

#[test]
fn websocket_client_choice() {
    let text = base_with(11, "[transports.ws]\nclient = \"tungstenite\"");
    let s = parse(Path::new(PATH), &text).unwrap();
    assert_eq!(
        s.transports[0],
        Transport::Ws {
            ping_interval: None,
            client: WsClient::Tungstenite,
            resume: false,
        }
    );
    assert!(s.to_toml().contains("client = \"tungstenite\""));
    assert_eq!(parse(Path::new(PATH), &s.to_toml()).unwrap(), s);
    let msg = err(&base_with(11, "[transports.ws]\nclient = \"tokio\""));
    assert_eq!(
        msg,
        "scenarios/x.toml:12: [transports.ws] client must be \"wsbench\" or \"tungstenite\" \
         (got \"tokio\")"
    );
}

#[test]
fn http2_and_tls_variants_expand_in_a_fixed_order_with_labels() {
    let text = base_with(
        11,
        "[transports.ws]\ntls = [true, false]\n[transports.sse]\nhttp2 = [true, false, true]\ntls = true",
    );
    let s = parse(Path::new(PATH), &text).unwrap();
    let labels: Vec<String> = s.runs().iter().map(|(t, v)| v.label(t.kind())).collect();
    assert_eq!(
        labels,
        ["ws", "ws-tls", "longpoll", "sse-tls", "sse-h2-tls"]
    );
    // The resolved scenario writes the lists back and parses to the same runs.
    let again = parse(Path::new(PATH), &s.to_toml()).unwrap();
    assert_eq!(again, s);
    // `--transports` keeps the variants of the transports it keeps.
    let only_sse = Overrides {
        transports: Some(vec![TransportKind::Sse.into()]),
        ..Overrides::default()
    };
    let s = s.with_overrides(&only_sse).unwrap();
    let labels: Vec<String> = s.runs().iter().map(|(t, v)| v.label(t.kind())).collect();
    assert_eq!(labels, ["sse-tls", "sse-h2-tls"]);
}

#[test]
fn bad_http2_and_tls_values_name_line_and_field() {
    assert_eq!(
        err(&base_with(11, "[transports.raw]\ntls = [false, true]")),
        "scenarios/x.toml:12: [transports.raw] tls: raw is bare TCP, the floor under every \
         protocol; it has no HTTP/2 or TLS variant"
    );
    assert_eq!(
        err(&base_with(
            11,
            "[transports.ws]\nclient = \"tungstenite\"\nhttp2 = [false, true]"
        )),
        "scenarios/x.toml:13: [transports.ws] http2: only the wsbench client speaks WebSocket \
         over HTTP/2 (tungstenite's has no HTTP/2); remove `client = \"tungstenite\"` or the \
         http2 runs"
    );
    assert_eq!(
        err(&base_with(13, "tls = \"yes\"")),
        "scenarios/x.toml:13: [transports.longpoll] tls: expected true, false or a list of them \
         such as [false, true], got a string"
    );
    assert_eq!(
        err(&base_with(13, "http2 = []")),
        "scenarios/x.toml:13: [transports.longpoll] http2: the list must not be empty"
    );
    assert_eq!(
        err(&base_with(13, "http2 = [true, 1]")),
        "scenarios/x.toml:13: [transports.longpoll] http2: every item of the list must be true or false"
    );
    let msg = err(&base_with(
        13,
        "tls = true\n[target]\nlongpoll = \"http://127.0.0.1:9000\"",
    ));
    assert!(
        msg.starts_with(
            "scenarios/x.toml:13: [transports.longpoll] tls = true needs the built-in server"
        ),
        "{msg}"
    );
    // A TLS URL cannot be trusted, so it is refused with the reason.
    let msg = err(&base_with(
        13,
        "[target]\nlongpoll = \"https://127.0.0.1:9000\"",
    ));
    assert!(msg.contains("TLS targets are not supported"), "{msg}");
    // Still no unknown keys.
    let msg = err(&base_with(11, "[transports.ws]\nhttp3 = true"));
    assert!(msg.contains("unknown field `http3`"), "{msg}");
}

#[test]
fn thresholds_are_keyed_by_variant_label() {
    let text = base_with(
        13,
        "http2 = [false, true]\n[thresholds]\nlost = 0\n[thresholds.longpoll-h2]\nlost = 5\n\
         [thresholds.ws-tls]\nlost = 1",
    );
    let s = parse(Path::new(PATH), &text).unwrap();
    let labels: Vec<Option<&str>> = s
        .thresholds
        .iter()
        .map(|t| t.transport.as_deref())
        .collect();
    // In key order, as TOML tables are read.
    assert_eq!(labels, [Some("longpoll-h2"), None, Some("ws-tls")]);
    assert_eq!(parse(Path::new(PATH), &s.to_toml()).unwrap(), s);
    let msg = err(&base_with(13, "[thresholds.raw-h2]\nlost = 0"));
    assert!(
        msg.starts_with("scenarios/x.toml:13: [thresholds.raw-h2]: not a transport label"),
        "{msg}"
    );
}

#[test]
fn source_addresses_take_a_count_or_a_list_of_loopback_addresses() {
    // `source_addresses` lands on line 7.
    let with = |v: &str| base_with(6, &format!("connect_rate = 500\nsource_addresses = {v}"));
    let ok = |text: &str| parse(Path::new(PATH), text).unwrap();
    assert_eq!(ok(BASE).clients.source_addresses, SourceAddresses::Auto);
    assert_eq!(
        ok(&with("\"auto\"")).clients.source_addresses,
        SourceAddresses::Auto
    );
    let three = ok(&with("3"));
    assert_eq!(three.clients.source_addresses, SourceAddresses::Count(3));
    let listed = ok(&with("[\"127.0.0.2\", \"127.0.0.9\"]"));
    assert_eq!(
        listed.clients.source_addresses,
        SourceAddresses::List(vec![
            "127.0.0.2".parse().unwrap(),
            "127.0.0.9".parse().unwrap()
        ])
    );
    for s in [three, listed] {
        assert_eq!(parse(Path::new(PATH), &s.to_toml()).unwrap(), s);
    }

    assert_eq!(
        err(&with("0")),
        "scenarios/x.toml:7: [clients] source_addresses must be between 1 and 254 (got 0): \
         N means 127.0.0.1 to 127.0.0.N"
    );
    assert_eq!(
        err(&with("[\"127.0.0.2\", \"192.0.2.1\"]")),
        "scenarios/x.toml:7: [clients] source_addresses: 192.0.2.1 is not a loopback address; \
         wsbench only connects from 127.0.0.0/8 or ::1"
    );
    assert_eq!(
        err(&with("[\"127.0.0.2\", \"127.0.0.2\"]")),
        "scenarios/x.toml:7: [clients] source_addresses: 127.0.0.2 is listed twice"
    );
    assert_eq!(
        err(&with("\"many\"")),
        "scenarios/x.toml:7: [clients] source_addresses: \"many\" is not an IP address"
    );
    let msg = err(&with("true"));
    assert!(
        msg.starts_with("scenarios/x.toml:7: [clients] source_addresses must be a count"),
        "{msg}"
    );
}

#[test]
fn source_addresses_must_fit_each_target_address_family() {
    let with = |v: &str| base_with(6, &format!("connect_rate = 500\nsource_addresses = {v}"));
    let v6 = |v: &str| with(v) + "[target]\nws = \"ws://[::1]:8080/\"\n";
    // IPv6 has one loopback address: 1 is fine, more is not.
    let one = parse(Path::new(PATH), &v6("1")).unwrap();
    assert_eq!(one.clients.source_addresses, SourceAddresses::Count(1));
    assert_eq!(
        err(&v6("3")),
        "scenarios/x.toml:7: [clients] source_addresses = 3 needs an IPv4 target, but ::1 is \
         IPv6, which has one loopback address (::1); use 1, or leave the key out ([target] ws)"
    );
    // The built-in servers listen on 127.0.0.1.
    assert_eq!(
        err(&with("[\"::1\"]")),
        "scenarios/x.toml:7: [clients] source_addresses: ::1 cannot connect to 127.0.0.1, which \
         is of the other address family; list 127.0.0.x addresses only (the built-in ws server \
         listens on 127.0.0.1)"
    );
}

#[test]
fn churn_pattern_seed_and_network_load_and_write_back() {
    let text = format!(
        "seed = 7\n{}[network]\ndelay = \"50ms\"\njitter = \"10ms\"\nbandwidth = \"10Mbit/s\"\n",
        base_with(6, "connect_rate = 500\nchurn = 50").replace(
            "payload_bytes = 64\n",
            "payload_bytes = 64\npattern = { burst = 20, every = \"5s\" }\n"
        )
    );
    let s = parse(Path::new(PATH), &text).unwrap();
    assert_eq!((s.seed, s.clients.churn), (7, 50));
    assert_eq!(
        s.publish.pattern,
        Pattern::Bursts {
            burst: 20,
            every: Duration::from_secs(5)
        }
    );
    assert_eq!(
        s.network,
        Network {
            delay: Duration::from_millis(50),
            jitter: Duration::from_millis(10),
            bandwidth: Some(1_250_000),
        }
    );
    assert_eq!(parse(Path::new(PATH), &s.to_toml()).unwrap(), s);
    let poisson = parse(
        Path::new(PATH),
        &base_with(10, "payload_bytes = 64\npattern = \"poisson\""),
    )
    .unwrap();
    assert_eq!(poisson.publish.pattern, Pattern::Poisson);
    assert_eq!(parse(Path::new(PATH), &poisson.to_toml()).unwrap(), poisson);
    // Absent: no churn, steady, seed 1, loopback as it is (and no [network] written back).
    let plain = parse(Path::new(PATH), BASE).unwrap();
    assert_eq!(
        (plain.clients.churn, plain.publish.pattern, plain.seed),
        (0, Pattern::Steady, 1)
    );
    assert!(plain.network.is_loopback() && !plain.to_toml().contains("[network]"));
}

#[test]
fn bad_churn_and_seed_name_line_and_field() {
    assert_eq!(
        err(&base_with(6, "churn = -1")),
        "scenarios/x.toml:6: [clients] churn must be at least 0 (got -1)"
    );
    assert_eq!(
        err(&base_with(6, "churn = 200_000")),
        "scenarios/x.toml:6: [clients] churn must be at most 100000 (got 200000)"
    );
    assert_eq!(
        err(&base_with(6, "churn = \"lots\"")),
        "scenarios/x.toml:6:9: [clients] churn: invalid type: string \"lots\", expected an integer"
    );
    assert_eq!(
        err(&base_with(3, "seed = -1")),
        "scenarios/x.toml:3: seed must be at least 0 (got -1)"
    );
    let msg = err(&base_with(3, "seed = \"x\""));
    assert!(
        msg.starts_with("scenarios/x.toml:3:8: seed: invalid type: string \"x\""),
        "{msg}"
    );
}

#[test]
fn bad_patterns_name_line_and_field() {
    let pattern = |value: &str| err(&base_with(10, &format!("pattern = {value}")));
    assert_eq!(
        pattern("\"bursty\""),
        "scenarios/x.toml:10: [publish] pattern: expected \"steady\", \"poisson\" or \
         { burst = 20, every = \"5s\" } (got \"bursty\")"
    );
    assert_eq!(
        pattern("{ burst = 0, every = \"5s\" }"),
        "scenarios/x.toml:10: [publish] pattern: burst must be between 1 and 1000000 (got 0)"
    );
    assert_eq!(
        pattern("{ burst = 5, every = \"0s\" }"),
        "scenarios/x.toml:10: [publish] pattern: every must be between 1ms and 1h (got 0s)"
    );
    assert!(
        pattern("{ burst = 5 }")
            .starts_with("scenarios/x.toml:10: [publish] pattern: a burst needs both keys"),
    );
    assert!(
        pattern("{ burst = 5, every = \"1s\", jitter = 1 }")
            .starts_with("scenarios/x.toml:10: [publish] pattern: unknown key `jitter`"),
    );
    // At 100 msg/s a burst of 500 takes 5 s: it cannot start again every second.
    assert_eq!(
        pattern("{ burst = 500, every = \"1s\" }"),
        "scenarios/x.toml:10: [publish] pattern: a burst of 500 at 100 msg/s takes 5s, longer \
         than every (1s); raise the rate, shrink the burst or lengthen every"
    );
}

#[test]
fn bad_network_values_name_line_and_field() {
    let network = |line: &str| err(&format!("{BASE}[network]\n{line}\n"));
    assert_eq!(
        network("delay = \"20s\""),
        "scenarios/x.toml:15: [network] delay must be at most 10s (got 20s)"
    );
    assert!(
        network("jitter = \"abc\"")
            .starts_with("scenarios/x.toml:15: [network] jitter: invalid duration \"abc\": "),
    );
    assert_eq!(
        network("jitter = \"1m\""),
        "scenarios/x.toml:15: [network] jitter must be at most 10s (got 1m)"
    );
    assert_eq!(
        network("bandwidth = \"fast\""),
        "scenarios/x.toml:15: [network] bandwidth must be bytes per second (an integer) or a \
         rate such as \"10Mbit/s\" or \"1MB/s\" (got \"fast\")"
    );
    assert_eq!(
        network("bandwidth = 10"),
        "scenarios/x.toml:15: [network] bandwidth must be between 1000 and 10000000000 bytes \
         per second (got 10)"
    );
    assert_eq!(
        network("latency = \"5ms\""),
        "scenarios/x.toml:15:1: [network] latency: unknown field `latency`, \
         expected one of `delay`, `jitter`, `bandwidth`"
    );
    assert_eq!(
        network("delay = 50"),
        "scenarios/x.toml:15:9: [network] delay: invalid type: integer `50`, expected a string"
    );
}

#[test]
fn instances_balancers_and_instance_loss() {
    use wsbench::scenario::scaling::{Balancer, Scaling};
    let text = base_with(11, "[transports.ws]\ninstances = 3\nbalancer = \"haproxy\"")
        .replace("hold = \"30s\"", "hold = \"30s\"\ninstances = 2")
        + "[faults]\nkill_instance_at = \"5s\"\n";
    let s = parse(Path::new(PATH), &text).unwrap();
    assert_eq!(
        s.scaling_of(TransportKind::Ws),
        Scaling {
            instances: 3,
            balancer: Balancer::Haproxy,
            auto: false,
        }
    );
    assert_eq!(
        s.scaling_of(TransportKind::LongPoll),
        Scaling {
            instances: 2,
            balancer: Balancer::Client,
            auto: false,
        }
    );
    assert_eq!(s.scaling_of(TransportKind::Sse), Scaling::default());
    assert_eq!(s.faults.kill_instance_at, Some(Duration::from_secs(5)));
    assert_eq!(parse(Path::new(PATH), &s.to_toml()).unwrap(), s);

    let msg = err(&base_with(11, "[transports.ws]\ninstances = 0"));
    assert!(
        msg.starts_with("scenarios/x.toml:12: [transports.ws] instances must be 1 to 16, got 0"),
        "{msg}"
    );
    let msg = err(&base_with(11, "[transports.ws]\ninstances = \"many\""));
    assert!(
        msg.starts_with(
            "scenarios/x.toml:12: [transports.ws] instances must be 1 to 16, got \"many\" \
             (or \"auto\""
        ),
        "{msg}"
    );
    let auto = parse(
        Path::new(PATH),
        &base_with(11, "[transports.ws]\ninstances = \"auto\""),
    )
    .unwrap();
    assert!(auto.scaling_of(TransportKind::Ws).auto);
    assert_eq!(parse(Path::new(PATH), &auto.to_toml()).unwrap(), auto);
    let msg = err(&base_with(11, "[transports.ws]\nbalancer = \"nginx\""));
    assert!(
        msg.starts_with(
            "scenarios/x.toml:12: [transports.ws] balancer: unknown balancer \"nginx\""
        ),
        "{msg}"
    );
    let msg = err(&base_with(
        11,
        "[transports.ws]\ntls = true\ninstances = 2\nbalancer = \"haproxy\"",
    ));
    assert!(
        msg.contains("balancer = \"haproxy\" runs plain HTTP/1.1 and WebSocket only"),
        "{msg}"
    );
    // The loss of an instance needs another one to survive it, in every transport that runs.
    let msg = err(&(base_with(11, "[transports.ws]\ninstances = 2")
        + "[faults]\nkill_instance_at = \"5s\"\n"));
    assert!(
        msg.starts_with(
            "scenarios/x.toml:16: [faults] kill_instance_at needs instances = 2 or more"
        ),
        "{msg}"
    );
    // "auto" counts as several: it comes to 2 at least when a fault needs them, here where
    // one instance would hold the connections.
    for fault in ["kill_instance_at = \"5s\"", "restart_instances_at = \"5s\""] {
        let auto = base_with(11, "[transports.ws]\ninstances = \"auto\"")
            .replace("hold = \"30s\"", "hold = \"30s\"\ninstances = \"auto\"");
        let mut s = parse(Path::new(PATH), &format!("{auto}[faults]\n{fault}\n"))
            .unwrap_or_else(|e| panic!("{fault}: {e}"));
        assert_eq!(s.faults.instances_needed(), 2);
        let settled = s.settle_instances(100, 19_936);
        assert!(
            settled.iter().all(|(_, n)| *n == 2) && settled.len() == 2,
            "{fault}: {settled:?}"
        );
        // Without a fault, the same load settles to one.
        let mut plain = parse(Path::new(PATH), &auto).unwrap();
        assert!(
            plain
                .settle_instances(100, 19_936)
                .iter()
                .all(|(_, n)| *n == 1)
        );
    }
    let two = base_with(11, "[transports.ws]\ninstances = 2")
        .replace("hold = \"30s\"", "hold = \"30s\"\ninstances = 2");
    let msg = err(&(two.clone() + "[faults]\nkill_instance_at = \"25s\"\n"));
    assert!(
        msg.contains("kill_instance_at must fall inside the measured phase"),
        "{msg}"
    );
    let msg = err(&(two + "[faults]\nkill_instance_at = \"5s\"\nrestart_server_at = \"6s\"\n"));
    assert!(msg.contains("cannot be combined"), "{msg}");
    let msg = err(&(base_with(11, "[transports.ws]\ninstances = 2")
        + "[target]\nws = \"ws://127.0.0.1:9000/ws\"\n"));
    assert!(msg.contains("apply to built-in servers"), "{msg}");
}

#[test]
fn drops_and_deploys_load_write_back_and_say_what_is_wrong() {
    use wsbench::scenario::{Deploy, DeployMode, DropFault};
    let s = parse(
        Path::new(PATH),
        &(BASE.to_string() + "[faults]\ndrop = { every = \"5s\", fraction = 0.25 }\n"),
    )
    .unwrap();
    let drop = DropFault {
        every: Duration::from_secs(5),
        fraction: 0.25,
    };
    assert_eq!(s.faults.drop, Some(drop));
    assert_eq!(parse(Path::new(PATH), &s.to_toml()).unwrap(), s);
    // The defaults: every 15 s, a tenth.
    let s = parse(
        Path::new(PATH),
        &(BASE.to_string() + "[faults]\ndrop = {}\n"),
    )
    .unwrap();
    let defaults = s.faults.drop.unwrap();
    assert_eq!(
        (defaults.every, defaults.fraction),
        (Duration::from_secs(15), 0.1)
    );

    let two = base_with(11, "[transports.ws]\ninstances = 2")
        .replace("hold = \"30s\"", "hold = \"30s\"\ninstances = 2");
    let s = parse(
        Path::new(PATH),
        &(two.clone() + "[faults]\nrestart_instances_at = \"5s\"\nmode = \"all\"\n"),
    )
    .unwrap();
    let deploy = Deploy {
        at: Duration::from_secs(5),
        mode: DeployMode::All,
    };
    assert_eq!(s.faults.deploy, Some(deploy));
    assert_eq!(parse(Path::new(PATH), &s.to_toml()).unwrap(), s);
    let rolling = parse(
        Path::new(PATH),
        &(two.clone() + "[faults]\nrestart_instances_at = \"5s\"\n"),
    )
    .unwrap();
    assert_eq!(rolling.faults.deploy.unwrap().mode, DeployMode::Rolling);

    let with = |faults: &str| err(&(BASE.to_string() + "[faults]\n" + faults + "\n"));
    let cases = [
        (
            "drop = { fraction = 0.0 }",
            "scenarios/x.toml:15: [faults] drop.fraction must be above 0 and at most 1",
        ),
        (
            "drop = { fraction = 1.5 }",
            "scenarios/x.toml:15: [faults] drop.fraction must be above 0 and at most 1",
        ),
        (
            "drop = { every = \"10ms\" }",
            "scenarios/x.toml:15: [faults] drop.every must be",
        ),
        (
            "drop = { every = \"20s\" }",
            "scenarios/x.toml:15: [faults] drop.every (20s) must be shorter than the measured phase",
        ),
        (
            "drop = { every = \"5s\", often = true }",
            "scenarios/x.toml:15:",
        ),
        (
            "mode = \"all\"",
            "scenarios/x.toml:15: [faults] mode says how restart_instances_at restarts",
        ),
        (
            "restart_instances_at = \"5s\"\nmode = \"sometimes\"",
            "scenarios/x.toml:16: [faults] mode must be \"rolling\" or \"all\"",
        ),
        (
            "restart_instances_at = \"5s\"",
            "scenarios/x.toml:15: [faults] restart_instances_at needs instances = 2 or more",
        ),
    ];
    for (faults, expected) in cases {
        let msg = with(faults);
        assert!(msg.starts_with(expected), "{faults}: {msg}");
    }
    let msg = err(&(two.clone() + "[faults]\nrestart_instances_at = \"25s\"\n"));
    assert!(
        msg.contains("restart_instances_at must fall inside the measured phase"),
        "{msg}"
    );
    let msg = err(&(two + "[faults]\nrestart_instances_at = \"5s\"\nkill_instance_at = \"6s\"\n"));
    assert!(msg.contains("cannot be combined"), "{msg}");
}

#[test]
fn rooms_load_by_count_or_members_and_write_back_as_a_count() {
    let rooms = |body: &str| parse(Path::new(PATH), &format!("{BASE}[rooms]\n{body}\n"));
    let by_count = rooms("count = 100").unwrap();
    assert_eq!(by_count.rooms, Some(Rooms { count: 100 }));
    assert_eq!(
        parse(Path::new(PATH), &by_count.to_toml()).unwrap(),
        by_count
    );
    // 1000 subscribers, 10 per room: 100 rooms; 3 per room: ⌈1000 / 3⌉ = 334 (the last of 1).
    assert_eq!(
        rooms("members = 10").unwrap().rooms,
        Some(Rooms { count: 100 })
    );
    let by_members = rooms("members = 3").unwrap();
    assert_eq!(by_members.rooms, Some(Rooms { count: 334 }));
    assert_eq!(
        parse(Path::new(PATH), &by_members.to_toml()).unwrap(),
        by_members
    );
    // As many rooms as subscribers is allowed (a room each); no table, no rooms.
    assert_eq!(
        rooms("count = 1000").unwrap().rooms,
        Some(Rooms { count: 1000 })
    );
    let plain = parse(Path::new(PATH), BASE).unwrap();
    assert!(plain.rooms.is_none() && !plain.to_toml().contains("[rooms]"));
    // The misrouted column can gate a run like any other.
    let gated = format!("{BASE}[rooms]\ncount = 10\n[thresholds]\nmisrouted = 0\n");
    let gated = parse(Path::new(PATH), &gated).unwrap();
    assert_eq!(gated.thresholds[0].metric, "misrouted");
}

#[test]
fn bad_rooms_name_line_and_field() {
    let rooms = |body: &str| err(&format!("{BASE}[rooms]\n{body}\n"));
    assert_eq!(
        rooms("count = 0"),
        "scenarios/x.toml:15: [rooms] count must be at least 1 (got 0)"
    );
    assert_eq!(
        rooms("members = 0"),
        "scenarios/x.toml:15: [rooms] members must be at least 1 (got 0)"
    );
    assert_eq!(
        rooms("members = -4"),
        "scenarios/x.toml:15: [rooms] members must be at least 1 (got -4)"
    );
    assert_eq!(
        rooms("count = 1001"),
        "scenarios/x.toml:15: [rooms] count must be at most subscribers (1000): every room \
         needs a member (got 1001)"
    );
    assert_eq!(
        rooms("members = 1001"),
        "scenarios/x.toml:15: [rooms] members must be at most subscribers (1000) (got 1001)"
    );
    assert_eq!(
        rooms("count = 10\nmembers = 100"),
        "scenarios/x.toml:16: [rooms] takes count or members, not both: members sets the count"
    );
    assert_eq!(
        rooms(""),
        "scenarios/x.toml:14: [rooms] needs count (how many rooms) or members (subscribers per \
         room)"
    );
    assert_eq!(
        rooms("size = 5"),
        "scenarios/x.toml:15:1: [rooms] size: unknown field `size`, expected `count` or `members`"
    );
    assert_eq!(
        rooms("count = \"ten\""),
        "scenarios/x.toml:15:9: [rooms] count: invalid type: string \"ten\", expected an integer"
    );
    // A flag that lowers the subscribers below the rooms is named as the culprit.
    let text = format!("{BASE}[rooms]\ncount = 100\n");
    let overrides = Overrides {
        subscribers: Some(50),
        ..Overrides::default()
    };
    let e = parse(Path::new(PATH), &text)
        .unwrap()
        .with_overrides(&overrides)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "--subscribers: [rooms] count must be at most subscribers (50): every room needs a \
         member (got 100)"
    );
}

/// `[backplane]`: an existing Redis by IP address, on loopback unless `--allow-remote` (parsing
/// only: nothing here connects to any address), with an optional pid to sample.
#[test]
fn an_existing_redis_for_the_instances() {
    use wsbench::backplane::BackplaneUrl;
    use wsbench::scenario::scaling::ExistingRedis;
    let two = base_with(11, "[transports.ws]\ninstances = 2");
    let with = |table: &str| format!("{two}[backplane]\n{table}\n");
    let s = parse(
        Path::new(PATH),
        &with("redis = \"redis://127.0.0.1:6390/2\"\nredis_pid = 77"),
    )
    .unwrap();
    assert_eq!(
        s.backplane,
        Some(ExistingRedis {
            url: BackplaneUrl::parse("redis://127.0.0.1:6390/2", false).unwrap(),
            pid: Some(77),
        })
    );
    assert_eq!(parse(Path::new(PATH), &s.to_toml()).unwrap(), s);
    let s = parse(Path::new(PATH), &with("redis = \"redis://[::1]:6379\"")).unwrap();
    assert_eq!(s.backplane.unwrap().pid, None);

    // Off loopback: refused, naming the flag that allows it; allowed by it, and kept on the way back.
    let remote = with("redis = \"redis://192.0.2.9:6379\"");
    assert_eq!(
        err(&remote),
        "scenarios/x.toml:16: [backplane] redis: backplane URL \"redis://192.0.2.9:6379\" is not \
         on loopback: wsbench sends nothing off loopback without --allow-remote"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("remote.toml");
    std::fs::write(&file, &remote).unwrap();
    let allow = Overrides {
        allow_remote: true,
        ..Overrides::default()
    };
    let s = wsbench::scenario::load_with(&file, &allow).unwrap();
    let url = &s.backplane.as_ref().unwrap().url;
    assert_eq!(url.addr.to_string(), "192.0.2.9:6379");
    assert_eq!(s.with_overrides(&Overrides::default()).unwrap(), s);

    // Bad values: file, line and field.
    for (table, line, message) in [
        (
            "redis = \"redis://localhost:6379\"",
            16,
            "[backplane] redis: backplane URL \"redis://localhost:6379\": the host must be IP:PORT",
        ),
        (
            "redis = \"http://127.0.0.1:6379\"",
            16,
            "[backplane] redis: backplane URL \"http://127.0.0.1:6379\": must start with redis://",
        ),
        (
            "redis = \"redis://127.0.0.1:6379\"\nredis_pid = 0",
            17,
            "[backplane] redis_pid must be a process id (got 0)",
        ),
        (
            "redis_pid = 12",
            16,
            "[backplane] needs redis = \"redis://IP:PORT\"",
        ),
    ] {
        let msg = err(&with(table));
        let want = format!("scenarios/x.toml:{line}: {message}");
        assert!(msg.starts_with(&want), "{msg}\nwanted {want}");
    }
    let msg = err(&(two.clone() + "[backplane]\nredis = 6379\n"));
    assert!(
        msg.starts_with("scenarios/x.toml:16:9: [backplane] redis: invalid type: integer"),
        "{msg}"
    );
    let msg = err(&(two.clone() + "[backplane]\nredsi = \"redis://127.0.0.1:1\"\n"));
    assert!(
        msg.starts_with(
            "scenarios/x.toml:16:1: [backplane] redsi: unknown field `redsi`, expected `redis` or `redis_pid`"
        ),
        "{msg}"
    );
    // No transport runs several instances: nothing would use it.
    let msg = err(&(BASE.to_string() + "[backplane]\nredis = \"redis://127.0.0.1:6379\"\n"));
    assert!(
        msg.starts_with("scenarios/x.toml:15: [backplane] redis is shared by transports with instances = 2 or more"),
        "{msg}"
    );
}

#[test]
fn socketio_recovery_is_asked_for_with_a_boolean() {
    let head = "duration = \"2s\"\n[clients]\nsubscribers = 4\n[publish]\npublishers = 1\nrate = 4\n[target]\n";
    let with = |value: &str| {
        format!(
            "{head}socketio = {{ url = \"http://127.0.0.1:3000\", transports = [\"websocket\"]{value} }}\n"
        )
    };
    let recovery = |text: &str| match &parse(Path::new(PATH), text).unwrap().transports[..] {
        [Transport::SocketIo(io)] => io.recovery,
        other => panic!("{other:?}"),
    };
    assert!(!recovery(&with("")));
    assert!(recovery(&with(", recovery = true")));
    let msg = err(&with(", recovery = \"yes\""));
    assert!(msg.starts_with("scenarios/x.toml:8"), "{msg}");
    assert!(msg.contains("recovery must be true or false"), "{msg}");
}

/// `BASE` with the long-poll table's `hold` line replaced by `lines`.
fn longpoll_with(lines: &str) -> String {
    base_with(13, &format!("hold = \"30s\"\n{lines}"))
}

#[test]
fn http3_adds_an_h3_run_and_is_written_back() {
    let labels = |text: &str| -> Vec<String> {
        let s = parse(Path::new(PATH), text).unwrap();
        s.runs().iter().map(|(t, v)| v.label(t.kind())).collect()
    };
    assert_eq!(
        labels(&longpoll_with("http3 = true")),
        ["ws", "longpoll-h3"]
    );
    let both = longpoll_with("http2 = [false, true]\ntls = [false, true]\nhttp3 = [false, true]");
    let runs = [
        "ws",
        "longpoll",
        "longpoll-h2",
        "longpoll-tls",
        "longpoll-h2-tls",
        "longpoll-h3",
    ];
    assert_eq!(labels(&both), runs);
    let s = parse(Path::new(PATH), &both).unwrap();
    assert_eq!(labels(&s.to_toml()), runs);
    let sse = BASE.to_string() + "[transports.sse]\nhttp3 = [true, false]\n";
    assert_eq!(labels(&sse), ["ws", "longpoll", "sse", "sse-h3"]);
    let short = BASE.to_string() + "[transports.shortpoll]\nhttp3 = true\ntls = true\n";
    assert_eq!(labels(&short), ["ws", "longpoll", "shortpoll-h3"]);
}

#[test]
fn http3_mistakes_name_file_line_and_field() {
    let e = err(&longpoll_with("http3 = 1"));
    assert!(e.contains("x.toml:14") && e.contains("http3"), "{e}");
    assert!(e.contains("expected true, false or a list"), "{e}");
    let e = err(&longpoll_with("tls = false\nhttp3 = true"));
    assert!(e.contains("x.toml:14") && e.contains("tls"), "{e}");
    assert!(e.contains("QUIC, which is always TLS"), "{e}");
    let e = err(&longpoll_with("http2 = true\nhttp3 = true"));
    assert!(e.contains("x.toml:15") && e.contains("http3"), "{e}");
    assert!(e.contains("never combined with HTTP/2"), "{e}");
    for coding in ["gzip", "br"] {
        let e = err(&longpoll_with(&format!(
            "compress = \"{coding}\"\nhttp3 = [false, true]"
        )));
        assert!(e.contains("x.toml:15") && e.contains("http3"), "{e}");
        assert!(e.contains("does not decode compressed answers"), "{e}");
    }
    let e = err(&(BASE.to_string() + "[transports.sse]\nhttp3 = []\n"));
    assert!(
        e.contains("x.toml:15") && e.contains("must not be empty"),
        "{e}"
    );
    let e = err(&longpoll_with(
        "http3 = true\n[target]\nlongpoll = \"http://127.0.0.1:9000\"",
    ));
    assert!(
        e.contains("x.toml:14") && e.contains("http3 needs the built-in server"),
        "{e}"
    );
    // haproxy balances TCP: it cannot carry QUIC.
    let e = err(&longpoll_with(
        "http3 = true\ninstances = 2\nbalancer = \"haproxy\"",
    ));
    assert!(
        e.contains("balancer = \"haproxy\" runs plain HTTP/1.1"),
        "{e}"
    );
    assert!(e.contains("remove tls/http2/http3"), "{e}");
}
