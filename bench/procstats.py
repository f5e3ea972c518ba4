"""CPU time and memory of a server's whole process tree, read from /proc (Linux only).

CPU: utime+stime of every live process in the tree (the root and all its
descendants), summed. A server's workers here live as long as the server, so the
difference of two readings is the CPU the tree spent in between.

Memory: a sampler thread reads every process's resident set size a few times a
second; it records the peak of the tree's sum (what the issue's RSS target is
about; shared library pages are counted once per process, so the sum is an upper
bound) and the peak of the largest single process.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read().decode("ascii", "replace")
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces.
    return data[data.rindex(")") + 2:].split()


def tree(root: int) -> list[int]:
    """The root and all its descendants that are alive now."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is None:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))  # fields[1] is ppid
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        if pid != root and pid in found:
            continue
        found.append(pid)
        stack.extend(children.get(pid, []))
    return [pid for pid in found if os.path.exists(f"/proc/{pid}")]


def cpu_by_thread_kind(pids: list[int]) -> dict[str, float]:
    """CPU seconds so far of these processes' threads, by kind: `main` (each process's
    own first thread: a worker's event loop), `tokio` (obstore's Rust runtime, which does
    the requests to a bucket) and `other` (thread pools, libvips, background threads).
    Threads that ended are not counted: compare two readings of long-lived threads."""
    found = {"main": 0.0, "tokio": 0.0, "other": 0.0}
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/stat", "rb") as handle:
                    data = handle.read().decode("ascii", "replace")
            except OSError:
                continue
            name = data[data.index("(") + 1:data.rindex(")")]
            fields = data[data.rindex(")") + 2:].split()
            kind = ("main" if int(task) == pid else
                    "tokio" if name.startswith("tokio-") else "other")
            found[kind] += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return found


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    found = {}
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            found[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as handle:
            return int(handle.read().split()[1]) * PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return 0


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle since boot (from /proc/stat)."""
    with open("/proc/stat") as handle:
        parts = handle.readline().split()[1:]
    values = [int(v) for v in parts]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    busy = sum(values[:8]) - idle  # leave out guest time, already in user
    return busy / CLOCK_TICKS


@dataclass
class TreeUsage:
    cpu_seconds: float
    peak_rss_sum: int
    peak_rss_max: int
    processes: int
    # Processes of the tree that ended during the interval (crashed or recycled workers).
    exited: int = 0


class TreeMonitor:
    """Measure one server tree over an interval: `with TreeMonitor(pid) as m: ...; m.usage`."""

    def __init__(self, root: int, interval: float = 0.05):
        self.root = root
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.peak_sum = 0
        self.peak_max = 0
        self.processes = 0
        self.usage: TreeUsage | None = None

    def _sample(self) -> None:
        pids = tree(self.root)
        # The last CPU reading of every process, so one that dies (a crashed worker)
        # still counts with what it used up to its last sample.
        for pid, seconds in cpu_by_pid(pids).items():
            self._first.setdefault(pid, 0.0)  # started during the interval: from zero
            self._last[pid] = seconds
        sizes = [rss_bytes(pid) for pid in pids]
        self.processes = max(self.processes, len(pids))
        self.peak_sum = max(self.peak_sum, sum(sizes))
        self.peak_max = max(self.peak_max, max(sizes, default=0))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> "TreeMonitor":
        self._first = cpu_by_pid(tree(self.root))
        self._last = dict(self._first)
        self._sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        alive = set(tree(self.root))
        used = sum(self._last[pid] - self._first.get(pid, 0.0) for pid in self._last)
        exited = sum(1 for pid in self._last if pid not in alive)
        self.usage = TreeUsage(used, self.peak_sum, self.peak_max, self.processes, exited)


def wait_children_cpu() -> float:
    """CPU seconds used so far by this process's reaped children (wrk)."""
    usage = os.times()
    return usage.children_user + usage.children_system


def own_cpu() -> float:
    usage = os.times()
    return usage.user + usage.system


def now() -> float:
    return time.monotonic()
