#!/usr/bin/env bash
# Publishers' lateness at a trivial load (docs/scale.md, "Publishers on a timerfd"): 300
# subscribers, 3 publishers at 30 msg/s in all, 20 s measured, on the built-in ws and raw servers,
# each binary given run in turn, ROUNDS times, interleaved. Prints one line per run: publish lag
# p99, latency p50 and p99, generator CPU per delivery. Not a test; loopback only; bounded.
#
#   scripts/publish-lag.sh BIN [BIN ...]     (env: ROUNDS=4, OUT=/tmp/wsbench-publish-lag)
set -euo pipefail
[[ $# -ge 1 ]] || { echo "usage: $0 BIN [BIN ...]" >&2; exit 2; }
rounds=${ROUNDS:-4}
out=${OUT:-/tmp/wsbench-publish-lag}
mkdir -p "$out"
cat > "$out/trivial.toml" <<'T'
name = "trivial"
duration = "20s"
warmup = "2s"
[clients]
subscribers = 300
connect_rate = 2000
[publish]
publishers = 3
rate = 30
payload_bytes = 64
[transports.ws]
[transports.raw]
T
for round in $(seq 1 "$rounds"); do
  i=0
  for bin in "$@"; do
    dir=$out/bin$i-round$round
    rm -rf "$dir"
    "$bin" run "$out/trivial.toml" --quiet --out "$dir" > "$dir.log" 2>&1 || true
    python3 - "$dir" "$bin" "$round" <<'P'
import csv, sys
d, b, r = sys.argv[1:]
for x in csv.DictReader(open(f"{d}/summary.csv")):
    print(f"{b} round {r} {x['transport']}: publish lag p99 {int(x['publish_lag_p99_us'])/1000:.2f} ms, "
          f"latency p50 {int(x['latency_p50_us'])/1000:.2f} ms, p99 {int(x['latency_p99_us'])/1000:.2f} ms, "
          f"generator CPU {x['client_cpu_us_per_delivery']} µs/delivery")
P
    i=$((i + 1))
  done
done
