#!/usr/bin/env bash
# The measurement of docs/shards.md: one load run as one process and as 3 shard processes
# (`--shard I/3`, one common `--start-at`, each shard from its own loopback /24), against the same
# `wsbench serve` per transport, then `wsbench merge`; prints both tables (markdown) and the
# merge's wall time, CPU and peak RSS. Not a test. Loopback only; every run is bounded.
#
#   scripts/shards.sh [SUBSCRIBERS] [RATE] [TRANSPORTS]   e.g. scripts/shards.sh 3000 5 "ws longpoll sse"
#
# Results and scenarios in $OUT (default /tmp/wsbench-shards).
set -euo pipefail
cd "$(dirname "$0")/.."
subscribers=${1:-3000}
rate=${2:-5}
transports=${3:-"ws longpoll sse"}
out=${OUT:-/tmp/wsbench-shards}
rm -rf "$out"
mkdir -p "$out"
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/wsbench
server=
trap '[[ -n $server ]] && kill $server 2>/dev/null; true' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

scenario() { # transport port pid
  cat <<T
name = "shards-$1"
duration = "20s"
warmup = "3s"
drain = "10s"
[clients]
subscribers = $subscribers
connect_rate = 6000
[publish]
publishers = 3
rate = $rate
payload_bytes = 64
[transports.$1]
T
  case $1 in
    ws) printf '[target]\nws = "ws://127.0.0.1:%s/ws"\n' "$2" ;;
    sse) printf '[target]\nsse = "http://127.0.0.1:%s/events"\n' "$2" ;;
    *) printf '[target]\n%s = "http://127.0.0.1:%s"\n' "$1" "$2" ;;
  esac
  printf 'server_pid = %s\n' "$3"
}

for t in $transports; do
  port=$(free_port)
  $bin serve --transport "$t" --addr 127.0.0.1:$port > /dev/null & server=$!
  sleep 0.5
  scenario "$t" "$port" "$server" > "$out/$t.toml"
  $bin run "$out/$t.toml" --quiet --out "$out/$t-single" > "$out/$t-single.txt"
  sleep 2
  at=$(date -u -d '+8 sec' +%Y-%m-%dT%H:%M:%SZ)
  pids=()
  for i in 0 1 2; do
    $bin run "$out/$t.toml" --quiet --shard $i/3 --start-at "$at" --out "$out/$t-shard-$i" \
      > "$out/$t-shard-$i.txt" & pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  /usr/bin/time -f '%e s wall, %U s user, %S s sys, %M KiB max RSS' -o "$out/$t-merge-time.txt" \
    $bin merge "$out/$t-merged" "$out/$t-shard-0" "$out/$t-shard-1" "$out/$t-shard-2" \
    > "$out/$t-merged.txt"
  kill $server; wait $server 2>/dev/null || true
  server=
done

python3 - "$out" "$transports" <<'P'
import csv, sys
out, transports = sys.argv[1], sys.argv[2].split()
def row(d):
    return next(csv.DictReader(open(f"{out}/{d}/summary.csv")))
cols = [("published", "messages_published", 1), ("expected", "deliveries_expected", 1),
        ("deliveries", "deliveries", 1), ("lost", "lost", 1), ("dup", "duplicated", 1),
        ("reord", "reordered", 1), ("p50 ms", "latency_p50_us", 1000), ("p99 ms", "latency_p99_us", 1000),
        ("max ms", "latency_max_us", 1000), ("gen CPU s", "client_cpu_s", 1),
        ("server CPU s", "server_cpu_s", 1), ("connects/s", "connects_per_s", 1)]
print("| transport | run | " + " | ".join(c[0] for c in cols) + " |")
print("|---|---|" + "---|" * len(cols))
for t in transports:
    for run in ("single", "merged"):
        r = row(f"{t}-{run}")
        def f(key, scale):
            v = r.get(key, "")
            if v == "": return "–"
            x = float(v) / scale
            return f"{x:.0f}" if scale == 1 and x == int(x) else f"{x:.2f}"
        print(f"| {t} | {'1 process' if run == 'single' else '3 shards, merged'} | " + " | ".join(f(k, s) for _, k, s in cols) + " |")
print()
for t in transports:
    print(f"merge {t}: " + open(f"{out}/{t}-merge-time.txt").read().strip())
P
