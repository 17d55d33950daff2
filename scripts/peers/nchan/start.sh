#!/usr/bin/env bash
# Installs nginx + nchan if missing (setup.sh), then starts nginx on a loopback port with its own
# prefix and configuration (nginx.conf.in). Prints the master's pid on stdout once it accepts
# connections: give it as `server_pid`, and wsbench samples the master and its workers. Stop it
# with `kill <pid>`.
#
# usage: scripts/peers/nchan/start.sh PORT [PREFIX]
#   WORKERS  worker processes (default 1: one core, like wsbench's single-threaded servers)
#   NOFILE   descriptors per worker (default 20000)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/peers/lib.sh
source "$here/../lib.sh"
port=${1:?usage: start.sh PORT [PREFIX]}
prefix=${2:-$(mktemp -d /tmp/wsbench-nchan.XXXXXX)}
workers=${WORKERS:-1}
nofile=${NOFILE:-20000}
"$here/setup.sh"
mkdir -p "$prefix"
sed -e "s|@PORT@|$port|g" -e "s|@WORKERS@|$workers|g" -e "s|@PREFIX@|$prefix|g" \
    -e "s|@NOFILE@|$nofile|g" "$here/nginx.conf.in" >"$prefix/nginx.conf"
ulimit -n "$nofile" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
/usr/sbin/nginx -p "$prefix" -c "$prefix/nginx.conf" </dev/null >"$prefix/stdout.log" 2>&1 &
wait_listening $! nginx "$prefix/stdout.log $prefix/error.log" -- port_open "$port"
