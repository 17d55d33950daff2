#!/usr/bin/env bash
# The matched matrix of docs/modern.md: chat.toml's load (1,000 subscribers, 10 publishers at
# 100 msg/s in all, 64-byte messages, 20 s measured) over every wire wsbench speaks, all over TLS
# so they compare like for like: WebSocket over HTTP/1.1 and HTTP/2 (RFC 8441), long-poll and SSE
# over HTTP/1.1, HTTP/2 and HTTP/3 (QUIC). Once without emulated delay, once with a 50 ms round
# trip ([network] delay), where QUIC's one-round-trip handshake shows in connect time.
# Not a test: it prints a markdown table per delay (connect p50/p99, latency p50/p99, wire bytes
# per delivery, server and generator CPU per delivery, server and generator KiB per connection).
# Results stay in $OUT (default /tmp/wsbench-modern). Loopback only; every run is bounded.
#
#   scripts/modern.sh [DELAYS]     e.g. scripts/modern.sh "0ms 50ms"
#   BIN=target/debug/wsbench scripts/modern.sh 0ms     (a quick look without a release build)
set -euo pipefail
cd "$(dirname "$0")/.."
delays=${1:-"0ms 50ms"}
out=${OUT:-/tmp/wsbench-modern}
mkdir -p "$out"
bin=${BIN:-}
if [[ -z $bin ]]; then
  cargo build --release --quiet
  bin=./target/release/wsbench
fi

scenario() { # name delay
  cat <<T
name = "$1"
duration = "20s"
warmup = "2s"
drain = "10s"
[network]
delay = "$2"
[clients]
subscribers = 1000
connect_rate = 500
[publish]
publishers = 10
rate = 100
payload_bytes = 64
[transports.ws]
tls = true
http2 = [false, true]
[transports.longpoll]
hold = "30s"
tls = true
http2 = [false, true]
http3 = [false, true]
[transports.sse]
tls = true
http2 = [false, true]
http3 = [false, true]
T
}

for d in $delays; do
  scenario "modern-$d" "$d" > "$out/modern-$d.toml"
  "$bin" run "$out/modern-$d.toml" --quiet --out "$out/modern-$d" > "$out/modern-$d.log" 2>&1 \
    || echo "run with delay $d failed (see $out/modern-$d.log)" >&2
done

python3 - "$out" "$delays" <<'P'
import csv, sys
out, delays = sys.argv[1], sys.argv[2].split()
def ms(v):
    return "" if v in ("", None) else f"{int(v) / 1000:.1f}"
def f(v, digits=1):
    return "" if v in ("", None) else f"{float(v):.{digits}f}"
for d in delays:
    try:
        rows = list(csv.DictReader(open(f"{out}/modern-{d}/summary.csv")))
    except FileNotFoundError:
        print(f"no results with delay {d}", file=sys.stderr)
        continue
    print(f"\n### [network] delay = \"{d}\"\n")
    print("| transport | lost | connect p50 ms | connect p99 ms | p50 ms | p99 ms | wire B / delivery "
          "| server CPU µs / delivery | generator CPU µs / delivery | server KiB / conn | generator KiB / conn |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['transport']} | {r['lost']} | {ms(r['connect_p50_us'])} | {ms(r['connect_p99_us'])} "
              f"| {ms(r['latency_p50_us'])} | {ms(r['latency_p99_us'])} | {f(r['wire_bytes_per_delivery'])} "
              f"| {f(r['server_cpu_us_per_delivery'], 2)} | {f(r['client_cpu_us_per_delivery'], 2)} "
              f"| {f(r['server_rss_per_connection_kib'], 2)} | {f(r['client_rss_per_connection_kib'], 2)} |")
P
