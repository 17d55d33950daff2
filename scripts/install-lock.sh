# Sourced by every script that installs packages: scripts/browser/setup.sh,
# scripts/backplane/setup.sh, scripts/prometheus/setup.sh and scripts/peers/lib.sh. The tests start
# several of them at once, and two apt-get runs, or two `npm ci` in one directory, undo each
# other's work; so every install in this checkout runs under one lock, scripts/.install.lock.

# with_install_lock CMD...: runs CMD while holding the lock (waits up to 15 minutes for it).
with_install_lock() {
    local lock
    lock="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/.install.lock"
    (
        if ! flock -w 900 9; then
            echo "$lock: held for more than 15 minutes by another install" >&2
            exit 1
        fi
        "$@"
    ) 9>"$lock"
}
