"""A broadcast server in wsbench's SSE protocol on another HTTP/3 stack (Hypercorn on aioquic).

`POST /publish` appends its body to one stream of messages and answers 204; `GET /events` answers
`text/event-stream` and sends every message published after it opened (or after
`Last-Event-ID`) as `id: N` and one `data:` line per line of the message. The query (`?room=`)
is ignored: one stream for all. Listens on 127.0.0.1 only: QUIC on the UDP port given, TCP
(HTTP/1.1 and HTTP/2, which Hypercorn also serves) on the same port number.

usage: sse_server.py PORT CERTFILE KEYFILE
"""

import asyncio
import sys

from hypercorn.asyncio import serve
from hypercorn.config import Config

messages = []
published = asyncio.Condition()


async def read_body(receive):
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


def events(first_id, batch):
    out = b""
    for offset, message in enumerate(batch):
        out += b"id: %d\n" % (first_id + offset)
        for line in message.split(b"\n"):
            out += b"data: " + line + b"\n"
        out += b"\n"
    return out


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    method, path = scope["method"], scope["path"]
    if method == "POST" and path == "/publish":
        body = await read_body(receive)
        async with published:
            messages.append(body)
            published.notify_all()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    if method == "GET" and path == "/events":
        last = dict(scope["headers"]).get(b"last-event-id")
        cursor = int(last) if last else len(messages)
        headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"", "more_body": True})
        while True:
            async with published:
                await published.wait_for(lambda: len(messages) > cursor)
                batch = messages[cursor:]
            chunk = events(cursor + 1, batch)
            cursor += len(batch)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def main():
    port, certfile, keyfile = sys.argv[1:4]
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.quic_bind = [f"127.0.0.1:{port}"]
    config.certfile = certfile
    config.keyfile = keyfile
    config.accesslog = None
    asyncio.run(serve(app, config))


if __name__ == "__main__":
    main()
