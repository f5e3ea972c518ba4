"""One structured (JSON) log line per request, on the `beeldpost.access` logger."""

from __future__ import annotations

import json
import logging
import sys
import time

from flask import Flask, g, request

from .metrics import route_name

access_log = logging.getLogger("beeldpost.access")


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
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "method": request.method,
            "path": request.full_path.rstrip("?") if request.query_string else request.path,
            "status": response.status_code,
            "ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
            "bytes": response.calculate_content_length(),
            "route": route_name(),
            "remote": request.remote_addr,
            "agent": request.user_agent.string[:200] or None,
        }
        access_log.info(json.dumps(entry, ensure_ascii=False))
        return response
