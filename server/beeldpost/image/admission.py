"""Admission control for heavy renders.

Whole-image renders and huge crops cost hundreds of tile renders each. Crawlers
asking for them must not starve viewers' tile traffic, so heavy renders take a
slot from a small pool shared by all workers of the server (a worker process
cannot see its siblings' threads, but they share the two cores): with one slot on
a 2-core machine at least one core stays free for tiles. At most `queue` heavy
requests per worker wait briefly for a slot; anything beyond gets a 503 with
Retry-After straight away. Tiles and info.json never pass through here.

The pool is a set of lock files held with flock(): the kernel releases a slot
when its holder exits, even when it is killed mid-render.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import Overloaded


class Admission:
    POLL_SECONDS = 0.02

    def __init__(self, slots: int, queue: int, wait_seconds: float, retry_after: int,
                 lock_dir: Path):
        self._slot_files = [Path(lock_dir) / f"heavy-slot-{index}.lock" for index in range(max(1, slots))]
        self._queue_limit = max(0, queue)
        self._wait_seconds = wait_seconds
        self._retry_after = retry_after
        self._lock = threading.Lock()
        self._waiting = 0
        self._running = 0

    @property
    def running(self) -> int:
        """Heavy renders running in this worker."""
        return self._running

    def _refuse(self, why: str) -> Overloaded:
        return Overloaded(
            f"{why}; whole-image and very large renders are limited. "
            f"Try again in {self._retry_after} s, or ask for a smaller size or tiles.",
            headers={"Retry-After": str(self._retry_after)},
        )

    def _try_slot(self) -> int | None:
        """An open descriptor holding a free slot's lock, or None when all are taken."""
        for path in self._slot_files:
            try:
                descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except FileNotFoundError:
                path.parent.mkdir(parents=True, exist_ok=True)
                descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return descriptor
            except BlockingIOError:
                os.close(descriptor)
        return None

    def _acquire(self) -> int:
        descriptor = self._try_slot()
        if descriptor is not None:
            return descriptor
        with self._lock:
            if self._waiting >= self._queue_limit:
                raise self._refuse("too many large renders are waiting")
            self._waiting += 1
        try:
            deadline = time.monotonic() + self._wait_seconds
            while time.monotonic() < deadline:
                time.sleep(self.POLL_SECONDS)
                descriptor = self._try_slot()
                if descriptor is not None:
                    return descriptor
        finally:
            with self._lock:
                self._waiting -= 1
        raise self._refuse("no capacity for another large render right now")

    @contextmanager
    def heavy(self) -> Iterator[None]:
        descriptor = self._acquire()
        with self._lock:
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
            os.close(descriptor)  # closing releases the flock
