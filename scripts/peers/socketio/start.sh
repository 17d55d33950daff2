#!/usr/bin/env bash
# Installs the Socket.IO peer's dependencies (Node and npm with apt-get if missing, then the
# pinned socket.io with npm ci, once) and starts the chat server on a loopback port. Prints the
# server's pid on stdout once it listens; its log goes to $LOG (default: server.log here).
# Stop it with `kill <pid>`.
#
# usage: scripts/peers/socketio/start.sh PORT
#   (env, passed to server.js: PING_INTERVAL, PING_TIMEOUT in ms; RECOVERY=1; TRANSPORTS=polling)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/peers/lib.sh
source "$here/../lib.sh"
port=${1:?usage: start.sh PORT}
log=${LOG:-$here/server.log}
node_deps "$here" socket.io
node "$here/server.js" "$port" >"$log" 2>&1 &
wait_listening $! "the Socket.IO peer" "$log" -- grep -q "^listening on" "$log"
