"""Pyramids, their stored tiles and rendered answers in a bucket (BEELDPOST_CACHE=s3://…).

Under the cache's prefix, as in a cache folder:

    pyramids/ab/{hash}-t256-q88-r1.tif   a pyramid: written once, never overwritten
    pyramids/ab/{hash}-t256-q88-r1.json  its sidecar, written before it
    pyramids/ab/{hash}-t256-q88-r1.lock  there while a server builds it
    responses/ab/{key}-2.bin             rendered answers, for every server

One build per source, whichever server is asked first. Workers of one server wait for
each other on an flock in the scratch folder; servers, on the lock object, which only
a conditional PUT (`If-None-Match: *`) creates. The holder builds in its scratch folder
(the source read there first when it is in a bucket too) and uploads the sidecar, then
the pyramid, again only if absent: an upload is never visible half-written, and two
never overwrite each other. The others poll for the pyramid (a HEAD each POLL_SECONDS).

No request waits long, for its own build or another's: a build runs on a thread of
its own, and a request waits for it at most BEELDPOST_BUILD_WAIT seconds (15, well
under a proxy's read timeout), then answers 503 with Retry-After while the build goes
on. The lock is a lease: its holder rewrites it every HEARTBEAT_SECONDS (2), so its
ETag changes; a lock whose ETag a waiter has seen unchanged for STALE_SECONDS (10, on
the waiter's own clock: no two machines' clocks are compared) was left by a builder
that died, and is taken over by a conditional PUT on that ETag (`If-Match`), so only
one server takes it. Each build counts in `beeldpost_derivative_builds_total{where=
"bucket"}` and names its builder (host:pid) in the pyramid's metadata.

Reading never downloads a pyramid. A worker reads a pyramid's tile indexes once, with
ranged reads of the IFDs (stored_tiles.tile_indexes over a RangeReader), and keeps them;
a request that is one stored tile is then one ranged GET of exactly that tile's bytes,
which the worker's BlockCache keeps. Renders open the level they need with libvips
through the same reader (storage.open_image), the blocks under their region fetched
side by side first; the tile renderer's few tiles come in one concurrent call.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import struct
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import pyvips

from .. import counters
from ..errors import BeeldpostError, Overloaded, StorageUnavailable
from ..settings import S3Url
from .derivatives import RECIPE_VERSION, DerivativeStore, LocalCopy, as_is
from .response_cache import FORMAT
from .sources import Source
from ..storage.places import BlockCache, NotAtHand, RangeReader, S3Storage, open_image, sweep_scratch
from .stored_edges import StoredEdges, read_edges
from .stored_tiles import TileIndex, UnsupportedTiff, splice, tile_indexes

log = logging.getLogger(__name__)


class BuildPending(Overloaded):
    """Another server is still building this pyramid: retry later (503)."""


class BucketDerivatives:
    """The pyramid store in a bucket; DerivativeStore's counterpart, same questions."""

    POLL_SECONDS = 0.25
    STALE_SECONDS = 10.0
    HEARTBEAT_SECONDS = 2.0

    def __init__(self, storage: S3Storage, scratch: Path, tile_size: int = 256,
                 quality: int = 90, max_source_pixels: int = 1_000_000_000,
                 local_copy: LocalCopy = as_is, build_wait: float = 15.0, retry_after: int = 5,
                 edge_quality: int | None = None):
        self.storage = storage
        self.scratch = Path(scratch)
        self.tile_size = tile_size
        self.quality = quality
        self.build_wait = build_wait
        self.retry_after = retry_after
        # Builds happen here, as in a cache folder, then go up.
        self.builder = DerivativeStore(self.scratch / "builds", tile_size, quality,
                                       max_source_pixels, local_copy, edge_quality)
        self._verified: set[S3Url] = set()
        self._paths: dict[str, S3Url] = {}
        self._builds: dict[S3Url, _Build] = {}  # running in this process, by pyramid
        self._builds_lock = threading.Lock()
        self.built_count = 0
        self.identity = f"{socket.gethostname()}:{os.getpid()}"
        sweep_scratch(self.scratch)

    def relative_for(self, content_hash: str) -> str:
        name = f"{content_hash}-t{self.tile_size}-q{self.quality}-r{RECIPE_VERSION}.tif"
        return f"pyramids/{content_hash[:2]}/{name}"

    def path_for(self, content_hash: str) -> S3Url:
        return self.storage.url(self.relative_for(content_hash))

    def is_verified(self, content_hash: str) -> S3Url | None:
        target = self._paths.get(content_hash)
        if target is None:
            target = self._paths[content_hash] = self.path_for(content_hash)
        return target if target in self._verified else None

    def is_intact(self, target: S3Url) -> bool:
        """Whether the pyramid is there (an object is whole or absent)."""
        return self.storage.stat(self.storage.relative(target)) is not None

    def ensure(self, source: Source, content_hash: str) -> S3Url:
        """The pyramid's URL, built first (once, by one server) if it is not there."""
        target = self.path_for(content_hash)
        if target in self._verified:
            return target
        relative = self.storage.relative(target)
        if self.storage.stat(relative) is not None:
            self._verified.add(target)
            counters.cache_lookup("derivative", hit=True)
            return target
        counters.cache_lookup("derivative", hit=False)
        with self._builds_lock:  # one build per pyramid in this process, on its own thread
            build = self._builds.get(target)
            if build is None:
                build = self._builds[target] = _Build()
                threading.Thread(target=self._build_in_background, name="beeldpost-build",
                                 args=(build, target, source, content_hash),
                                 daemon=True).start()
        if not build.done.wait(self.build_wait):
            raise self._pending(source)
        if build.error is not None:
            raise build.error
        self._verified.add(target)
        return target

    def _pending(self, source: Source) -> BuildPending:
        return BuildPending(
            f"the image {source.identifier!r} is still being prepared; try again in "
            f"{self.retry_after} s.", headers={"Retry-After": str(self.retry_after)})

    def _build_in_background(self, build: "_Build", target: S3Url, source: Source,
                             content_hash: str) -> None:
        """Build (or wait for the server that builds) the pyramid; its requests wait on
        `build.done` for at most build_wait, this goes on until it is there or failed."""
        relative = self.storage.relative(target)
        try:
            lock_path = self.scratch / "locks" / f"{target.stem}.lock"
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            with open(lock_path, "w") as lock:  # this server's workers: one asks the bucket
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    if self.storage.stat(relative) is None:
                        self._build_once(source, content_hash, relative)
                finally:
                    # Not kept (one file per pyramid would pile up): a worker that opened
                    # it before this and locks it next finds the pyramid there, or asks
                    # the bucket's lock, which alone decides who builds.
                    lock_path.unlink(missing_ok=True)
        except BaseException as error:  # noqa: BLE001 -- handed to the requests waiting
            build.error = error
            if not isinstance(error, BeeldpostError):
                log.exception("building %s failed", relative)
        finally:
            with self._builds_lock:
                self._builds.pop(target, None)
            build.done.set()

    def discard(self, target: S3Url) -> None:
        """Forget a pyramid found unreadable and remove it, so that it is built again."""
        self._verified.discard(target)
        relative = self.storage.relative(target)
        for name in (relative, relative[:-4] + ".json"):
            self.storage.delete(name)

    # ------------------------------------------------------------------ building

    def _lock_body(self) -> bytes:
        return json.dumps({"builder": self.identity, "since": time.time()}).encode()

    def _build_once(self, source: Source, content_hash: str, relative: str) -> None:
        """Take the bucket's lock and build, or wait while its holder is alive (its ETag
        changes at every heartbeat) until the pyramid is there, taking over a lock seen
        unchanged for STALE_SECONDS."""
        lock_key = relative[:-4] + ".lock"
        seen: tuple[str, float] | None = None  # (the lock's ETag, since when, monotonic)
        while True:
            held = self.storage.put(lock_key, self._lock_body(), if_absent=True)
            if held is not None:
                if self.storage.stat(relative) is not None:  # the last holder just built it
                    self._release(lock_key, held)
                    return
                self._build_holding(source, content_hash, relative, lock_key, held)
                return
            if self.storage.stat(relative) is not None:
                return  # built by the lock's holder meanwhile
            lock = self.storage.stat(lock_key)
            if lock is None:
                continue  # released (built, or failed) just now: ask again
            now = time.monotonic()
            if seen is None or seen[0] != lock.etag:
                seen = (lock.etag, now)  # its holder is alive: it wrote the lock since
            elif now - seen[1] > self.STALE_SECONDS:
                held = self.storage.put(lock_key, self._lock_body(), if_match=lock.etag)
                if held is not None:
                    log.warning("taking over the build of %s: its lock was untouched for "
                                "%.0f s (its builder is gone)", relative, now - seen[1])
                    self._build_holding(source, content_hash, relative, lock_key, held)
                    return
                seen = None
                continue
            time.sleep(self.POLL_SECONDS)

    def _build_holding(self, source: Source, content_hash: str, relative: str, lock_key: str,
                       held: str) -> None:
        current = [held]
        stop = threading.Event()

        def heartbeat() -> None:
            while not stop.wait(self.HEARTBEAT_SECONDS):
                try:
                    refreshed = self.storage.put(lock_key, self._lock_body(), if_match=current[0])
                except StorageUnavailable:
                    continue
                if refreshed is None:
                    log.warning("lost the build lock of %s", relative)
                    return
                current[0] = refreshed

        beating = threading.Thread(target=heartbeat, name="beeldpost-build-lock", daemon=True)
        beating.start()
        # Named by this process: what a builder killed mid-build leaves is swept away
        # when the server starts again (sweep_scratch).
        made = self.builder.path_for(content_hash)
        work = self.scratch / "builds" / f"{os.getpid()}-{made.name}"
        try:
            work.parent.mkdir(parents=True, exist_ok=True)
            self.builder._build(source, work, content_hash)  # noqa: SLF001 -- same recipe
            self.built_count += 1
            counters.derivative_built("bucket")
            self.storage.put(relative[:-4] + ".json", DerivativeStore.sidecar(work))
            # Last, and only if absent: the pyramid's presence says it is whole.
            written = self.storage.put(relative, work, if_absent=True,
                                       attributes={"Content-Type": "image/tiff",
                                                   "builder": self.identity})
            if written is None:
                log.warning("%s was uploaded by another server first; theirs stands", relative)
            else:
                log.info("uploaded derivative %s (%d bytes)", relative, work.stat().st_size)
        finally:
            stop.set()
            beating.join()
            for path in (work, DerivativeStore.sidecar(work)):
                path.unlink(missing_ok=True)
            self._release(lock_key, current[0])

    def _release(self, lock_key: str, held: str) -> None:
        """Remove the lock if it is still ours (not taken over as stale meanwhile)."""
        try:
            lock = self.storage.stat(lock_key)
            if lock is not None and lock.etag == held.strip('"'):
                self.storage.delete(lock_key)
        except StorageUnavailable:
            pass  # it goes stale and is taken over


