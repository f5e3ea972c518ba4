"""Prometheus metrics of HTTP answers, and /metrics; correct under several workers.

The image core's own counters (renders, caches, admission) are in beeldpost.counters;
/metrics reports both.

gunicorn_conf.py points PROMETHEUS_MULTIPROC_DIR at a fresh folder before any
worker starts; prometheus-client then keeps each worker's values in files there
and /metrics adds them up. Without it (tests, `flask run`) the ordinary
in-process registry is used.
"""

from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request

from ..counters import TALLY
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter(
    "beeldpost_http_requests_total", "HTTP requests answered", ["route", "method", "status"]
)
BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
DURATION = Histogram(
    "beeldpost_http_request_duration_seconds", "Time to answer a request", ["route"],
    buckets=BUCKETS,
)


_BOUNDS = (*BUCKETS, float("inf"))  # as prometheus-client closes them
_answered: dict[tuple[str, str, int], object] = {}
_timed: dict[str, object] = {}


def answered(route: str, method: str, status: int, seconds: float | None) -> None:
    """Count one answer (the label children are kept: looking them up costs per request;
    the counts reach the values in batches, counters.TALLY)."""
    counter = _answered.get((route, method, status))
    if counter is None:
        counter = _answered[(route, method, status)] = REQUESTS.labels(route, method, str(status))
    TALLY.add(counter)
    if seconds is not None:
        timer = _timed.get(route)
        if timer is None:
            timer = _timed[route] = DURATION.labels(route)
        TALLY.observe(timer, _BOUNDS, seconds)


def route_name() -> str:
    """A small, fixed set of labels: never the raw path (unbounded cardinality)."""
    return getattr(g, "route", None) or request.endpoint or "unmatched"


def metrics_response() -> Response:
    TALLY.flush()  # this worker's counts up to now (the others' follow within a second)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    # content_type, not mimetype: CONTENT_TYPE_LATEST carries its charset already.
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def install(app: Flask) -> None:
    @app.before_request
    def _start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def _count(response):
        started = getattr(g, "started", None)
        answered(route_name(), request.method, response.status_code,
                 None if started is None else time.perf_counter() - started)
        return response
