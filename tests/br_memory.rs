//! What a brotli SSE stream costs in memory, per connection: the live heap bytes of the server's
//! encoder and the client's decoder after 200 `"chat"` events, each flushed, as
//! `docs/compression.md` states them. An allocator that counts this thread's allocations measures
//! them, so the figures there are this test's, and a change of quality, window or crate version
//! that moves them fails it.
//!
//! A test binary of its own, not a module of `tests/all`: the counting allocator is the binary's
//! global allocator.

#![allow(clippy::unwrap_used)]
// Test helpers: a failed unwrap is a failed test.
// A counting allocator must implement `GlobalAlloc`, an unsafe trait; it only forwards to `System`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, Ordering};

use wsbench::codec::br::{BrReader, BrWriter};
use wsbench::codec::envelope::{Envelope, RunTag};
use wsbench::codec::payload::{PayloadModel, Slot};
use wsbench::codec::sse;

/// `System`, counting the bytes live from allocations made on a thread that asked for it.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

fn counted() -> bool {
    COUNTED.try_with(Cell::get).unwrap_or(false)
}

// SAFETY: every call forwards to `System` with the caller's own arguments; the count is a side
// effect that touches no memory the allocator hands out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counted() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        // SAFETY: the caller's layout, as `GlobalAlloc::alloc` requires.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if counted() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        // SAFETY: as `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if counted() {
            LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        }
        // SAFETY: `ptr` came from this allocator with this layout, as the caller promises.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counted() {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        // SAFETY: as `dealloc`, and `new_size` is the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Bytes live from this thread's allocations since counting began.
fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// The `seq`th event of a stream of 256-byte chat messages.
fn event(seq: u64) -> Vec<u8> {
    let slot = Slot {
        envelope: Envelope {
            run: RunTag(7),
            publisher: 0,
            seq,
            intended_ns: seq * 1000,
        },
        room: 0,
        seed: 1,
    };
    let mut event = Vec::new();
    sse::push_event(
        &mut event,
        1_000_000 + seq,
        &PayloadModel::Chat.message(&slot, 256),
    );
    event
}

#[test]
fn a_br_stream_holds_318_kib_in_its_encoder_and_33_kib_in_its_decoder() {
    let events: Vec<Vec<u8>> = (0..200).map(event).collect();
    COUNTED.with(|c| c.set(true));
    let mut encoder = BrWriter::default();
    let created = live();
    let mut decoder = BrReader::new(16 << 20);
    let mut peak = 0;
    for e in &events {
        let packed = encoder.piece(e);
        assert_eq!(decoder.piece(&packed).unwrap(), *e);
        drop(packed);
        peak = peak.max(live());
    }
    let both = live();
    drop(encoder);
    let decoder_bytes = live();
    drop(decoder);
    let after = live();
    COUNTED.with(|c| c.set(false));
    assert_eq!(after, 0, "everything counted is freed");
    // The encoder at creation, the encoder after 200 events, the decoder after 200 events.
    assert_eq!(
        (created, both - decoder_bytes, decoder_bytes),
        (9_878, 325_886, 33_451)
    );
    assert!(peak < 400_000, "{peak}");
}
