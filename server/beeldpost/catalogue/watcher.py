"""Keeping the journal and the catalogue index current, off the request path.

A background thread runs the journal's scan (journal.py: stats, parses only what
changed, writes index and activities in one transaction) whenever the records or
images folders change, as file events tell it (watchdog: inotify on Linux), and at
least every `interval` seconds besides, for file systems that send no events (NFS,
SMB, some container mounts). Events arrive in bursts (an editor writes a temporary
file and renames it; an import writes thousands), so a scan starts once they have
been quiet for `settle` seconds, or `settle_at_most` after the first. Such a scan
looks only at what the changed files touch (a record, the records using a transcript
or showing an image: the edit of one record in 100,000 is a few lookups); a folder
made, moved or removed, a burst of thousands, and the periodic scan look at everything.

A scan that fails (the database restarting, a bucket unreachable) loses nothing: the
paths it was given wait for the next, which comes within RETRY_SCAN_SECONDS, not at
the next periodic scan. And a scan may ask for another at a time of its own
(`due()`: the journal's listing of a bucket for images that records name, which it
puts off to keep listings apart); the watcher wakes for it and runs `scan([])`.

One writer at a time: of all the processes sharing a cache folder (gunicorn's
workers), only the one holding the writer lock (an flock on a file there) watches.
The others try again every few seconds, so when the writer dies another takes over.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)

RETRY_SECONDS = 5.0  # how often a process without the writer lock tries to take it
RETRY_SCAN_SECONDS = (0.25, 0.5, 1.0, 2.0)  # after 1, 2, 3, more failed scans in a row


class Watcher:
    def __init__(self, scan: Callable[..., object], folders: list[Path], lock_path: Path,
                 interval: float = 30.0, events: bool = True, settle: float = 0.3,
                 settle_at_most: float = 2.0, partial: bool = True,
                 due: Callable[[], float | None] | None = None):
        # scan() looks at everything; scan(paths), with `partial`, at what those touch;
        # due(): when (time.monotonic()) the scan asks for scan([]) of its own accord.
        self.scan = scan
        self.due = due
        self._failures = 0  # scans failed in a row
        self._retry_at: float | None = None  # when a failed scan's paths are tried again
        self.partial = partial
        self.folders = [Path(folder) for folder in folders]
        self.lock_path = Path(lock_path)
        self.interval = interval
        self.events = events
        self.settle = settle
        self.settle_at_most = settle_at_most
        self._changed = threading.Event()
        self._stopped = threading.Event()
        self._first_change: float | None = None
        self._lock_file = None
        self._observer = None
        self._thread: threading.Thread | None = None
        self.scans = 0  # scans run by this watcher (for tests and /metrics)
        self._paths: set[str] | None = set()  # changed since the last scan; None: anything
        self._paths_lock = threading.Lock()
        self._full_seconds = 0.0  # what the last full scan took

    # ------------------------------------------------------------------ life

    def start(self) -> "Watcher":
        self._thread = threading.Thread(target=self._run, name="beeldpost-watcher", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stopped.set()
        self._changed.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._stop_observing()
        self._release()

    @property
    def is_writer(self) -> bool:
        return self._lock_file is not None

    # Past this many changed paths before a scan, the scan looks at everything instead.
    MAX_PATHS = 5000

    def changed(self, *paths: str) -> None:
        """A file event says these paths changed (none: something did, a folder say):
        scan soon, looking at what they touch, or at everything."""
        with self._paths_lock:
            if not paths or self._paths is None or len(self._paths) >= self.MAX_PATHS:
                self._paths = None
            else:
                self._paths.update(paths)
        if self._first_change is None:
            self._first_change = time.monotonic()
        self._changed.set()

    def _take_paths(self) -> list[Path] | None:
        with self._paths_lock:
            paths, self._paths = self._paths, set()
        return None if paths is None else [Path(path) for path in sorted(paths)]

    # ------------------------------------------------------------------ the loop

    def _run(self) -> None:
        while not self._stopped.is_set():
            if not self.is_writer:
                if not self._acquire():
                    self._stopped.wait(RETRY_SECONDS)
                    continue
                self._start_observing()
                self._take_paths()
                self._scan(None)  # whatever changed while nobody watched
            started = time.monotonic()
            period = self._period()
            woken = self._changed.wait(max(0.0, min(period, self._soonest() - started)))
            if self._stopped.is_set():
                break
            now = time.monotonic()
            if woken:
                self._settle()
                self._scan(self._take_paths())
            elif self._retry_at is not None and now >= self._retry_at:
                self._scan(self._take_paths())  # what a failed scan was given, again
            elif now - started < period:
                self._scan([])  # the scan's own appointment (due())
            else:
                self._take_paths()
                self._scan(None)  # the periodic full scan

    def _soonest(self) -> float:
        """The earliest of a failed scan's retry and the scan's own appointment."""
        times = [self._retry_at, self.due() if self.due is not None else None]
        return min((when for when in times if when is not None), default=float("inf"))

    def _settle(self) -> None:
        """Wait until events have been quiet for `settle` seconds (at most `settle_at_most`)."""
        started = self._first_change or time.monotonic()
        while not self._stopped.is_set():
            self._changed.clear()
            if not self._changed.wait(self.settle):
                break
            if time.monotonic() - started >= self.settle_at_most:
                break
        self._changed.clear()
        self._first_change = None

    # While file events arrive, the periodic full scan is only a safety net: it waits at
    # least this many times as long as the last one took (a full scan of 100,000 records
    # takes seconds of a worker's CPU; every 30 s that would be a sixth of it).
    QUIET_FACTOR = 10

    def _period(self) -> float:
        if self._observer is None:  # no events: the periodic scan is all there is
            return self.interval
        return max(self.interval, self.QUIET_FACTOR * self._full_seconds)

    def _scan(self, paths: list[Path] | None) -> None:
        try:
            if paths is None or not self.partial:
                started = time.monotonic()
                self.scan()
                self._full_seconds = time.monotonic() - started
            elif paths or self.due is not None:
                self.scan(paths)
            self.scans += 1
            self._failures, self._retry_at = 0, None
        except Exception as error:  # noqa: BLE001 - the watcher outlives any scan's failure
            # Nothing is lost: the paths wait for the next scan, which comes soon.
            self._give_back(paths)
            wait = RETRY_SCAN_SECONDS[min(self._failures, len(RETRY_SCAN_SECONDS) - 1)]
            self._failures += 1
            self._retry_at = time.monotonic() + wait
            message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
            if self._failures == 1 or self._failures % 60 == 0:
                log.error("keeping the catalogue current failed (%s); trying again in %g s",
                          message, wait, exc_info=not hasattr(error, "message"))

    def _give_back(self, paths: list[Path] | None) -> None:
        """A failed scan's paths, for the next (None: it looked at everything)."""
        with self._paths_lock:
            if paths is None or not self.partial or self._paths is None:
                self._paths = None
            else:
                self._paths.update(str(path) for path in paths)
                if len(self._paths) > self.MAX_PATHS:
                    self._paths = None

    # ------------------------------------------------------------------ the writer lock

    def _acquire(self) -> bool:
        try:
            self.lock_path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.lock_path, "a+")
        except OSError as error:
            log.error("cannot open the catalogue writer lock %s: %s", self.lock_path, error)
            return False
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock_file = handle
        log.info("this process (%d) keeps the catalogue current", os.getpid())
        return True

    def _release(self) -> None:
        if self._lock_file is not None:
            try:
                fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            finally:
                self._lock_file.close()
                self._lock_file = None

    # ------------------------------------------------------------------ file events

    def _start_observing(self) -> None:
        if not self.events:
            return
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:  # the periodic scan still keeps the catalogue current
            log.warning("watchdog is not installed: scanning every %g s only", self.interval)
            return
        watcher = self

        class _Handler(FileSystemEventHandler):
            def on_any_event(self, event):
                if event.event_type in ("opened", "closed_no_write"):
                    return  # reading a file changes nothing
                if event.is_directory:
                    if event.event_type in ("modified", "opened", "closed"):
                        return  # a file in it changed: that file's own event says which
                    watcher.changed()  # a folder made, moved or removed: look at all
                    return
                watcher.changed(*(os.fsdecode(path) for path in
                                  (event.src_path, getattr(event, "dest_path", "")) if path))

        observer = Observer()
        for folder in self.folders:
            if not folder.is_dir():  # watched once made: the periodic scan finds it
                log.warning("%s is not a folder (yet): scanning for it every %g s", folder,
                            self.interval)
                continue
            try:
                observer.schedule(_Handler(), str(folder), recursive=True)
            except OSError as error:
                log.warning("cannot watch %s (%s): scanning it every %g s", folder, error,
                            self.interval)
        observer.daemon = True
        try:
            observer.start()
        except OSError as error:  # gone since, or out of inotify watches
            log.warning("cannot watch the folders (%s): scanning them every %g s", error,
                        self.interval)
            return
        self._observer = observer

    def _stop_observing(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(5)
            self._observer = None
