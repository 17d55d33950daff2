#!/usr/bin/env bash
# Regenerates the figures: runs what the README's figures tables and each docs/ table need, and
# writes each table to OUT stamped with the commit and date it ran on. Each later feature that
# publishes a table adds its stage here.
#
# usage: scripts/figures.sh [OUT]        (default results/figures-<UTC>)
#   FIGURES_STAGES   which stages, in order (default "workloads scale capacity shards backplane stacks"):
#     workloads  the six use cases, every transport  -> OUT/README-figures.md, OUT/workloads.md
#                (docs/workloads.md; with FIGURES_WRITE=1 the README's block between the
#                 `figures:begin`/`figures:end` markers is replaced), ~20 min
#     scale      scripts/scale.sh "1000 5000 10000 19500" 2 -> OUT/scale.md (docs/scale.md), ~17 min
#     capacity   wsbench capacity on chat.toml, p99 50 ms   -> OUT/capacity.md (docs/capacity.md), ~5 min
#     shards     scripts/shards.sh                          -> OUT/shards.md (docs/shards.md)
#     backplane  scripts/backplane/instances.sh             -> OUT/backplane.md (docs/backplane.md)
#     stacks     scripts/stacks.sh: chat.toml's load on Socket.IO and nchan beside ours
#                                                           -> OUT/stacks.md (docs/stacks.md), ~6 min
#   FIGURES_QUICK=1  a check of this script, not figures: the workloads stage only (unless
#     FIGURES_STAGES says otherwise), on chat-rooms, collab and game (FIGURES_SCENARIOS), each
#     transport measured for 1 s with no warmup; every table is stamped "quick check" and
#     FIGURES_WRITE is refused.
#   WSBENCH          the binary to run (default: target/release/wsbench, built here).
# Loopback only; every run is bounded by its scenario. Run it on an otherwise idle machine: the
# figures are only as good as the quiet they were measured in.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=${FIGURES_QUICK:-0}
out=${1:-results/figures-$(date -u +%Y%m%dT%H%M%SZ)}
if [[ $quick == 1 ]]; then
    stages=${FIGURES_STAGES:-workloads}
    scenarios=${FIGURES_SCENARIOS:-chat-rooms collab game}
    run_flags=(--duration 1s --warmup 0s)
    [[ ${FIGURES_WRITE:-0} == 1 ]] && { echo "FIGURES_WRITE with FIGURES_QUICK: quick runs are not figures" >&2; exit 2; }
else
    stages=${FIGURES_STAGES:-workloads scale capacity shards backplane stacks}
    scenarios=${FIGURES_SCENARIOS:-chat-rooms collab game ticker scores iot}
    run_flags=()
fi
if [[ -z ${WSBENCH:-} ]]; then
    cargo build --release --quiet
    WSBENCH=target/release/wsbench
fi
mkdir -p "$out"

commit=$(git rev-parse --short HEAD)
[[ -z $(git status --porcelain --untracked-files=no) ]] || commit="$commit (with uncommitted changes)"
# The stamp every table carries: what ran, where, when.
stamp() {
    local what=$1 started=$2
    local kind="release build"
    [[ $WSBENCH == *debug* ]] && kind="debug build"
    printf '_%s: %s of %s, %s UTC to %s UTC, %s cores (%s)%s._\n' "$what" "$kind" "$commit" \
        "$started" "$(date -u +'%Y-%m-%d %H:%M')" "$(nproc)" "$(uname -sr)" \
        "$([[ $quick == 1 ]] && echo '; QUICK CHECK (1 s per transport): not figures')"
}

# Row label of each use case in the README's tables.
label() {
    case $1 in
        chat-rooms) echo "chat-rooms: 100 rooms of 20, 50 ms RTT" ;;
        collab) echo "collab: 100 docs × 5 editors, 30 ms" ;;
        game) echo "game: 100 matches × 8, 15 msg/s each, 40 ms" ;;
        ticker) echo "ticker: 5,000 watchers, bursts, 0 ms" ;;
        scores) echo "scores: 10,000 fans, rare bursts, 80 ms" ;;
        iot) echo "iot: 18,000 idle + 200 devices, 100 ms" ;;
        *) echo "$1" ;;
    esac
}

# One summary.csv column of every scenario as a table: a row per scenario, a column per transport.
# Cells with losses or unsent messages get a ¹ and a line under the table.
figure_table() {
    local title=$1 column=$2 scale=$3
    shift 3
    echo "| $title | ws | longpoll | shortpoll | sse | raw |"
    echo "|---|---|---|---|---|---|"
    for dir in "$@"; do
        awk -F, -v col="$column" -v scale="$scale" -v name="$(label "$(basename "$dir")")" '
            function sig3(x) { return x >= 100 ? sprintf("%.0f", x) : x >= 10 ? sprintf("%.1f", x) : sprintf("%.2f", x) }
            NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
            {
                t = $c["transport"]; v = $c[col]
                cell[t] = (v == "") ? "–" : sig3(v / scale)
                if ($c["lost"] > 0 || $c["messages_published"] < $c["messages_scheduled"]) cell[t] = cell[t] " ¹"
            }
            END {
                printf "| %s |", name
                n = split("ws longpoll shortpoll sse raw", ts, " ")
                for (i = 1; i <= n; i++) printf " %s |", (ts[i] in cell) ? cell[ts[i]] : "–"
                print ""
            }' "$dir/summary.csv"
    done
    echo
}

