#!/usr/bin/env bash
# The scale benchmark of docs/scale.md: wsbench's generator and built-in servers from 1k to 19.5k
# subscribers, and the generator against the yardstick client (../shared/yardstick) on the same
# built-in WebSocket server. Not a test: it prints tables (markdown) and keeps every results
# directory in $OUT (default /tmp/wsbench-scale). Loopback only; every run is bounded.
#
#   scripts/scale.sh [SIZES] [PAIRS]    e.g. scripts/scale.sh "1000 5000 10000 19500" 2
#
# Part 1 — one wsbench run per size and transport (built-in server started by wsbench):
#   ws and sse at 1 msg/s, long-poll at 0.5 msg/s (one publisher, 64 B, connect_rate 10,000/s).
# Part 2 — ws at 2 msg/s against one `wsbench serve` per run, alternating the yardstick client and
#   wsbench's generator PAIRS times per size: generator CPU per delivery and p50, and their ratios.
# Needs ~20,000 open files per process (19.5k connections): the hard limit here is 20,000.
# Checks, after the tables: at every size from 19,000 up, the built-in WebSocket server holds at
# most $MAX_WS_SERVER_KIB (default 5) KiB of RSS per connection; exits 1 if not, so a server that
# grows per connection again is seen (idle, scripts/idle-memory.py at 19,000: 14.3 KiB on e783629,
# 1.85 KiB on f07e068, both 2026-12-07).
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${1:-"1000 5000 10000 19500"}
pairs=${2:-2}
out=${OUT:-/tmp/wsbench-scale}
yardstick=${YARDSTICK:-../shared/yardstick/yardstick.sh}
mkdir -p "$out"
cargo build --release --quiet
bin=./target/release/wsbench
server=
trap '[[ -n $server ]] && kill $server 2>/dev/null; true' EXIT

