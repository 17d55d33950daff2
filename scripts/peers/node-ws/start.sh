#!/usr/bin/env bash
# Installs, once, what the Node peer needs (Debian's nodejs and npm with apt-get, the pinned `ws`
# with npm ci, from package-lock.json) and starts the classic chat server on a loopback port, so
# a clean machine needs nothing installed by hand. Prints the server's pid on stdout once it
# accepts connections; its log goes to $LOG (default: server.log here). Stop it with `kill <pid>`.
#
# usage: scripts/peers/node-ws/start.sh PORT   (env: PER_MESSAGE_DEFLATE=1 to compress)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/peers/lib.sh
source "$here/../lib.sh"
port=${1:?usage: start.sh PORT}
log=${LOG:-$here/server.log}
node_deps "$here" ws
node "$here/server.js" "$port" >"$log" 2>&1 &
wait_listening $! "the Node peer" "$log" -- grep -q "监听端口" "$log"
