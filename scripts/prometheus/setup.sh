#!/usr/bin/env bash
# Installs, once, what the Prometheus tests need: Debian's `prometheus` (the server that scrapes
# `wsbench run --metrics`), and the Python `prometheus_client` package (PyPI, in a virtualenv
# beside this script: scripts/prometheus/.venv) whose parser reads the OpenMetrics text. Runs
# under the checkout's install lock (scripts/install-lock.sh), so tests that start at once
# install once. Quiet when all is there; prints nothing on stdout either way. The package's own
# service is stopped and disabled where systemd runs it: the tests start their own, on loopback.
#
# usage: scripts/prometheus/setup.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

sudo_cmd=()
[[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
apt_updated=false
apt_install() {
    if [[ $apt_updated == false ]]; then
        "${sudo_cmd[@]}" apt-get update -qq >&2
        apt_updated=true
    fi
    echo "installing $* (Debian packages)" >&2
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq \
        --no-install-recommends -o DPkg::Lock::Timeout=120 "$@" >/dev/null
}

install() {
    if ! command -v prometheus >/dev/null 2>&1; then
        apt_install prometheus
        if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
            "${sudo_cmd[@]}" systemctl disable --now prometheus >/dev/null 2>&1 || true
        fi
    fi
    if ! "$here/.venv/bin/python" -c 'import prometheus_client' >/dev/null 2>&1; then
        rm -rf "$here/.venv"
        if ! python3 -m venv "$here/.venv" >/dev/null 2>&1; then
            apt_install python3 python3-venv
            rm -rf "$here/.venv"
            python3 -m venv "$here/.venv" >&2
        fi
        echo "installing prometheus_client (pip, in $here/.venv)" >&2
        "$here/.venv/bin/pip" install --quiet --disable-pip-version-check \
            'prometheus_client==0.26.0' >&2
    fi
    command -v prometheus >/dev/null 2>&1 || {
        echo "scripts/prometheus/setup.sh: prometheus is still missing after apt-get install" >&2
        exit 1
    }
}

# shellcheck source=scripts/install-lock.sh
source "$here/../install-lock.sh"
with_install_lock install