scenario() { # name subscribers rate transport [target-port server-pid]
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
rate = $3
payload_bytes = 64
[transports.$4]
T
  if [[ $4 == longpoll ]]; then echo 'hold = "30s"'; fi
  if [[ $# -ge 6 ]]; then printf '[target]\nws = "ws://127.0.0.1:%s/ws"\nserver_pid = %s\n' "$5" "$6"; fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Part 1
for n in $sizes; do
  for t in ws sse longpoll; do
    rate=1; [[ $t == longpoll ]] && rate=0.5
    scenario "scale-$t-$n" "$n" "$rate" "$t" > "$out/scale-$t-$n.toml"
    $bin run "$out/scale-$t-$n.toml" --quiet --out "$out/scale-$t-$n" > /dev/null || echo "run $t $n failed" >&2
  done
done

# Part 2
for n in $sizes; do
  for i in $(seq 1 "$pairs"); do
    port=$(free_port)
    $bin serve --transport ws --addr 127.0.0.1:$port > /dev/null & server=$!
    sleep 0.5
    $yardstick client --port "$port" --path /ws --no-welcome --clients "$n" --concurrency 200 \
      --rate 2 --messages 40 --duration 20 --drain 10 --max 120 --serverpid $server \
      --json "$out/yard-$n-$i.json" --label "yard-$n-$i" > /dev/null
    kill $server; wait $server 2>/dev/null || true
    port=$(free_port)
    $bin serve --transport ws --addr 127.0.0.1:$port > /dev/null & server=$!
    sleep 0.5
    scenario "gen-$n-$i" "$n" 2 ws "$port" "$server" > "$out/gen-$n-$i.toml"
    sed -i 's/^warmup = .*/warmup = "0s"/' "$out/gen-$n-$i.toml"
    $bin run "$out/gen-$n-$i.toml" --quiet --out "$out/gen-$n-$i" > /dev/null || echo "gen $n $i failed" >&2
    kill $server; wait $server 2>/dev/null || true
    server=
  done
done

python3 - "$out" "$sizes" "$pairs" "${MAX_WS_SERVER_KIB:-5}" <<'P'
import csv, json, sys, statistics
out, sizes, pairs, max_ws_kib = sys.argv[1], sys.argv[2].split(), int(sys.argv[3]), float(sys.argv[4])
def row(d):
    try:
        return next(csv.DictReader(open(f"{out}/{d}/summary.csv")))
    except (OSError, StopIteration):
        return None
def f(x, scale=1.0, nd=1):
    try:
        return f"{float(x) / scale:.{nd}f}"
    except (TypeError, ValueError):
        return "–"
print("| subscribers | transport | msg/s | lost | p50 ms | p99 ms | gen µs/del | server µs/del | gen KiB/conn | server KiB/conn | connects/s | gen CPU util | gen lag p99 ms |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for n in sizes:
    for t in ("ws", "sse", "longpoll"):
        r = row(f"scale-{t}-{n}")
        if r is None:
            print(f"| {n} | {t} | – | run failed |"); continue
        print(f"| {n} | {t} | {'0.5' if t == 'longpoll' else '1'} | {r['lost']} | {f(r['latency_p50_us'],1000)} | {f(r['latency_p99_us'],1000)} "
              f"| {f(r['client_cpu_us_per_delivery'],1,2)} | {f(r['server_cpu_us_per_delivery'],1,2)} "
              f"| {f(r.get('client_rss_per_connection_kib'))} | {f(r.get('server_rss_per_connection_kib'))} "
              f"| {f(r.get('connects_per_s'),1,0)} | {f(r.get('client_cpu_util'),0.01,0)} % | {f(r.get('client_lag_p99_us'),1000,2)} |")
print()
print("ws, 2 msg/s, same built-in server: yardstick client vs wsbench's generator (medians of the pairs)")
print("| subscribers | yardstick µs/del | wsbench µs/del | ratio | yardstick p50 ms | wsbench p50 ms | ratio | wsbench lost |")
print("|---|---|---|---|---|---|---|---|")
for n in sizes:
    ys, ws, yp, wp, lost = [], [], [], [], []
    for i in range(1, pairs + 1):
        try:
            y = json.loads(open(f"{out}/yard-{n}-{i}.json").read().splitlines()[-1])
            ys.append(y["client_cpu_s"] * 1e6 / y["delivered"]); yp.append(y["lat_ms"]["p50"] if isinstance(y.get("lat_ms"), dict) else y["p50_ms"])
        except (OSError, KeyError, ValueError, IndexError, ZeroDivisionError) as e:
            print(f"(yardstick {n}/{i}: {e!r})", file=sys.stderr)
        r = row(f"gen-{n}-{i}")
        if r:
            ws.append(float(r["client_cpu_us_per_delivery"])); wp.append(float(r["latency_p50_us"]) / 1000); lost.append(r["lost"])
    if ys and ws:
        my, mw, mpy, mpw = (statistics.median(v) for v in (ys, ws, yp, wp))
        print(f"| {n} | {my:.2f} | {mw:.2f} | {mw/my:.2f} | {mpy:.1f} | {mpw:.1f} | {mpw/mpy:.2f} | {','.join(lost)} |")
print()
failed = 0
for n in sizes:
    if int(n) < 19000:
        continue
    r = row(f"scale-ws-{n}")
    kib = r.get("server_rss_per_connection_kib") if r else None
    if not kib:
        print(f"check FAILED: ws server memory at {n} subscribers: no figure (the run failed)")
        failed += 1
    elif float(kib) > max_ws_kib:
        print(f"check FAILED: ws server memory at {n} subscribers: {float(kib):.2f} KiB per connection, above {max_ws_kib:g}")
        failed += 1
    else:
        print(f"check ok: ws server memory at {n} subscribers: {float(kib):.2f} KiB per connection (at most {max_ws_kib:g})")
sys.exit(1 if failed else 0)
P
