#!/usr/bin/env bash
# Installs the Socket.IO peer's dependencies (Node and npm with apt-get if missing, then the
# pinned socket.io with npm, once) and starts the chat server on a loopback port. Prints the
# server's pid on stdout once it listens; its log goes to $LOG (default: server.log here).
# Stop it with `kill <pid>`.
#
# usage: scripts/peers/socketio/start.sh PORT
#   (env, passed to server.js: PING_INTERVAL, PING_TIMEOUT in ms; RECOVERY=1; TRANSPORTS=polling)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
port=${1:?usage: start.sh PORT}
log=${LOG:-$here/server.log}
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    sudo_cmd=()
    [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
    echo "installing nodejs and npm (Debian packages)" >&2
    "${sudo_cmd[@]}" apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
        nodejs npm >/dev/null
fi
if [[ ! -d $here/node_modules/socket.io ]]; then
    if [[ -f $here/package-lock.json ]]; then
        (cd "$here" && npm ci --no-audit --no-fund --silent >&2)
    else
        (cd "$here" && npm install --no-audit --no-fund --silent >&2)
    fi
fi
node "$here/server.js" "$port" >"$log" 2>&1 &
pid=$!
# Wait (bounded) until it listens.
for _ in $(seq 1 100); do
    if grep -q "^listening on" "$log" 2>/dev/null; then
        echo "$pid"
        exit 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "the Socket.IO peer exited; its log:" >&2
        cat "$log" >&2
        exit 1
    fi
    sleep 0.1
done
kill "$pid" 2>/dev/null || true
echo "the Socket.IO peer did not start listening within 10 s" >&2
exit 1
