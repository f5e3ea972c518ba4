"""Counters of the work behind the answers: renders, cache look-ups, refusals.

Protocol-neutral (prometheus-client only), so the image core can count without
knowing of HTTP; http/metrics.py counts the answers and serves /metrics, which
reports these too. Under gunicorn, prometheus-client's multiprocess mode adds up
every worker's values (http/gunicorn_conf.py sets it up before anything is imported).

What every request counts (its answer, its cache look-up) goes through TALLY: added
up in the process and written out at most a second later, in one write per value.
"""

from __future__ import annotations

import atexit
import bisect
import os
import threading
import time

from prometheus_client import Counter, Gauge


class Tally:
    """Counts made in this process, written to prometheus-client's values in batches.

    In multiprocess mode every inc() of a value is a locked write to a memory-mapped
    file and a getpid() system call; a stored tile counted three values and timed one
    (five writes), about a tenth of its CPU. Here a count is a dictionary entry under
    one lock; flush() writes the sums, each value once: every FLUSH_SECONDS from a
    thread, before /metrics answers (http/metrics.py) and at exit. So another worker's
    counts reach /metrics at most FLUSH_SECONDS late, and a worker killed outright
    loses at most its last FLUSH_SECONDS of them (as its log lines, request_log.py).
    """

    FLUSH_SECONDS = 1.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[object, float] = {}  # a Counter's child → amount
        self._observed: dict[object, list] = {}  # a Histogram's child → [counts per bucket, sum]
        self._flusher: threading.Thread | None = None
        os.register_at_fork(after_in_child=self._forked)
        atexit.register(self.flush)

    def add(self, child, amount: float = 1.0) -> None:
        with self._lock:
            self._counts[child] = self._counts.get(child, 0.0) + amount
        if self._flusher is None:
            self._start()

    def observe(self, child, bounds: tuple[float, ...], amount: float) -> None:
        """As `child.observe(amount)`; `bounds` are its histogram's buckets (+Inf last)."""
        bucket = bisect.bisect_left(bounds, amount)  # the first with amount <= bound
        with self._lock:
            found = self._observed.get(child)
            if found is None:
                found = self._observed[child] = [[0] * len(bounds), 0.0]
            found[0][bucket] += 1
            found[1] += amount
        if self._flusher is None:
            self._start()

    def flush(self) -> None:
        with self._lock:
            counts, self._counts = self._counts, {}
            observed, self._observed = self._observed, {}
        for child, amount in counts.items():
            child.inc(amount)
        for child, (buckets, total) in observed.items():
            _add_observations(child, buckets, total)

    def _start(self) -> None:
        with self._lock:
            if self._flusher is not None:
                return
            self._flusher = threading.Thread(target=self._flush_every, daemon=True,
                                             name="beeldpost-metrics-flush")
        self._flusher.start()

    def _flush_every(self) -> None:
        while True:
            time.sleep(self.FLUSH_SECONDS)
            self.flush()

    def _forked(self) -> None:
        """In a new process (a gunicorn worker): no thread, and the parent's counts are its own."""
        self._lock = threading.Lock()
        self._counts, self._observed, self._flusher = {}, {}, None


def _add_observations(child, buckets: list[int], total: float) -> None:
    """Observations added to a Histogram's child at once, to its bucket values and its
    sum: prometheus-client's own layout (`_buckets`, `_sum`), which has no public call
    for it; constraints.txt pins the version, tests/test_counters.py checks the result."""
    for value, count in zip(child._buckets, buckets, strict=True):
        if count:
            value.inc(count)
    child._sum.inc(total)


TALLY = Tally()

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
    TALLY.add(child)


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
