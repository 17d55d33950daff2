#!/usr/bin/env bash
# Fuzzes wsbench's input paths for a bounded time each (not run in CI).
#
# Usage: scripts/fuzz.sh [TARGET|all] [SECONDS]   (default: all, 120 s per target)
# Targets:
#   decode_stream  the streaming WebSocket decoder (src/codec/ws/stream.rs)
#   scenario       the scenario parser: errors name the file on one line; to_toml round-trips
#   server_http    the built-in HTTP server (poll, publish, SSE) over loopback TCP
#   server_ws      the built-in WebSocket server (handshake, then frames) over loopback TCP
#   inflate        permessage-deflate's bounded inflate, alone and in a server's decoder
# Needs a nightly toolchain and cargo-fuzz (`rustup toolchain install nightly`,
# `cargo install cargo-fuzz`). Findings land in fuzz/artifacts/<target>/; corpora in
# fuzz/corpus/<target>/ are kept between runs and seeded below.
set -euo pipefail
cd "$(dirname "$0")/.."

what="${1:-all}"
seconds="${2:-120}"
all=(decode_stream scenario server_http server_ws inflate)

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "error: a nightly toolchain is needed (rustup toolchain install nightly)" >&2
    exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "error: cargo-fuzz is needed (cargo install cargo-fuzz)" >&2
    exit 2
fi
case "$what" in
    all) targets=("${all[@]}") ;;
    decode_stream | scenario | server_http | server_ws | inflate) targets=("$what") ;;
    *) echo "error: unknown target '$what' (one of: all ${all[*]})" >&2; exit 2 ;;
esac

seed() {
    local corpus="fuzz/corpus/$1"
    mkdir -p "$corpus"
    case "$1" in
    decode_stream)
        # RFC 6455 §5.7 frames behind a control byte (0 = client role, 1 = server role).
        printf '\x00\x81\x05Hello' >"$corpus/seed-text"
        printf '\x01\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58' >"$corpus/seed-masked"
        printf '\x02\x01\x03Hel\x89\x00\x80\x02lo\x88\x02\x03\xe8' >"$corpus/seed-fragments"
        ;;
    scenario)
        cp scenarios/*.toml "$corpus/"
        ;;
    server_http)
        printf 'GET /poll?cursor=0&wait=0 HTTP/1.1\r\nHost: a\r\n\r\n' >"$corpus/seed-shortpoll"
        printf 'GET /poll?cursor=3 HTTP/1.1\r\nHost: a\r\n\r\nGET /poll HTTP/1.1\r\n\r\n' >"$corpus/seed-longpoll"
        printf 'POST /publish HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello' >"$corpus/seed-publish"
        printf 'POST /publish HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' >"$corpus/seed-chunked"
        printf 'GET /events HTTP/1.1\r\nHost: a\r\nLast-Event-ID: 2\r\n\r\n' >"$corpus/seed-sse"
        ;;
    server_ws)
        local upgrade='GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'
        printf "\x00$upgrade" >"$corpus/seed-handshake"
        printf '\x01\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58' >"$corpus/seed-raw-frame"
        # Structured mode: FIN+text "hi", ping, fragmented text, close 1000.
        printf '\x03\x81\x02hi\x89\x00\x01\x02he\x80\x01y\x88\x02\x03\xe8' >"$corpus/seed-frames"
        ;;
    inflate)
        # RFC 7692 §7.2.3: "Hello" compressed; the same in a masked RSV1 frame; a round trip.
        printf '\x00\xf2\x48\xcd\xc9\xc9\x07\x00' >"$corpus/seed-hello"
        printf '\x02\xc1\x87\x00\x00\x00\x00\xf2\x48\xcd\xc9\xc9\x07\x00' >"$corpus/seed-frame"
        printf '\x05hello hello\xfehello' >"$corpus/seed-round-trip"
        ;;
    esac
}

for target in "${targets[@]}"; do
    seed "$target"
    echo "== $target: ${seconds}s" >&2
    cargo +nightly fuzz run "$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -max_len=8192 -rss_limit_mb=2048 -timeout=10
done
