"""A worker keeps freed heap while busy, up to its keep, and hands it back at rest."""

from __future__ import annotations

import ctypes
import os
import time

import pytest

from beeldpost.image import heap
from beeldpost.image.heap import Heap

pytestmark = pytest.mark.skipif(heap.free_heap_bytes() is None, reason="glibc's malloc only")

libc = ctypes.CDLL("libc.so.6")
libc.malloc.argtypes, libc.malloc.restype = [ctypes.c_size_t], ctypes.c_void_p
libc.free.argtypes, libc.free.restype = [ctypes.c_void_p], None

CHUNK = 64 * 1024  # below glibc's mmap threshold: from the heap, as a render's buffers are
FREED = 96 * 1024 * 1024


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.fixture
def freed_heap():
    """96 MB written and freed, held by malloc below a live allocation (so glibc's own
    trimming of the heap's top cannot hand it back): what a large render leaves."""
    chunks = [libc.malloc(CHUNK) for _ in range(FREED // CHUNK)]
    fence = libc.malloc(CHUNK)
    for chunk in chunks:
        ctypes.memset(chunk, 1, CHUNK)
    for chunk in chunks:
        libc.free(chunk)
    yield
    libc.free(fence)


def test_a_busy_worker_keeps_freed_heap_up_to_its_keep(freed_heap):
    # (earlier tests in this process may have left freed heap of their own)
    worker = Heap(keep_bytes=heap.free_heap_bytes() + FREED, at_rest_seconds=60)
    worker.started()  # another render still running
    before = resident_bytes()
    assert not worker.settle()
    assert resident_bytes() > before - FREED // 4
    worker.finished()


def test_a_busy_worker_hands_back_what_is_past_its_keep(freed_heap):
    worker = Heap(keep_bytes=FREED // 4, at_rest_seconds=60)
    worker.started()
    before = resident_bytes()
    assert worker.settle()
    assert resident_bytes() < before - FREED // 2
    worker.finished()


def settled_at_rest(worker: Heap) -> None:
    """The last render running ends, and says so."""
    worker.started()
    worker.finished()
    assert not worker.settle()  # not at once: the next request may come right away


def test_a_worker_at_rest_hands_back_everything_a_moment_later(freed_heap):
    worker = Heap(keep_bytes=2 * FREED, at_rest_seconds=0.2)
    before = resident_bytes()
    settled_at_rest(worker)
    assert resident_bytes() > before - FREED // 4
    time.sleep(0.5)
    assert resident_bytes() < before - FREED // 2


def test_a_render_in_the_moment_of_rest_puts_the_trim_off(freed_heap):
    worker = Heap(keep_bytes=2 * FREED, at_rest_seconds=0.3)
    before = resident_bytes()
    settled_at_rest(worker)
    time.sleep(0.1)
    worker.started()  # a small render (no settle of its own) runs past the moment
    time.sleep(0.4)
    assert resident_bytes() > before - FREED // 4
    worker.finished()
    time.sleep(0.8)  # at rest for long enough since
    assert resident_bytes() < before - FREED // 2
