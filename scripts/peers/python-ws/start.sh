#!/usr/bin/env bash
# Installs, once, what the Python peer needs (python3-venv with apt-get if missing, then the
# pinned `websockets` from PyPI into a virtualenv beside this script: .venv) and starts a chat
# server on a loopback port: every message a client sends goes to every open client, as the Node
# peer's does, through `websockets`' own server, which negotiates permessage-deflate by default.
# Prints the server's pid on stdout once it accepts connections; its log goes to $LOG (default:
# server.log here). Stop it with `kill <pid>`.
#
# usage: scripts/peers/python-ws/start.sh PORT
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/peers/lib.sh
source "$here/../lib.sh"
port=${1:?usage: start.sh PORT}
log=${LOG:-$here/server.log}

_python_deps() {
    if "$here/.venv/bin/python" -c 'import websockets' >/dev/null 2>&1; then
        return 0
    fi
    rm -rf "$here/.venv"
    if ! python3 -m venv "$here/.venv" >/dev/null 2>&1; then
        apt_install python3 python3-venv
        rm -rf "$here/.venv"
        python3 -m venv "$here/.venv" >&2
    fi
    echo "installing websockets (pip, in $here/.venv)" >&2
    "$here/.venv/bin/pip" install --quiet --disable-pip-version-check \
        -r "$here/requirements.txt" >&2
}
locked _python_deps
"$here/.venv/bin/python" "$here/server.py" "$port" >"$log" 2>&1 &
wait_listening $! "the Python peer" "$log" -- grep -q "^listening on" "$log"
