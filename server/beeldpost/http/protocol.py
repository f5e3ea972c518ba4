"""The worker's HTTP/1.1 protocol: uvicorn's, with bounded request heads and a fast lane.

`BoundedHttpToolsProtocol` puts gunicorn's kind of limits on a request's head.

`WorkerProtocol` adds the fast lane. An Image API GET or HEAD that the worker can
answer from what it holds (asgi.AsgiFront.answer_at_hand: a stored tile's bytes,
info.json, a 304, an error) is answered right in the parser's callback. The bytes
go to the transport at once, with no ASGI task, no request-response cycle and no
ASGI message. That bookkeeping was a third of the CPU a stored tile cost
(bench/hot_path.py).

The lane is taken only when the answer is the same as the ASGI path's would be:
- the connection is idle, with nothing in flight and nothing pipelined before it;
- the socket can take the answer now;
- the request is keep-alive HTTP/1.1 with no body;
- the headers and their values are valid.
Otherwise, and when the answer needs a thread, the request goes the ordinary way. An
exchange already begun is handed on in the scope, so nothing is parsed twice.
uvicorn's proxy-header rule (its ProxyHeadersMiddleware, as Config applies it) is
applied to the lane's scope too, so a request reads the same client address either way.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

import httptools
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from .asgi import HELD, AsgiFront
from .image_api import PREFIXES, Exchange

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


# What uvicorn refuses in a header value (its HEADER_VALUE_RE): a control character but a
# tab. Looked for in all of the head's lines joined by "\n", then counted: a line end
# inside a value shows as one "\n" too many. (Header names are the app's own constants.)
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
LANE_PREFIXES = tuple(prefix.encode("ascii") for prefix in PREFIXES)
BODY_HEADERS = (b"content-length", b"transfer-encoding")


async def _nothing(scope, receive, send) -> None:
    """The app behind the lane's own ProxyHeadersMiddleware: only its scope rewrite is wanted."""


class WorkerProtocol(BoundedHttpToolsProtocol):
    """The worker's protocol: Image API answers at hand go out from the parser's callback."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        front = self.app
        while front is not None and not isinstance(front, AsgiFront):
            front = getattr(front, "app", None)  # through uvicorn's own middleware
        self._front: AsgiFront | None = front
        self._proxy = (ProxyHeadersMiddleware(_nothing, self.config.forwarded_allow_ips)
                       if self.config.proxy_headers else None)
        self._answered_here = False

    def on_headers_complete(self) -> None:
        if not self._refused and self._lane_open() and self._answer_here():
            self._reading_head = False
            self._answered_here = True
            return
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        if self._answered_here:
            self._answered_here = False
            self._head_bytes, self._header_fields, self._reading_head = 0, 0, True
            return
        super().on_message_complete()

    def _lane_open(self) -> bool:
        if self._front is None or not self.url.startswith(LANE_PREFIXES):
            return False
        if self.cycle is not None and not self.cycle.response_complete:
            return False  # an answer is still being made: this one waits its turn
        if self.pipeline or self.flow.write_paused or self.transport.is_closing():
            return False
        if self.limit_concurrency is not None and (
                len(self.connections) >= self.limit_concurrency
                or len(self.tasks) >= self.limit_concurrency):
            return False  # uvicorn's own 503
        if self.parser.get_http_version() != "1.1" or not self.parser.should_keep_alive():
            return False
        if self.parser.get_method() not in (b"GET", b"HEAD") or self.parser.should_upgrade():
            return False
        return not any(name in BODY_HEADERS for name, _value in self.headers)

    def _answer_here(self) -> bool:
        """Answer the request now if the worker can; else leave it to the ASGI task
        (with the exchange it began, if any). True when it has been answered."""
        scope = self.scope
        # The scope as uvicorn's on_headers_complete makes it.
        try:
            parsed = httptools.parse_url(self.url)
            path = parsed.path.decode("ascii")
        except (httptools.HttpParserInvalidURLError, UnicodeDecodeError):
            return False
        if "%" in path:
            path = unquote(path)
        lane = {**scope, "method": self.parser.get_method().decode("ascii"),
                "path": self.root_path + path,
                "raw_path": self.root_path.encode("ascii") + parsed.path,
                "query_string": parsed.query or b""}
        if self._proxy is not None:
            step = self._proxy(lane, None, None)  # rewrites client and scheme, awaits nothing
            try:
                step.send(None)
            except StopIteration:
                pass
        answer = self._front.answer_at_hand(lane)
        if answer is None:
            return False
        if isinstance(answer, Exchange) or not isinstance(answer[2], bytes):
            return self._hand_on(answer)  # begun, or a large kept answer to stream
        status, headers, body = answer
        # The head as uvicorn writes it (its default headers first, names in lower case),
        # checked as it checks it, in one pass rather than per header.
        fields = "\n".join([f"{name.lower()}: {value}" for name, value in headers])
        try:
            if CONTROL.search(fields) or fields.count("\n") != len(headers) - 1:
                raise ValueError("a header value holds a control character")
            head = fields.replace("\n", "\r\n").encode("latin-1") + b"\r\n"
        except (ValueError, UnicodeEncodeError):
            return self._hand_on(answer)  # uvicorn refuses it as before
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content += (name, b": ", value, b"\r\n")
        content.append(head)
        content += (b"\r\n", body)
        self.transport.write(b"".join(content))
        self.on_response_complete()
        return True

    def _hand_on(self, answer) -> bool:
        """Leave the request to the ASGI task, with what the lane got (asgi.HELD)."""
        self.scope.setdefault("extensions", {})[HELD] = answer
        return False
