"""Admission control for heavy renders: by the memory they need, all workers together.

Whole-image renders and huge crops (a plan above BEELDPOST_HEAVY_PIXELS) need tens of
megabytes each while they run (processor.render_memory: the stored tiles libvips keeps
across the region, its strip buffers, the whole output for formats that cannot be
written a strip at a time). A server runs as many at once as fit in its memory budget
(BEELDPOST_RENDER_MEMORY; by default a quarter of what the machine or its container
allows) and as it has slots (BEELDPOST_HEAVY_SLOTS; by default one per core: a render
is one libvips thread of CPU-bound work, so more at once would only share the cores and
hold their memory for longer). The others wait in line, first come first served across
the workers, as long as they can still be answered within BEELDPOST_RENDER_WAIT seconds,
their own render included, or within three more renders' time when renders take longer
than that allows (on a busy or slow machine a short line stays allowed: a few downloads
at once are slowed, not refused). One the line ahead would keep longer, going by recent
render times (a running mean all workers keep), or that finds BEELDPOST_HEAVY_QUEUE
waiting in its worker already, is refused at once with a 503 and Retry-After (sent half
a second later: REFUSAL_HOLD_SECONDS), so that a client hears back in about that time
either way. Tiles, info.json and small renders never pass through here: they are
answered on the event loop and the other threads meanwhile, and share the cores with
heavy renders as the kernel shares them.

How the workers share, and why so. A render's claim is one open descriptor of a ledger
file, holding Linux open-file-description (OFD) byte-range locks: one byte per MiB of
memory it takes (from MEMORY_AT on), one while it runs (from RUNNING_AT on), the place
of its ticket while it waits (from WAITING_AT on), and byte 0 for an instant while it
draws a ticket, counts and takes units, or records its render time (the file's few bytes
of content: the ticket counter and the running mean of render times). The kernel drops
every lock of a descriptor when it is closed, also when its process is killed
mid-render, so a share always comes back. OFD locks belong to the open file description, not
to the process: two threads of one worker exclude each other as two workers do (POSIX
record locks would not, and closing any descriptor of the file would drop all of a
process's locks). Slots stay what they were, flock()ed slot files. Not chosen: a
flock()ed file per MiB (thousands of descriptors for one render), System V semaphores
(atomic k-unit waits undone at exit, but no interface in the standard library, and they
outlive the server in the kernel), a counter in a shared file (a killed holder's share
would come back only by guessing from process ids, which are reused), a coordinating
process (one more thing that can die).
"""

from __future__ import annotations

import fcntl
import math
import os
import struct
import threading
import time
from collections import deque
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import Overloaded

MEBIBYTE = 1 << 20
# A refusal is answered this long after it is decided, by the event loop, which holds no
# thread meanwhile: clients that ignore Retry-After and ask again at once (a benchmark's
# closed loop, an impatient crawler) would otherwise spin on refusals, thousands a
# second, and take the cores from the renders and the tiles (c=32 measured: 12,000 503s
# and 3.2 full-size answers a second at once; 411 and 6.0 held half a second).
REFUSAL_HOLD_SECONDS = 0.5
MEMORY_SHARE = 4  # by default heavy renders may take a quarter of the memory limit
MIN_DEFAULT_MEMORY = 64 * MEBIBYTE


# ---------------------------------------------------------------- the machine

