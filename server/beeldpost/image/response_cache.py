"""Rendered images kept on disk, so a repeated request costs one file read.

Keyed by the response's strong ETag, which already hashes everything that decides
its bytes (source content hash, canonical request, public size, recipe and JPEG
qualities): a changed source or setting gives new keys, and old entries simply age
out. One file per answer under `{cache}/responses/ab/abcdef…-{FORMAT}.bin`, written to a
temporary name and renamed into place, so a reader sees a whole file or none,
whichever worker wrote it. A large render is written there as libvips encodes it (a
Spool) and kept by the same rename.

Size-capped LRU shared by all workers through the file system: a hit touches the
file's mtime (the last use), and the worker whose writes push the total over the
cap deletes the least recently used files down to 90 % of it (to the minute: a hit
touches a file whose mtime is older than TOUCH_SECONDS). Each worker counts
its own writes and re-counts the folder every 5 % of the cap, so the total
overshoots the cap by at most that much per worker.
"""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import BinaryIO, Iterator

log = logging.getLogger(__name__)

# Part of every file name: raised when what a key stands for changes (2: 2.1
# canonical sizes keep `w,h` when distorted), so older entries are never read and
# age out as least recently used.
FORMAT = 2
TRIM_TO = 0.9  # of the cap, after a trim
RECOUNT_EVERY = 0.05  # of the cap, written by one worker between recounts
IN_MEMORY_BYTES = 1024 * 1024  # kept answers beyond this are streamed from their file
TOUCH_SECONDS = 60  # a hit marks its last use at most this often (an inode write each)
STALE_SECONDS = 3600  # a temporary file this old was left by a write that died


class KeptFile:
    """A kept answer too large to hold in memory: read a chunk at a time as it is sent.

    Iterable (a WSGI body) and sized (its Content-Length). The open descriptor keeps
    the whole file readable even if a trim deletes or a writer replaces it meanwhile.
    """

    CHUNK = 256 * 1024

    def __init__(self, handle: BinaryIO, size: int):
        self._handle, self.size = handle, size

    def __len__(self) -> int:
        return self.size

    def read_chunk(self) -> bytes:
        """The next chunk; b"" at the end (and the file is closed)."""
        chunk = self._handle.read(self.CHUNK)
        if not chunk:
            self.close()
        return chunk

    def __iter__(self) -> Iterator[bytes]:
        try:
            while chunk := self.read_chunk():
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        self._handle.close()


class Spool:
    """A render's answer on its way into a file, so that it is never whole in memory:
    libvips writes it through `descriptor` as it encodes, then it is read back a chunk
    at a time as a KeptFile. Named `.tmp-…` beside where the response cache keeps it
    (keeping it is then a rename: ResponseCache.keep), or nameless: unlinked at once, so
    that it is gone when its reader closes it, or when its process dies."""

    def __init__(self, folder: Path, named: bool):
        try:
            descriptor, name = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        except FileNotFoundError:
            Path(folder).mkdir(parents=True, exist_ok=True)
            descriptor, name = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        self.descriptor: int | None = descriptor
        self.path: Path | None = Path(name)
        if not named:
            self.unlink()

    def unlink(self) -> None:
        """Remove its name; what was written stays readable through the descriptor."""
        if self.path is not None:
            _unlink(self.path)
            self.path = None

    def size(self) -> int:
        return os.fstat(self.descriptor).st_size

    def answer(self) -> KeptFile:
        """What was written, to be read from its start (the descriptor goes with it)."""
        size = self.size()
        os.lseek(self.descriptor, 0, os.SEEK_SET)
        handle = os.fdopen(self.descriptor, "rb")
        self.descriptor = None
        return KeptFile(handle, size)

    def discard(self) -> None:
        """Drop it (a render that failed): its file and its descriptor."""
        self.unlink()
        if self.descriptor is not None:
            os.close(self.descriptor)
            self.descriptor = None


