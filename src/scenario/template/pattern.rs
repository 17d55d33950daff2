//! A template string (`{msg}`, `{room}`), split at its placeholders once at load time, and
//! rendered by the clients for every message.

/// One piece of a template: text as written, or a placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Msg,
    Room,
}

/// A template string, split at its placeholders once, at load time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    written: String,
    pieces: Vec<Piece>,
}

/// The placeholders a template may hold.
const PLACEHOLDERS: [&str; 2] = ["{msg}", "{room}"];

impl Pattern {
    /// Splits `text` at `{msg}` and `{room}`; any other `{word}` is an error (a typo would
    /// otherwise go to the server as text).
    pub(super) fn parse(text: &str) -> Result<Pattern, String> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let tail = &rest[open..];
            let hit = PLACEHOLDERS.iter().find(|p| tail.starts_with(**p));
            match hit {
                Some(p) => {
                    if open > 0 {
                        pieces.push(Piece::Text(rest[..open].to_string()));
                    }
                    pieces.push(if *p == "{msg}" {
                        Piece::Msg
                    } else {
                        Piece::Room
                    });
                    rest = &tail[p.len()..];
                }
                None => {
                    let word = tail[1..].split('}').next().filter(|w| {
                        !w.is_empty()
                            && w.len() < tail.len() - 1
                            && w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    });
                    if let Some(word) = word {
                        return Err(format!(
                            "{{{word}}} is not a placeholder ({{msg}} and {{room}} are)"
                        ));
                    }
                    pieces.push(Piece::Text(rest[..=open].to_string()));
                    rest = &tail[1..];
                }
            }
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        Ok(Pattern {
            written: text.to_string(),
            pieces,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.written
    }

    /// Whether it holds `{msg}`.
    pub(super) fn has_msg(&self) -> bool {
        self.pieces.contains(&Piece::Msg)
    }

    /// The bytes with `msg` and `room` in place.
    pub fn render(&self, msg: &[u8], room: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.written.len() + msg.len());
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.extend_from_slice(t.as_bytes()),
                Piece::Msg => out.extend_from_slice(msg),
                Piece::Room => out.extend_from_slice(room.to_string().as_bytes()),
            }
        }
        out
    }

    /// A template that opens with `{` or `[` is JSON: filled in, it must parse, and `{msg}` must
    /// sit inside a JSON string, so the server decodes the envelope as it went in. Checked with
    /// a sample message made of every character an envelope holds.
    pub(super) fn check_json(&self) -> Result<(), String> {
        const SAMPLE: &str = "~wsb:0123abcd:9:8:7~....";
        if !self.written.trim_start().starts_with(['{', '[']) {
            return Ok(());
        }
        let filled = self.render(SAMPLE.as_bytes(), 0);
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(&filled) else {
            let quoted = self.render(format!("\"{SAMPLE}\"").as_bytes(), 0);
            let hint = if serde_json::from_slice::<serde_json::Value>(&quoted).is_ok() {
                ": {msg} is not inside a JSON string (write \"{msg}\")"
            } else {
                ""
            };
            return Err(format!(
                "{:?} opens like JSON but is not JSON once filled in{hint}",
                self.written
            ));
        };
        fn strings_hold(v: &serde_json::Value) -> bool {
            match v {
                serde_json::Value::String(s) => s.contains(SAMPLE),
                serde_json::Value::Array(a) => a.iter().any(strings_hold),
                serde_json::Value::Object(o) => {
                    o.keys().any(|k| k.contains(SAMPLE)) || o.values().any(strings_hold)
                }
                _ => false,
            }
        }
        if strings_hold(&value) {
            Ok(())
        } else {
            Err(format!(
                "{:?} is JSON, but {{msg}} is not inside a JSON string: the message would not \
                 arrive as sent",
                self.written
            ))
        }
    }
}