def _cgroup_dirs() -> list[Path]:
    """This process's cgroup (v2) folder and its ancestors, innermost first."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        if line.startswith("0::"):
            folder = Path("/sys/fs/cgroup") / line[3:].strip().lstrip("/")
            return [folder, *folder.parents][: len(folder.parts) - 3]
    return []


def _read_number(path: Path) -> int | None:
    try:
        text = path.read_text().split()
    except OSError:
        return None
    return int(text[0]) if text and text[0].isdigit() else None


def memory_limit() -> int | None:
    """The memory this process may use: the machine's, or its cgroup's limit if lower."""
    limits = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                limits.append(int(line.split()[1]) * 1024)
    except OSError:
        pass
    for folder in _cgroup_dirs():  # v2: memory.max, "max" when unlimited
        limits.append(_read_number(folder / "memory.max"))
    limits.append(_read_number(Path("/sys/fs/cgroup/memory/memory.limit_in_bytes")))  # v1
    found = [limit for limit in limits if limit and limit < 1 << 60]
    return min(found) if found else None


def usable_cores() -> int:
    """Cores this process may run on: its CPU affinity, or its cgroup's quota if lower."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quotas = []
    for folder in _cgroup_dirs():  # v2: cpu.max is "quota period" or "max period"
        try:
            quota, period = (folder / "cpu.max").read_text().split()[:2]
        except (OSError, ValueError):
            continue
        if quota.isdigit() and int(period) > 0:
            quotas.append(math.ceil(int(quota) / int(period)))
    quota = _read_number(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"))  # v1
    period = _read_number(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us"))
    if quota and period:
        quotas.append(math.ceil(quota / period))
    return max(1, min([cores, *quotas]))


def slots_for(configured: int | None) -> int:
    """BEELDPOST_HEAVY_SLOTS as the server takes it: one per usable core when not set."""
    return configured or usable_cores()


# BEELDPOST_RENDERS_PER_WORKER as a worker takes it, by the same rule: `beeldpost serve`
# sets it to the cores shared among its workers (renders_per_worker); a lone process that
# is not told takes them all.
renders_for = slots_for


def renders_per_worker(workers: int) -> int:
    """Each worker's share of the usable cores, at least one."""
    return max(1, usable_cores() // max(1, workers))


class RenderSlots:
    """At most `count` renders of this worker at once (ImageService's mid-size ones), the
    others served first come, first served: a slot freed passes straight to the one that
    has waited longest, never to a newcomer. (threading.Semaphore lets a newcomer take a
    freed slot before the woken waiter does: under a soak's overload some thumbnails then
    waited 7 s while later ones went through.)"""

    def __init__(self, count: int) -> None:
        self._lock = threading.Lock()
        self._free = count
        self._line: deque[threading.Lock] = deque()  # each waiter's own, held until its turn

    def acquire(self) -> None:
        with self._lock:
            if self._free and not self._line:
                self._free -= 1
                return
            turn = threading.Lock()
            turn.acquire()
            self._line.append(turn)
        turn.acquire()  # released by the render that hands its slot on

    def release(self) -> None:
        with self._lock:
            if self._line:
                self._line.popleft().release()  # the slot passes on, still taken
            else:
                self._free += 1

    def __enter__(self) -> "RenderSlots":
        self.acquire()
        return self

    def __exit__(self, *_exception) -> None:
        self.release()


def memory_for(configured: int | None) -> int:
    """BEELDPOST_RENDER_MEMORY as the server takes it: sized for the machine when not set."""
    return configured or default_render_memory()


def default_render_memory() -> int:
    """BEELDPOST_RENDER_MEMORY when not set: a quarter of the memory limit. The same in
    every worker (the limit, not what happens to be free), so they share one budget."""
    limit = memory_limit()
    if limit is None:
        return 1 << 30
    return max(MIN_DEFAULT_MEMORY, limit // MEMORY_SHARE)


# ---------------------------------------------------------------- the ledger

_FLOCK = struct.Struct("hhqqi4x")  # struct flock on 64-bit Linux
_OFD = hasattr(fcntl, "F_OFD_SETLK")


def _lock(descriptor: int, kind: int, start: int, length: int, wait: bool = False) -> bool:
    command = fcntl.F_OFD_SETLKW if wait else fcntl.F_OFD_SETLK
    try:
        fcntl.fcntl(descriptor, command, _FLOCK.pack(kind, os.SEEK_SET, start, length, 0))
        return True
    except (BlockingIOError, PermissionError):
        return False


def _taken(descriptor: int, start: int, end: int) -> list[tuple[int, int]]:
    """[start, end) ranges in [start, end) that other descriptors hold, in no order.
    (F_OFD_GETLK names one conflicting lock, not necessarily the first: split around it.)"""
    found, pending = [], [(start, end)]
    while pending:
        low, high = pending.pop()
        if low >= high:
            continue
        answer = fcntl.fcntl(descriptor, fcntl.F_OFD_GETLK,
                             _FLOCK.pack(fcntl.F_WRLCK, os.SEEK_SET, low, high - low, 0))
        kind, _, held_start, held_length, _ = _FLOCK.unpack(answer)
        if kind == fcntl.F_UNLCK:
            continue
        held_end = high if held_length == 0 else min(high, held_start + held_length)
        held_start = max(low, held_start)
        found.append((held_start, held_end))
        pending += [(low, held_start), (held_end, high)]
    return found


def _free(descriptor: int, start: int, end: int) -> list[tuple[int, int]]:
    """The ranges of [start, end) that no other descriptor holds, in order."""
    free, position = [], start
    for held_start, held_end in sorted(_taken(descriptor, start, end)):
        if held_start > position:
            free.append((position, held_start))
        position = max(position, held_end)
    if position < end:
        free.append((position, end))
    return free


class Ledger:
    """The memory units and the line of all workers: byte-range locks on one file, each
    claim through a descriptor of its own (see the module's docstring).

    The line is first come first served across workers: a newcomer draws the next
    ticket (a counter in the file's first bytes, under the mutex) and holds the place
    of that number (modulo WAITING_PLACES) while it waits; it is first in line when no
    place of an earlier ticket is held."""

    MUTEX = 0  # the lock's byte; the file's content: the ticket counter (bytes 0-7) and
    RENDER_SECONDS_AT = 8  # the running mean of render times, all workers together (8-15)
    WAITING_AT = 1 << 20
    WAITING_PLACES = 1 << 16
    RUNNING_AT = 2 << 20  # a byte per running render: how many run, all workers together
    RUNNING_PLACES = 1 << 16
    MEMORY_AT = 1 << 30

    def __init__(self, path: Path, units: int | None):
        self.path = Path(path)
        self.units = units  # None: memory is not counted (slots alone)

    def open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except FileNotFoundError:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)

    @contextmanager
    def _counting(self, descriptor: int) -> Iterator[None]:
        _lock(descriptor, fcntl.F_WRLCK, self.MUTEX, 1, wait=True)
        try:
            yield
        finally:
            _lock(descriptor, fcntl.F_UNLCK, self.MUTEX, 1)

    def waiting(self, descriptor: int) -> int:
        """Requests waiting in every worker (each holds one place)."""
        return len(_taken(descriptor, self.WAITING_AT, self.WAITING_AT + self.WAITING_PLACES))

    def wait_here(self, descriptor: int) -> int:
        """Join the line: a ticket, its place held until stop_waiting."""
        with self._counting(descriptor):
            counter = os.pread(descriptor, 8, 0)
            ticket = int.from_bytes(counter, "little") if len(counter) == 8 else 0
            os.pwrite(descriptor, (ticket + 1).to_bytes(8, "little"), 0)
            _lock(descriptor, fcntl.F_WRLCK, self.WAITING_AT + ticket % self.WAITING_PLACES, 1)
        return ticket

    def render_seconds(self, descriptor: int) -> float | None:
        """The running mean of heavy renders' times, all workers together, if any yet."""
        found = os.pread(descriptor, 8, self.RENDER_SECONDS_AT)
        seconds = struct.unpack("<d", found)[0] if len(found) == 8 else 0.0
        return seconds if seconds > 0 else None

    def record_render(self, descriptor: int, seconds: float, smoothing: float) -> float:
        """Fold one render's time into the running mean; the new mean."""
        with self._counting(descriptor):
            previous = self.render_seconds(descriptor)
            mean = seconds if previous is None else previous + smoothing * (seconds - previous)
            os.pwrite(descriptor, struct.pack("<d", mean), self.RENDER_SECONDS_AT)
        return mean

    def first_in_line(self, descriptor: int, ticket: int) -> bool:
        """Whether nobody who came before `ticket` still waits (places of the half ring
        before it, which a line never outgrows)."""
        low = (ticket - self.WAITING_PLACES // 2) % self.WAITING_PLACES
        high = ticket % self.WAITING_PLACES
        spans = [(low, high)] if low < high else [(low, self.WAITING_PLACES), (0, high)]
        return not any(_taken(descriptor, self.WAITING_AT + start, self.WAITING_AT + end)
                       for start, end in spans)

    def stop_waiting(self, descriptor: int) -> None:
        _lock(descriptor, fcntl.F_UNLCK, self.WAITING_AT, self.WAITING_PLACES)

    def running(self, descriptor: int) -> int:
        """Heavy renders running in every worker."""
        return len(_taken(descriptor, self.RUNNING_AT, self.RUNNING_AT + self.RUNNING_PLACES))

    def take(self, descriptor: int, units: int) -> bool:
        """Start a render: `units` MiB (anywhere in the budget) and a place among those
        running, or nothing."""
        with self._counting(descriptor):
            if self.units is not None and units > 0:
                free = _free(descriptor, self.MEMORY_AT, self.MEMORY_AT + self.units)
                if sum(end - start for start, end in free) < units:
                    return False
                for start, end in free:
                    length = min(units, end - start)
                    _lock(descriptor, fcntl.F_WRLCK, start, length)
                    units -= length
                    if not units:
                        break
            place = _free(descriptor, self.RUNNING_AT, self.RUNNING_AT + self.RUNNING_PLACES)
            if place:
                _lock(descriptor, fcntl.F_WRLCK, place[0][0], 1)
        return True

    def in_use(self) -> int:
        """MiB taken by running renders, all workers together (for tests and metrics)."""
        if self.units is None:
            return 0
        descriptor = self.open()
        try:
            return sum(end - start for start, end in
                       _taken(descriptor, self.MEMORY_AT, self.MEMORY_AT + self.units))
        finally:
            os.close(descriptor)


class _LocalLedger(Ledger):
    """Where OFD locks are missing (not Linux): the same, counted in this process only."""

    def __init__(self, path: Path, units: int | None):
        super().__init__(path, units)
        self._lock = threading.Lock()
        self._taken: dict[int, int] = {}
        self._waiting: dict[int, int] = {}  # descriptor -> ticket
        self._tickets = 0
        self._seconds: float | None = None

    def open(self) -> int:
        return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)

    def waiting(self, descriptor: int) -> int:
        return len(self._waiting)

    def wait_here(self, descriptor: int) -> int:
        with self._lock:
            self._tickets += 1
            self._waiting[descriptor] = self._tickets
            return self._tickets

    def first_in_line(self, descriptor: int, ticket: int) -> bool:
        with self._lock:
            return min(self._waiting.values(), default=ticket) >= ticket

    def render_seconds(self, descriptor: int) -> float | None:
        return self._seconds

    def record_render(self, descriptor: int, seconds: float, smoothing: float) -> float:
        with self._lock:
            previous = self._seconds
            self._seconds = seconds if previous is None else (
                previous + smoothing * (seconds - previous))
            return self._seconds

    def stop_waiting(self, descriptor: int) -> None:
        with self._lock:
            self._waiting.pop(descriptor, None)

    def running(self, descriptor: int) -> int:
        return len(self._taken)

    def take(self, descriptor: int, units: int) -> bool:
        units = units if self.units is not None and units > 0 else 0
        with self._lock:
            if units and sum(self._taken.values()) + units > self.units:
                return False
            self._taken[descriptor] = units
            return True

    def release(self, descriptor: int) -> None:
        with self._lock:
            self._taken.pop(descriptor, None)
            self._waiting.pop(descriptor, None)

    def in_use(self) -> int:
        with self._lock:
            return sum(self._taken.values())


# ---------------------------------------------------------------- admission

class _Claim:
    """What one heavy request holds: its ledger descriptor and, once admitted, a slot."""

    __slots__ = ("ledger", "descriptor", "slot")

    def __init__(self, ledger: Ledger):
        self.ledger = ledger
        self.descriptor = ledger.open()
        self.slot: int | None = None

    def close(self) -> None:
        if self.slot is not None:
            os.close(self.slot)  # closing releases the flock
            self.slot = None
        if isinstance(self.ledger, _LocalLedger):
            self.ledger.release(self.descriptor)
        os.close(self.descriptor)  # closing releases every byte-range lock


class Admission:
    POLL_SECONDS = 0.01  # how often the first in line looks for room another worker freed
    ROUNDS = 3  # renders' worth of waiting always allowed, however long renders take now
    LINE_POLL_SECONDS = 0.05  # how often the others look whether they are first now
    SMOOTHING = 0.3  # weight of the latest render in the running mean of render times

    def __init__(self, slots: int, queue: int, wait_seconds: float, retry_after: int,
                 lock_dir: Path, memory_bytes: int | None = None,
                 longest_wait: float | None = None):
        """`slots` renders at once and `memory_bytes` of memory (None: not counted), for
        all processes given the same `lock_dir`; at most `queue` waiting per process,
        each as long as it can still be answered within `wait_seconds` or within ROUNDS
        more renders' time, whichever is longer, and never longer than `longest_wait`."""
        lock_dir = Path(lock_dir)
        self.slots = max(1, slots)
        self._slot_files = [lock_dir / f"heavy-slot-{index}.lock" for index in range(self.slots)]
        units = None if memory_bytes is None else max(1, memory_bytes // MEBIBYTE)
        self.ledger = (Ledger if _OFD else _LocalLedger)(lock_dir / "render-memory.lock", units)
        self._queue_limit = max(0, queue)
        self._wait_seconds = wait_seconds
        self._longest_wait = longest_wait
        self._retry_after = retry_after
        self._condition = threading.Condition()  # this process's renders and waiters
        self._waiting = 0
        self._running = 0
        self._render_seconds: float | None = None  # the ledger's running mean, last seen

    @property
    def running(self) -> int:
        """Heavy renders running in this worker."""
        return self._running

    @property
    def waiting(self) -> int:
        """Heavy renders waiting in this worker."""
        return self._waiting

    @property
    def memory_bytes(self) -> int | None:
        units = self.ledger.units
        return None if units is None else units * MEBIBYTE

    def units(self, memory: int) -> int:
        """The MiB a render of `memory` bytes takes: all of the budget at most, so one
        larger than the whole budget runs alone rather than never."""
        if self.ledger.units is None or memory <= 0:
            return 0
        return min(self.ledger.units, max(1, math.ceil(memory / MEBIBYTE)))

    def expected_wait(self, waiting: int, units: int, running: int | None = None) -> float:
        """Seconds a newcomer would wait behind `waiting` others, going by recent render
        times, as many renders at once as fit (by slots and memory): room free now (fewer
        than that `running`) takes the first in line at once, the running renders are
        half done, then the line is worked off that many at a time."""
        if self._render_seconds is None:
            return 0.0
        lanes = self.slots
        if units and self.ledger.units:
            lanes = max(1, min(lanes, self.ledger.units // units))
        ahead = waiting + 1  # its place in the line
        if running is not None:
            ahead -= max(0, lanes - running)
        if ahead <= 0:
            return 0.0
        return self._render_seconds * max(0.0, ahead / lanes - 0.5)

    def _patience(self) -> float:
        """Seconds a newcomer may take to be answered, its own render included: the
        configured time, or ROUNDS more renders' time when renders take longer than
        that allows (on a busy or slow machine a short line stays allowed: a few
        downloads at once are slowed, not refused)."""
        render = self._render_seconds or 0.0
        return max(self._wait_seconds, (self.ROUNDS + 1) * render)

    def _too_long(self, waiting: int, units: int, running: int) -> Overloaded | None:
        """The refusal of a newcomer behind `waiting` others (`running` running), when they
        would keep it too long."""
        expected = self.expected_wait(waiting, units, running)
        if expected + (self._render_seconds or 0.0) > self._patience():
            return self._refuse(f"a large render would wait about {expected:.1f} s for memory now")
        return None

    def _refuse(self, why: str) -> Overloaded:
        return Overloaded(
            f"{why}; whole-image and very large renders are limited. "
            f"Try again in {self._retry_after} s, or ask for a smaller size or tiles.",
            headers={"Retry-After": str(self._retry_after)}, hold=REFUSAL_HOLD_SECONDS,
        )

    def _try_slot(self) -> int | None:
        """An open descriptor holding a free slot's lock, or None when all are taken."""
        for path in self._slot_files:
            try:
                descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except FileNotFoundError:
                path.parent.mkdir(parents=True, exist_ok=True)
                descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return descriptor
            except BlockingIOError:
                os.close(descriptor)
        return None

    def _try(self, claim: _Claim, units: int) -> bool:
        slot = self._try_slot()
        if slot is None:
            return False
        if not self.ledger.take(claim.descriptor, units):
            os.close(slot)
            return False
        claim.slot = slot
        return True

    def _learn(self, descriptor: int) -> None:
        """What renders take now, all workers together (once any has taken anything)."""
        self._render_seconds = self.ledger.render_seconds(descriptor) or self._render_seconds

    def _acquire(self, units: int) -> _Claim:
        claim = _Claim(self.ledger)
        try:
            self._learn(claim.descriptor)
            waiting = self.ledger.waiting(claim.descriptor)
            if not waiting and self._try(claim, units):
                return claim
            self._wait(claim, units, waiting, self.ledger.running(claim.descriptor))
            return claim
        except BaseException:
            claim.close()
            raise

    def _wait(self, claim: _Claim, units: int, waiting: int, running: int) -> None:
        """In line until admitted (returns) or refused (raises Overloaded): for as long as
        the answer can still come in time (_patience), its own render included."""
        refused = self._too_long(waiting, units, running)
        if refused is not None:
            raise refused
        with self._condition:
            if self._waiting >= self._queue_limit:
                raise self._refuse("too many large renders are waiting")
            self._waiting += 1
        try:
            ticket = self.ledger.wait_here(claim.descriptor)
            started = time.monotonic()
            while True:
                first = self.ledger.first_in_line(claim.descriptor, ticket)
                if first and self._try(claim, units):
                    self.ledger.stop_waiting(claim.descriptor)  # counted as running now
                    return
                # How long it may wait, as render times are known now (at first, perhaps
                # not at all yet: then wait_seconds). Admitted to the line by the expected
                # wait, it may wait all of that time before giving up: refused after
                # waiting is the worst answer, kept for when the line went wrong.
                self._learn(claim.descriptor)
                longest = self._patience()
                if self._longest_wait is not None:
                    longest = min(longest, self._longest_wait)
                remaining = started + longest - time.monotonic()
                if remaining <= 0:
                    raise self._refuse("no capacity for another large render right now")
                # Woken by a render of this worker ending or a waiter leaving; room freed
                # in another worker is seen by polling.
                with self._condition:
                    self._condition.wait(min(
                        self.POLL_SECONDS if first else self.LINE_POLL_SECONDS, remaining))
        finally:
            self.ledger.stop_waiting(claim.descriptor)
            with self._condition:
                self._waiting -= 1
                self._condition.notify_all()

    @contextmanager
    def heavy(self, memory: int = 0) -> Iterator[None]:
        """Run a heavy render that needs `memory` bytes (Overloaded when refused)."""
        claim = self._acquire(self.units(memory))
        started = time.monotonic()
        with self._condition:
            self._running += 1
        try:
            yield
        finally:
            try:
                self._render_seconds = self.ledger.record_render(
                    claim.descriptor, time.monotonic() - started, self.SMOOTHING)
            finally:
                claim.close()
                with self._condition:
                    self._running -= 1
                    self._condition.notify_all()