class ResponseCache:
    def __init__(self, folder: Path, max_bytes: int, max_entry_bytes: int):
        self.folder = Path(folder)
        self._folder = str(self.folder)
        self.max_bytes = max_bytes
        self.max_entry_bytes = min(max_entry_bytes, max_bytes)
        self._lock = threading.Lock()
        self._total: int | None = None  # bytes in the folder at the last count, plus our writes
        self._written_since_count = 0

    def _path(self, key: str) -> str:
        # A string join, not pathlib: this runs on every hit.
        return os.path.join(self._folder, key[:2], f"{key}-{FORMAT}.bin")

    def get(self, key: str, in_memory_up_to: int | None = None,
            stream_larger: bool = True) -> bytes | KeptFile | None:
        """The kept answer: its bytes up to `in_memory_up_to` (never beyond
        IN_MEMORY_BYTES), a KeptFile to stream beyond (None instead with
        stream_larger=False), None when absent."""
        in_memory_up_to = min(in_memory_up_to or IN_MEMORY_BYTES, IN_MEMORY_BYTES)
        try:
            handle = open(self._path(key), "rb")
        except OSError:
            return None
        try:
            stat = os.fstat(handle.fileno())
            size = stat.st_size
            if not size or (size > in_memory_up_to and not stream_larger):
                handle.close()
                return None
            if stat.st_mtime < time.time() - TOUCH_SECONDS:
                os.utime(handle.fileno())  # last use, for the LRU
            if size > in_memory_up_to:
                return KeptFile(handle, size)
            data = handle.read()
        except OSError:
            handle.close()
            return None
        handle.close()
        return data if len(data) == size else None

    def put(self, key: str, data: bytes) -> None:
        """Keep `data` (best effort: a full disk costs the cache, never the answer)."""
        if not data or len(data) > self.max_entry_bytes:
            return
        path = Path(self._path(key))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(data)
                os.replace(temporary, path)
            except BaseException:
                _unlink(Path(temporary))
                raise
        except OSError as error:
            log.warning("response cache: could not keep %s: %s", path.name, error)
            return
        self._count(len(data))

    def spool(self, key: str) -> Spool:
        """A file to render the answer for `key` into, to keep it by keep(key, spool)."""
        return Spool(Path(self._path(key)).parent, named=True)

    def keep(self, key: str, spool: Spool) -> Path | None:
        """Keep a spooled answer by renaming it into place (a reader sees all of it or
        none), unless it is empty or too large; where it is kept, or None. Best effort,
        as put(); the spool's descriptor reads it all the same."""
        size = spool.size()
        if not size or size > self.max_entry_bytes or spool.path is None:
            spool.unlink()
            return None
        path = self._path(key)
        try:
            os.replace(spool.path, path)
        except OSError as error:
            log.warning("response cache: could not keep %s: %s", os.path.basename(path), error)
            spool.unlink()
            return None
        spool.path = None
        self._count(size)
        return Path(path)

    def _count(self, written: int) -> None:
        with self._lock:
            self._written_since_count += written
            recount = (self._total is None
                       or self._written_since_count >= self.max_bytes * RECOUNT_EVERY)
            if not recount:
                self._total += written
                if self._total <= self.max_bytes:
                    return
        self.trim()

    def trim(self) -> None:
        """Re-count the folder; above the cap, delete least recently used entries."""
        self.folder.mkdir(parents=True, exist_ok=True)
        # One trimmer at a time across workers; the others go on serving.
        with open(self.folder / ".trim.lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return
            entries = self._entries()
            total = sum(size for _, size, _ in entries)
            if total > self.max_bytes:
                entries.sort()  # oldest use first
                for _, size, path in entries:
                    if total <= self.max_bytes * TRIM_TO:
                        break
                    if _unlink(path):
                        total -= size
        with self._lock:
            self._total = total
            self._written_since_count = 0

    def _entries(self) -> list[tuple[int, int, Path]]:
        entries = []
        try:
            buckets = list(os.scandir(self.folder))
        except FileNotFoundError:
            return entries
        for bucket in buckets:
            if not bucket.is_dir(follow_symlinks=False):
                continue
            try:
                files = list(os.scandir(bucket.path))
            except FileNotFoundError:
                continue
            for entry in files:
                try:
                    stat = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if entry.name.endswith(".bin"):
                    entries.append((stat.st_mtime_ns, stat.st_size, Path(entry.path)))
                elif entry.name.startswith(".tmp-") and stat.st_mtime < time.time() - STALE_SECONDS:
                    _unlink(Path(entry.path))  # left by a worker killed mid-write
        return entries

    def size(self) -> int:
        """Bytes held now (counts the folder)."""
        return sum(size for _, size, _ in self._entries())


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False
