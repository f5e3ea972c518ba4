"""Counters of the work behind the answers: renders, cache look-ups, refusals.

Protocol-neutral (prometheus-client only), so the image core can count without
knowing of HTTP; http/metrics.py counts the answers and serves /metrics, which
reports these too. Under gunicorn, prometheus-client's multiprocess mode adds up
every worker's values (http/gunicorn_conf.py sets it up before anything is imported).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

RENDERS_IN_FLIGHT = Gauge(
    "beeldpost_renders_in_flight", "Image renders running now", multiprocess_mode="livesum"
)
REJECTED = Counter(
    "beeldpost_rejected_requests_total", "Requests refused by admission control", ["reason"]
)
CACHE = Counter(
    "beeldpost_cache_requests_total", "Cache look-ups by cache and outcome", ["cache", "outcome"]
)


STORAGE_REQUESTS = Counter(
    "beeldpost_storage_requests_total", "Requests to object storage by operation and outcome",
    ["operation", "outcome"]
)
STORAGE_BYTES = Counter(
    "beeldpost_storage_read_bytes_total", "Bytes read from object storage", ["operation"]
)
DERIVATIVE_BUILDS = Counter(
    "beeldpost_derivative_builds_total", "Pyramidal derivatives built by this server", ["where"]
)


_cache_children: dict[tuple[str, bool], object] = {}  # looked up once: every tile counts


def cache_lookup(cache: str, hit: bool) -> None:
    child = _cache_children.get((cache, hit))
    if child is None:
        child = _cache_children[(cache, hit)] = CACHE.labels(cache, "hit" if hit else "miss")
    child.inc()


def rejected(reason: str) -> None:
    REJECTED.labels(reason).inc()


_storage_children: dict[tuple, object] = {}  # looked up once: a tile from a bucket counts twice


def storage_request(operation: str, outcome: str, count: int = 1) -> None:
    child = _storage_children.get((operation, outcome))
    if child is None:
        child = _storage_children[(operation, outcome)] = STORAGE_REQUESTS.labels(operation, outcome)
    child.inc(count)


def storage_read(operation: str, size: int) -> None:
    child = _storage_children.get(operation)
    if child is None:
        child = _storage_children[operation] = STORAGE_BYTES.labels(operation)
    child.inc(size)


def derivative_built(where: str) -> None:
    DERIVATIVE_BUILDS.labels(where).inc()