# The ¹ lines: what was lost or not sent, per scenario and transport.
shortfalls() {
    for dir in "$@"; do
        awk -F, -v name="$(basename "$dir")" '
            NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
            $c["lost"] > 0 || $c["messages_published"] < $c["messages_scheduled"] {
                printf "¹ %s %s: %s of %s scheduled messages published, %s deliveries lost.\n",
                    name, $c["transport"], $c["messages_published"], $c["messages_scheduled"], $c["lost"]
            }' "$dir/summary.csv"
    done
}

# What a quiet connection costs, for the scenarios with an idle phase.
idle_table() {
    local rows
    rows=$(idle_rows "$@")
    [[ -n $rows ]] || return 0
    echo "| per quiet connection | ws | longpoll | shortpoll | sse | raw |"
    echo "|---|---|---|---|---|---|"
    echo "$rows"
    echo
}

idle_rows() {
    for dir in "$@"; do
        awk -F, -v name="$(basename "$dir")" '
            function sig3(x) { return x >= 100 ? sprintf("%.0f", x) : x >= 10 ? sprintf("%.1f", x) : sprintf("%.2f", x) }
            NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
            $c["idle_bytes_per_conn_min"] != "" {
                t = $c["transport"]; seen = 1
                b[t] = sig3($c["idle_bytes_per_conn_min"])
                u[t] = sig3($c["idle_server_cpu_us_per_conn_min"])
                k[t] = sig3($c["idle_server_kib_per_conn"])
            }
            END {
                if (!seen) exit
                n = split("ws longpoll shortpoll sse raw", ts, " ")
                printf "| %s: bytes / min |", name; for (i = 1; i <= n; i++) printf " %s |", b[ts[i]]; print ""
                printf "| %s: server CPU µs / min |", name; for (i = 1; i <= n; i++) printf " %s |", u[ts[i]]; print ""
                printf "| %s: server KiB |", name; for (i = 1; i <= n; i++) printf " %s |", k[ts[i]]; print ""
            }' "$dir/summary.csv"
    done
}

stage_workloads() {
    local started dirs=() s
    started=$(date -u +'%Y-%m-%d %H:%M')
    for s in $scenarios; do
        echo "== workloads: $s ($(date -u +%T))" >&2
        mkdir -p "$out/workloads"
        "$WSBENCH" run "scenarios/$s.toml" --out "$out/workloads/$s" --quiet "${run_flags[@]}" \
            >"$out/workloads/$s.txt" 2>&1 || true
        [[ -f $out/workloads/$s/summary.csv ]] || { echo "no summary.csv for $s: see $out/workloads/$s.txt" >&2; exit 1; }
        dirs+=("$out/workloads/$s")
    done
    {
        echo "<!-- figures:begin (scripts/figures.sh writes this block) -->"
        stamp "Measured with scripts/figures.sh" "$started"
        echo
        figure_table "p99 push latency, ms" latency_p99_us 1000 "${dirs[@]}"
        figure_table "wire bytes per delivery" wire_bytes_per_delivery 1 "${dirs[@]}"
        figure_table "server CPU µs per delivery" server_cpu_us_per_delivery 1 "${dirs[@]}"
        idle_table "${dirs[@]}"
        shortfalls "${dirs[@]}"
        echo "<!-- figures:end -->"
    } >"$out/README-figures.md"
    {
        stamp "scripts/figures.sh, workloads" "$started"
        echo
        scripts/workloads.sh --table "${dirs[@]}"
    } >"$out/workloads.md"
    if [[ ${FIGURES_WRITE:-0} == 1 ]]; then
        awk -v block="$out/README-figures.md" '
            /<!-- figures:begin/ { while ((getline line < block) > 0) print line; skip = 1; next }
            /<!-- figures:end -->/ { skip = 0; next }
            !skip' README.md >"$out/README.md.new"
        mv "$out/README.md.new" README.md
        echo "README.md: figures block replaced" >&2
    fi
}

# A stage that is one of the project's benchmark scripts: its markdown output, stamped.
stage_script() {
    local name=$1 started
    shift
    started=$(date -u +'%Y-%m-%d %H:%M')
    echo "== $name ($(date -u +%T))" >&2
    { stamp "scripts/figures.sh, $name" "$started"; echo; env OUT="$out/$name" "$@"; } >"$out/$name.md.tmp"
    mv "$out/$name.md.tmp" "$out/$name.md"
}

stage_capacity() {
    local started search=(scenarios/chat.toml --max 16000 --duration 5s --warmup 1s
        --transports ws,longpoll,shortpoll,sse,raw)
    # A quick check steps tiny.toml's WebSocket run from 50 to 100 subscribers, 1 s each.
    [[ $quick == 1 ]] && search=(scenarios/tiny.toml --max 100 --duration 1s --transports ws)
    started=$(date -u +'%Y-%m-%d %H:%M')
    echo "== capacity ($(date -u +%T))" >&2
    "$WSBENCH" capacity "${search[@]}" --p99 50ms --by subscribers --quiet \
        --out "$out/capacity" >"$out/capacity.txt"
    { stamp "scripts/figures.sh, capacity" "$started"; echo; grep '^capacity \[' "$out/capacity.txt"; } >"$out/capacity.md"
}

for stage in $stages; do
    case $stage in
        workloads) stage_workloads ;;
        scale) stage_script scale scripts/scale.sh "1000 5000 10000 19500" 2 ;;
        capacity) stage_capacity ;;
        shards) stage_script shards scripts/shards.sh ;;
        backplane) stage_script backplane scripts/backplane/instances.sh ;;
        stacks) stage_script stacks env BIN="$WSBENCH" scripts/stacks.sh ;;
        *) echo "unknown stage $stage (workloads scale capacity shards backplane stacks)" >&2; exit 2 ;;
    esac
done
echo "figures: $out" >&2
