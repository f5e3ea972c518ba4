"""The floor of a Python tile server on this stack: `python bench/floor_server.py PORT ANSWERS`.

Two processes (SO_REUSEPORT, as gunicorn's two workers share a port) on uvloop, each
request parsed by httptools (llhttp, the parser uvicorn uses) and answered with bytes
made beforehand: status line, headers and body of what Beeldpost answered to that URL
(ANSWERS, a pickle of {path: (content type, body)} written by bench/floor.py). No routing,
no plan, no file read, no log, no metrics, no Date header: what a request costs a Python
server that does nothing but parse it, look it up and write the answer. bench/floor.py
measures it beside Beeldpost and IIPImage. Not part of Beeldpost.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
import socket
import sys

import httptools
import uvloop

NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


def prepared(answers: dict[str, tuple[str, bytes]]) -> dict[bytes, bytes]:
    return {path.encode("latin-1"): (f"HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\n"
                                     f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1") + body
            for path, (kind, body) in answers.items()}


class Answering(asyncio.Protocol):
    def __init__(self, responses: dict[bytes, bytes]):
        self.responses = responses
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_message_complete(self) -> None:
        self.transport.write(self.responses.get(self.url, NOT_FOUND))
        self.url = b""


def serve(port: int, responses: dict[bytes, bytes]) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(1024)
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(loop.create_server(lambda: Answering(responses), sock=listener))
    loop.run_forever()


def main() -> None:
    port, answers = int(sys.argv[1]), sys.argv[2]
    with open(answers, "rb") as handle:
        responses = prepared(pickle.load(handle))
    children = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            serve(port, responses)
            os._exit(0)
        children.append(pid)

    def stop(*_args) -> None:
        for child in children:
            try:
                os.kill(child, signal.SIGTERM)
            except ProcessLookupError:
                pass
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    for child in children:
        os.waitpid(child, 0)


if __name__ == "__main__":
    main()
