"""The resolver: which source file an identifier names.

An identifier is a file's stem in the images folder. Identifiers are looked up in
a listing of that folder, never joined into a path, so no identifier (decoded or
not, with dots, slashes or NULs) can reach a file outside it. The listing is read
again whenever the folder changes, so a file dropped in is served without a restart.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# Extensions served, in order of preference when two files share a stem
# (a master TIFF wins over an access JPEG).
SOURCE_EXTENSIONS = (".tif", ".tiff", ".jp2", ".j2k", ".jpf", ".jpx", ".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class Source:
    identifier: str
    path: Path
    size: int
    mtime_ns: int


class SourceCatalog:
    def __init__(self, images_dir: Path):
        self.images_dir = Path(images_dir)
        self._lock = threading.Lock()
        self._listing: dict[str, Path] = {}
        self._listing_stamp: tuple[int, int] | None = None
        # path -> (size, mtime_ns, sha256): one entry per file, the latest seen.
        self._hashes: dict[str, tuple[int, int, str]] = {}

    def _folder_stamp(self) -> tuple[int, int] | None:
        try:
            stat = os.stat(self.images_dir)
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_ino

    def _scan(self) -> dict[str, Path]:
        found: dict[str, Path] = {}
        try:
            entries = list(os.scandir(self.images_dir))
        except OSError as error:
            log.error("cannot list images folder %s: %s", self.images_dir, error)
            return found
        rank = {ext: index for index, ext in enumerate(SOURCE_EXTENSIONS)}
        for entry in sorted(entries, key=lambda e: e.name):
            stem, ext = os.path.splitext(entry.name)
            ext = ext.lower()
            if ext not in rank or stem.startswith(".") or not entry.is_file():
                continue
            current = found.get(stem)
            if current is not None:
                keep = current if rank[current.suffix.lower()] <= rank[ext] else Path(entry.path)
                log.warning("two sources for %r: serving %s", stem, keep.name)
                found[stem] = keep
            else:
                found[stem] = Path(entry.path)
        return found

    def listing(self) -> dict[str, Path]:
        stamp = self._folder_stamp()
        with self._lock:
            if stamp != self._listing_stamp or stamp is None:
                self._listing = self._scan()
                self._listing_stamp = stamp
            return self._listing

    def identifiers(self) -> list[str]:
        return sorted(self.listing())

    def lookup(self, identifier: str) -> Source | None:
        path = self.listing().get(identifier)
        if path is None:
            return None
        try:
            stat = path.stat()
        except OSError:  # removed since the listing was read
            return None
        return Source(identifier, path, stat.st_size, stat.st_mtime_ns)

    def known_hash(self, source: Source) -> str | None:
        """The remembered content hash, or None when it would have to be computed."""
        known = self._hashes.get(str(source.path))
        if known is None or known[:2] != (source.size, source.mtime_ns):
            return None
        return known[2]

    def content_hash(self, source: Source) -> str:
        """SHA-256 of the file, remembered while its size and mtime stay the same."""
        cached = self.known_hash(source)
        if cached is not None:
            return cached
        digest = hashlib.sha256()
        with open(source.path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        value = digest.hexdigest()
        with self._lock:  # replaces the file's older hash (was a copy of all: quadratic)
            self._hashes[str(source.path)] = (source.size, source.mtime_ns, value)
        return value
