#!/usr/bin/env bash
# The largest backplane run on one host: 3 `wsbench serve --transport ws` instances on one
# redis-server (the backplane), each loaded by its own generator shard (`--shard I/3`, one common
# `--start-at`) holding a third of the subscribers, so no process holds more than ~19,000
# connections (for a hard open-file limit of 20,000 per process). Messages published through
# one instance reach the subscribers of all three through Redis. Not a test; loopback only; every
# run bounded by its scenario.
#
#   scripts/backplane/largest.sh [SUBSCRIBERS] [RATE]     (defaults: 57000, 1.5 msg/s in all)
#
# The shards' scenarios differ in their `[target]` (one instance each), so `wsbench merge` (which
# merges shards of one scenario) does not apply: the script adds their summary.csv rows up
# (deliveries, expected, lost; latency: the worst shard's percentile) and prints one table with
# each instance's CPU and memory (sampled by its shard), Redis's, and the shards'.
# Results in $OUT (default /tmp/wsbench-largest).
set -euo pipefail
cd "$(dirname "$0")/../.."
subscribers=${1:-57000}
rate=${2:-1.5}
out=${OUT:-/tmp/wsbench-largest}
rm -rf "$out"
mkdir -p "$out"
scripts/backplane/setup.sh >/dev/null
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/wsbench
ulimit -n 20000
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; true' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_s() { awk '{print ($14 + $15) / 100}' "/proc/$1/stat"; }
rss_mib() { awk '/VmHWM/ {print $2 / 1024}' "/proc/$1/status"; }

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
  --maxclients 1000 > "$out/redis.log" 2>&1 & redis=$!
pids+=("$redis")
for _ in $(seq 1 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done

ports=()
servers=()
for i in 0 1 2; do
  port=$(free_port)
  "$bin" serve --transport ws --addr "127.0.0.1:$port" --backplane "redis://127.0.0.1:$redis_port" \
    --key-prefix wsbench-largest > "$out/instance-$i.log" 2>&1 & servers+=($!)
  pids+=("${servers[$i]}")
  ports+=("$port")
done
sleep 1

for i in 0 1 2; do
  cat > "$out/shard-$i.toml" <<T
name = "largest"
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
[transports.ws]
[target]
ws = "ws://127.0.0.1:${ports[$i]}/ws"
server_pid = ${servers[$i]}
T
done

# Long enough for every shard to connect its third (connect_rate is split over the shards).
ramp=$(( subscribers / 2000 + 15 ))
at=$(date -u -d "+$ramp sec" +%Y-%m-%dT%H:%M:%SZ)
redis_cpu0=$(cpu_s "$redis")
free -m > "$out/memory-before.txt"
shards=()
for i in 0 1 2; do
  "$bin" run "$out/shard-$i.toml" --quiet --shard "$i/3" --start-at "$at" --out "$out/shard-$i" \
    > "$out/shard-$i.txt" 2>&1 & shards+=($!)
done
peak_used=0
while kill -0 "${shards[0]}" 2>/dev/null || kill -0 "${shards[1]}" 2>/dev/null || kill -0 "${shards[2]}" 2>/dev/null; do
  used=$(free -m | awk '/Mem:/ {print $3}')
  (( used > peak_used )) && peak_used=$used
  sleep 1
done
status=0
for p in "${shards[@]}"; do wait "$p" || status=$?; done
redis_cpu=$(python3 -c "print(round($(cpu_s "$redis") - $redis_cpu0, 2))")
redis_rss=$(rss_mib "$redis")
instance_rss=()
for s in "${servers[@]}"; do instance_rss+=("$(rss_mib "$s")"); done
echo "shards exited with status $status; machine memory used at peak: $peak_used MiB (before: $(awk '/Mem:/ {print $3}' "$out/memory-before.txt") MiB)"

python3 - "$out" "$redis_cpu" "$redis_rss" "${instance_rss[@]}" <<'P'
import csv, sys
out, redis_cpu, redis_rss, inst_rss = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
rows = [next(csv.DictReader(open(f"{out}/shard-{i}/summary.csv"))) for i in range(3)]
num = lambda r, k: float(r[k]) if r.get(k) not in (None, "") else 0.0
total = lambda k: sum(num(r, k) for r in rows)
print("| shard / instance | subscribers | deliveries | expected | lost | p50 ms | p99 ms | instance CPU s | instance peak RSS MiB | shard CPU s | shard peak RSS MiB |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for i, r in enumerate(rows):
    print(f"| {i} | {num(r,'subscribers'):.0f} | {num(r,'deliveries'):,.0f} | {num(r,'deliveries_expected'):,.0f} | {num(r,'lost'):,.0f} | "
          f"{num(r,'latency_p50_us')/1000:.1f} | {num(r,'latency_p99_us')/1000:.1f} | {num(r,'server_cpu_s'):.2f} | {float(inst_rss[i]):.0f} | "
          f"{num(r,'client_cpu_s'):.2f} | {num(r,'client_peak_rss_kib')/1024:.0f} |")
deliveries = total("deliveries")
serving = total("server_cpu_s") + redis_cpu
print(f"| **all** | {total('subscribers'):.0f} | {deliveries:,.0f} | {total('deliveries_expected'):,.0f} | {total('lost'):,.0f} | "
      f"{max(num(r,'latency_p50_us') for r in rows)/1000:.1f} (worst) | {max(num(r,'latency_p99_us') for r in rows)/1000:.1f} (worst) | "
      f"{total('server_cpu_s'):.2f} | {sum(float(x) for x in inst_rss):.0f} | {total('client_cpu_s'):.2f} | {total('client_peak_rss_kib')/1024:.0f} |")
print()
print(f"redis-server: {redis_cpu:.2f} s CPU over the run, peak RSS {redis_rss:.0f} MiB; "
      f"serving side (3 instances + redis) {serving / max(deliveries, 1) * 1e6:.2f} µs CPU per delivery")
P
