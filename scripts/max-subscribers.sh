#!/usr/bin/env bash
# Finds, per transport, the largest subscriber count that still runs with zero loss: doubles the
# count from START until a run loses messages (or fails), then bisects between the last good and
# the first bad count. Bounded: at most MAX subscribers and 12 runs per transport, each run
# bounded by its scenario (loopback only, like every wsbench run).
#
# usage: scripts/max-subscribers.sh [scenario] [transports] ; env START, MAX, DURATION, RATE
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=${1:-scenarios/chat.toml}
transports=${2:-ws,longpoll}
start=${START:-1000}
max=${MAX:-16000}
duration=${DURATION:-10s}
rate=${RATE:-100}
out=results/max-subscribers-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
cargo build --release --quiet
bin=target/release/wsbench

# Prints "lost deliveries expected p50 p99" for one run, or "fail" if the run did not finish.
try() {
  local transport=$1 n=$2 dir="$out/$1-$2"
  if ! "$bin" run "$scenario" --quiet --transports "$transport" --subscribers "$n" \
      --rate "$rate" --duration "$duration" --out "$dir" >/dev/null 2>"$dir.err"; then
    echo fail
    return
  fi
  # Columns by name, so the script survives new columns.
  awk -F, 'NR==1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
           { print $col["lost"], $col["deliveries"], $col["deliveries_expected"],
                   $col["latency_p50_us"], $col["latency_p99_us"] }' "$dir/summary.csv"
}

IFS=, read -ra kinds <<<"$transports"
for t in "${kinds[@]}"; do
  good=0 bad=0 n=$start runs=0
  while (( runs < 12 )); do
    runs=$((runs + 1))
    result=$(try "$t" "$n")
    echo "$t subscribers=$n -> ${result} (lost deliveries expected p50_us p99_us)"
    if [[ $result != fail && ${result%% *} == 0 ]]; then good=$n; else bad=$n; fi
    if (( bad == 0 )); then
      (( n >= max )) && break
      n=$(( n * 2 > max ? max : n * 2 ))
    else
      (( bad - good <= bad / 10 )) && break
      n=$(( (good + bad) / 2 ))
    fi
  done
  echo "$t: largest zero-loss subscriber count found: $good (first loss at: ${bad:-none})" | tee -a "$out/summary.txt"
done
