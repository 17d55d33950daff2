#!/usr/bin/env bash
# Installs the Node peer's dependencies (npm, once) and starts the classic chat server on a
# loopback port. Prints the server's pid on stdout once it accepts connections; its log goes to
# $LOG (default: server.log here). Stop it with `kill <pid>`.
#
# usage: scripts/peer-node-ws/start.sh PORT
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
port=${1:?usage: start.sh PORT}
log=${LOG:-$here/server.log}
command -v node >/dev/null || { echo "node is not installed (apt-get install nodejs npm)" >&2; exit 1; }
if [[ ! -d $here/node_modules/ws ]]; then
  (cd "$here" && npm install --no-audit --no-fund --silent >&2)
fi
node "$here/server.js" "$port" >"$log" 2>&1 &
pid=$!
# Wait (bounded) until it listens.
for _ in $(seq 1 100); do
  if grep -q "监听端口" "$log" 2>/dev/null; then
    echo "$pid"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "the Node peer exited; its log:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.1
done
kill "$pid" 2>/dev/null || true
echo "the Node peer did not start listening within 10 s" >&2
exit 1
