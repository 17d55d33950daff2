#!/usr/bin/env bash
# Installs, once, what runs with `instances > 1` or `--backplane` need: Debian's `redis-server`
# (the shared log between server instances) and `haproxy` (the load balancer of
# `balancer = "haproxy"`), with apt-get. Quiet when both are there; prints nothing on stdout
# either way. wsbench starts both itself, on loopback, for one run: the packages' own services
# are stopped and disabled where systemd runs them, so nothing listens between runs.
#
# usage: scripts/backplane/setup.sh
set -euo pipefail

sudo_cmd=()
[[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
install() {
    local missing=()
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
    command -v haproxy >/dev/null 2>&1 || [[ -x /usr/sbin/haproxy ]] || missing+=(haproxy)
    if [[ ${#missing[@]} -gt 0 ]]; then
        "${sudo_cmd[@]}" apt-get update -qq >&2
        echo "installing ${missing[*]} (Debian packages)" >&2
        # policy-rc.d-style opt-out is not portable; the packages' services are stopped below
        # instead.
        DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
            -o DPkg::Lock::Timeout=120 \
            "${missing[@]}" >/dev/null
        if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
            "${sudo_cmd[@]}" systemctl disable --now redis-server haproxy >/dev/null 2>&1 || true
        fi
    fi
}

# shellcheck source=scripts/install-lock.sh
source "$(dirname "$0")/../install-lock.sh"
with_install_lock install
for tool in redis-server haproxy; do
    if ! command -v "$tool" >/dev/null 2>&1 && [[ ! -x /usr/sbin/$tool ]]; then
        echo "scripts/backplane/setup.sh: $tool is still missing after apt-get install" >&2
        exit 1
    fi
done
