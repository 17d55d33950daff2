#!/usr/bin/env bash
# Our WebSocket server against the classic Node ws chat server (scripts/peers/node-ws), alternating
# runs of chat.toml's load (WebSocket only) at RATE msg/s; prints one summary line per run.
# usage: scripts/vs-node.sh [RATE] [PAIRS]   (default 20 msg/s, 2 pairs); results in /tmp/vs-node-RATE
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-20}; pairs=${2:-2}
out=/tmp/vs-node-$rate
mkdir -p "$out"
cargo build --release --quiet
pid=
trap '[[ -n $pid ]] && kill $pid 2>/dev/null; true' EXIT
for i in $(seq 1 "$pairs"); do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  ./target/release/wsbench run scenarios/chat.toml --transports ws --rate $rate --quiet --out $out/ours-$i >/dev/null
  pid=$(scripts/peers/node-ws/start.sh $port)
  cat > $out/node.toml <<T
name = "node"
duration = "20s"
warmup = "2s"
[clients]
subscribers = 1000
connect_rate = 500
[publish]
publishers = 10
rate = $rate
payload_bytes = 64
[transports.ws]
[target]
ws = "ws://127.0.0.1:$port/"
server_pid = $pid
T
  ./target/release/wsbench run $out/node.toml --quiet --out $out/node-$i >/dev/null || true
  kill "$pid"; pid=; sleep 1
done
python3 - "$out" <<'P'
import csv,sys,glob,os
for d in sorted(glob.glob(sys.argv[1]+'/*-[0-9]')):
    r=next(csv.DictReader(open(d+'/summary.csv')))
    print(os.path.basename(d), 'lost',r['lost'],'p50',r['latency_p50_us'],'p99',r['latency_p99_us'],'B/del',r['wire_bytes_per_delivery'],'srv us/del',r['server_cpu_us_per_delivery'],'del/srvCPUs',r['deliveries_per_server_cpu_s'],'gen us/del',r['client_cpu_us_per_delivery'],'foreign',r['foreign'])
P
