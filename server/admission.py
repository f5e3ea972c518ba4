"""Admission control for heavy renders.

Whole-image renders and huge crops cost hundreds of tile renders each. Crawlers
asking for them must not starve viewers' tile traffic, so each worker runs at
most `slots` heavy renders at once and lets at most `queue` more wait briefly;
anything beyond gets a 503 with Retry-After straight away. Tiles and info.json
never pass through here.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

from .errors import Overloaded


class Admission:
    def __init__(self, slots: int, queue: int, wait_seconds: float, retry_after: int):
        self._slots = threading.BoundedSemaphore(max(1, slots))
        self._queue_limit = max(0, queue)
        self._wait_seconds = wait_seconds
        self._retry_after = retry_after
        self._lock = threading.Lock()
        self._waiting = 0
        self._running = 0

    @property
    def running(self) -> int:
        return self._running

    def _refuse(self, why: str) -> Overloaded:
        return Overloaded(
            f"{why}; whole-image and very large renders are limited. "
            f"Try again in {self._retry_after} s, or ask for a smaller size or tiles.",
            headers={"Retry-After": str(self._retry_after)},
        )

    @contextmanager
    def heavy(self) -> Iterator[None]:
        if self._slots.acquire(blocking=False):
            acquired = True
        else:
            with self._lock:
                if self._waiting >= self._queue_limit:
                    raise self._refuse("too many large renders are waiting")
                self._waiting += 1
            try:
                acquired = self._slots.acquire(timeout=self._wait_seconds)
            finally:
                with self._lock:
                    self._waiting -= 1
            if not acquired:
                raise self._refuse("no capacity for another large render right now")
        with self._lock:
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
            self._slots.release()
