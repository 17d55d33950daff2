#!/usr/bin/env bash
# Installs, once, what the Node peer needs (Debian's nodejs and npm with apt-get, the pinned `ws`
# with npm ci, from package-lock.json) and starts the classic chat server on a loopback port, so
# a clean machine needs nothing installed by hand. Prints the server's pid on stdout once it
# accepts connections; its log goes to $LOG (default: server.log here). Stop it with `kill <pid>`.
#
# usage: scripts/peer-node-ws/start.sh PORT
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
port=${1:?usage: start.sh PORT}
log=${LOG:-$here/server.log}
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  echo "installing nodejs npm (Debian packages)" >&2
  "${sudo_cmd[@]}" apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq \
    -o DPkg::Lock::Timeout=120 nodejs npm >/dev/null
fi
if [[ ! -f $here/node_modules/ws/package.json ]]; then
  echo "installing ws (npm ci, from package-lock.json)" >&2
  (cd "$here" && npm ci --no-audit --no-fund --silent >&2)
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
