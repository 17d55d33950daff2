"""A chat server on Python's `websockets`: every text or binary message a client sends goes to
every open client, sender included. Its permessage-deflate is the library's default (on, with
its own window and memory settings), which is what the peer is for. Loopback only."""

import asyncio
import sys

from websockets.asyncio.server import broadcast, serve

CLIENTS = set()


async def chat(ws):
    CLIENTS.add(ws)
    try:
        async for message in ws:
            broadcast(CLIENTS, message)
    finally:
        CLIENTS.discard(ws)


async def main(port):
    async with serve(chat, "127.0.0.1", port, max_size=1 << 20) as server:
        print(f"listening on 127.0.0.1:{port}", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
