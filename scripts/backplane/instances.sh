#!/usr/bin/env bash
# The tables of docs/backplane.md: one built-in server against `instances = 3` on a Redis
# backplane with each balancer (clients spread themselves, or HAProxy), per transport, run in turn
# PAIRS times (one, client, haproxy, one, client, haproxy, ...); then the instance-loss runs
# (`[faults] kill_instance_at`, both balancers). Prints markdown tables; results in $OUT
# (default /tmp/wsbench-instances). Not a test; loopback only; every run bounded by its scenario.
#
#   scripts/backplane/instances.sh [PAIRS] [TRANSPORTS]    (defaults: 2, "ws longpoll sse raw")
#   SUBSCRIBERS=1000 RATE=100 DURATION=10s KILL_AT=5s
set -euo pipefail
cd "$(dirname "$0")/../.."
pairs=${1:-2}
transports=${2:-"ws longpoll sse raw"}
subscribers=${SUBSCRIBERS:-1000}
rate=${RATE:-100}
duration=${DURATION:-10s}
kill_at=${KILL_AT:-5s}
out=${OUT:-/tmp/wsbench-instances}
rm -rf "$out"
mkdir -p "$out"
scripts/backplane/setup.sh >/dev/null
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/wsbench

scenario() { # NAME INSTANCES BALANCER KILL
  cat <<T
name = "$1"
duration = "$duration"
warmup = "2s"
drain = "10s"
[clients]
subscribers = $subscribers
connect_rate = 2000
[publish]
publishers = 10
rate = $rate
payload_bytes = 64
T
  for t in $transports; do
    printf '[transports.%s]\n' "$t"
    [[ $t == longpoll ]] && printf 'hold = "30s"\n'
    if (( $2 > 1 )); then printf 'instances = %s\nbalancer = "%s"\n' "$2" "$3"; fi
  done
  if [[ -n $4 ]]; then printf '[faults]\nkill_instance_at = "%s"\n' "$4"; fi
}

scenario one 1 - "" > "$out/one.toml"
scenario client 3 client "" > "$out/client.toml"
scenario haproxy 3 haproxy "" > "$out/haproxy.toml"
scenario loss-client 3 client "$kill_at" > "$out/loss-client.toml"
scenario loss-haproxy 3 haproxy "$kill_at" > "$out/loss-haproxy.toml"

for pair in $(seq 1 "$pairs"); do
  for setup in one client haproxy; do
    echo "$(date -u +%H:%M:%S) $setup run $pair" >&2
    "$bin" run "$out/$setup.toml" --quiet --out "$out/$setup-$pair" > "$out/$setup-$pair.txt" 2>&1 || true
  done
done
for setup in loss-client loss-haproxy; do
  echo "$(date -u +%H:%M:%S) $setup" >&2
  "$bin" run "$out/$setup.toml" --quiet --out "$out/$setup" > "$out/$setup.txt" 2>&1 || true
done

python3 - "$out" "$pairs" "$transports" <<'P'
import csv, json, sys
out, pairs, transports = sys.argv[1], int(sys.argv[2]), sys.argv[3].split()

def load(d):
    rows = {r["transport"]: r for r in csv.DictReader(open(f"{out}/{d}/summary.csv"))}
    metrics = {t["transport"]: t for t in json.load(open(f"{out}/{d}/metrics.json"))["transports"]}
    return rows, metrics

def serving(row, m):
    """Serving-side CPU µs per delivery (instances + redis + haproxy) and the extras' shares."""
    deliveries = float(row["deliveries"]) or 1
    inst = m.get("instances")
    server = float(row["server_cpu_s"] or 0)
    if not inst:
        return server / deliveries * 1e6, None, None
    redis = (inst.get("redis") or {}).get("cpu_ns", 0) / 1e9
    haproxy = (inst.get("haproxy") or {}).get("cpu_ns", 0) / 1e9
    return (server + redis + haproxy) / deliveries * 1e6, redis / deliveries * 1e6, haproxy / deliveries * 1e6

def cell(values):
    return " / ".join(values)

runs = {s: [load(f"{s}-{p}") for p in range(1, pairs + 1)] for s in ("one", "client", "haproxy")}
print("| run " + " / ".join(str(p) for p in range(1, pairs + 1)) + " | " + " | ".join(transports) + " |")
print("|---|" + "---|" * len(transports))
labels = {"one": "1 instance", "client": "3 instances, client", "haproxy": "3 instances, HAProxy"}
for s in ("one", "client", "haproxy"):
    def line(name, f):
        print(f"| {name} | " + " | ".join(cell([f(rows[t], metrics[t]) for rows, metrics in runs[s]]) for t in transports) + " |")
    line(f"**{labels[s]}**: latency p50 ms", lambda r, m: f"{float(r['latency_p50_us'])/1000:.1f}")
    line("latency p99 ms", lambda r, m: f"{float(r['latency_p99_us'])/1000:.1f}")
    if s == "one":
        line("server CPU µs / delivery", lambda r, m: f"{serving(r, m)[0]:.2f}")
    else:
        extra = "redis" if s == "client" else "HAProxy"
        idx = 1 if s == "client" else 2
        line(f"serving-side CPU µs / delivery ({extra})", lambda r, m: f"{serving(r, m)[0]:.2f} ({serving(r, m)[idx]:.2f})")
    line("wire bytes / delivery", lambda r, m: f"{float(r['wire_bytes_per_delivery']):.1f}")
    line("lost", lambda r, m: r["lost"])
print()
print("| instance loss (SIGKILL at the kill time) | " + " | ".join(transports) + " |")
print("|---|" + "---|" * len(transports))
for s in ("loss-client", "loss-haproxy"):
    rows, metrics = load(s)
    for name, key in (("lost", "lost"), ("duplicated", "duplicated"), ("deliveries", "deliveries"),
                      ("expected", "deliveries_expected"), ("reconnects", "reconnects"),
                      ("reconnect p50 ms", "reconnect_p50_us"), ("reconnect p99 ms", "reconnect_p99_us")):
        def v(t):
            x = rows[t].get(key, "")
            if x == "":
                return "–"
            return f"{float(x)/1000:.1f}" if key.endswith("_us") else x
        print(f"| {s.replace('loss-', 'balancer ')}: {name} | " + " | ".join(v(t) for t in transports) + " |")
P
