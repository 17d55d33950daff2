#!/usr/bin/env bash
# The matched table on real stacks: chat.toml's load (1000 subscribers, 10 publishers, 100 msg/s,
# 64 B) on wsbench's own WebSocket, long-poll and SSE servers, on Socket.IO's chat server (Node,
# socket.io 4.8) over polling, WebSocket and the upgrade, and on nginx + nchan over long-poll,
# EventSource and WebSocket — each server fresh, on loopback, its CPU and memory sampled (nginx's
# master with its worker). Prints a Markdown table stamped with the commit and date; results in
# $OUT (default /tmp/wsbench-stacks).
#
# usage: scripts/stacks.sh   (env: DURATION=20s, SUBSCRIBERS=1000, RATE=100, OUT=dir;
#                             BIN=path: a wsbench already built, instead of the release build)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${DURATION:-20s}
subscribers=${SUBSCRIBERS:-1000}
rate=${RATE:-100}
out=${OUT:-/tmp/wsbench-stacks}
rm -rf "$out"
mkdir -p "$out"
bin=${BIN:-./target/release/wsbench}
[[ -n ${BIN:-} ]] || cargo build --release --quiet
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; true' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
load() {
    cat <<T
duration = "$duration"
warmup = "2s"
[clients]
subscribers = $subscribers
connect_rate = 500
[publish]
publishers = 10
rate = $rate
payload_bytes = 64
T
}

"$bin" run scenarios/chat.toml --transports ws,longpoll,sse --duration "$duration" \
    --subscribers "$subscribers" --rate "$rate" --quiet --out "$out/wsbench" >/dev/null

port=$(free_port)
pid=$(LOG="$out/socketio.log" scripts/peers/socketio/start.sh "$port")
pids+=("$pid")
{ load; printf '[target]\nsocketio = { url = "http://127.0.0.1:%s" }\nserver_pid = %s\n' "$port" "$pid"; } \
    >"$out/socketio.toml"
"$bin" run "$out/socketio.toml" --quiet --out "$out/socketio" >/dev/null
kill "$pid"

port=$(free_port)
pid=$(scripts/peers/nchan/start.sh "$port" "$out/nginx")
pids+=("$pid")
{ load; printf '[target]\nnchan = { url = "http://127.0.0.1:%s" }\nserver_pid = %s\n' "$port" "$pid"; } \
    >"$out/nchan.toml"
"$bin" run "$out/nchan.toml" --quiet --out "$out/nchan" >/dev/null
kill "$pid"

commit=$(git rev-parse --short HEAD)
build=${BIN:+"$BIN, "}
python3 - "$out" "$commit" "$duration" "$subscribers" "$rate" "${build:-release build, }" <<'PY'
import csv, datetime, sys
out, commit, duration, subscribers, rate, build = sys.argv[1:]
def num(v, digits=3):
    if v in ("", None):
        return "–"
    x = float(v)
    return f"{x:.{digits}g}" if abs(x) < 10 ** digits else f"{x:,.0f}"
print(f"_Measured with scripts/stacks.sh: {build}commit {commit}, "
      f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {subscribers} subscribers, "
      f"{rate} msg/s, {duration} measured per run._\n")
print("| run | p50 ms | p99 ms | lost | wire B / delivery | server CPU µs / delivery | server KiB / connection |")
print("|---|---|---|---|---|---|---|")
for part in ("wsbench", "socketio", "nchan"):
    with open(f"{out}/{part}/summary.csv") as f:
        for r in csv.DictReader(f):
            ms = lambda k: num(float(r[k]) / 1000) if r[k] else "–"
            name = r["transport"] if part != "wsbench" else f"wsbench {r['transport']}"
            print(f"| {name} | {ms('latency_p50_us')} | {ms('latency_p99_us')} | {r['lost']} | "
                  f"{num(r['wire_bytes_per_delivery'])} | {num(r['server_cpu_us_per_delivery'])} | "
                  f"{num(r['server_rss_per_connection_kib'])} |")
PY
