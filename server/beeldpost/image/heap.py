"""Freed heap: when a worker hands the memory its renders freed back to the system.

glibc keeps what a render frees for the renders after it, so without help a worker's
RSS would stay at its largest render ever; `malloc_trim` hands it back. But trimming
after every render of a megapixel or more makes the next one fault all its pages in
again: a fifth of the CPU of a 1024² crop, a tenth of a 1000 px wide image. So after a
large render that is not heavy, a busy worker trims only once its freed heap has grown
past its keep (BEELDPOST_KEEP_FREED_MB: RSS under load stays bounded), and a worker that
comes to rest trims AT_REST_SECONDS later if it is still at rest then (RSS at rest stays
where it was).
Heavy renders always trim at once (service.py).

Only the standard library; glibc only (elsewhere trimming does nothing and the free
heap is unknown, so a busy worker trims after every large render).
"""

from __future__ import annotations

import ctypes
import threading
from typing import Callable

TRIM_PIXELS = 1_000_000  # renders from this size up (pixels decoded and produced) may trim
AT_REST_SECONDS = 1.0  # a worker still at rest this long after a large render trims


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]


def _glibc() -> tuple[Callable[[], None], Callable[[], int | None]]:
    try:
        libc = ctypes.CDLL("libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc
        return (lambda: None), (lambda: None)
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    try:
        info = libc.mallinfo2  # glibc 2.33 and later
    except AttributeError:
        return (lambda: trim(0)), (lambda: None)
    info.argtypes, info.restype = [], _MallInfo2
    return (lambda: trim(0)), (lambda: info().fordblks)


# return_freed_memory(): hand every freed page back now (about a millisecond after a
# large render). free_heap_bytes(): bytes freed but kept by malloc, None if unknown.
return_freed_memory, free_heap_bytes = _glibc()


class Heap:
    """Per worker: how many renders run, and when one that ends should trim."""

    def __init__(self, keep_bytes: int, at_rest_seconds: float = AT_REST_SECONDS):
        self.keep_bytes = keep_bytes
        self.at_rest_seconds = at_rest_seconds
        self._running = 0
        self._started = 0  # renders started ever: a later count means the rest was broken
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def started(self) -> None:
        with self._lock:
            self._running += 1
            self._started += 1

    def finished(self) -> None:
        with self._lock:
            self._running -= 1

    def settle(self) -> bool:
        """After a large render that was not heavy: trim once the worker has been at rest
        (no render started) for at_rest_seconds, and now if it is busy and keeps more
        than keep_bytes of freed heap. Whether it trimmed now."""
        with self._lock:
            if self._timer is None:
                self._wait_for_rest()
            if self._running == 0:
                return False
        free = free_heap_bytes()
        if free is not None and free <= self.keep_bytes:
            return False
        return_freed_memory()
        return True

    def _wait_for_rest(self) -> None:
        """(Holding the lock.) Trim once no render has started for at_rest_seconds."""
        self._timer = threading.Timer(self.at_rest_seconds, self._at_rest, (self._started,))
        self._timer.daemon = True
        self._timer.start()

    def _at_rest(self, started: int) -> None:
        with self._lock:
            if self._running or self._started != started:  # busy since: wait again
                self._wait_for_rest()
                return
            self._timer = None
        return_freed_memory()
