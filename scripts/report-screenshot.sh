#!/usr/bin/env bash
# Renders DIR/report.html in headless Chromium and saves a PNG screenshot, to look at the report
# without a browser (or to attach to a review). Installs Debian's `chromium` package if missing.
#
#   scripts/report-screenshot.sh DIR [OUT.png]     (default OUT: DIR/report.png)
#   REPORT_HEIGHT=6000 scripts/report-screenshot.sh DIR   (taller window, px; default 4400: the whole page)
#
# The page is self-contained; Chromium is also told not to reach the network on its own.
set -euo pipefail

usage() {
    echo "usage: $0 DIR [OUT.png]" >&2
    exit 2
}

[[ $# -ge 1 && $# -le 2 ]] || usage
dir=$1
html="$dir/report.html"
out=${2:-"$dir/report.png"}
[[ -f "$html" ]] || { echo "no $html (run \`wsbench report $dir\` first)" >&2; exit 1; }

profile=$(mktemp -d)
cleanup() {
    rm -rf "$profile"
}
trap cleanup EXIT

if ! command -v chromium >/dev/null 2>&1; then
    echo "installing chromium (Debian package)" >&2
    sudo_cmd=()
    [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq chromium >/dev/null
fi

abs_html=$(realpath "$html")
abs_out=$(realpath -m "$out")
chromium \
    --headless \
    --no-sandbox \
    --disable-gpu \
    --disable-quic \
    --no-first-run \
    --disable-background-networking \
    --disable-component-update \
    --disable-sync \
    --hide-scrollbars \
    --user-data-dir="$profile" \
    --window-size=1400,"${REPORT_HEIGHT:-4400}" \
    --screenshot="$abs_out" \
    "file://$abs_html" 2> "$profile/chromium.log" || {
    cat "$profile/chromium.log" >&2
    exit 1
}
[[ -s "$abs_out" ]] || { echo "chromium wrote no screenshot" >&2; cat "$profile/chromium.log" >&2; exit 1; }
echo "$abs_out"
