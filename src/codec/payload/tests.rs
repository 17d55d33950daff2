use super::*;
use crate::codec::envelope::RunTag;

fn slot(seed: u64, publisher: u32, seq: u64) -> Slot {
    Slot {
        envelope: Envelope {
            run: RunTag(0xbeef),
            publisher,
            seq,
            intended_ns: 1_234_567_890 + seq,
        },
        room: 3,
        seed,
    }
}

fn file_corpus() -> PayloadModel {
    let text = "first line \"quoted\"\r\n\n  \nzweite Zeile ✅\n第三行\n";
    PayloadModel::File(Corpus::from_bytes(Path::new("/corpus.txt"), text.as_bytes()).unwrap())
}

fn models() -> Vec<PayloadModel> {
    vec![
        PayloadModel::Padding,
        PayloadModel::Chat,
        PayloadModel::Random,
        file_corpus(),
    ]
}

#[test]
fn every_model_writes_exactly_the_size_and_the_envelope_parses() {
    for model in models() {
        for size in [model.min_bytes(), 200, 257, 1000, 4096] {
            for seq in 0..50 {
                let s = slot(7, 2, seq);
                let m = model.message(&s, size);
                assert_eq!(m.len(), size, "{} at {size}", model.name());
                assert_eq!(Envelope::find(&m), Some(s.envelope), "{}", model.name());
                assert!(std::str::from_utf8(&m).is_ok(), "{} is text", model.name());
                assert!(!m.contains(&b'\n') && !m.contains(&b'\r'));
            }
        }
    }
}

#[test]
fn messages_are_deterministic_per_seed_and_differ_across_seeds() {
    for model in [PayloadModel::Chat, PayloadModel::Random, file_corpus()] {
        let a: Vec<_> = (0..20)
            .map(|q| model.message(&slot(1, 0, q), 300))
            .collect();
        let b: Vec<_> = (0..20)
            .map(|q| model.message(&slot(1, 0, q), 300))
            .collect();
        let c: Vec<_> = (0..20)
            .map(|q| model.message(&slot(2, 0, q), 300))
            .collect();
        assert_eq!(a, b, "{}", model.name());
        assert_ne!(a, c, "{}", model.name());
        // Neighbouring messages differ beyond their envelopes.
        let tail = |m: &Vec<u8>| m[MAX_HEADER_LEN + 20..].to_vec();
        assert_ne!(tail(&a[0]), tail(&a[1]), "{}", model.name());
    }
}

#[test]
fn chat_messages_are_json_with_multilingual_text() {
    let mut scripts = (false, false);
    for seq in 0..200 {
        let s = slot(3, 1, seq);
        let m = PayloadModel::Chat.message(&s, 256);
        let v: serde_json::Value = serde_json::from_slice(&m).expect("valid JSON");
        assert_eq!(v["room"], "3");
        let id = v["id"].as_str().unwrap();
        assert_eq!(Envelope::find(id.as_bytes()), Some(s.envelope));
        let text = v["text"].as_str().unwrap();
        scripts.0 |= text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
        scripts.1 |= text.chars().any(|c| c as u32 >= 0x1f300);
    }
    assert_eq!(scripts, (true, true), "Chinese and emoji both drawn");
}

#[test]
fn random_messages_draw_base64_after_the_envelope() {
    let m = PayloadModel::Random.message(&slot(1, 0, 0), 1000);
    let header = slot(1, 0, 0).envelope.encode(0).len();
    assert!(m[header..].iter().all(|b| BASE64.contains(b)));
    let distinct: std::collections::HashSet<_> = m[header..].iter().collect();
    assert_eq!(distinct.len(), 64);
}

#[test]
fn a_file_corpus_keeps_its_lines_and_names_a_bad_one() {
    let PayloadModel::File(c) = file_corpus() else {
        unreachable!()
    };
    assert_eq!(c.len(), 3);
    let m = PayloadModel::File(c).message(&slot(1, 0, 0), 500);
    let text = std::str::from_utf8(&m).unwrap();
    assert!(
        text.contains("first line \"quoted\"")
            || text.contains("第三行")
            || text.contains("zweite")
    );
    let err = Corpus::from_bytes(Path::new("/c.txt"), b"ok\n\xff\xfe\n").unwrap_err();
    assert_eq!(err.to_string(), "/c.txt:2: not UTF-8 text");
    let err = Corpus::from_bytes(Path::new("/c.txt"), b"\n \r\n").unwrap_err();
    assert_eq!(err.to_string(), "/c.txt has no non-empty line");
}

#[test]
fn the_default_padding_is_the_envelope_padded_with_dots() {
    let s = slot(1, 0, 0);
    assert_eq!(
        PayloadModel::Padding.message(&s, 100),
        s.envelope.encode(100)
    );
}
