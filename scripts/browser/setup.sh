#!/usr/bin/env bash
# Installs, once, what the browser scripts here need: Debian's `chromium` (apt-get) and the
# pinned `playwright-core` (npm ci, from package-lock.json) that drives it. Quiet when all is
# there; prints nothing on stdout either way. Playwright's own browser download is never used:
# it drives the system Chromium, so nothing but the package registries is reached.
#
# usage: scripts/browser/setup.sh [--fonts]    (--fonts: also CJK fonts, for screenshots)
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
        -o DPkg::Lock::Timeout=120 "$@" >/dev/null
}

install() {
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || apt_install nodejs npm
    command -v chromium >/dev/null 2>&1 || apt_install chromium
    if [[ $fonts == true ]] && ! fc-list :lang=zh 2>/dev/null | grep -q .; then
        apt_install fonts-noto-cjk
    fi
    if [[ ! -f $here/node_modules/playwright-core/package.json ]]; then
        echo "installing playwright-core (npm ci)" >&2
        (cd "$here" && npm ci --no-audit --no-fund --silent >&2)
    fi
}

fonts=false
[[ ${1:-} == --fonts ]] && fonts=true
# shellcheck source=scripts/install-lock.sh
source "$here/../install-lock.sh"
with_install_lock install
