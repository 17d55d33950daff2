#!/usr/bin/env bash
# Kernel against user-space receive timestamps (docs/latency.md): for each load, wsbench's generator
# with `[clients] timestamps = "user"` and `= "kernel"`, and the yardstick client (../shared/yardstick,
# WebSocket only), each against a fresh `wsbench serve` of the same transport, PAIRS rounds in turn.
# Not a test: it prints a markdown table and keeps every results directory in $OUT (default
# /tmp/wsbench-timestamps). Loopback only; every run is bounded (20 s measured, 10 s drain).
#
#   scripts/timestamps.sh [LOADS] [PAIRS]    e.g. scripts/timestamps.sh "1000:10:100 19500:1:2" 2
#
# A load is SUBSCRIBERS:PUBLISHERS:RATE (messages per second, all publishers together): the default
# is chat.toml's load at 1,000 subscribers and docs/scale.md's part 2 load at 19,500.
# What the table shows, per load and transport (medians over the rounds):
#   - latency p50/p99 with user-space and with kernel timestamps, and the user − kernel difference;
#   - the kernel run's generator_delay p50/p99: what the kernel stamps took out of its figures (the
#     difference above comes from two runs, so it matches within the runs' spread, not exactly);
#   - the yardstick's p50/p99 on the same server (it stamps in user space);
#   - generator CPU per delivery, user and kernel, and kernel ÷ user (the goal: ≤ 1.1);
#   - publish_lag_p99 of the kernel run: the part of the generator's delay still in the figures.
# Needs ~20,000 open files per process at 19,500 subscribers.
set -euo pipefail
cd "$(dirname "$0")/.."
loads=${1:-"1000:10:100 19500:1:2"}
pairs=${2:-2}
out=${OUT:-/tmp/wsbench-timestamps}
yardstick=${YARDSTICK:-../shared/yardstick/yardstick.sh}
duration=20
mkdir -p "$out"
cargo build --release --quiet
bin=./target/release/wsbench
server=
trap '[[ -n $server ]] && kill $server 2>/dev/null; true' EXIT

scenario() { # name subscribers publishers rate transport clock port server-pid
  local scheme=ws path=/ws
  [[ $5 == raw ]] && scheme=tcp path=
  cat <<T
name = "$1"
duration = "${duration}s"
warmup = "2s"
drain = "10s"
[clients]
subscribers = $2
connect_rate = 10000
timestamps = "$6"
[publish]
publishers = $3
rate = $4
payload_bytes = 64
[transports.$5]
[target]
$5 = "$scheme://127.0.0.1:$7$path"
server_pid = $8
T
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

serve() { # transport → sets $port and $server
  port=$(free_port)
  $bin serve --transport "$1" --addr 127.0.0.1:$port > /dev/null & server=$!
  sleep 0.5
}

stop() { kill $server; wait $server 2>/dev/null || true; server=; }

for load in $loads; do
  IFS=: read -r n p rate <<< "$load"
  for t in ws raw; do
    for i in $(seq 1 "$pairs"); do
      for clock in user kernel; do
        name="$clock-$t-$n-$i"
        serve "$t"
        scenario "$name" "$n" "$p" "$rate" "$t" "$clock" "$port" "$server" > "$out/$name.toml"
        $bin run "$out/$name.toml" --quiet --out "$out/$name" > /dev/null || echo "run $name failed" >&2
        stop
      done
      if [[ $t == ws ]]; then
        serve ws
        messages=$(python3 -c "print(int($rate * $duration))")
        $yardstick client --port "$port" --path /ws --no-welcome --clients "$n" --concurrency 200 \
          --publishers "$p" --rate "$rate" --messages "$messages" --duration "$duration" --drain 10 \
          --max 120 --serverpid $server --json "$out/yard-$n-$i.json" --label "yard-$n-$i" > /dev/null \
          || echo "yardstick $n $i failed" >&2
        stop
      fi
    done
  done
done

python3 - "$out" "$loads" "$pairs" <<'P'
import csv, json, sys, statistics
out, loads, pairs = sys.argv[1], sys.argv[2].split(), int(sys.argv[3])
def row(d):
    try:
        return next(csv.DictReader(open(f"{out}/{d}/summary.csv")))
    except (OSError, StopIteration):
        return None
def med(rows, key, scale=1.0):
    vals = [float(r[key]) / scale for r in rows if r and r.get(key) not in (None, "")]
    return statistics.median(vals) if vals else None
def f(x, nd=2):
    return "–" if x is None else f"{x:.{nd}f}"
print("| subscribers | msg/s | transport | user p50 / p99 ms | kernel p50 / p99 ms | user − kernel p50 / p99 ms "
      "| generator_delay p50 / p99 ms | yardstick p50 / p99 ms | gen µs/del user / kernel | kernel ÷ user | publish_lag p99 ms |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for load in loads:
    n, p, rate = load.split(":")
    for t in ("ws", "raw"):
        user = [row(f"user-{t}-{n}-{i}") for i in range(1, pairs + 1)]
        kern = [row(f"kernel-{t}-{n}-{i}") for i in range(1, pairs + 1)]
        u50, u99 = med(user, "latency_p50_us", 1000), med(user, "latency_p99_us", 1000)
        k50, k99 = med(kern, "latency_p50_us", 1000), med(kern, "latency_p99_us", 1000)
        d50, d99 = med(kern, "generator_delay_p50_us", 1000), med(kern, "generator_delay_p99_us", 1000)
        ucpu, kcpu = med(user, "client_cpu_us_per_delivery"), med(kern, "client_cpu_us_per_delivery")
        lag = med(kern, "publish_lag_p99_us", 1000)
        diff = lambda a, b: None if a is None or b is None else a - b
        yard = "–"
        if t == "ws":
            y50, y99 = [], []
            for i in range(1, pairs + 1):
                try:
                    y = json.loads(open(f"{out}/yard-{n}-{i}.json").read().splitlines()[-1])
                    lat = y["lat_ms"] if isinstance(y.get("lat_ms"), dict) else {"p50": y["p50_ms"], "p99": y["p99_ms"]}
                    y50.append(lat["p50"]); y99.append(lat["p99"])
                except (OSError, KeyError, ValueError, IndexError) as e:
                    print(f"(yardstick {n}/{i}: {e!r})", file=sys.stderr)
            if y50:
                yard = f"{statistics.median(y50):.2f} / {statistics.median(y99):.2f}"
        ratio = f(kcpu / ucpu) if ucpu and kcpu else "–"
        print(f"| {n} | {rate} | {t} | {f(u50)} / {f(u99)} | {f(k50)} / {f(k99)} | {f(diff(u50, k50))} / {f(diff(u99, k99))} "
              f"| {f(d50)} / {f(d99)} | {yard} | {f(ucpu)} / {f(kcpu)} | {ratio} | {f(lag)} |")
P
