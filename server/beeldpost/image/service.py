"""The protocol-neutral image core: identifier → source → pyramid → rendered bytes.

The HTTP layers for 3.0 and 2.1 only translate URLs into ImageRequests and
results into responses; everything they share lives here.

Sources and the cache may each be a folder or a bucket (storage/places.py): with the cache in
a bucket, pyramids, stored tiles and a shared tier of the response cache come from
bucket.py, and what must stay local (the on-disk response cache, admission slots, build
locks) lives in the scratch folder.
"""

from __future__ import annotations

import logging
import math
import time
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Callable

import pyvips

from .. import counters
from ..errors import NotFound, NotPublic, Overloaded, SourceError, StorageUnavailable
from ..etags import strong_etag
from ..settings import S3Url, Settings
from .admission import Admission, RenderSlots, memory_for, renders_for, slots_for
from .bucket import BucketDerivatives, BucketLevels, BucketResponses, BucketTiles
from .heap import TRIM_PIXELS, Heap, return_freed_memory
from .derivatives import RECIPE_VERSION, DerivativeStore, OpenedLevels
from .pyramid import Pyramid
from .lookups import CatalogueLookups, NoCatalogue
from .operations import Limits, Operations, resolve
from .parameters import ImageRequest
from .plan import FROM_TILES, LIBVIPS, STORED_EDGE, STORED_TILE, Plan
from .processor import (
    RENDERING_VERSION,
    RenderTimeout,
    choose_level,
    crop_box,
    edge_tile,
    render,
    render_cost,
    render_memory,
    stored_tile,
)
from .resolved import ImagePolicy, ResolvedImage, View, public_size
from .response_cache import KeptFile, ResponseCache, Spool
from .sources import ContentChanged, Source, SourceCatalog
from ..storage.places import BlockCache, S3Storage, Storage, location
from ..storage.places import NotAtHand  # the HTTP layers import it from here
from .stored_tiles import StoredTiles
from .tile_renderer import can_render, render_from_tiles

log = logging.getLogger(__name__)


def _tighter(configured: int | None, own: int | None) -> int | None:
    values = [value for value in (configured, own) if value is not None]
    return min(values) if values else None


AT_HAND_BYTES = 512 * 1024  # kept answers up to this size are read on an event loop
# Renders up to this cost (pixels decoded and produced) are done on an event loop: an edge
# tile (one stored tile decoded, a part of it encoded) takes about as much CPU as handing
# it to a thread and back.
LOOP_RENDER_PIXELS = 2 * 256 * 256
# Renderers that cut a few stored tiles with Pillow: an edge tile the pyramid does not
# keep cut (built before it did) is re-cut from its stored tile.
RE_CUT = (FROM_TILES, STORED_EDGE)
MAX_KEPT_BYTES = 64 * 1024 * 1024  # larger answers are not kept in the response cache
# Renders above this cost (pixels decoded and produced: more than a few stored tiles, a
# millisecond of CPU or more) run at most BEELDPOST_RENDERS_PER_WORKER at once in a worker,
# the others waiting for one to end: more at once than there are cores only share them,
# and their pixels push each other out of the processor's caches. On 2 cores with 2
# workers, one each instead of up to the worker's 24 threads: 1000 px derivatives 93–95 →
# 110–116 answers/s, 1024² crops 143–144 → 172 (CPU per answer 20.9–21.3 → 16.9–17.7 ms
# and 12.8–13.0 → 11.4–11.5; the README has what it costs under an overload). Cheaper
# ones, edge tiles and thumbnails, never wait behind them.
SLOTTED_RENDER_PIXELS = 4 * 256 * 256

# Where an image answer's bytes came from (the X-Beeldpost-Cache header says it),
# besides a stored tile (plan.STORED_TILE).
CACHE_HIT, CACHE_MISS, CACHE_OFF = "hit", "miss", "off"


def public_detail(image: ResolvedImage, ops: Operations) -> tuple[int, int] | None:
    """The most pixels an answer may take from the full scan before it is resized to
    its output: for an upscale of a capped image's public face, the region's own size
    on that face (so `^` shows the cap's pixels enlarged, never the scan's); else None."""
    if image.view is not View.PUBLIC or not image.is_capped:
        return None
    if ops.width <= ops.region_width and ops.height <= ops.region_height:
        return None
    return min(ops.width, ops.region_width), min(ops.height, ops.region_height)


