//! `[publish] payload`: the models load from a scenario (and refuse what cannot serve, naming
//! file, line and field), and a run on a non-padding model still delivers every message exactly
//! once, its envelope found in each.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::path::Path;

use tokio_util::sync::CancellationToken;
use wsbench::client::{Target, drive};
use wsbench::codec::payload::PayloadModel;
use wsbench::scenario::{Transport, WsClient, parse};

const PATH: &str = "scenarios/x.toml";

fn scenario(publish_lines: &str) -> String {
    format!(
        "name = \"x\"\nduration = \"2s\"\n[clients]\nsubscribers = 10\n[publish]\nrate = 10\n\
         {publish_lines}\n[transports.ws]\n"
    )
}

fn err(text: &str) -> String {
    parse(Path::new(PATH), text).unwrap_err().to_string()
}

#[test]
fn models_load_and_write_back() {
    for (line, name) in [
        ("payload = \"padding\"", "padding"),
        ("payload = \"chat\"\npayload_bytes = 256", "chat"),
        ("payload = \"random\"", "random"),
    ] {
        let s = parse(Path::new(PATH), &scenario(line)).unwrap();
        assert_eq!(s.publish.payload.name(), name);
        assert_eq!(parse(Path::new(PATH), &s.to_toml()).unwrap(), s);
    }
    let plain = parse(Path::new(PATH), &scenario("")).unwrap();
    assert_eq!(plain.publish.payload, PayloadModel::Padding);
    assert!(!plain.to_toml().contains("payload ="));
}

#[test]
fn a_file_corpus_loads_relative_to_the_scenario() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("lines.txt"), "one\ntwo\n\nthree\n").unwrap();
    let path = dir.path().join("x.toml");
    let text = scenario("payload = { file = \"lines.txt\" }");
    let s = parse(&path, &text).unwrap();
    let PayloadModel::File(corpus) = &s.publish.payload else {
        panic!("{:?}", s.publish.payload)
    };
    assert_eq!(corpus.len(), 3);
    assert_eq!(corpus.path(), dir.path().join("lines.txt"));
    // Written back with its absolute path, it loads from anywhere.
    assert_eq!(parse(Path::new(PATH), &s.to_toml()).unwrap(), s);
}

#[test]
fn bad_models_name_line_and_field() {
    assert_eq!(
        err(&scenario("payload = \"zip\"")),
        "scenarios/x.toml:7: [publish] payload: expected \"padding\", \"chat\", \"random\" or \
         { file = \"<path>\" } (got \"zip\")"
    );
    let e = err(&scenario("payload = { file = \"no-such-corpus.txt\" }"));
    assert!(
        e.starts_with("scenarios/x.toml:7: [publish] payload: cannot read ")
            && e.contains("no-such-corpus.txt"),
        "{e}"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.txt"), b"fine\n\xff\n").unwrap();
    let e = parse(
        &dir.path().join("x.toml"),
        &scenario("payload = { file = \"bad.txt\" }"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.ends_with("bad.txt:2: not UTF-8 text"), "{e}");
    // A chat message needs room for its fields.
    let e = err(&scenario("payload = \"chat\"\npayload_bytes = 64"));
    assert!(
        e.starts_with("scenarios/x.toml:8: [publish] payload_bytes must be at least ")
            && e.contains("payload = \"chat\""),
        "{e}"
    );
}

/// Every message of every model arrives, once, found by its envelope, and the payload bytes are
/// messages × size whatever the model.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_on_every_model_deliver_everything() {
    for model in [PayloadModel::Chat, PayloadModel::Random] {
        let mut plan = common::small_plan();
        plan.payload = model.clone();
        plan.payload_bytes = 300;
        let transport = Transport::Ws {
            ping_interval: None,
            client: WsClient::Wsbench,
            resume: false,
        };
        let (addr, stop) = common::start_server(transport.kind()).await;
        let target = Target::new(transport, addr).unwrap();
        let o = drive(&plan, &target, &CancellationToken::new(), &mut |_| {})
            .await
            .unwrap();
        stop.cancel();
        let d = o.recorder.counts.delivery;
        assert_eq!(o.messages_published, 100, "{}", model.name());
        assert_eq!(d.delivered, 100 * u64::from(plan.subscribers));
        assert_eq!((d.lost, d.duplicated, o.recorder.counts.foreign), (0, 0, 0));
        assert_eq!(o.payload_wire.down, d.delivered * 300);
        // Frames of 126..=65535 bytes have a 4-byte header from the server.
        assert_eq!(o.wire.down, d.delivered * (300 + 4));
    }
}

#[test]
fn compression_keys_make_variants_and_write_back() {
    use wsbench::protocol::TransportKind;
    let text = "name = \"x\"\nduration = \"2s\"\n[clients]\nsubscribers = 10\n[publish]\nrate = 10\n\
                payload = \"chat\"\npayload_bytes = 256\n\
                [transports.ws]\ndeflate = [false, true, { context_takeover = true, window_bits = 9 }]\n\
                [transports.longpoll]\ncompress = [\"none\", \"gzip\"]\n\
                [transports.shortpoll]\ncompress = \"gzip\"\n\
                [transports.sse]\ncompress = [\"br\", \"none\", \"gzip\"]\n";
    let s = parse(Path::new(PATH), text).unwrap();
    let labels = |kind| -> Vec<String> {
        s.variants_of(kind)
            .expand()
            .into_iter()
            .map(|v| v.label(kind))
            .collect()
    };
    assert_eq!(
        labels(TransportKind::Ws),
        ["ws", "ws-deflate", "ws-deflate-ctx-w9"]
    );
    assert_eq!(
        labels(TransportKind::LongPoll),
        ["longpoll", "longpoll-gzip"]
    );
    assert_eq!(labels(TransportKind::ShortPoll), ["shortpoll-gzip"]);
    assert_eq!(labels(TransportKind::Sse), ["sse", "sse-gzip", "sse-br"]);
    assert_eq!(parse(Path::new(PATH), &s.to_toml()).unwrap(), s);
    assert_eq!(
        err(&text.replace("compress = \"gzip\"", "compress = \"zstd\"")),
        "scenarios/x.toml:14: [transports.shortpoll] compress: expected \"none\", \"gzip\", \
         \"br\" or a list of them such as [\"none\", \"gzip\", \"br\"] (got \"zstd\")"
    );
    let tungstenite = text.replace(
        "[transports.ws]\n",
        "[transports.ws]\nclient = \"tungstenite\"\n",
    );
    assert!(
        err(&tungstenite).contains("only the wsbench client speaks permessage-deflate"),
        "{}",
        err(&tungstenite)
    );
}
