//! The log's entry format, both ways: the script that appends a batch ([`APPEND`]), and the
//! entries of an `XREAD` reply as that script wrote them. Pure: no connection, no clock.

use bytes::Bytes;
use redis::Value;

/// Appends the messages of one batch with consecutive numbers from the room's counter, each as
/// the entry `<seq>-0`, so the stream's entry ids are the hub's sequence numbers.
/// KEYS: stream, counter. ARGV: the stream's bound, then per message its publish time (unix ns),
/// whether it is text (1/0), and its bytes. Returns the last number given.
pub const APPEND: &str = r"
local count = (#ARGV - 1) / 3
local last = redis.call('INCRBY', KEYS[2], count)
for i = 0, count - 1 do
  local id = string.format('%d-0', last - count + 1 + i)
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], id,
    't', ARGV[2 + 3 * i], 'x', ARGV[3 + 3 * i], 'd', ARGV[4 + 3 * i])
end
return last
";

/// One entry of the log, as the append script wrote it.
#[derive(Debug, PartialEq)]
pub struct Entry {
    /// Its number: the entry id `<seq>-0`, the hub's sequence number.
    pub seq: u64,
    /// When the publishing instance appended it (unix ns, that instance's clock).
    pub at_ns: u64,
    /// Published as text (a WebSocket text message).
    pub text: bool,
    /// The message's payload.
    pub payload: Bytes,
}

/// The entries of an `XREAD` reply on one stream (none for a timed-out read).
pub fn entries(reply: Value) -> Result<Vec<Entry>, String> {
    let streams = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(streams) => streams,
        Value::Map(pairs) => pairs
            .into_iter()
            .map(|(k, v)| Value::Array(vec![k, v]))
            .collect(),
        other => return Err(format!("XREAD answered {other:?}")),
    };
    let mut out = Vec::new();
    for stream in streams {
        let Value::Array(mut pair) = stream else {
            return Err("a stream is not [key, entries]".into());
        };
        let Some(Value::Array(items)) = pair.pop() else {
            return Err("a stream has no entry list".into());
        };
        for item in items {
            out.push(entry(item)?);
        }
    }
    Ok(out)
}

fn entry(item: Value) -> Result<Entry, String> {
    let Value::Array(parts) = item else {
        return Err("an entry is not [id, fields]".into());
    };
    let mut parts = parts.into_iter();
    let (Some(Value::BulkString(id)), Some(Value::Array(fields))) = (parts.next(), parts.next())
    else {
        return Err("an entry is not [id, fields]".into());
    };
    let id = String::from_utf8_lossy(&id).into_owned();
    let seq = id
        .strip_suffix("-0")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("entry id {id} is not <seq>-0"))?;
    let (mut at_ns, mut text, mut payload) = (None, false, None);
    let mut fields = fields.into_iter();
    while let (Some(Value::BulkString(name)), Some(Value::BulkString(value))) =
        (fields.next(), fields.next())
    {
        match name.as_slice() {
            b"t" => {
                at_ns = std::str::from_utf8(&value)
                    .ok()
                    .and_then(|v| v.parse().ok())
            }
            b"x" => text = value == b"1",
            b"d" => payload = Some(Bytes::from(value)),
            _ => {}
        }
    }
    match (at_ns, payload) {
        (Some(at_ns), Some(payload)) => Ok(Entry {
            seq,
            at_ns,
            text,
            payload,
        }),
        _ => Err(format!("entry {id} lacks its time or its data")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn xread_replies_become_numbered_entries() {
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("wsbench:room:0"),
            Value::Array(vec![
                Value::Array(vec![
                    bulk("7-0"),
                    Value::Array(vec![
                        bulk("t"),
                        bulk("123"),
                        bulk("x"),
                        bulk("1"),
                        bulk("d"),
                        bulk("hi"),
                    ]),
                ]),
                Value::Array(vec![
                    bulk("8-0"),
                    Value::Array(vec![
                        bulk("t"),
                        bulk("124"),
                        bulk("x"),
                        bulk("0"),
                        bulk("d"),
                        bulk(""),
                    ]),
                ]),
            ]),
        ])]);
        let got = entries(reply).unwrap();
        assert_eq!(
            got,
            vec![
                Entry {
                    seq: 7,
                    at_ns: 123,
                    text: true,
                    payload: Bytes::from_static(b"hi")
                },
                Entry {
                    seq: 8,
                    at_ns: 124,
                    text: false,
                    payload: Bytes::new()
                },
            ]
        );
        assert!(entries(Value::Nil).unwrap().is_empty());
        let foreign = Value::Array(vec![Value::Array(vec![
            bulk("k"),
            Value::Array(vec![Value::Array(vec![
                bulk("1700000000000-3"),
                Value::Array(vec![]),
            ])]),
        ])]);
        assert!(entries(foreign).unwrap_err().contains("not <seq>-0"));
    }
}
