"""gunicorn's worker for Beeldpost: uvicorn's event loop in front of the Flask app.

gunicorn keeps doing what it is good at (the master, worker restarts, signals,
timeouts); the worker speaks HTTP with uvicorn (llhttp, uvloop) and serves the app
through beeldpost.http.asgi.AsgiFront, so the command line stays `beeldpost:create_app()`.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn_worker import UvicornWorker

from .asgi import AsgiFront

MAX_HEAD_BYTES = 64 * 1024  # request line and headers of one request
MAX_HEADER_FIELDS = 100  # as gunicorn's limit_request_fields
LINGER_SECONDS = 2.0  # a refused connection is read and discarded this long


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol with gunicorn's kind of limits on the request head.

    llhttp and httptools keep a request line or header for as long as the client
    sends it, so memory would follow whatever a client chose to send; past these
    limits the client gets a 431 and the connection is closed.
    """

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._head_bytes, self._header_fields = 0, 0
        self._reading_head, self._refused = True, False

    def data_received(self, data: bytes) -> None:
        # While a head is being read, the parser gets no more than the room left under
        # the limit, so pipelined requests are each counted on their own (a head that
        # starts inside a slice is undercounted by at most one limit: still bounded).
        while data and not self._refused and not self.transport.is_closing():
            if not self._reading_head:
                super().data_received(data)
                return
            room = MAX_HEAD_BYTES - self._head_bytes
            if room <= 0:
                self._refuse(f"the request line and headers exceed {MAX_HEAD_BYTES // 1024} KB")
                return
            piece, data = data[:room], data[room:]
            self._head_bytes += len(piece)
            super().data_received(piece)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._refused:
            return  # the rest of a refused head, still in the parser's buffer
        self._header_fields += 1
        if self._header_fields > MAX_HEADER_FIELDS:
            self._refuse(f"more than {MAX_HEADER_FIELDS} header fields")
            return
        super().on_header(name, value)

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._reading_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        if self._refused:
            return
        super().on_message_complete()
        self._head_bytes, self._header_fields, self._reading_head = 0, 0, True

    def _refuse(self, why: str) -> None:
        """Answer 431 once and end the connection. Behind a request whose answer is still
        being made (pipelined), a 431 would take that answer's place: the connection
        is ended instead, and that answer dropped (its cycle disconnected: nothing is
        written after the end)."""
        if self._refused:
            return
        self._refused = True
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True
            self.transport.close()
            return
        body = f"431 Request Header Fields Too Large: {why}.\n".encode("ascii")
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: text/plain; charset=utf-8\r\n"
            b"access-control-allow-origin: *\r\n"
            b"content-length: " + str(len(body)).encode("ascii") + b"\r\n"
            b"connection: close\r\n\r\n" + body)
        # Closing with the client's bytes still unread would reset the connection and
        # could destroy the answer before it is read: end our side, discard what still
        # comes (data_received drops it), and close a moment later.
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)


class BeeldpostWorker(UvicornWorker):
    CONFIG_KWARGS = {
        "loop": "uvloop",
        "http": BoundedHttpToolsProtocol,
        "interface": "asgi3",
        "lifespan": "off",
        "server_header": False,  # no product name on every answer
        # uvicorn's access log follows gunicorn's `accesslog` (off unless asked for);
        # the app writes its own JSON line per request either way.
    }

    def load_wsgi(self) -> None:
        super().load_wsgi()
        # The app's background work belongs to the server's processes: the catalogue
        # watcher (one of the workers holds its writer lock; the others stand by).
        watcher = self.wsgi.extensions.get("beeldpost.watcher")
        if watcher is not None:
            watcher.start()
        # Requests only read the index: the watcher (here or in `beeldpost watch`)
        # keeps it current, so no request scans the folders.
        self.wsgi.extensions["beeldpost.catalogue"].check_on_request = False
        self.wsgi = AsgiFront(self.wsgi, threads=self.cfg.threads)
