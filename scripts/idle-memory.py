#!/usr/bin/env python3
"""Memory a built-in server keeps per idle connection: starts `wsbench serve --transport T` on
loopback, opens N connections that each hold what the transport holds while nothing is published
(a held long-poll, an SSE stream, an upgraded WebSocket, an idle HTTP/1.1 keep-alive connection
whose one request, a long-poll join, was answered at once, or with `connect` a bare TCP connection
with no request), and prints the server's RSS growth per connection. Not a test: a probe for the
servers' per-connection cost. Bounded: N connections, ~5 s, then everything is closed.

usage: scripts/idle-memory.py BIN TRANSPORT N [connect]
  TRANSPORT: longpoll, sse, ws, or keepalive (served by the long-poll server)
  e.g. scripts/idle-memory.py target/release/wsbench longpoll 3000
  (needs N + 100 open files: `ulimit -n 20000` first for thousands)
"""
import asyncio
import subprocess
import sys
import time

REQUESTS = {
    "longpoll": b"GET /poll?cursor=0 HTTP/1.1\r\nhost: x\r\n\r\n",
    "sse": b"GET /events HTTP/1.1\r\nhost: x\r\naccept: text/event-stream\r\n\r\n",
    "keepalive": b"GET /poll HTTP/1.1\r\nhost: x\r\n\r\n",
    "ws": b"GET /ws HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: upgrade\r\n"
    b"sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n",
}
# The server each kind of connection is measured on.
SERVES = {"keepalive": "longpoll"}


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


async def main(binary, transport, n, bare):
    serves = SERVES.get(transport, transport)
    server = subprocess.Popen(
        [binary, "serve", "--transport", serves, "--hold", "60s"], stdout=subprocess.PIPE
    )
    try:
        host, port = server.stdout.readline().decode().strip().rsplit(":", 1)
        time.sleep(0.5)
        base = rss_kib(server.pid)
        conns = []

        async def one():
            reader, writer = await asyncio.open_connection(host, int(port))
            if not bare:
                writer.write(REQUESTS[transport])
                await writer.drain()
            conns.append(writer)

        for start in range(0, n, 100):
            await asyncio.gather(*(one() for _ in range(start, min(n, start + 100))))
        await asyncio.sleep(2)
        grown = rss_kib(server.pid) - base
        what = "bare connections" if bare else "idle connections"
        print(f"{transport}: {n} {what}, server RSS +{grown} KiB: {grown / n:.2f} KiB each")
        for writer in conns:
            writer.close()
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    if len(sys.argv) < 4 or sys.argv[2] not in REQUESTS:
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:] == ["connect"]))
