#!/usr/bin/env bash
# Installs, once, Debian's nginx and its nchan module (`libnginx-mod-nchan`) with apt-get. The
# package's own nginx service is stopped and disabled: start.sh runs nginx with its own prefix and
# configuration on a loopback port, for one run. Quiet when both are there; nothing on stdout.
#
# usage: scripts/peers/nchan/setup.sh
set -euo pipefail

sudo_cmd=()
[[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
module=/usr/lib/nginx/modules/ngx_nchan_module.so
if [[ -x /usr/sbin/nginx && -f $module ]]; then
    exit 0
fi
"${sudo_cmd[@]}" apt-get update -qq >&2
echo "installing nginx and libnginx-mod-nchan (Debian packages)" >&2
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    nginx libnginx-mod-nchan >/dev/null
# The package starts its service on port 80 where it can: stop it, so nothing listens between runs.
if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
    "${sudo_cmd[@]}" systemctl disable --now nginx >/dev/null 2>&1 || true
elif [[ -f /run/nginx.pid ]]; then
    "${sudo_cmd[@]}" kill "$(cat /run/nginx.pid)" 2>/dev/null || true
fi
if [[ ! -x /usr/sbin/nginx || ! -f $module ]]; then
    echo "scripts/peers/nchan/setup.sh: nginx or $module is still missing after apt-get install" >&2
    exit 1
fi
