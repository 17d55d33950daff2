#!/usr/bin/env bash
# Installs, once, the HTTP/3 stack the interop test reads an SSE stream from: Hypercorn with
# aioquic (PyPI, in a virtualenv beside this script: scripts/h3peer/.venv), an HTTP/3 server
# written by others, serving scripts/h3peer/sse_server.py. Runs under the checkout's install lock
# (scripts/install-lock.sh), so tests that start at once install once. Quiet when all is there;
# prints nothing on stdout either way.
#
# usage: scripts/h3peer/setup.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

sudo_cmd=()
[[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)

install() {
    if "$here/.venv/bin/python" -c 'import aioquic, hypercorn' >/dev/null 2>&1; then
        return
    fi
    rm -rf "$here/.venv"
    if ! python3 -m venv "$here/.venv" >/dev/null 2>&1; then
        "${sudo_cmd[@]}" apt-get update -qq >&2
        echo "installing python3-venv (Debian packages)" >&2
        DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq \
            --no-install-recommends -o DPkg::Lock::Timeout=120 python3 python3-venv >/dev/null
        rm -rf "$here/.venv"
        python3 -m venv "$here/.venv" >&2
    fi
    echo "installing hypercorn and aioquic (pip, in $here/.venv)" >&2
    "$here/.venv/bin/pip" install --quiet --disable-pip-version-check \
        'hypercorn==0.18.0' 'aioquic==1.7.2' >&2
}

# shellcheck source=scripts/install-lock.sh
source "$here/../install-lock.sh"
with_install_lock install
