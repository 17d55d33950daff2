#!/usr/bin/env bash
# Installs, once, Debian's nginx and its nchan module (`libnginx-mod-nchan`) with apt-get. The
# package's own nginx service is stopped and disabled: start.sh runs nginx with its own prefix and
# configuration on a loopback port, for one run. Quiet when both are there; nothing on stdout.
#
# usage: scripts/peers/nchan/setup.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/peers/lib.sh
source "$here/../lib.sh"
module=/usr/lib/nginx/modules/ngx_nchan_module.so

installed() {
    [[ -x /usr/sbin/nginx && -f $module ]]
}

install() {
    installed && return 0
    apt_install nginx libnginx-mod-nchan
    # The package starts its service on port 80 where it can: stop it, so nothing listens
    # between runs.
    local sudo_cmd=()
    [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
    if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
        "${sudo_cmd[@]}" systemctl disable --now nginx >/dev/null 2>&1 || true
    elif [[ -f /run/nginx.pid ]]; then
        "${sudo_cmd[@]}" kill "$(cat /run/nginx.pid)" 2>/dev/null || true
    fi
    if ! installed; then
        echo "scripts/peers/nchan/setup.sh: nginx or $module is still missing after apt-get install" >&2
        return 1
    fi
}

installed || locked install
