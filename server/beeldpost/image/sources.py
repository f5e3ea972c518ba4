"""The resolver: which source file an identifier names.

An identifier is a file's stem in the images folder or any folder below it (archives
file scans by fonds and series). Identifiers are looked up, never joined into a path,
so no identifier (decoded or not, with dots, slashes or NULs) can reach a file outside
it. In the server they are looked up in the catalogue's index of the images folder
(`locate`, kept by the catalogue's scan: no request lists a folder); on its own (the
ingest command) the catalog walks the folder, again whenever it changes.

One stem in one folder may have several files (a master TIFF beside an access JPEG):
the preferred extension is served. One stem in two folders is two images claiming one
identifier: both are refused, and the problem names them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import SourceError

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


KEPT_HASHES = 20_000  # content hashes a worker remembers (about 200 bytes each)

RANK = {extension: index for index, extension in enumerate(SOURCE_EXTENSIONS)}


def is_source_name(name: str) -> bool:
    stem, extension = os.path.splitext(name)
    return extension.lower() in RANK and bool(stem) and not stem.startswith(".")


def walk_files(folder: Path, keep: Callable[[str], bool]) -> dict[str, str]:
    """relative path (with /) -> stem of every file in `folder` and below whose name
    `keep` accepts (hidden files and folders left out; symlinked folders not followed).
    For the catalogue's scan and the commands: requests never walk a folder."""
    found: dict[str, str] = {}
    folder = Path(folder)
    pending = [""]
    while pending:
        relative = pending.pop()
        try:
            entries = list(os.scandir(folder / relative if relative else folder))
        except OSError as error:
            log.error("cannot list %s: %s", folder / relative, error)
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = f"{relative}/{entry.name}" if relative else entry.name
            if entry.is_dir(follow_symlinks=False):
                pending.append(path)
            elif keep(entry.name) and entry.is_file():
                found[path] = os.path.splitext(entry.name)[0]
    return found


def walk_sources(folder: Path) -> dict[str, str]:
    """relative path -> identifier of every source file in `folder` and below."""
    return walk_files(folder, is_source_name)


class DuplicateSource(SourceError):
    """One identifier, files in two folders: neither is served (a 422 naming both)."""

    def __init__(self, identifier: str, paths: list[str]):
        self.paths = paths
        super().__init__(f"two images have the identifier {identifier!r}: "
                         f"{' and '.join(sorted(paths))}; both are refused until one is "
                         "renamed or removed")


def choose_source(identifier: str, paths: list[str]) -> str | None:
    """Which of the files with this identifier is served (DuplicateSource when they lie
    in different folders)."""
    if not paths:
        return None
    folders = {os.path.dirname(path) for path in paths}
    if len(folders) > 1:
        raise DuplicateSource(identifier, paths)
    return min(paths, key=lambda path: (RANK[os.path.splitext(path)[1].lower()], path))


class SourceCatalog:
    def __init__(self, images_dir: Path, locate: Callable[[str], list[str]] | None = None):
        self.images_dir = Path(images_dir)
        # identifier -> the files (relative paths) holding it, from the catalogue's index;
        # None: walk the folder.
        self.locate = locate
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
        by_identifier: dict[str, list[str]] = {}
        for path, identifier in walk_sources(self.images_dir).items():
            by_identifier.setdefault(identifier, []).append(path)
        found: dict[str, Path] = {}
        for identifier, paths in by_identifier.items():
            try:
                found[identifier] = self.images_dir / choose_source(identifier, paths)
            except DuplicateSource as error:
                log.warning("%s", error)
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

    def find(self, identifier: str) -> Path | None:
        """The file served for this identifier (DuplicateSource when two claim it)."""
        if self.locate is None:
            return self.listing().get(identifier)
        chosen = choose_source(identifier, self.locate(identifier))
        return None if chosen is None else self.images_dir / chosen

    def lookup(self, identifier: str) -> Source | None:
        """The source served for this identifier, None when there is none, DuplicateSource
        when two folders hold one."""
        path = self.find(identifier)
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
            if len(self._hashes) >= KEPT_HASHES:  # the images in use, not the archive's
                del self._hashes[next(iter(self._hashes))]
            self._hashes[str(source.path)] = (source.size, source.mtime_ns, value)
        return value
