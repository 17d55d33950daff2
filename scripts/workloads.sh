#!/usr/bin/env bash
# Runs the tutorial's six use cases (scenarios/{chat-rooms,collab,game,ticker,scores,iot}.toml),
# every transport, and prints one markdown table of their headline figures per scenario.
#
# Usage: scripts/workloads.sh [OUT_DIR] [SCENARIO...]     (default: results/workloads-<UTC>, all six)
#        scripts/workloads.sh --table DIR...               (only print the table of finished runs)
# Takes ~20 minutes on a 2-core machine (iot and scores hold 18,000 and 10,000 connections through
# 30–40 s idle phases). Needs the open-file limit for iot (raised by wsbench where it may).
set -euo pipefail
cd "$(dirname "$0")/.."

# One row per transport of DIR/summary.csv: latency, loss, bytes and CPU per delivery, idle cost.
table() {
    for dir in "$@"; do
        echo "**$(basename "$dir")**"
        echo
        echo "| transport | p50 ms | p99 ms | lost | misrouted | wire B / delivery | server CPU µs / delivery | idle B / conn·min | idle server CPU µs / conn·min | idle server KiB / conn |"
        echo "|---|---|---|---|---|---|---|---|---|---|"
        awk -F, '
            NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
            function v(name) { return (name in col && $col[name] != "") ? $col[name] : "–" }
            function ms(name) { return v(name) == "–" ? "–" : sprintf("%.1f", v(name) / 1000) }
            {
                printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", v("transport"),
                    ms("latency_p50_us"), ms("latency_p99_us"), v("lost"), v("misrouted"),
                    v("wire_bytes_per_delivery"), v("server_cpu_us_per_delivery"),
                    v("idle_bytes_per_conn_min"), v("idle_server_cpu_us_per_conn_min"),
                    v("idle_server_kib_per_conn")
            }' "$dir/summary.csv"
        echo
    done
}

if [[ "${1:-}" == "--table" ]]; then
    shift
    table "$@"
    exit 0
fi
out="${1:-results/workloads-$(date -u +%Y%m%dT%H%M%SZ)}"
shift || true
scenarios=("$@")
((${#scenarios[@]})) || scenarios=(chat-rooms collab game ticker scores iot)
cargo build --release --quiet
mkdir -p "$out"
dirs=()
for s in "${scenarios[@]}"; do
    echo "== $s ($(date -u +%T))" >&2
    target/release/wsbench run "scenarios/$s.toml" --out "$out/$s" --quiet >"$out/$s.txt" 2>&1 || true
    dirs+=("$out/$s")
done
table "${dirs[@]}"