class ImageService:
    def __init__(self, settings: Settings, lookups: CatalogueLookups | None = None):
        """`lookups`: what the catalogue says of images (where their files are, their
        rights, caps and limits), as the app factory makes it; none: the images folder
        on its own (lookups.NoCatalogue)."""
        self.settings = settings
        self.lookups: CatalogueLookups = lookups if lookups is not None else NoCatalogue()
        local = settings.local_cache_dir
        self.sources: Storage = location(settings.images_dir, settings.storage_timeout,
                                         settings.retry_after)
        self.catalog = SourceCatalog(
            settings.images_dir, self.lookups,
            storage=self.sources if self.sources.remote else None, scratch=settings.scratch_dir)
        # The bucket holding the cache, or None for a cache folder.
        self.cache_storage: S3Storage | None = None
        self.shared_responses: BucketResponses | None = None
        if isinstance(settings.cache_dir, S3Url):
            self.cache_storage = location(settings.cache_dir, settings.storage_timeout,
                                          settings.retry_after)
            self.derivatives = BucketDerivatives(
                self.cache_storage, settings.scratch_dir, settings.tile_size,
                settings.derivative_quality, settings.max_source_pixels,
                self.catalog.local_copy, settings.build_wait, settings.retry_after,
                edge_quality=settings.jpeg_quality)
            self.block_cache = BlockCache(settings.storage_cache_mb * 1024 * 1024)
            self.stored_tiles = BucketTiles(self.cache_storage, self.block_cache)
            self.opened = OpenedLevels(settings.open_images, BucketLevels(self.stored_tiles))
        else:
            self.derivatives = DerivativeStore(
                settings.cache_dir, settings.tile_size, settings.derivative_quality,
                settings.max_source_pixels, self.catalog.local_copy,
                edge_quality=settings.jpeg_quality,
            )
            self.opened = OpenedLevels(settings.open_images)
            self.stored_tiles = StoredTiles(settings.open_images)
        # When a large render hands its freed memory back (heap.py).
        self.heap = Heap(settings.keep_freed_mb * 1024 * 1024)
        # Heavy renders, all workers together: as many as fit in the memory budget and
        # the slots (both worked out for the machine unless set); a queued one waits as
        # BEELDPOST_RENDER_WAIT allows, and half its time budget at most.
        self.admission = Admission(
            slots_for(settings.heavy_slots), settings.heavy_queue, settings.render_wait,
            settings.retry_after, local / "admission", memory_for(settings.render_memory),
            longest_wait=settings.render_timeout / 2)
        # Renders of more than a few tiles, this worker's at once (SLOTTED_RENDER_PIXELS).
        self.render_slots = RenderSlots(renders_for(settings.renders_per_worker))
        # Heavy answers are written to a file as they are encoded: into the response
        # cache's folder when it keeps them, else here, nameless.
        self.spool_dir = local / "spool"
        caching = settings.response_cache and settings.response_cache_mb > 0
        self.response_cache = (
            ResponseCache(local / "responses",
                          settings.response_cache_mb * 1024 * 1024, MAX_KEPT_BYTES)
            if caching else None)
        if caching and self.cache_storage is not None:
            self.shared_responses = BucketResponses(self.cache_storage)
        # Policies come from the records; reading them on every tile would cost more
        # than the tile, so each is kept for a moment (edits show within POLICY_SECONDS).
        self._policies: dict[tuple[str, str], tuple[float, object]] = {}
        self._publics: dict[tuple, tuple[int, int, Limits]] = {}

    @property
    def limits(self) -> Limits:
        s = self.settings
        return Limits(s.max_width, s.max_height, s.max_area)

    POLICY_SECONDS = 2.0

    def _remembered(self, kind: str, identifier: str, read: Callable[[str], object],
                    at_hand: bool = False):
        now = time.monotonic()
        key = (kind, identifier)
        cached = self._policies.get(key)
        if cached is not None and now - cached[0] < self.POLICY_SECONDS:
            return cached[1]
        if at_hand:
            raise NotAtHand(f"{kind} of {identifier!r} must be read")
        value = read(identifier)
        if len(self._policies) > 10_000:
            self._policies.clear()
        self._policies[key] = (now, value)
        return value

    def policy(self, identifier: str, at_hand: bool = False) -> ImagePolicy:
        return self._remembered("policy", identifier, self.lookups.policy, at_hand)

    def rights(self, identifier: str, at_hand: bool = False) -> str | None:
        """The rights URI the records give this image (for info.json), or None."""
        return self._remembered("rights", identifier, self.lookups.rights, at_hand)

    def _public(self, pyramid: Pyramid, policy: ImagePolicy) -> tuple[int, int, Limits]:
        return self.public(pyramid.width, pyramid.height, policy)

    def public(self, full_width: int, full_height: int,
               policy: ImagePolicy) -> tuple[int, int, Limits]:
        """The size and limits the public service gives an image of this full size
        under this policy (what lists need, without opening the image)."""
        # Asked on every request, the same few answers: kept (settings never change).
        key = (full_width, full_height, policy)
        found = self._publics.get(key)
        if found is None:
            if len(self._publics) > 10_000:
                self._publics.clear()
            found = self._publics[key] = self._public_uncached(full_width, full_height, policy)
        return found

    def _public_uncached(self, full_width: int, full_height: int,
                         policy: ImagePolicy) -> tuple[int, int, Limits]:
        width, height = public_size(full_width, full_height, policy.max_size)
        capped = (width, height) != (full_width, full_height)
        limits = Limits(
            # A capped image may not be upscaled past its cap either (`^max`, `^w,`).
            _tighter(_tighter(self.settings.max_width, policy.max_width), width if capped else None),
            _tighter(_tighter(self.settings.max_height, policy.max_height), height if capped else None),
            _tighter(self.settings.max_area, policy.max_area),
        )
        return width, height, limits

    def source(self, identifier: str, at_hand: bool = False) -> Source:
        """The source file an identifier names (NotFound when none): nothing opened or built."""
        source = self.catalog.lookup(identifier, at_hand, kept=True)
        if source is None:
            raise NotFound(f"no image with identifier {identifier!r}.")
        return source

    def resolve(self, identifier: str, at_hand: bool = False, *,
                checking: bool = False, view: View = View.PUBLIC) -> ResolvedImage:
        """The image behind an identifier, as `view` sees it: its public face (the
        scan up to its records' cap), or the full scan. With `at_hand`, only from what
        this worker holds already (NotAtHand otherwise): a few dictionary lookups and
        one stat. The public view of an image its records withhold from the public is
        NotPublic, before anything of it is opened, read from a cache or rendered;
        except when `checking` a record against its image (people's regions, a
        manifest's sizes), never for an answer."""
        source = self.source(identifier, at_hand)
        if at_hand:
            return self._resolve_at_hand(identifier, source, view)
        if view is View.FULL:
            policy = None
        else:
            policy = self.policy(identifier) if checking else self._public_policy(identifier)
        try:
            content_hash = (self.catalog.known_content_hash(source)
                            or self.catalog.content_hash(source))
        except OSError:
            raise NotFound(f"no image with identifier {identifier!r}.") from None
        try:
            path = self.derivatives.ensure(source, content_hash)
        except ContentChanged as changed:  # replaced since the catalogue hashed it
            content_hash = changed.actual
            path = self.derivatives.ensure(source, content_hash)
        try:
            pyramid = self.opened.pyramid(path)
        except (pyvips.Error, FileNotFoundError):
            # Damaged in a way its size does not show (or, in a bucket, removed since):
            # rebuild once, then give up.
            log.warning("derivative of %r unreadable; rebuilding", identifier)
            self.forget(path)
            path = self.derivatives.ensure(source, content_hash)
            try:
                pyramid = self.opened.pyramid(path)
            except (pyvips.Error, FileNotFoundError) as error:
                raise SourceError(f"the image {identifier!r} cannot be read: "
                                  f"{str(error).strip().splitlines()[0]}") from None
        width, height, limits = self._described(pyramid, policy)
        return ResolvedImage(source, content_hash, pyramid, width, height, limits, view)

    def _described(self, pyramid: Pyramid,
                   policy: ImagePolicy | None) -> tuple[int, int, Limits]:
        """The size and limits of the image a view describes (None: the full scan)."""
        if policy is None:
            return pyramid.width, pyramid.height, self.limits
        return self._public(pyramid, policy)

    def shows_no_more(self, image: ResolvedImage, ops: Operations,
                      policy: ImagePolicy) -> bool:
        """Whether these operations on the full version show no more detail than the
        public face does (a viewer's tiles at the scales the cap allows): what the
        full version's URLs give whoever may not see the full scan."""
        if not policy.public:
            return False
        width, height, limits = self.public(image.full_width, image.full_height, policy)
        if (width, height) == (image.full_width, image.full_height):
            return limits.fits(ops.width, ops.height)
        # Scale the region to the public face's pixels: the answer may have no more.
        most_wide = math.ceil(ops.region_width * width / image.full_width) + 1
        most_high = math.ceil(ops.region_height * height / image.full_height) + 1
        return ops.width <= most_wide and ops.height <= most_high and limits.fits(
            ops.width, ops.height)

    def _public_policy(self, identifier: str, at_hand: bool = False) -> ImagePolicy:
        policy = self.policy(identifier, at_hand)
        if not policy.public:
            raise NotPublic(f"the image {identifier!r} is not public: its record allows it "
                            "only to signed-in staff (or the reading room, or after "
                            "accepting its terms); its description is public in its manifest.")
        return policy

    def _resolve_at_hand(self, identifier: str, source: Source, view: View) -> ResolvedImage:
        policy = None if view is View.FULL else self._public_policy(identifier, at_hand=True)
        content_hash = self.catalog.known_content_hash(source)
        path = content_hash and self.derivatives.is_verified(content_hash)
        pyramid = path and self.opened.opened_pyramid(path)
        if not pyramid:
            raise NotAtHand(f"image {identifier!r} is not open in this worker")
        width, height, limits = self._described(pyramid, policy)
        return ResolvedImage(source, content_hash, pyramid, width, height, limits, view)

    def storage_problems(self) -> dict[str, str | None]:
        """What is wrong with the buckets in use, by role ('images', 'cache'), for /ready
        (a check kept about a second: storage.READY_SECONDS)."""
        found = {}
        if self.sources.remote:
            found["images"] = self.sources.check()
        if self.cache_storage is not None:
            found["cache"] = self.cache_storage.check()
        return found

    def _storage_failed_since(self, started: float) -> bool:
        return self.cache_storage is not None and self.cache_storage.failed_at >= started

    def forget(self, derivative: Path) -> None:
        """Drop every handle on a damaged derivative and the file itself."""
        self.opened.forget(derivative)
        self.stored_tiles.forget(derivative)
        self.derivatives.discard(derivative)

    def operations(self, image: ResolvedImage, request: ImageRequest) -> Operations:
        """Operations in the coordinates of the image as the public service describes it."""
        return resolve(request, image.width, image.height, image.limits)

    @staticmethod
    def in_source(image: ResolvedImage, ops: Operations) -> Operations:
        """The same operations on the full-resolution pyramid (differs for capped images)."""
        if not image.is_capped:
            return ops
        scale_x = image.full_width / image.width
        scale_y = image.full_height / image.height
        left = min(image.full_width - 1, round(ops.x * scale_x))
        top = min(image.full_height - 1, round(ops.y * scale_y))
        right = min(image.full_width, max(left + 1, round((ops.x + ops.region_width) * scale_x)))
        bottom = min(image.full_height, max(top + 1, round((ops.y + ops.region_height) * scale_y)))
        return replace(ops, image_width=image.full_width, image_height=image.full_height,
                       x=left, y=top, region_width=right - left, region_height=bottom - top)

    def etag(self, image: ResolvedImage, canonical: str) -> str:
        """The answer's entity tag, which is also its key in the response caches: the
        full version's answers are kept apart from the public face's, whatever sizes."""
        return strong_etag(image.content_hash, canonical, f"{image.width}x{image.height}",
                           str(RECIPE_VERSION), str(RENDERING_VERSION),
                           str(self.settings.jpeg_quality), str(self.settings.derivative_quality),
                           *(() if image.view is View.PUBLIC else (image.view.value,)))

    def plan(self, image: ResolvedImage, ops: Operations, canonical: str) -> Plan:
        """Everything about the answer, decided before any pixel is read (plan.py)."""
        tile_size = self.settings.tile_size
        source_ops = self.in_source(image, ops)
        key = self.etag(image, canonical)
        detail = public_detail(image, ops)
        if detail is not None:  # an upscale of a capped public face: its own pixels only,
            # read from the level of its size on the public face, then enlarged (a key of
            # its own: answers rendered before this rule are never served)
            key = strong_etag(key, "detail")
            level = choose_level(image.pyramid, replace(source_ops, width=detail[0],
                                                        height=detail[1]))
            box = crop_box(image.pyramid.levels[level], level, source_ops)
            cost = render_cost(box, source_ops)
            return Plan(image, ops, canonical, key, source_ops, level, box, None, LIBVIPS,
                        cost, cost > self.settings.heavy_pixels,
                        memory=render_memory(box, source_ops, tile_size))
        level = choose_level(image.pyramid, source_ops)
        tile = stored_tile(image.pyramid, source_ops, level, tile_size)
        if tile is not None:  # most of a viewer's requests: the rest follows from the tile
            _, column, row = tile
            box = (column * tile_size, row * tile_size, tile_size, tile_size)
            return Plan(image, ops, canonical, key, source_ops, level, box, tile, STORED_TILE,
                        render_cost(box, source_ops), False)
        box = crop_box(image.pyramid.levels[level], level, source_ops)
        cost = render_cost(box, source_ops)
        edge = edge_tile(image.pyramid, source_ops, level, box, tile_size)
        if edge is not None:  # a viewer's edge tile: kept cut, else re-cut from its tile
            return Plan(image, ops, canonical, key, source_ops, level, box, edge, STORED_EDGE,
                        cost, False)
        heavy = cost > self.settings.heavy_pixels
        renderer = FROM_TILES if not heavy and can_render(source_ops, box, tile_size) else LIBVIPS
        return Plan(image, ops, canonical, key, source_ops, level, box, None, renderer, cost, heavy,
                    memory=render_memory(box, source_ops, tile_size) if heavy else 0)

    def answer(self, plan: Plan, at_hand: bool = False) -> tuple[bytes | KeptFile, str]:
        """The answer's bytes and where they came from (X-Beeldpost-Cache): a stored
        tile, the response cache (a large answer comes as a KeptFile to stream) or a
        render, which is then kept.

        With `at_hand`, NotAtHand instead of a render; the plan remembers the cache's
        miss, so the try that follows on a thread goes straight to the render.
        """
        if plan.renderer == STORED_TILE:
            spliced = self.stored_tiles.jpeg(plan.image.pyramid.path, *plan.tile, at_hand)
            counters.cache_lookup("stored_tile", hit=spliced is not None)
            if spliced is not None:
                return spliced, STORED_TILE
        elif plan.renderer == STORED_EDGE:
            cut = self.stored_tiles.edge(plan.image.pyramid.path, *plan.tile,
                                         self.settings.jpeg_quality, at_hand)
            counters.cache_lookup("stored_edge", hit=cut is not None)
            if cut is not None:
                return cut, STORED_TILE
        cache = self.response_cache
        if cache is not None and not plan.cache_missed:
            kept = cache.get(plan.key, AT_HAND_BYTES if at_hand else None)
            if kept is not None:
                counters.cache_lookup("response", hit=True)
                return kept, CACHE_HIT
            plan.cache_missed = True
        if at_hand and not self._renders_at_hand(plan):
            raise NotAtHand("a render")
        shared = self.shared_responses
        if shared is not None:  # rendered by this or another server before?
            kept = shared.get(plan.key)
            counters.cache_lookup("shared_response", hit=kept is not None)
            if kept is not None:
                cache.put(plan.key, kept)
                return kept, CACHE_HIT
        if plan.heavy:
            spooled = self._spooled(plan)
            if spooled is not None:
                return spooled, (CACHE_OFF if cache is None else CACHE_MISS)
        body = self._rendered(plan, into=None, on_loop=at_hand)
        if cache is None:
            return body, CACHE_OFF
        counters.cache_lookup("response", hit=False)
        cache.put(plan.key, body)
        if shared is not None:
            shared.put(plan.key, body)
        return body, CACHE_MISS

    def _renders_at_hand(self, plan: Plan) -> bool:
        """Whether a render is as cheap as the hand-off to a thread would be: one stored
        tile or so, re-cut (a deep-zoom level's edge tiles), from local files, kept in a
        local response cache if any. The event loop then does it itself."""
        return (plan.renderer in RE_CUT and plan.cost <= LOOP_RENDER_PIXELS
                and self.cache_storage is None and self.shared_responses is None)

    def _spooled(self, plan: Plan) -> KeptFile | None:
        """A heavy answer, written to a file as libvips encodes it and read back from
        there a chunk at a time: a 24 MP download is never whole in memory. Kept in the
        response cache by renaming that file into place (and in the bucket from there).
        None where no file could be written (a full or unwritable disk): then it is
        rendered in memory, as before, since a disk costs the cache, never the answer."""
        cache = self.response_cache
        try:
            spool = (cache.spool(plan.key) if cache is not None
                     else Spool(self.spool_dir, named=False))
        except OSError as error:
            log.warning("cannot write a large render to disk (%s); rendering it in memory", error)
            return None
        try:
            self._rendered(plan, spool.descriptor)
        except SourceError:  # the pyramid, or the file written to: the latter is tried once
            log.warning("a large render of %r failed on its way to disk; rendering it in memory",
                        plan.image.source.identifier)
            spool.discard()
            return None
        except BaseException:
            spool.discard()
            raise
        if cache is not None:
            counters.cache_lookup("response", hit=False)
            kept = cache.keep(plan.key, spool)
            if kept is not None and self.shared_responses is not None:
                self.shared_responses.put(plan.key, kept)
        return spool.answer()

    def render(self, plan: Plan) -> bytes:
        """The answer rendered now, as planned, in memory (no response cache)."""
        return self._rendered(plan, into=None)

    def _rendered(self, plan: Plan, into: int | None, on_loop: bool = False) -> bytes:
        """The answer rendered now: its bytes, or b"" once written to `into` (heavy only).
        `on_loop`: on an event loop, which never waits for a render slot (only a render as
        cheap as a hand-off to a thread gets there: _renders_at_hand)."""
        if not plan.heavy:
            slot = (self.render_slots if plan.cost > SLOTTED_RENDER_PIXELS and not on_loop
                    else nullcontext())
            with slot:
                try:
                    return self._counted_render(plan, deadline=None)
                finally:
                    if plan.cost >= TRIM_PIXELS:
                        self.heap.settle()
        # The time limit runs from arrival: waiting for admission counts, so a client hears
        # back within render_timeout seconds (plus the last chunk's encode) either way.
        deadline = time.monotonic() + self.settings.render_timeout
        try:
            with self.admission.heavy(plan.memory):
                try:
                    return self._counted_render(plan, deadline, into)
                finally:
                    return_freed_memory()
        except Overloaded:
            counters.rejected("heavy")
            raise

    def _counted_render(self, plan: Plan, deadline: float | None, into: int | None = None) -> bytes:
        counters.RENDERS_IN_FLIGHT.inc()
        self.heap.started()
        try:
            if plan.renderer in RE_CUT:
                small = self._render_from_tiles(plan)
                if small is not None:
                    return small
            return self._render(plan, deadline, into)
        finally:
            self.heap.finished()
            counters.RENDERS_IN_FLIGHT.dec()

    def _render_from_tiles(self, plan: Plan) -> bytes | None:
        started = time.monotonic()
        try:
            return render_from_tiles(self.stored_tiles, plan.image.pyramid, plan.source_ops,
                                     plan.level, plan.box, self.settings.tile_size,
                                     self.settings.jpeg_quality)
        except (NotAtHand, StorageUnavailable):
            raise
        except Exception as error:  # noqa: BLE001 -- libvips renders it, and judges the file
            if self._storage_failed_since(started):
                raise
            log.info("tile renderer gave way to libvips for %r: %s",
                     plan.image.source.identifier, error)
            return None

    def _render(self, plan: Plan, deadline: float | None, into: int | None) -> bytes:
        image = plan.image
        started = time.monotonic()
        try:
            if self.cache_storage is not None:  # the blocks under the region, side by side
                self.stored_tiles.prefetch_region(image.pyramid.path, plan.level, plan.box)
            # A heavy render reads a level of its own, freed when it ends (OpenedLevels.private).
            level = (self.opened.private(image.pyramid, plan.level) if plan.heavy
                     else self.opened.level(image.pyramid, plan.level))
            return render(level, plan.box, plan.source_ops, self.settings.jpeg_quality,
                          deadline, into)
        except RenderTimeout:
            raise Overloaded(
                f"the render took longer than {self.settings.render_timeout:g} s and was stopped; "
                "ask for a smaller size or region.",
                headers={"Retry-After": str(self.settings.retry_after)},
            ) from None
        except pyvips.Error as error:
            if self._storage_failed_since(started):  # the bucket failed, not the pyramid
                raise self.cache_storage.bucket.unavailable() from None
            # A damaged derivative is dropped so the next request rebuilds it; any other
            # failure leaves it alone (other threads are reading it right now).
            if not self.derivatives.is_intact(image.pyramid.path):
                log.warning("derivative of %r is damaged; discarding it: %s",
                            image.source.identifier, error)
                self.forget(image.pyramid.path)
            else:
                log.error("render of %r failed: %s", image.source.identifier, error)
            raise SourceError(
                f"the image {image.source.identifier!r} could not be rendered: "
                f"{str(error).strip().splitlines()[0]}"
            ) from None
