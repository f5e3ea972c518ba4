"""The ASGI face of the app: tiles from an event loop, everything else on threads.

Under gunicorn's thread worker each request paid about 0.35 ms of CPU to the HTTP
layer alone (pure-Python parsing, a hand-off between threads), more than serving a
stored tile costs. uvicorn parses with llhttp in C on one event loop for 0.06 ms
(bench/README.md). So Image API requests that can be answered with what the worker
already holds (info.json, a tile that is a stored tile's own bytes, a kept render,
a 304) are answered right on the loop, as is a stored tile from a bucket once the loop
has awaited its ranged GET; those that need a render, a record read or a
derivative go to a bounded thread pool, and the rest of the app (pages,
manifests, search...) runs as the WSGI app it is, on the same pool.
"""

from __future__ import annotations

import asyncio
import os
import sys
from concurrent.futures import ThreadPoolExecutor

from a2wsgi import WSGIMiddleware
from a2wsgi.wsgi import unicode_to_wsgi
from flask import Flask

from ..image.response_cache import KeptFile
from ..image.service import NotAtHand
from .image_api import Answer, Exchange, ImageApi

# The scope extension under which the protocol hands on an exchange it began.
HELD = "beeldpost.exchange"


def _raw_uri(scope: dict) -> str:
    """The request target as sent (gunicorn's RAW_URI): identifiers may hold %2F."""
    raw = scope.get("raw_path") or scope["path"].encode("utf-8")
    query = scope.get("query_string") or b""
    return (raw + b"?" + query if query else raw).decode("latin-1")


# What a2wsgi reads from the process's environment on every request, read once.
_SCRIPT_NAME = unicode_to_wsgi(os.environ.get("SCRIPT_NAME", ""))
_HEADER_KEYS: dict[bytes, str] = {b"content-length": "CONTENT_LENGTH",
                                  b"content-type": "CONTENT_TYPE"}


def _header_key(name: bytes) -> str:
    """A header's WSGI environ key, as a2wsgi makes it (kept per name: a few recur)."""
    key = _HEADER_KEYS.get(name)
    if key is None:
        key = f"HTTP_{name.decode('latin1')}".upper().replace("-", "_")
        if len(_HEADER_KEYS) < 1024:
            _HEADER_KEYS[name] = key
    return key


def lane_environ(scope: dict) -> dict:
    """The WSGI environ a2wsgi's build_environ(scope, None) makes, for the requests the
    worker answers at hand: the same keys and values, in a third of its time (it reads
    the process's environment and rebuilds every header's key on every request)."""
    script_name = _SCRIPT_NAME or scope.get("root_path", "").encode("utf8").decode("latin1")
    path_info = scope["path"].encode("utf8").decode("latin1")
    root = scope.get("root_path", "").encode("utf8").decode("latin1")
    if path_info.startswith(root):
        path_info = path_info[len(root):]
    server_addr, server_port = scope.get("server") or ("localhost", 80)
    environ = {
        "asgi.scope": scope,
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path_info,
        "QUERY_STRING": scope["query_string"].decode("ascii"),
        "SERVER_PROTOCOL": f"HTTP/{scope['http_version']}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": None,
        "wsgi.errors": sys.stdout,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "SERVER_NAME": server_addr,
        "SERVER_PORT": str(server_port or 0),
    }
    client = scope.get("client")
    if client is not None:
        environ["REMOTE_ADDR"], port = client
        environ["REMOTE_PORT"] = str(port)
    for name, value in scope.get("headers", ()):
        key = _header_key(name)
        value = value.decode("latin1")
        if key in environ:
            value = environ[key] + "," + value
        environ[key] = value
    return environ


class AsgiFront:
    def __init__(self, app: Flask, threads: int):
        image_api = app.wsgi_app
        if not isinstance(image_api, ImageApi):
            raise TypeError("create_app() installs the Image API layer as app.wsgi_app")
        self.image_api = image_api
        self._wsgi = WSGIMiddleware(self._with_raw_uri, workers=threads)
        self.executor: ThreadPoolExecutor = self._wsgi.executor  # one pool bounds all threads

    def _with_raw_uri(self, environ: dict, start_response):
        environ["RAW_URI"] = _raw_uri(environ["asgi.scope"])
        return self.image_api(environ, start_response)

    def answer_at_hand(self, scope: dict) -> Answer | Exchange | None:
        """The answer to an Image API GET or HEAD that the worker can give right now,
        without a thread or a wait; the Exchange to go on with when it cannot (the
        answer needs a render, a fetch or a record read); None when the request is not
        the Image API's. Called by the event loop: by `__call__`, and before that by the
        worker's protocol (protocol.py), which sends what it gets back itself."""
        environ = lane_environ(scope)
        environ["RAW_URI"] = _raw_uri(scope)
        exchange = self.image_api.exchange(environ)
        if exchange is None:
            return None
        try:
            return self.image_api.respond(exchange, at_hand=True)
        except NotAtHand as missing:
            # Without its traceback: that holds this frame, and so the exchange that holds
            # it, a cycle that would keep every fetching request's state for the collector.
            exchange.missing = missing.with_traceback(None)
            return exchange

    async def __call__(self, scope: dict, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self._wsgi(scope, receive, send)
            return
        # The protocol has tried already when it hands an exchange on: go on from there.
        answer = (scope.get("extensions") or {}).get(HELD) or self.answer_at_hand(scope)
        if answer is None:
            await self._wsgi(scope, receive, send)
            return
        exchange = answer if isinstance(answer, Exchange) else None
        if exchange is not None:
            answer = await self._fetched(exchange, exchange.missing)
            if answer is None:
                answer = await asyncio.get_running_loop().run_in_executor(
                    self.executor, self.image_api.respond, exchange)
        status, headers, body = answer
        if exchange is not None and exchange.hold:  # a refusal, kept back a moment
            await asyncio.sleep(exchange.hold)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(name.lower().encode("latin-1"), value.encode("latin-1"))
                                for name, value in headers]})
        if isinstance(body, KeptFile):
            await self._stream(body, send)
        else:
            await send({"type": "http.response.body", "body": body})

    async def _fetched(self, exchange: Exchange, missing: NotAtHand) -> Answer | None:
        """What a request answers once the loop has fetched what it lacked (a stored tile
        from a bucket: an awaited ranged GET, no thread), or None: a thread does it all
        (and answers any failure of the fetch properly, a 503 for a bucket that is down)."""
        if missing.fetch is None:
            return None
        try:
            await missing.fetch()
            return self.image_api.respond(exchange, at_hand=True)
        except Exception:  # noqa: BLE001 -- NotAtHand again, or the bucket: the thread's
            return None

    async def _stream(self, kept: KeptFile, send) -> None:
        """A large kept answer chunk by chunk: memory per response stays one chunk,
        as uvicorn's send waits while the socket's buffer is full."""
        loop = asyncio.get_running_loop()
        try:
            while chunk := await loop.run_in_executor(self.executor, kept.read_chunk):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            kept.close()

