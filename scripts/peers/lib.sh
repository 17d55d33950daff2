# Sourced by the peers' start scripts. Installs run under the checkout's install lock
# (scripts/install-lock.sh): tests start several peers at once, and two `npm ci` in one directory,
# or two apt-get, would undo each other's work. The wait for a server to listen is bounded and
# reports the server's log when it exits first.

peers_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/install-lock.sh
source "$peers_dir/../install-lock.sh"

# locked CMD...: runs CMD while holding the install lock.
locked() {
    with_install_lock "$@"
}

# apt_install PACKAGE...: Debian packages with apt-get, as root or through sudo.
apt_install() {
    local sudo_cmd=()
    [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
    echo "installing $* (Debian packages)" >&2
    "${sudo_cmd[@]}" apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq \
        --no-install-recommends -o DPkg::Lock::Timeout=120 "$@" >/dev/null
}

# node_deps DIR MODULE: Node and npm when missing, then DIR's pinned packages (npm ci, from
# package-lock.json) unless DIR/node_modules/MODULE is there. Both checked again under the lock,
# so a start that waited for another one's install does not install again.
node_deps() {
    locked _node_deps "$@"
}

_node_deps() {
    local dir=$1 module=$2
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        apt_install nodejs npm
    fi
    if [[ ! -f $dir/node_modules/$module/package.json ]]; then
        echo "installing $module (npm ci in $dir)" >&2
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
    fi
}

# wait_listening PID WHAT LOGS -- CHECK...: prints PID once CHECK succeeds (polled every 0.1 s,
# up to 10 s) and returns 0; if PID exits first or time runs out, prints LOGS (a space-separated
# list of files) on stderr, stops PID and returns 1.
wait_listening() {
    local pid=$1 what=$2 logs=$3
    shift 4
    for _ in $(seq 1 100); do
        if "$@" 2>/dev/null; then
            echo "$pid"
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "$what exited; its log:" >&2
            # shellcheck disable=SC2086 # a list of files
            cat $logs >&2 2>/dev/null || true
            return 1
        fi
        sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    echo "$what did not start listening within 10 s; its log:" >&2
    # shellcheck disable=SC2086
    cat $logs >&2 2>/dev/null || true
    return 1
}

# port_open PORT: true when something accepts on 127.0.0.1:PORT.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
