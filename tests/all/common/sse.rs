//! SSE's byte accounting, to the byte: what a run's clients sent and received must be exactly the
//! real request and response heads, the events, and a whole number of chunk framings.

use wsbench::client::ClientOutcome;

/// The sizes an SSE run's bytes are made of, each read off a real exchange with the server.
#[derive(Debug, Clone, Copy)]
pub struct SseSizes {
    /// Subscribers that held a stream.
    pub subscribers: u64,
    /// One `GET /events` request.
    pub events_request: u64,
    /// One `POST /publish` request head.
    pub publish_request: u64,
    /// One message's payload.
    pub payload: u64,
    /// The stream's response head.
    pub stream_head: u64,
    /// One publish's response.
    pub publish_head: u64,
    /// One event (every event has the same length: seven-digit ids).
    pub event: u64,
    /// One chunk's size line (`3FC\r\n`); its trailing `\r\n` is counted with it.
    pub chunk_line: u64,
}

/// Up: every stream's request and every publish with its payload. Down: every stream's head,
/// every publish's response, every event, and the chunk framings the rest leaves over. Events
/// that queued up while the stream was busy share a chunk, so the number of chunks is what the
/// bytes leave over; it must be a whole number of framings (1 to 4 events keep three hex digits).
pub fn assert_sse_bytes(o: &ClientOutcome, s: SseSizes) {
    let SseSizes {
        subscribers,
        events_request,
        publish_request,
        payload,
        stream_head,
        publish_head,
        event,
        chunk_line,
    } = s;
    let posts = o.messages_published;
    let up = o.connect_wire.up + o.wire.up;
    let down = o.connect_wire.down + o.wire.down;
    assert_eq!(
        up,
        subscribers * events_request + posts * (publish_request + payload),
        "bytes up, to the byte"
    );
    let deliveries = o.recorder.counts.delivery.delivered;
    let framing = chunk_line + 2;
    let known = subscribers * stream_head + posts * publish_head + deliveries * event;
    let chunks = (down - known) / framing;
    assert_eq!(down, known + chunks * framing, "bytes down, to the byte");
    assert!(
        (deliveries / 4..=deliveries).contains(&chunks),
        "{chunks} chunks for {deliveries} events"
    );
}
