#!/usr/bin/env bash
# The compression curve of docs/compression.md: what compressing costs and saves, per transport,
# on chat-like payloads, at each size. One `wsbench run` per size, with the built-in servers:
#   ws: plain, permessage-deflate without context takeover (one compression per broadcast), and
#       with takeover at window bits 9, 12 and 15 (one compressor per connection);
#   longpoll and sse: plain, gzip and br.
# Not a test: it prints a markdown table per size (bytes per delivery, payload ÷ wire bytes,
# server and generator CPU per delivery, server and generator KiB per connection) and the check
# that deflate without takeover costs the server at most 1.3× the plain run's CPU per delivery.
# Every results directory is kept in $OUT (default /tmp/wsbench-compression). Loopback only;
# every run is bounded (20 s measured, 10 s drain per transport).
#
#   scripts/compression.sh [SIZES]    e.g. scripts/compression.sh "1000 19500"
#   BIN=target/debug/wsbench scripts/compression.sh 50    (a quick look without a release build)
#
# Needs ~20,000 open files per process at 19,500 subscribers.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${1:-"1000 19500"}
out=${OUT:-/tmp/wsbench-compression}
mkdir -p "$out"
bin=${BIN:-}
if [[ -z $bin ]]; then
  cargo build --release --quiet
  bin=./target/release/wsbench
fi

scenario() { # name subscribers
  cat <<T
name = "$1"
duration = "20s"
warmup = "3s"
drain = "10s"
[clients]
subscribers = $2
connect_rate = 10000
[publish]
publishers = 1
rate = 2
payload = "chat"
payload_bytes = 256
[transports.ws]
deflate = [
  false,
  true,
  { context_takeover = true, window_bits = 9 },
  { context_takeover = true, window_bits = 12 },
  { context_takeover = true, window_bits = 15 },
]
[transports.longpoll]
hold = "30s"
compress = ["none", "gzip", "br"]
[transports.sse]
compress = ["none", "gzip", "br"]
T
}

for n in $sizes; do
  scenario "compression-$n" "$n" > "$out/compression-$n.toml"
  "$bin" run "$out/compression-$n.toml" --quiet --out "$out/compression-$n" > /dev/null \
    || echo "run at $n failed" >&2
done

python3 - "$out" "$sizes" <<'P'
import csv, sys
out, sizes = sys.argv[1], sys.argv[2].split()
def f(v, digits=1):
    return "" if v in ("", None) else f"{float(v):.{digits}f}"
for n in sizes:
    try:
        rows = list(csv.DictReader(open(f"{out}/compression-{n}/summary.csv")))
    except FileNotFoundError:
        print(f"no results at {n}", file=sys.stderr)
        continue
    print(f"\n### {n} subscribers, chat payload (256 B), 2 msg/s\n")
    print("| transport | deliveries | lost | wire B / delivery | payload ÷ wire | server CPU µs / delivery "
          "| generator CPU µs / delivery | server KiB / conn | generator KiB / conn |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['transport']} | {r['deliveries']} | {r['lost']} | {f(r['wire_bytes_per_delivery'])} "
              f"| {f(r['compression_ratio'], 2)} | {f(r['server_cpu_us_per_delivery'], 2)} "
              f"| {f(r['client_cpu_us_per_delivery'], 2)} | {f(r['server_rss_per_connection_kib'])} "
              f"| {f(r['client_rss_per_connection_kib'])} |")
    cpu = {r["transport"]: r["server_cpu_us_per_delivery"] for r in rows}
    if cpu.get("ws") and cpu.get("ws-deflate"):
        ratio = float(cpu["ws-deflate"]) / float(cpu["ws"])
        verdict = "within" if ratio <= 1.3 else "over"
        print(f"\nws-deflate (no takeover) server CPU per delivery: {ratio:.2f}× ws ({verdict} 1.3×)")
P
