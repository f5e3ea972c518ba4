"""One structured (JSON) log line per request, on the `beeldpost.access` logger."""

from __future__ import annotations

import json
import logging
import sys
import time

from flask import Flask, g, request

from .metrics import route_name

access_log = logging.getLogger("beeldpost.access")


def write(method: str, path: str, status: int, ms: float | None, size: int | None, route: str,
          remote: str | None, agent: str | None) -> None:
    """The one JSON line of a request (Flask's hook below and image_api.py both write it)."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    access_log.info(json.dumps({
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "method": method,
        "path": path,
        "status": status,
        "ms": ms,
        "bytes": size,
        "route": route,
        "remote": remote,
        "agent": (agent or "")[:200] or None,
    }, ensure_ascii=False))


def install(app: Flask) -> None:
    if not access_log.handlers:
        handler = logging.StreamHandler(sys.stderr)
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
