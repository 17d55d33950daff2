//! Pure encoding and decoding, no tokio and no I/O: the message envelope every transport carries
//! and the long-poll batch body. A leaf module: benches and tests use it directly.

pub mod batch;
pub mod envelope;
pub mod sse;
