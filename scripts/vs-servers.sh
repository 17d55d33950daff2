#!/usr/bin/env bash
# The built-in WebSocket server against the yardstick's tuned reference server, the tutorial's
# Node `ws` chat server (scripts/peers/node-ws) and, given, an older wsbench build, measured by the
# same lean client: deliveries per server-CPU-second, saturated (window 8) and at fixed rates,
# 64-byte messages, interleaved rounds. Loopback only; every run bounded (--max).
#
#   scripts/vs-servers.sh [ROUNDS] [OLD_WSBENCH]      (defaults: 2, none)
#   YARDSTICK=path/to/yardstick.sh (default ../shared/yardstick/yardstick.sh)
#   CLIENTS=1000          subscribers (19000 for the scale goal; the hard open-file limit is 20,000)
#   LOADS="saturated 20"  each either `saturated` or a rate in msg/s (10 s of publishing)
#   SERVERS="new tuned"   any of new, old (needs OLD_WSBENCH), tuned, node
#
# Prints one line per run (the yardstick client's summary) and a table of medians.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2}
old=${2:-}
yardstick=${YARDSTICK:-../shared/yardstick/yardstick.sh}
[[ -x $yardstick ]] || { echo "no yardstick at $yardstick (set YARDSTICK)" >&2; exit 1; }
cargo build --release --quiet
new=./target/release/wsbench
out=$(mktemp -d)
port=18600

serve() { # NAME -> starts the server, sets pid and path
    case $1 in
        new|old)
            local bin=$new; [[ $1 == old ]] && bin=$old
            "$bin" serve --transport ws --addr 127.0.0.1:$port >/dev/null & pid=$!
            path=(--path /ws --no-welcome) ;;
        tuned)
            "$yardstick" tuned $port >/dev/null 2>&1 & pid=$!
            path=() ;;
        node)
            pid=$(LOG=$out/node.log scripts/peers/node-ws/start.sh $port)
            path=() ;;
    esac
    for _ in $(seq 1 100); do
        (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && return 0
        sleep 0.1
    done
    echo "server $1 did not start" >&2; exit 1
}

clients=${CLIENTS:-1000}
read -r -a loads <<< "${LOADS:-saturated 20}"
default_servers="new tuned"
[[ -n $old ]] && default_servers="old new tuned"
read -r -a servers <<< "${SERVERS:-$default_servers}"
for round in $(seq 1 "$rounds"); do
    for load in "${loads[@]}"; do
        for s in "${servers[@]}"; do
            port=$((port + 1))
            serve "$s"
            if [[ $load == saturated ]]; then
                args=(--rate 0 --window 8 --messages 100000000 --duration 10)
            else
                args=(--rate "$load" --messages $((load * 10)) --duration 10)
            fi
            "$yardstick" client --port $port "${path[@]}" --clients "$clients" "${args[@]}" \
                --drain 5 --max 120 --serverpid $pid --json "$out/$s-$load-$round.json" --label "$s $load" \
                | sed "s/^/[$s $load r$round] /"
            kill "$pid"; wait "$pid" 2>/dev/null || true
        done
    done
done
python3 - "$out" "${LOADS:-saturated 20}" "${servers[@]}" <<'PY'
import json, sys, glob, statistics
out, loads, servers = sys.argv[1], sys.argv[2].split(), sys.argv[3:]
print("| server | load | deliveries per server CPU-s (median) | p50 ms | p99 ms | runs |")
print("|---|---|---|---|---|---|")
for load in loads:
    for s in servers:
        rows = [json.loads(open(f).read()) for f in sorted(glob.glob(f"{out}/{s}-{load}-*.json"))]
        if not rows: continue
        med = lambda f: statistics.median([f(r) for r in rows])
        dps = med(lambda r: r["deliveries_per_server_cpu_s"])
        p50, p99 = med(lambda r: r["lat_ms"]["p50"]), med(lambda r: r["lat_ms"]["p99"])
        lost = sum(r["expected"] - r["delivered"] for r in rows)
        print(f"| {s} | {load} | {dps:,.0f} | {p50:.2f} | {p99:.2f} | {len(rows)}, lost {lost} |")
PY
