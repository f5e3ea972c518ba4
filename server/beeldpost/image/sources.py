"""The resolver: which source file an identifier names.

An identifier is a file's stem in the images folder or any folder below it (archives
file scans by fonds and series). Identifiers are looked up, never joined into a path,
so no identifier (decoded or not, with dots, slashes or NULs) can reach a file outside
it. In the server they are looked up in the catalogue's index of the images folder
(SourceLookups, kept by the catalogue's scan: no request lists a folder); on its own
(the ingest command) the catalog walks the folder, again whenever it changes.

One stem in one folder may have several files (a master TIFF beside an access JPEG):
the preferred extension is served. One stem in two folders is two images claiming one
identifier: both are refused, and the problem names them.

The images may instead be objects in a bucket (BEELDPOST_IMAGES=s3://bucket/prefix/,
storage/places.py). Then the index still names an identifier's files; their stats come from a
HEAD kept for a few seconds (or from the scan's listing), the content hash from the
catalogue (`stored_hash`, the hash its scan stored) rather than from reading the object,
and a build reads the object into the scratch folder, checking that hash on the way.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol

from ..errors import SourceError
from ..settings import S3Url
from ..storage.places import STAT_SECONDS, NotAtHand, S3Storage, Storage, location, scratch_file
from ..storage.places import walk_files  # noqa: F401 -- the records' walk imports it from here

log = logging.getLogger(__name__)

# Extensions served, in order of preference when two files share a stem
# (a master TIFF wins over an access JPEG).
SOURCE_EXTENSIONS = (".tif", ".tiff", ".jp2", ".j2k", ".jpf", ".jpx", ".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class Source:
    identifier: str
    path: Path | S3Url  # an object's URL when the images are in a bucket
    size: int
    mtime_ns: int  # an object's: storage.Stat's


class ContentChanged(Exception):
    """The source read for a build is not the content its hash said: it was replaced
    since. The build goes on under the hash of what was read."""

    def __init__(self, actual: str):
        super().__init__(f"the source's content hash is {actual}")
        self.actual = actual


KEPT_HASHES = 20_000  # content hashes a worker remembers (about 200 bytes each)

RANK = {extension: index for index, extension in enumerate(SOURCE_EXTENSIONS)}


def is_source_name(name: str) -> bool:
    stem, extension = os.path.splitext(name)
    return extension.lower() in RANK and bool(stem) and not stem.startswith(".")


def walk_sources(folder: Path | S3Url | Storage) -> dict[str, str]:
    """relative path -> identifier of every source file in `folder` and below: a folder,
    or a bucket's prefix (listed with ListObjectsV2, a page at a time; StorageUnavailable
    when it cannot be listed, which is not the same as empty)."""
    if isinstance(folder, Storage):
        return folder.walk(is_source_name)
    if isinstance(folder, S3Url):
        return location(folder).walk(is_source_name)
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


class SourceLookups(Protocol):
    """What the catalogue's index says of sources (image/lookups.py: the whole interface
    the image core asks the catalogue through)."""

    # False: there is no index; the catalog walks the images folder itself.
    indexed: bool
    # Where an identifier's files are may be kept this long for requests (0: ask each time).
    locate_seconds: float

    def source_files(self, identifier: str) -> list[str]:
        """The files (paths relative to the images folder) holding the identifier."""
        ...

    def stored_hash(self, source: Source) -> str | None:
        """The content hash the scan found for the file as it is now (same path, size and
        mtime), or None: no worker reads a whole object in a bucket to hash it."""
        ...


LISTING_SECONDS = 10.0  # without an index, a bucket's listing is kept this long
# Where the index says an identifier's files are, kept this long per worker for requests
# (a tile must not cost a database round trip; a policy is kept as long, service.py).
LOCATE_SECONDS = 2.0


class SourceCatalog:
    def __init__(self, images_dir: Path | S3Url, lookups: SourceLookups | None = None, *,
                 storage: Storage | None = None, scratch: Path | None = None):
        self.remote = isinstance(images_dir, S3Url)
        self.images_dir = images_dir if self.remote else Path(images_dir)
        # Where the images are: only for a bucket (a folder's hot path stays os.stat).
        self.storage: S3Storage | None = (storage or location(images_dir)) if self.remote else None
        self.scratch = Path(scratch) if scratch is not None else Path("var/scratch").absolute()
        # The catalogue's index: where an identifier's files are, and for objects in a
        # bucket the hash its scan stored. None (or one not indexed): walk the folder.
        self.lookups = lookups if lookups is not None and lookups.indexed else None
        # identifier -> (when, the file chosen among those the index named): decided once
        self._located: dict[str, tuple[float, Path | S3Url]] = {}
        self._lock = threading.Lock()
        self._listing: dict[str, Path] = {}
        self._listing_stamp: tuple[int, int] | None = None
        # path -> (size, mtime_ns, sha256): one entry per file, the latest seen.
        self._hashes: dict[str, tuple[int, int, str]] = {}

    def _folder_stamp(self) -> tuple[int, int] | None:
        if self.remote:  # no stamp of a whole bucket: its listing is kept a while
            return -1, int(time.monotonic() // LISTING_SECONDS)
        try:
            stat = os.stat(self.images_dir)
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_ino

    def _scan(self) -> dict[str, Path]:
        by_identifier: dict[str, list[str]] = {}
        for path, identifier in walk_sources(self.storage or self.images_dir).items():
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

    def find(self, identifier: str, kept: bool = False,
             at_hand: bool = False) -> Path | S3Url | None:
        """The file served for this identifier (DuplicateSource when two claim it). With
        `kept`, where the index said it was up to `locate_seconds` ago (found ones only: an
        image just added is never hidden by an earlier miss), and with `at_hand` too,
        NotAtHand when the index must be asked (the event loop asks no database)."""
        lookups = self.lookups
        if lookups is None:
            return self.listing().get(identifier)
        now = time.monotonic()
        kept = kept and lookups.locate_seconds > 0
        known = self._located.get(identifier) if kept else None
        if known is not None and now - known[0] < lookups.locate_seconds:
            return known[1]
        if at_hand and kept:
            raise NotAtHand(f"where {identifier!r} is must be asked of the catalogue")
        chosen = choose_source(identifier, lookups.source_files(identifier))
        if chosen is None:
            return None
        found = self.images_dir / chosen
        if kept:
            if len(self._located) > 10_000:
                self._located.clear()
            self._located[identifier] = (now, found)
        return found

    def lookup(self, identifier: str, at_hand: bool = False, kept: bool = False) -> Source | None:
        """The source served for this identifier, None when there is none, DuplicateSource
        when two folders hold one. An object's stat may be a few seconds old (with
        `at_hand`, NotAtHand when it would need a request; while the bucket is down, the
        last one known, else StorageUnavailable). With `kept`, where it is may be as the
        index said a moment ago (`find`): for requests; a scan asks afresh."""
        path = self.find(identifier, kept, at_hand)
        if path is None:
            return None
        source = self._source(identifier, path, at_hand)
        if source is None and kept and identifier in self._located:  # moved: ask again
            del self._located[identifier]
            path = self.find(identifier, kept, at_hand)
            source = None if path is None else self._source(identifier, path, at_hand)
        return source

    def _source(self, identifier: str, path: Path | S3Url, at_hand: bool) -> Source | None:
        """The file at `path` as it is now (None when it is gone)."""
        if self.remote:
            stat = self.storage.stat(self.storage.relative(path), STAT_SECONDS, at_hand,
                                     stale_ok=True)
            return None if stat is None else Source(identifier, path, stat.size, stat.mtime_ns)
        try:
            stat = path.stat()
        except OSError:  # removed since the listing was read
            return None
        return Source(identifier, path, stat.st_size, stat.st_mtime_ns)

    def remembered_hash(self, source: Source) -> str | None:
        """The content hash this worker computed for the file as it is, or None."""
        known = self._hashes.get(str(source.path))
        if known is None or known[:2] != (source.size, source.mtime_ns):
            return None
        return known[2]

    def known_content_hash(self, source: Source) -> str | None:
        """The content hash without reading the source: remembered, or for an object
        in a bucket what the catalogue knows (`stored_hash`); None when it must be read."""
        remembered = self.remembered_hash(source)
        if remembered is not None or not self.remote or self.lookups is None:
            return remembered
        known = self.lookups.stored_hash(source)
        if known is not None:  # of the object as it is now: the catalogue is not asked again
            self.remember(source, known)
        return known

    def content_hash(self, source: Source) -> str:
        """SHA-256 of the file, remembered while its size and mtime stay the same (an
        object's: read whole, as the catalogue's scan does once per new image)."""
        cached = self.remembered_hash(source)
        if cached is not None:
            return cached
        if self.remote:
            value = self.storage.sha256(self.storage.relative(source.path))
        else:
            digest = hashlib.sha256()
            with open(source.path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            value = digest.hexdigest()
        self.remember(source, value)
        return value

    def remember(self, source: Source, value: str) -> None:
        with self._lock:  # replaces the file's older hash (was a copy of all: quadratic)
            if len(self._hashes) >= KEPT_HASHES:  # the images in use, not the archive's
                del self._hashes[next(iter(self._hashes))]
            self._hashes[str(source.path)] = (source.size, source.mtime_ns, value)

    @contextmanager
    def local_copy(self, source: Source, expected: str | None = None) -> Iterator[Path]:
        """The source as a local file while a build reads it: the file itself, or an
        object read into the scratch folder (removed afterwards). ContentChanged when
        what was read does not have the `expected` hash."""
        if not self.remote:
            yield Path(source.path)
            return
        with scratch_file(self.scratch / "sources", source.path.name) as path:
            actual = self.storage.download(self.storage.relative(source.path), path)
            self.remember(source, actual)
            if expected is not None and actual != expected:
                raise ContentChanged(actual)
            yield path
