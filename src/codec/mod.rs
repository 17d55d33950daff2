//! Pure encoding and decoding, no tokio and no I/O: the message envelope every transport carries,
//! the long-poll batch body, SSE framing, HTTP content codings ([`coding`]: gzip, br), our RFC 6455 frame codec ([`ws`]), our HTTP/1.1 client's
//! request heads and response decoder ([`h1`]), the `raw` transport's length prefix ([`raw`]) and the byte models of HTTP/1.1 and SSE framing
//! ([`http`]). A leaf module: benches and tests use it directly.

pub mod batch;
mod bounded;
pub mod br;
pub mod coding;
pub mod engineio;
pub mod envelope;
pub mod gzip;
pub mod h1;
pub mod http;
pub mod payload;
pub mod raw;
pub mod sse;
pub mod ws;
