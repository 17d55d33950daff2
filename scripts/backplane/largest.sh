#!/usr/bin/env bash
# The largest backplane run on one host, as one `wsbench run`: WebSocket subscribers spread over
# generator processes (`[clients] processes`) and server instances on one private redis-server
# (`[transports.ws] instances`), generator process i loading instance i mod N, so no process
# holds more than ~19,000 connections (for a hard open-file limit of 20,000 per process).
# Messages published through one instance reach the subscribers of all of them through Redis.
# Not a test; loopback only; the run is bounded by its scenario.
#
#   scripts/backplane/largest.sh [SUBSCRIBERS] [RATE]     (defaults: 57000, 1.5 msg/s in all)
#
# INSTANCES and PROCESSES (default 3 each; "auto": as many as the open-file limit needs) set the
# spread; WSBENCH names a wsbench binary to run instead of building the release one. The run
# merges its generator processes itself; this script prints the run's table, then one row per
# process from the run's metrics.json (each generator process's and each instance's CPU and
# memory, Redis's) and the machine's memory at the peak. Results in $OUT (default
# /tmp/wsbench-largest).
set -euo pipefail
cd "$(dirname "$0")/../.."
subscribers=${1:-57000}
rate=${2:-1.5}
instances=${INSTANCES:-3}
processes=${PROCESSES:-3}
out=${OUT:-/tmp/wsbench-largest}
quote() { [[ $1 == auto ]] && echo '"auto"' || echo "$1"; }
rm -rf "$out"
mkdir -p "$out"
scripts/backplane/setup.sh >/dev/null
if [[ -n ${WSBENCH:-} ]]; then
  bin=$WSBENCH
else
  cargo build --release --quiet
  bin=${CARGO_TARGET_DIR:-$PWD/target}/release/wsbench
fi
ulimit -n 20000
run=
trap '[[ -n $run ]] && kill -INT "$run" 2>/dev/null; true' EXIT

cat > "$out/largest.toml" <<T
name = "largest"
duration = "20s"
warmup = "3s"
drain = "10s"
[clients]
subscribers = $subscribers
connect_rate = 6000
processes = $(quote "$processes")
[publish]
publishers = 3
rate = $rate
payload_bytes = 64
[transports.ws]
instances = $(quote "$instances")
T

free -m > "$out/memory-before.txt"
"$bin" run "$out/largest.toml" --out "$out/run" > "$out/table.txt" 2> "$out/progress.txt" & run=$!
peak_used=0
while kill -0 "$run" 2>/dev/null; do
  used=$(free -m | awk '/Mem:/ {print $3}')
  (( used > peak_used )) && peak_used=$used
  sleep 1
done
status=0
wait "$run" || status=$?
run=
cat "$out/table.txt"
echo "wsbench run exited with status $status; machine memory used at peak: $peak_used MiB (before: $(awk '/Mem:/ {print $3}' "$out/memory-before.txt") MiB)"
(( status == 0 )) || { tail -20 "$out/progress.txt"; exit "$status"; }

python3 - "$out/run/metrics.json" <<'P'
import json, sys
t = json.load(open(sys.argv[1]))["transports"][0]
mib = lambda kib: kib / 1024
print("| process | CPU s | peak RSS MiB | connections |")
print("|---|---|---|---|")
for g in (t.get("sharding") or {}).get("merged", []):
    f = g["figures"]
    print(f"| generator {f['index']}/{f['count']} | {g['client_cpu_ns'] / 1e9:.2f} | "
          f"{mib(g['client_peak_rss_kib']):.0f} | {f['subscribers_connected']:,} subscribers |")
group = t.get("instances") or {"instances": []}
for i in group["instances"]:
    u, r = i.get("usage"), i.get("report")
    cpu = f"{u['cpu_ns'] / 1e9:.2f}" if u else "?"
    rss = f"{mib(u['peak_rss_kib']):.0f}" if u else "?"
    print(f"| instance {i['addr']} | {cpu} | {rss} | {r['accepted']:,} accepted |" if r else
          f"| instance {i['addr']} | {cpu} | {rss} | ? |")
redis = group.get("redis")
if redis:
    print(f"| redis-server | {redis['cpu_ns'] / 1e9:.2f} | {mib(redis['peak_rss_kib']):.0f} | |")
deliveries = t["clients"]["delivered"]
serving = sum((i.get("usage") or {}).get("cpu_ns", 0) for i in group["instances"]) + (redis or {}).get("cpu_ns", 0)
if deliveries:
    print(f"\nserving side ({len(group['instances'])} instances + redis) "
          f"{serving / 1e3 / deliveries:.2f} µs CPU per delivery")
P
