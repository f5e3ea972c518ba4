"""One structured (JSON) log line per request, on the `beeldpost.access` logger.

The lines go to stderr in batches (BatchedStreamHandler): a tile costs about a tenth of
a millisecond of CPU, and a write() of its own per line was a good part of it.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

from json.encoder import encode_basestring  # (C) a str as a JSON string, non-ASCII kept

from flask import Flask, g, request

from .metrics import route_name

access_log = logging.getLogger("beeldpost.access")
_stamp: tuple[int, str] = (0, "")


def _now() -> str:
    """The local time to the second, as the line gives it (formatted once a second)."""
    global _stamp
    second = int(time.time())
    if _stamp[0] != second:
        _stamp = (second, time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(second)))
    return _stamp[1]


def write(method: str, path: str, status: int, ms: float | None, size: int | None, route: str,
          remote: str | None, agent: str | None) -> None:
    """The one JSON line of a request (Flask's hook below and image_api.py both write it)."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    # The line json.dumps(..., ensure_ascii=False) makes of these fields, a third of its
    # CPU: each text once through json's own C escaping, the numbers as it writes them.
    line = (f'{{"time": "{_now()}", "method": {_json(method)}, "path": {_json(path)}, '
            f'"status": {status}, "ms": {_json(ms)}, "bytes": {_json(size)}, '
            f'"route": {_json(route)}, "remote": {_json(remote)}, '
            f'"agent": {_json((agent or "")[:200] or None)}}}')
    handlers = access_log.handlers
    if len(handlers) == 1 and isinstance(handlers[0], BatchedStreamHandler) \
            and not access_log.filters:
        handlers[0].append(line)  # its only reader: no LogRecord to make
    else:  # whoever else listens (a host application, pytest) gets a record as usual
        access_log.handle(logging.LogRecord(access_log.name, logging.INFO, __file__, 0, line,
                                            None, None))


def _json(value: str | int | float | None) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return encode_basestring(value)
    return repr(value)  # int, or a float that is finite: as json writes them


class BatchedStreamHandler(logging.StreamHandler):
    """A StreamHandler that writes what it formats at most every FLUSH_SECONDS, or once
    FLUSH_BYTES have gathered, in one write: a request costs no system call of its own.
    A worker killed outright loses at most its last FLUSH_SECONDS of lines; one that
    exits flushes them (logging.shutdown, at exit)."""

    FLUSH_SECONDS = 0.25
    FLUSH_BYTES = 32 * 1024

    def __init__(self, stream=None):
        super().__init__(stream)
        self._pending: list[str] = []
        self._size = 0
        self._flusher: threading.Thread | None = None
        # A worker forked from a process that wrote lines starts its own thread.
        os.register_at_fork(after_in_child=self._forked)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # noqa: BLE001 -- as logging's own handlers: never raise
            self.handleError(record)
            return
        self.append(line)

    def append(self, line: str) -> None:
        """A line as it is to be written (its terminator added here)."""
        line += self.terminator
        with self.lock:
            self._pending.append(line)
            self._size += len(line)
            full = self._size >= self.FLUSH_BYTES
        if full:
            self.flush()
        elif self._flusher is None:
            self._start_flusher()  # first line in this process

    def flush(self) -> None:
        with self.lock:
            if not self._pending:
                return
            text, self._pending, self._size = "".join(self._pending), [], 0
            try:
                self.stream.write(text)
                self.stream.flush()
            except (OSError, ValueError):  # stderr closed: nowhere to write to
                pass

    def _forked(self) -> None:
        self._flusher = None

    def _start_flusher(self) -> None:
        self._flusher = threading.Thread(target=self._flush_every, daemon=True,
                                         name="beeldpost-log-flush")
        self._flusher.start()

    def _flush_every(self) -> None:
        while True:
            time.sleep(self.FLUSH_SECONDS)
            self.flush()


def install(app: Flask) -> None:
    if not access_log.handlers:
        handler = BatchedStreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        access_log.addHandler(handler)
        access_log.setLevel(logging.INFO)
        access_log.propagate = False

    @app.after_request
    def _log(response):
        started = getattr(g, "started", None)
        write(request.method,
              request.full_path.rstrip("?") if request.query_string else request.path,
              response.status_code,
              round((time.perf_counter() - started) * 1000, 2) if started else None,
              response.calculate_content_length(), route_name(), request.remote_addr,
              request.user_agent.string)
        return response
