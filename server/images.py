"""The protocol-neutral image core: identifier → source → pyramid → rendered bytes.

The HTTP layers for 3.0 and 2.1 only translate URLs into ImageRequests and
results into responses; everything they share lives here.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
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
from .responses import strong_etag
from .sources import Source, SourceCatalog
from .stored_tiles import StoredTiles

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResolvedImage:
    source: Source
    content_hash: str
    pyramid: Pyramid

    @property
    def width(self) -> int:
        return self.pyramid.width

    @property
    def height(self) -> int:
        return self.pyramid.height


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
                                   settings.render_timeout / 2, settings.retry_after)
        # Later layers (item records) may supply rights and per-item limits.
        self.rights_for: Callable[[str], str | None] = lambda identifier: None

    @property
    def limits(self) -> Limits:
        s = self.settings
        return Limits(s.max_width, s.max_height, s.max_area)

    def limits_for(self, identifier: str) -> Limits:
        return self.limits

    def resolve(self, identifier: str) -> ResolvedImage:
        source = self.catalog.lookup(identifier)
        if source is None:
            raise NotFound(f"no image with identifier {identifier!r}.")
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
        return ResolvedImage(source, content_hash, pyramid)

    def forget(self, derivative: Path) -> None:
        """Drop every handle on a damaged derivative and the file itself."""
        self.opened.forget(derivative)
        self.stored_tiles.forget(derivative)
        self.derivatives.discard(derivative)

    def operations(self, image: ResolvedImage, request: ImageRequest) -> Operations:
        return resolve(request, image.width, image.height, self.limits_for(image.source.identifier))

    def etag(self, image: ResolvedImage, canonical: str) -> str:
        return strong_etag(image.content_hash, canonical, str(RECIPE_VERSION),
                           str(self.settings.jpeg_quality), str(self.settings.derivative_quality))

    def render(self, image: ResolvedImage, ops: Operations) -> bytes:
        tile = stored_tile(image.pyramid, ops, self.settings.tile_size)
        if tile is not None:
            spliced = self.stored_tiles.jpeg(image.pyramid.path, *tile)
            metrics.cache_lookup("stored_tile", hit=spliced is not None)
            if spliced is not None:
                return spliced
        if render_cost(image.pyramid, ops) <= self.settings.heavy_pixels:
            return self._counted_render(image, ops, deadline=None)
        try:
            with self.admission.heavy():
                return self._counted_render(image, ops,
                                            time.monotonic() + self.settings.render_timeout)
        except Overloaded:
            metrics.rejected("heavy")
            raise

    def _counted_render(self, image: ResolvedImage, ops: Operations, deadline: float | None) -> bytes:
        metrics.RENDERS_IN_FLIGHT.inc()
        try:
            return self._render(image, ops, deadline)
        finally:
            metrics.RENDERS_IN_FLIGHT.dec()

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
            # Most likely a damaged derivative: drop it so the next request rebuilds it.
            log.warning("render of %r failed, discarding its derivative: %s",
                        image.source.identifier, error)
            self.forget(image.pyramid.path)
            raise SourceError(
                f"the image {image.source.identifier!r} could not be rendered: "
                f"{str(error).strip().splitlines()[0]}"
            ) from None
