#!/usr/bin/env bash
# The README's picture of the chat page: starts `wsbench serve --transport all` on loopback,
# plays a short conversation between three pages in headless Chromium (one switching through all
# three transports) and saves a screenshot of one of them. Installs what is missing first
# (scripts/browser/setup.sh --fonts: chromium, CJK fonts, playwright-core).
#
#   scripts/chat-screenshot.sh [OUT.png]          (default docs/img/chat-page.png)
#   WSBENCH=path/to/wsbench scripts/chat-screenshot.sh   (default: cargo build --release)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-$root/docs/img/chat-page.png}")
mkdir -p "$(dirname "$out")"

"$root/scripts/browser/setup.sh" --fonts
if [[ -z ${WSBENCH:-} ]]; then
    (cd "$root" && cargo build --release --quiet)
    WSBENCH=${CARGO_TARGET_DIR:-$root/target}/release/wsbench
fi

log=$(mktemp)
server=""
cleanup() {
    [[ -n $server ]] && kill "$server" 2>/dev/null || true
    rm -f "$log"
}
trap cleanup EXIT

"$WSBENCH" serve --transport all >"$log" &
server=$!
# Wait (bounded) for the page's URL on the second line.
for _ in $(seq 1 100); do
    [[ $(wc -l <"$log") -ge 2 ]] && break
    kill -0 "$server" 2>/dev/null || { echo "wsbench serve exited" >&2; exit 1; }
    sleep 0.1
done
url=$(sed -n 2p "$log")
[[ -n $url ]] || { echo "wsbench serve printed no page URL within 10 s" >&2; exit 1; }

node "$root/scripts/browser/chat-screenshot.mjs" "$url" "$out"
