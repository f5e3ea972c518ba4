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


def cache_lookup(cache: str, hit: bool) -> None:
    CACHE.labels(cache, "hit" if hit else "miss").inc()


def rejected(reason: str) -> None:
    REJECTED.labels(reason).inc()