class _Build:
    """A build running in this process: its requests wait for `done`."""

    __slots__ = ("done", "error")

    def __init__(self):
        self.done = threading.Event()
        self.error: BaseException | None = None


# ---------------------------------------------------------------------- reading


@dataclass
class _Opened:
    reader: RangeReader
    indexes: list[TileIndex] | None  # None: not splicable, always rendered
    edges: StoredEdges | None = None  # the edge tiles cut when it was built, if any


class BucketTiles:
    """Per worker: the tile indexes of pyramids in the bucket (read once, kept) and their
    stored tiles, each one ranged GET of its bytes (kept in the block cache).
    StoredTiles' counterpart, same questions."""

    KEPT = 1024  # pyramids whose indexes a worker keeps (a few KB each)

    def __init__(self, storage: S3Storage, cache: BlockCache, capacity: int = KEPT):
        self.storage = storage
        self.cache = cache
        self.capacity = capacity
        self._entries: OrderedDict[str, _Opened] = OrderedDict()
        self._lock = threading.Lock()

    def opened(self, path: S3Url, at_hand: bool = False) -> _Opened:
        key = str(path)
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                return found
        if at_hand:
            raise NotAtHand(f"the tile index of {path.name} must be read")
        relative = self.storage.relative(path)
        # Pyramids never change under their name: the stat from ensure() holds.
        stat = self.storage.stat(relative, max_age=float("inf"))
        if stat is None:
            raise FileNotFoundError(f"{path} is gone")
        reader = RangeReader(self.storage, relative, stat.size, self.cache, tag=key)

        def data_at(offset: int, length: int) -> bytes:
            data = reader.read(offset, length)
            if len(data) != length:
                raise UnsupportedTiff("truncated")
            return data

        try:
            indexes = tile_indexes(data_at, stat.size)
        except (UnsupportedTiff, struct.error) as error:
            log.info("%s: stored tiles not usable (%s); rendered instead", path.name, error)
            indexes = None
        try:
            edges = read_edges(data_at, stat.size) if indexes is not None else None
        except (UnsupportedTiff, struct.error):
            edges = None
        entry = _Opened(reader, indexes, edges)
        with self._lock:
            self._entries[key] = entry
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return entry

    def forget(self, path: S3Url) -> None:
        with self._lock:
            self._entries.pop(str(path), None)
        self.cache.forget(str(path))

    def _tile(self, entry: _Opened, level: int, column: int, row: int):
        if entry.indexes is None or level >= len(entry.indexes):
            return None
        index = entry.indexes[level]
        position = row * index.columns + column
        if not 0 <= position < len(index.offsets):
            return None
        return index, index.offsets[position], index.byte_counts[position]

    def jpeg(self, path: S3Url, level: int, column: int, row: int,
             at_hand: bool = False) -> bytes | None:
        """The stored tile as a standalone JPEG (one ranged GET, unless kept), or None
        when it cannot be spliced. With `at_hand`, NotAtHand rather than a request."""
        entry = self.opened(path, at_hand)
        found = self._tile(entry, level, column, row)
        if found is None:
            return None
        index, offset, count = found
        data = self._bytes(entry, offset, count, at_hand)
        if len(data) != count or not data.startswith(b"\xff\xd8"):
            return None
        return splice(index, data)

    def edge(self, path: S3Url, level: int, column: int, row: int, quality: int,
             at_hand: bool = False) -> bytes | None:
        """The edge tile cut when the pyramid was built (a JPEG at `quality`; one ranged
        GET, unless kept), or None when it has none such: it is rendered then."""
        entry = self.opened(path, at_hand)
        place = entry.edges.place(level, column, row, quality) if entry.edges else None
        if place is None:
            return None
        offset, length = place
        data = self._bytes(entry, offset, length, at_hand)
        return data if len(data) == length and data.startswith(b"\xff\xd8") else None

    def _bytes(self, entry: _Opened, offset: int, count: int, at_hand: bool) -> bytes:
        """`count` bytes of the pyramid from `offset`, kept in the block cache."""
        key = (entry.reader.tag, "tile", offset)
        data = self.cache.get(key)
        if data is None:
            if at_hand:  # the event loop may fetch it itself, then ask again
                async def fetch() -> None:
                    self.cache.put(key, await self.storage.read_async(
                        entry.reader.relative, offset, count))

                raise NotAtHand("a stored tile must be read from the bucket", fetch)
            data = self.storage.read(entry.reader.relative, offset, count)
            self.cache.put(key, data)
        return data

    def prefetch(self, path: S3Url, level: int, columns: range, rows: range) -> None:
        """The stored tiles under a few columns and rows, fetched side by side (tiles
        that follow each other in the file in one GET), so that jpeg() finds them."""
        entry = self.opened(path)
        wanted = []
        for row in rows:
            for column in columns:
                found = self._tile(entry, level, column, row)
                if found is not None and self.cache.get((entry.reader.tag, "tile", found[1])) is None:
                    wanted.append(found[1:])
        wanted.sort()
        runs: list[list[tuple[int, int]]] = []
        for offset, count in wanted:
            if runs and runs[-1][-1][0] + runs[-1][-1][1] == offset:
                runs[-1].append((offset, count))
            else:
                runs.append([(offset, count)])
        ranges = [(run[0][0], run[-1][0] + run[-1][1] - run[0][0]) for run in runs]
        for run, data in zip(runs, self.storage.read_ranges(entry.reader.relative, ranges)):
            start = run[0][0]
            for offset, count in run:
                self.cache.put((entry.reader.tag, "tile", offset),
                               data[offset - start:offset - start + count])

    def prefetch_region(self, path: S3Url, level: int, box: tuple[int, int, int, int]) -> None:
        """The blocks libvips will read for the region `box` of a level, side by side."""
        entry = self.opened(path)
        if entry.indexes is None or level >= len(entry.indexes):
            return
        index = entry.indexes[level]
        left, top, width, height = box
        ranges = []
        for row in range(top // index.tile_height, (top + height - 1) // index.tile_height + 1):
            for column in range(left // index.tile_width, (left + width - 1) // index.tile_width + 1):
                found = self._tile(entry, level, column, row)
                if found is not None:
                    ranges.append(found[1:])
        entry.reader.prefetch(ranges)


class BucketLevels:
    """OpenedLevels' opener for pyramids in a bucket: sizes from the tile indexes (no
    libvips open), a level opened by libvips through ranged reads when a render needs it."""

    def __init__(self, tiles: BucketTiles):
        self.tiles = tiles

    def levels(self, path: S3Url) -> tuple[tuple[int, int], ...]:
        entry = self.tiles.opened(path)
        if entry.indexes:
            return tuple((index.width, index.height) for index in entry.indexes)
        first = open_image(entry.reader, access="random")
        pages = first.get("n-pages") if "n-pages" in first.get_fields() else 1
        sizes = [(first.width, first.height)]
        for page in range(1, pages):
            level = open_image(entry.reader, page=page, access="random")
            sizes.append((level.width, level.height))
        return tuple(sizes)

    def open(self, path: S3Url, page: int) -> pyvips.Image:
        return open_image(self.tiles.opened(path).reader, page=page, access="random")


class BucketResponses:
    """Rendered answers kept in the bucket for every server: asked after the local
    response cache misses, written beside it. Best effort both ways: an unreachable
    bucket costs the cache, never the answer. Its size is bounded by the bucket's own
    lifecycle rule on `responses/` (no server lists the bucket to trim it)."""

    MAX_BYTES = 16 * 1024 * 1024

    def __init__(self, storage: S3Storage, max_entry_bytes: int = MAX_BYTES):
        self.storage = storage
        self.max_entry_bytes = min(max_entry_bytes, self.MAX_BYTES)

    @staticmethod
    def _relative(key: str) -> str:
        return f"responses/{key[:2]}/{key}-{FORMAT}.bin"

    def get(self, key: str) -> bytes | None:
        try:
            return self.storage.get(self._relative(key)) or None
        except StorageUnavailable:
            return None

    def put(self, key: str, data: bytes | Path) -> None:
        """Keep an answer: its bytes, or the file it was kept in locally."""
        try:
            size = data.stat().st_size if isinstance(data, Path) else len(data)
            if not size or size > self.max_entry_bytes:
                return
            self.storage.put(self._relative(key), data)
        except (StorageUnavailable, OSError):  # a kept file trimmed meanwhile: no matter
            pass
