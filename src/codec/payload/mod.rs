//! What a published message looks like around its [envelope](super::envelope): the payload
//! models of `[publish] payload`.
//!
//! A compressor's ratio depends on nothing but the bytes it is given, so a comparison of
//! compressed transports is only as honest as its payloads. The envelope padded with `.`
//! ([`PayloadModel::Padding`], the default, what byte-exact tests want) shrinks thirtyfold;
//! [`PayloadModel::Chat`] looks like a chat application's JSON messages in several languages;
//! [`PayloadModel::Random`] is as incompressible as text gets; [`PayloadModel::File`] draws the
//! lines of a user's own corpus.
//!
//! Every model writes exactly `payload_bytes` bytes per message (shortening the last piece of
//! text at a character boundary and padding with spaces), so the payload bytes of a run stay
//! `messages × payload_bytes`, exact, whatever the model. Every model starts with the envelope,
//! so it is the first marker a subscriber finds. The text is drawn from the scenario's seed, the
//! publisher and the sequence number: a rerun with the same seed publishes the same texts.

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use super::envelope::{Envelope, MAX_HEADER_LEN};

/// The built-in corpus: chat lines in English, Chinese, Japanese, Korean, Spanish, German,
/// French, Russian, Portuguese, Italian, Hindi, Arabic, Turkish and Polish, emoji among them.
const CORPUS: &str = include_str!("corpus.txt");

/// Chat user names, of every script the corpus has.
const USERS: [&str; 12] = [
    "alice",
    "bob",
    "李雷",
    "韩梅梅",
    "sakura",
    "José",
    "Zoë",
    "Дмитрий",
    "민준",
    "Ana",
    "priya",
    "ömer",
];

/// Epoch of a chat message's `ts` (milliseconds, 2026-01-01T00:00:00Z) to which the envelope's
/// intended time is added, so the field looks like a wall-clock time and is deterministic.
const TS_EPOCH_MS: u64 = 1_767_225_600_000;

/// The 64 characters a random payload is drawn from: base64's, so a random payload looks like
/// what an encrypted or already-compressed blob is once carried as text (6 bits a byte).
const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Largest corpus file read, so a mistaken path (a disk image) fails fast.
pub const MAX_CORPUS_BYTES: u64 = 64 << 20;

/// `[publish] payload`: what fills a message around its envelope.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum PayloadModel {
    /// `"padding"`: the envelope, then `.` up to the size.
    #[default]
    Padding,
    /// `"chat"`: a JSON chat message, `{"id":"<envelope>","user":…,"room":…,"ts":…,"text":…}`,
    /// its text drawn from the built-in multilingual corpus.
    Chat,
    /// `"random"`: the envelope, then characters drawn uniformly from base64's alphabet.
    Random,
    /// `{ file = "…" }`: the envelope, a space, then lines of the file separated by spaces.
    File(Corpus),
}

/// The lines of a user's corpus file (`[publish] payload = { file = "…" }`).
#[derive(Clone, PartialEq)]
pub struct Corpus {
    /// Where it was read from, absolute, as the scenario is written back.
    path: PathBuf,
    /// Its non-empty lines, without line ends.
    lines: Arc<[Box<str>]>,
}

impl std::fmt::Debug for Corpus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Corpus({}, {} lines)",
            self.path.display(),
            self.lines.len()
        )
    }
}

/// Why a corpus file cannot serve.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// It could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// It is larger than [`MAX_CORPUS_BYTES`].
    #[error("{} is {len} bytes, more than the {MAX_CORPUS_BYTES} a corpus may have", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        len: u64,
    },
    /// A line is not UTF-8 (every transport carries messages as text).
    #[error("{}:{line}: not UTF-8 text", path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
    },
    /// It has no non-empty line.
    #[error("{} has no non-empty line", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

impl Corpus {
    /// Reads the lines of the file at `path`.
    pub fn read(path: &Path) -> Result<Corpus, CorpusError> {
        let read = |source| CorpusError::Read {
            path: path.to_path_buf(),
            source,
        };
        let len = std::fs::metadata(path).map_err(read)?.len();
        if len > MAX_CORPUS_BYTES {
            return Err(CorpusError::TooLarge {
                path: path.to_path_buf(),
                len,
            });
        }
        let bytes = std::fs::read(path).map_err(read)?;
        Corpus::from_bytes(path, &bytes)
    }

    /// The corpus of a file's contents, `path` naming it.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Corpus, CorpusError> {
        let mut lines = Vec::new();
        for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
            let line = std::str::from_utf8(line).map_err(|_| CorpusError::NotUtf8 {
                path: path.to_path_buf(),
                line: i + 1,
            })?;
            // A line end never enters a message: an SSE event's data cannot hold one.
            let line = line.trim_end_matches('\r');
            if !line.trim().is_empty() {
                lines.push(Box::from(line));
            }
        }
        if lines.is_empty() {
            return Err(CorpusError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(Corpus {
            path: path.to_path_buf(),
            lines: lines.into(),
        })
    }

    /// Where it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many lines it has.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether it has no line (never, once read).
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

/// The built-in corpus's lines.
static BUILTIN: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| CORPUS.lines().filter(|l| !l.trim().is_empty()).collect());

