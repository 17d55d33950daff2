#!/usr/bin/env bash
# Fuzzes the streaming WebSocket decoder for a bounded time (not run in CI).
#
# Usage: scripts/fuzz.sh [SECONDS]   (default 120)
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Findings land in
# fuzz/artifacts/decode_stream/; the corpus in fuzz/corpus/decode_stream/ is kept between runs.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-120}"
corpus=fuzz/corpus/decode_stream

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "error: a nightly toolchain is needed (rustup toolchain install nightly)" >&2
    exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "error: cargo-fuzz is needed (cargo install cargo-fuzz)" >&2
    exit 2
fi

# Seeds: RFC 6455 §5.7 frames behind a control byte (0 = client role, 1 = server role).
mkdir -p "$corpus"
printf '\x00\x81\x05Hello' >"$corpus/seed-text"
printf '\x01\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58' >"$corpus/seed-masked"
printf '\x02\x01\x03Hel\x89\x00\x80\x02lo\x88\x02\x03\xe8' >"$corpus/seed-fragments"

cargo +nightly fuzz run decode_stream "$corpus" -- \
    -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=1024
