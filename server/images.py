"""The protocol-neutral image core: identifier → source → pyramid → rendered bytes.

The HTTP layers for 3.0 and 2.1 only translate URLs into ImageRequests and
results into responses; everything they share lives here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import pyvips

from .config import Settings
from .derivatives import DerivativeStore, OpenedLevels, Pyramid, RECIPE_VERSION
from .errors import NotFound, SourceError
from .operations import Limits, Operations, resolve
from .parameters import ImageRequest
from .processor import render
from .responses import strong_etag
from .sources import Source, SourceCatalog

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
            settings.cache_dir, settings.tile_size, settings.derivative_quality
        )
        self.opened = OpenedLevels(settings.open_images)
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
        except pyvips.Error as error:
            raise SourceError(f"the derivative of {identifier!r} cannot be read: {error}") from None
        return ResolvedImage(source, content_hash, pyramid)

    def operations(self, image: ResolvedImage, request: ImageRequest) -> Operations:
        return resolve(request, image.width, image.height, self.limits_for(image.source.identifier))

    def etag(self, image: ResolvedImage, canonical: str) -> str:
        return strong_etag(image.content_hash, canonical, str(RECIPE_VERSION),
                           str(self.settings.jpeg_quality), str(self.settings.derivative_quality))

    def render(self, image: ResolvedImage, ops: Operations) -> bytes:
        try:
            return render(
                lambda index: self.opened.level(image.pyramid, index),
                image.pyramid,
                ops,
                self.settings.jpeg_quality,
            )
        except pyvips.Error as error:
            raise SourceError(
                f"the image {image.source.identifier!r} could not be rendered: "
                f"{str(error).strip().splitlines()[0]}"
            ) from None
