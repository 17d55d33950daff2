#!/usr/bin/env bash
# What recovering costs on every built-in transport (docs/recovery.md). Not a test: it prints two
# markdown tables and keeps every results directory in $OUT (default /tmp/wsbench-recovery).
# Loopback only; every run is bounded (its measured phase, then at most its drain).
#
#   scripts/recovery.sh [drops|http|deploys|all]
#
# drops:   10,000 subscribers at chat.toml's rate (100 msg/s, here into 10 rooms of 1,000 so the
#          deliveries per second are chat.toml's 100,000), 10 % of the connections reset (RST)
#          every 15 s for 60 s, on ws, raw, long-poll, short-poll (1 s) and SSE. Goals: 100 %
#          delivered on every transport, replay p99 < 1 s, recovery p95 reported.
# http:    long-poll and SSE at 10,000 subscribers: the drops' load without drops for 30 s (on a
#          2-core VM it is past what generator and server can share there), and the same drops at
#          20 msg/s (20,000 deliveries per second).
# deploys: 3,000 subscribers on 3 instances (the same rate and rooms), every instance restarted
#          5 s into a 20 s phase, one by one ("rolling") and all at once ("all"), behind each
#          balancer (the clients spreading themselves, and HAProxy). Goals: 0 lost, 95 % of the
#          broken connections live again (recovery p95) in < 2 s. Then long-poll behind HAProxy
#          at 20 msg/s, where the polls HAProxy parses too fit the two cores.
# Needs ~11,000 open files per process for the drops (the generator holds every connection).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
out=${OUT:-/tmp/wsbench-recovery}
mkdir -p "$out"
cargo build --release --quiet
bin=./target/release/wsbench

load() { # subscribers duration drain
  cat <<T
duration = "$2"
warmup = "2s"
drain = "$3"
[clients]
subscribers = $1
connect_rate = 5000
[publish]
publishers = 10
rate = 100
payload_bytes = 64
[rooms]
count = 10
T
}

table() { # results directories...
  python3 - "$@" <<'PY'
import csv, sys
cols = ["deliveries", "delivered_pct", "lost", "duplicated", "dropped", "reconnects",
        "replay_deliveries", "replay_latency_p50_us", "replay_latency_p99_us",
        "recovery_p50_us", "recovery_p95_us", "recovery_max_us", "latency_p99_us"]
print("| run | transport | " + " | ".join(cols) + " |")
print("|---" * (len(cols) + 2) + "|")
for d in sys.argv[1:]:
    for r in csv.DictReader(open(f"{d}/summary.csv")):
        print(f"| {d.rsplit('/', 1)[-1]} | {r['transport']} | "
              + " | ".join(r[c] or "–" for c in cols) + " |")
PY
}

drops() {
  local dir=$out/drops
  {
    load 10000 60s 20s
    cat <<T
[transports.ws]
[transports.raw]
[transports.longpoll]
[transports.shortpoll]
interval = "1s"
[transports.sse]
[faults]
drop = { every = "15s", fraction = 0.1 }
T
  } > "$out/drops.toml"
  rm -rf "$dir"
  $bin run "$out/drops.toml" --out "$dir" --quiet > /dev/null 2> "$dir.log"
  echo "### 10,000 subscribers, 10 % dropped every 15 s for 60 s"
  table "$dir"
}

http() {
  {
    load 10000 30s 20s
    printf '[transports.longpoll]\n[transports.sse]\n'
  } > "$out/http-control.toml"
  {
    load 10000 60s 20s | sed 's/^rate = 100$/rate = 20/'
    printf '[transports.longpoll]\n[transports.sse]\n[faults]\ndrop = { every = "15s", fraction = 0.1 }\n'
  } > "$out/http-drops-20.toml"
  for name in http-control http-drops-20; do
    rm -rf "${out:?}/$name"
    $bin run "$out/$name.toml" --out "$out/$name" --quiet > /dev/null 2> "$out/$name.log"
  done
  echo "### Long-poll and SSE at 10,000 subscribers: no drops at 100 msg/s, drops at 20 msg/s"
  table "$out/http-control" "$out/http-drops-20"
}

deploys() {
  local dirs=()
  for balancer in client haproxy; do
    for mode in rolling all; do
      local name=deploy-$balancer-$mode
      {
        load 3000 20s 15s
        for t in ws raw longpoll sse; do
          printf '[transports.%s]\ninstances = 3\nbalancer = "%s"\n' "$t" "$balancer"
        done
        printf '[faults]\nrestart_instances_at = "5s"\nmode = "%s"\n' "$mode"
      } > "$out/$name.toml"
      rm -rf "${out:?}/$name"
      $bin run "$out/$name.toml" --out "$out/$name" --quiet > /dev/null 2> "$out/$name.log"
      dirs+=("$out/$name")
    done
  done
  for mode in rolling all; do
    local name=deploy-haproxy-$mode-20
    {
      load 3000 20s 15s | sed 's/^rate = 100$/rate = 20/'
      printf '[transports.longpoll]\ninstances = 3\nbalancer = "haproxy"\n'
      printf '[faults]\nrestart_instances_at = "5s"\nmode = "%s"\n' "$mode"
    } > "$out/$name.toml"
    rm -rf "${out:?}/$name"
    $bin run "$out/$name.toml" --out "$out/$name" --quiet > /dev/null 2> "$out/$name.log"
    dirs+=("$out/$name")
  done
  echo "### 3,000 subscribers on 3 instances, every instance restarted 5 s in (-20: at 20 msg/s)"
  table "${dirs[@]}"
}

case $what in
  drops) drops ;;
  http) http ;;
  deploys) deploys ;;
  all) drops; echo; http; echo; deploys ;;
  *) echo "usage: $0 [drops|http|deploys|all]" >&2; exit 2 ;;
esac