/// Which message is to be written: what decides its bytes besides the model and the size.
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    /// Its envelope.
    pub envelope: Envelope,
    /// The room it is published into (a chat message names it).
    pub room: u32,
    /// The scenario's seed.
    pub seed: u64,
}

impl PayloadModel {
    /// The name a report and a variant print: `padding`, `chat`, `random`, `file`.
    pub fn name(&self) -> &'static str {
        match self {
            PayloadModel::Padding => "padding",
            PayloadModel::Chat => "chat",
            PayloadModel::Random => "random",
            PayloadModel::File(_) => "file",
        }
    }

    /// The fewest bytes a message of this model can have: the envelope's widest header, and for
    /// a chat message its fields at their widest.
    pub fn min_bytes(&self) -> usize {
        match self {
            PayloadModel::Chat => chat_min_bytes(),
            PayloadModel::Padding | PayloadModel::Random | PayloadModel::File(_) => MAX_HEADER_LEN,
        }
    }

    /// The value as a scenario file writes it.
    pub fn toml_value(&self) -> toml::Value {
        match self {
            PayloadModel::File(c) => {
                let mut table = toml::Table::new();
                let path = c.path.to_string_lossy().into_owned();
                table.insert("file".into(), toml::Value::String(path));
                toml::Value::Table(table)
            }
            other => toml::Value::String(other.name().into()),
        }
    }

    /// The message of `slot`, exactly `size` bytes (at least [`PayloadModel::min_bytes`]; a
    /// smaller size gets the shortest message the model has).
    pub fn message(&self, slot: &Slot, size: usize) -> Vec<u8> {
        let mut rng = fastrand::Rng::with_seed(mix(slot));
        match self {
            PayloadModel::Padding => slot.envelope.encode(size),
            PayloadModel::Random => {
                let mut out = slot.envelope.encode(0);
                while out.len() < size {
                    out.push(BASE64[rng.usize(..BASE64.len())]);
                }
                out
            }
            PayloadModel::File(corpus) => {
                let mut out = slot.envelope.encode(0);
                out.push(b' ');
                let lines = &corpus.lines;
                let pick = |rng: &mut fastrand::Rng| &*lines[rng.usize(..lines.len())];
                fill(&mut out, size, &mut rng, pick, false);
                out
            }
            PayloadModel::Chat => chat(slot, size, &mut rng),
        }
    }
}

/// A JSON chat message of exactly `size` bytes (if it has room for its fields).
fn chat(slot: &Slot, size: usize, rng: &mut fastrand::Rng) -> Vec<u8> {
    let user = USERS[rng.usize(..USERS.len())];
    let ts = TS_EPOCH_MS + slot.envelope.intended_ns / 1_000_000;
    let mut out = b"{\"id\":\"".to_vec();
    out.extend(slot.envelope.encode(0));
    out.extend(
        format!(
            "\",\"user\":\"{user}\",\"room\":\"{}\",\"ts\":{ts},\"text\":\"",
            slot.room
        )
        .bytes(),
    );
    let lines = &*BUILTIN;
    let pick = |rng: &mut fastrand::Rng| lines[rng.usize(..lines.len())];
    fill(
        &mut out,
        size.saturating_sub(CHAT_END.len()),
        rng,
        pick,
        true,
    );
    out.extend_from_slice(CHAT_END);
    out
}

/// What closes a chat message.
const CHAT_END: &[u8] = b"\"}";

/// The widest chat message with an empty text.
fn chat_min_bytes() -> usize {
    let widest_user = USERS.iter().map(|u| u.len()).max().unwrap_or(0);
    let fields = "{\"id\":\"\",\"user\":\"\",\"room\":\"\",\"ts\":,\"text\":\"\"}".len();
    // A room is a u32; the ts is the epoch plus at most 10^11 ms: 13 digits.
    fields + MAX_HEADER_LEN + widest_user + 10 + 13
}

/// Appends lines `pick` draws, separated by spaces (JSON-escaped if `json`), until `out` is
/// `end` bytes long: the last line shortened at a character, then spaces.
fn fill<'a>(
    out: &mut Vec<u8>,
    end: usize,
    rng: &mut fastrand::Rng,
    mut pick: impl FnMut(&mut fastrand::Rng) -> &'a str,
    json: bool,
) {
    let start = out.len();
    let mut buf = [0u8; 6];
    'lines: while out.len() < end {
        if out.len() > start {
            out.push(b' ');
        }
        for c in pick(rng).chars() {
            let bytes: &[u8] = match c {
                '"' if json => b"\\\"",
                '\\' if json => b"\\\\",
                c if json && (c as u32) < 0x20 => {
                    let escaped = format!("\\u{:04x}", c as u32);
                    buf.copy_from_slice(escaped.as_bytes());
                    &buf
                }
                c => c.encode_utf8(&mut buf).as_bytes(),
            };
            if out.len() + bytes.len() > end {
                break 'lines;
            }
            out.extend_from_slice(bytes);
        }
    }
    if out.len() < end {
        out.resize(end, b' ');
    }
}

/// The seed of one message's text: the scenario's seed, the publisher and the sequence number
/// through SplitMix64's finalizer, so neighbouring messages draw unrelated texts.
fn mix(slot: &Slot) -> u64 {
    let e = &slot.envelope;
    let mut z =
        slot.seed ^ (u64::from(e.publisher) << 40) ^ e.seq.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests;
