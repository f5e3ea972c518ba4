"""The protocol-neutral image core: identifier → source → pyramid → rendered bytes.

The HTTP layers for 3.0 and 2.1 only translate URLs into ImageRequests and
results into responses; everything they share lives here.
"""

from __future__ import annotations

import ctypes
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import pyvips

from .config import Settings
from .derivatives import DerivativeStore, OpenedLevels, Pyramid, RECIPE_VERSION
from . import metrics
from .admission import Admission
from .errors import NotFound, Overloaded, SourceError
from .operations import Limits, Operations, resolve
from .parameters import ImageRequest
from .processor import RenderTimeout, render, render_cost, stored_tile
from .response_cache import KeptFile, ResponseCache
from .responses import strong_etag
from .sources import Source, SourceCatalog
from .stored_tiles import StoredTiles
from .tile_renderer import render_from_tiles

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImagePolicy:
    """What an item's record asks of its image's public service (None: the global setting).

    `max_size` caps the long edge of the image the public service *describes*, not
    just what it outputs: a capped image is served as a smaller image, so its
    tiles at scale factor 1 hold no more detail than the cap allows.
    """

    max_size: int | None = None
    max_width: int | None = None
    max_height: int | None = None
    max_area: int | None = None


@dataclass(frozen=True)
class ResolvedImage:
    source: Source
    content_hash: str
    pyramid: Pyramid
    width: int  # of the image as the public service describes it
    height: int
    limits: Limits

    @property
    def full_width(self) -> int:
        return self.pyramid.width

    @property
    def full_height(self) -> int:
        return self.pyramid.height

    @property
    def is_capped(self) -> bool:
        return (self.width, self.height) != (self.full_width, self.full_height)


def public_size(width: int, height: int, max_size: int | None) -> tuple[int, int]:
    """The image's size once its long edge is capped at max_size (never enlarged)."""
    if max_size is None or max(width, height) <= max_size:
        return width, height
    scale = max_size / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _tighter(configured: int | None, own: int | None) -> int | None:
    values = [value for value in (configured, own) if value is not None]
    return min(values) if values else None


def _malloc_trim() -> Callable[[], None]:
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return lambda: None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return lambda: trim(0)


# A large render frees tens of megabytes at once; glibc keeps freed heap for
# reuse, so each worker's RSS would stay at its largest render ever. Handing it back
# after every large render (well under a millisecond beside tens) keeps memory flat.
return_freed_memory = _malloc_trim()
TRIM_PIXELS = 1_000_000  # renders from this size up hand their memory back afterwards
AT_HAND_BYTES = 512 * 1024  # kept answers up to this size are read on an event loop
MAX_KEPT_BYTES = 64 * 1024 * 1024  # larger answers are not kept in the response cache

# Where an image answer's bytes came from (the X-Beeldpost-Cache header says it).
STORED_TILE, CACHE_HIT, CACHE_MISS, CACHE_OFF = "stored-tile", "hit", "miss", "off"


class NotAtHand(Exception):
    """An answer needs work that must not hold up an event loop: reading a record,
    hashing a source, building or opening a derivative, decoding. Raised only by the
    `at_hand=True` calls, whose callers then do the same call on a thread."""


