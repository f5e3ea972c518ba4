"""One image request, planned once: its level, its crop, its renderer and its cache key.

ImageService.plan() decides everything about an answer before any pixel is touched,
and ImageService.answer() carries it out. The plan also remembers how far its answer
got: an event loop may try it first with only what the worker holds, and a thread
then goes on from there, without parsing, hashing or looking anything up twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from .operations import Operations
from .resolved import ResolvedImage

Box = tuple[int, int, int, int]  # left, top, width, height on a pyramid level

# The renderers, and what an answer's X-Beeldpost-Cache header says its bytes came from.
STORED_TILE = "stored-tile"  # a stored tile's own JPEG bytes, no decode
STORED_EDGE = "stored-edge"  # an edge tile cut when the pyramid was built (else FROM_TILES)
FROM_TILES = "tiles"  # a few stored tiles decoded, pasted and resized with Pillow
LIBVIPS = "libvips"  # the level cropped, resized and encoded by libvips


@dataclass(slots=True)
class Plan:
    image: ResolvedImage
    ops: Operations  # as the public service describes the image
    canonical: str  # the request's canonical path in the version asked
    key: str  # the answer's entity tag, and its key in the response cache
    source_ops: Operations  # the same on the full-resolution pyramid
    level: int  # the coarsest pyramid level with enough pixels
    box: Box  # the region on that level
    tile: tuple[int, int, int] | None  # (level, column, row) when it is one stored tile
    renderer: str  # STORED_TILE, STORED_EDGE, FROM_TILES or LIBVIPS
    cost: int  # pixels decoded and produced
    heavy: bool  # cost above heavy_pixels: admission control, a time limit, streamed out
    memory: int = 0  # bytes a heavy render needs while it runs: what admission budgets
    # How far the answer got (a later try goes on from here).
    cache_missed: bool = False  # the response cache was asked and does not hold it