class ImageService:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.catalog = SourceCatalog(settings.images_dir)
        self.derivatives = DerivativeStore(
            settings.cache_dir, settings.tile_size, settings.derivative_quality,
            settings.max_source_pixels,
        )
        self.opened = OpenedLevels(settings.open_images)
        self.stored_tiles = StoredTiles(settings.open_images)
        # A queued heavy render waits at most half its time budget for a slot.
        self.admission = Admission(settings.heavy_slots, settings.heavy_queue,
                                   settings.render_timeout / 2, settings.retry_after,
                                   settings.cache_dir / "admission")
        self.response_cache = (
            ResponseCache(settings.cache_dir / "responses",
                          settings.response_cache_mb * 1024 * 1024, MAX_KEPT_BYTES)
            if settings.response_cache and settings.response_cache_mb > 0 else None)
        # Later layers (item records) supply rights, per-item limits and size caps.
        self.rights_for: Callable[[str], str | None] = lambda identifier: None
        self.policy_for: Callable[[str], ImagePolicy] = lambda identifier: ImagePolicy()
        # Policies come from record files; re-reading them on every tile would cost more
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
        return self._remembered("policy", identifier, self.policy_for, at_hand)

    def rights(self, identifier: str, at_hand: bool = False) -> str | None:
        """The rights URI the records give this image (for info.json), or None."""
        return self._remembered("rights", identifier, self.rights_for, at_hand)

    def limits_for(self, identifier: str) -> Limits:
        return self.resolve(identifier).limits

    def _public(self, pyramid: Pyramid, policy: ImagePolicy) -> tuple[int, int, Limits]:
        # Asked on every request, the same few answers: kept (settings never change).
        key = (pyramid.width, pyramid.height, policy)
        found = self._publics.get(key)
        if found is None:
            if len(self._publics) > 10_000:
                self._publics.clear()
            found = self._publics[key] = self._public_uncached(pyramid, policy)
        return found

    def _public_uncached(self, pyramid: Pyramid, policy: ImagePolicy) -> tuple[int, int, Limits]:
        width, height = public_size(pyramid.width, pyramid.height, policy.max_size)
        capped = (width, height) != (pyramid.width, pyramid.height)
        limits = Limits(
            # A capped image may not be upscaled past its cap either (`^max`, `^w,`).
            _tighter(_tighter(self.settings.max_width, policy.max_width), width if capped else None),
            _tighter(_tighter(self.settings.max_height, policy.max_height), height if capped else None),
            _tighter(self.settings.max_area, policy.max_area),
        )
        return width, height, limits

    def resolve(self, identifier: str, at_hand: bool = False) -> ResolvedImage:
        """The image behind an identifier. With `at_hand`, only from what this worker
        holds already (NotAtHand otherwise): a few dictionary lookups and one stat."""
        source = self.catalog.lookup(identifier)
        if source is None:
            raise NotFound(f"no image with identifier {identifier!r}.")
        if at_hand:
            return self._resolve_at_hand(identifier, source)
        try:
            content_hash = self.catalog.content_hash(source)
        except OSError:
            raise NotFound(f"no image with identifier {identifier!r}.") from None
        path = self.derivatives.ensure(source, content_hash)
        try:
            pyramid = self.opened.pyramid(path)
        except pyvips.Error:
            # Damaged in a way its size does not show: rebuild once, then give up.
            log.warning("derivative of %r unreadable; rebuilding", identifier)
            self.forget(path)
            path = self.derivatives.ensure(source, content_hash)
            try:
                pyramid = self.opened.pyramid(path)
            except pyvips.Error as error:
                raise SourceError(f"the image {identifier!r} cannot be read: "
                                  f"{str(error).strip().splitlines()[0]}") from None
        width, height, limits = self._public(pyramid, self.policy(identifier))
        return ResolvedImage(source, content_hash, pyramid, width, height, limits)

    def _resolve_at_hand(self, identifier: str, source: Source) -> ResolvedImage:
        content_hash = self.catalog.known_hash(source)
        path = content_hash and self.derivatives.is_verified(content_hash)
        pyramid = path and self.opened.opened_pyramid(path)
        if not pyramid:
            raise NotAtHand(f"image {identifier!r} is not open in this worker")
        width, height, limits = self._public(pyramid, self.policy(identifier, at_hand=True))
        return ResolvedImage(source, content_hash, pyramid, width, height, limits)

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
        return strong_etag(image.content_hash, canonical, f"{image.width}x{image.height}",
                           str(RECIPE_VERSION),
                           str(self.settings.jpeg_quality), str(self.settings.derivative_quality))

    def stored_bytes(self, image: ResolvedImage, ops: Operations) -> bytes | None:
        """The answer as a stored tile's own bytes when the request maps exactly onto
        one (no decode, no encode: one read), else None."""
        tile = stored_tile(image.pyramid, self.in_source(image, ops), self.settings.tile_size)
        if tile is None:
            return None
        spliced = self.stored_tiles.jpeg(image.pyramid.path, *tile)
        metrics.cache_lookup("stored_tile", hit=spliced is not None)
        return spliced

    def image_bytes(self, image: ResolvedImage, ops: Operations, key: str,
                    at_hand: bool = False) -> tuple[bytes | KeptFile, str]:
        """The answer's bytes and where they came from: a stored tile, the response
        cache (`key` is the answer's ETag; a large answer comes as a KeptFile to
        stream) or a render, which is then kept.
        With `at_hand`, NotAtHand instead of a render or a large read."""
        stored = self.stored_bytes(image, ops)
        if stored is not None:
            return stored, STORED_TILE
        cache = self.response_cache
        if cache is not None:
            kept = cache.get(key, AT_HAND_BYTES, stream_larger=False) if at_hand else cache.get(key)
            if kept is not None:
                metrics.cache_lookup("response", hit=True)
                return kept, CACHE_HIT
        if at_hand:
            raise NotAtHand("a render")
        body = self._render_fresh(image, ops)
        if cache is None:
            return body, CACHE_OFF
        metrics.cache_lookup("response", hit=False)
        cache.put(key, body)
        return body, CACHE_MISS

    def render(self, image: ResolvedImage, ops: Operations) -> bytes:
        """The answer's bytes, from a stored tile or rendered now (no response cache)."""
        stored = self.stored_bytes(image, ops)
        if stored is not None:
            return stored
        return self._render_fresh(image, ops)

    def _render_fresh(self, image: ResolvedImage, ops: Operations) -> bytes:
        ops = self.in_source(image, ops)
        cost = render_cost(image.pyramid, ops)
        if cost <= self.settings.heavy_pixels:
            try:
                return self._counted_render(image, ops, deadline=None)
            finally:
                if cost >= TRIM_PIXELS:
                    return_freed_memory()
        # The time limit runs from arrival: waiting for a slot counts, so a client hears
        # back within render_timeout seconds (plus the last chunk's encode) either way.
        deadline = time.monotonic() + self.settings.render_timeout
        try:
            with self.admission.heavy():
                try:
                    return self._counted_render(image, ops, deadline)
                finally:
                    return_freed_memory()
        except Overloaded:
            metrics.rejected("heavy")
            raise

    def _counted_render(self, image: ResolvedImage, ops: Operations, deadline: float | None) -> bytes:
        metrics.RENDERS_IN_FLIGHT.inc()
        try:
            if deadline is None:  # small: a few stored tiles may do (tile_renderer.py)
                small = self._render_from_tiles(image, ops)
                if small is not None:
                    return small
            return self._render(image, ops, deadline)
        finally:
            metrics.RENDERS_IN_FLIGHT.dec()

    def _render_from_tiles(self, image: ResolvedImage, ops: Operations) -> bytes | None:
        try:
            return render_from_tiles(self.stored_tiles, image.pyramid, ops,
                                     self.settings.tile_size, self.settings.jpeg_quality)
        except Exception as error:  # noqa: BLE001 -- libvips renders it, and judges the file
            log.info("tile renderer gave way to libvips for %r: %s", image.source.identifier, error)
            return None

    def _render(self, image: ResolvedImage, ops: Operations, deadline: float | None) -> bytes:
        try:
            return render(
                lambda index: self.opened.level(image.pyramid, index),
                image.pyramid,
                ops,
                self.settings.jpeg_quality,
                deadline,
            )
        except RenderTimeout:
            raise Overloaded(
                f"the render took longer than {self.settings.render_timeout:g} s and was stopped; "
                "ask for a smaller size or region.",
                headers={"Retry-After": str(self.settings.retry_after)},
            ) from None
        except pyvips.Error as error:
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
