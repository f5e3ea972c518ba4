"""Render Operations from a pyramid with libvips.

The work is proportional to the output, not to the source: pick the smallest
pyramid level that still has enough pixels, crop there (libvips then decodes only
the stored tiles under the crop), and resize the little that is left.
"""

from __future__ import annotations

import math
import time

import pyvips

from .operations import Operations
from .pyramid import Pyramid

# Formats whose rotated corners are transparent rather than white.
_ALPHA_FORMATS = ("png", "webp", "gif", "tif")

# Resized JPEG answers up to this many pixels (thumbnails) get Huffman tables made for
# them (libjpeg's optimize_coding): 4-10 % fewer bytes, for a second pass over the
# coefficients that costs about as much as the encoding itself (200×133: +0.04 ms, 256²:
# +0.17 ms). Beside a resize that is a few per cent of the render; beside a crop at a
# level's own scale (a viewer's edge tile, a 1024² crop: 2.7 ms of encoding becomes 6) it
# would be a third or more, so those keep the standard tables.
OPTIMIZED_CODING_PIXELS = 65_536


def optimized_coding(width: int, height: int, resized: bool) -> bool:
    """Whether a JPEG answer of this size is encoded with its own Huffman tables."""
    return resized and width * height <= OPTIMIZED_CODING_PIXELS


def choose_level(pyramid: Pyramid, ops: Operations) -> int:
    """The coarsest level that still holds at least the output's pixels.

    A shortfall below one output pixel is accepted: viewers round edge tiles up
    (w = ceil(region / scale)), and dropping to a level twice as large for a
    fraction of a pixel would quadruple the work for every edge tile.
    """
    chosen = 0
    for index in range(1, len(pyramid.levels)):
        factor = 1 << index
        if ops.region_width / factor > ops.width - 1 and ops.region_height / factor > ops.height - 1:
            chosen = index
        else:
            break
    return chosen


def stored_tile(pyramid: Pyramid, ops: Operations, index: int,
                tile_size: int) -> tuple[int, int, int] | None:
    """(level, column, row) when the request, read at level `index`, is exactly one
    stored tile, as it is.

    That is a viewer's interior tile: tile-aligned, a whole tile, not resized,
    not rotated or mirrored, default colour, JPEG. Edge tiles (stored padded) are
    edge_tile()'s; everything else is rendered.
    """
    if not _as_stored(ops) or (ops.width, ops.height) != (tile_size, tile_size):
        return None
    span = tile_size << index
    if ops.region_width != span or ops.region_height != span or ops.x % span or ops.y % span:
        return None
    column, row = ops.x // span, ops.y // span
    level_width, level_height = pyramid.levels[index]
    if (column + 1) * tile_size > level_width or (row + 1) * tile_size > level_height:
        return None
    return index, column, row


def edge_tile(pyramid: Pyramid, ops: Operations, index: int, box: tuple[int, int, int, int],
              tile_size: int) -> tuple[int, int, int] | None:
    """(level, column, row) when the request, read as `box` on level `index`, is exactly
    one stored tile that the level's edge trims, as it is: a viewer's edge tile (the
    pyramid keeps it cut, stored_edges.py). Interior tiles are stored_tile()'s."""
    if not _as_stored(ops):
        return None
    left, top, width, height = box
    if (ops.width, ops.height) != (width, height) or left % tile_size or top % tile_size:
        return None
    level_width, level_height = pyramid.levels[index]
    trimmed = (min(tile_size, level_width - left), min(tile_size, level_height - top))
    if (width, height) != trimmed or trimmed == (tile_size, tile_size):
        return None
    return index, left // tile_size, top // tile_size


def _as_stored(ops: Operations) -> bool:
    """JPEG in default colour, neither rotated nor mirrored: what stored tiles hold."""
    return (ops.format == "jpg" and ops.quality in ("default", "color")
            and not ops.degrees and not ops.mirror)


def crop_box(level_size: tuple[int, int], index: int, ops: Operations) -> tuple[int, int, int, int]:
    """The region in the coordinates of pyramid level `index` (which is 2**index smaller)."""
    level_width, level_height = level_size
    factor = 1 << index
    left = math.floor(ops.x / factor)
    top = math.floor(ops.y / factor)
    right = min(level_width, math.ceil((ops.x + ops.region_width) / factor))
    bottom = min(level_height, math.ceil((ops.y + ops.region_height) / factor))
    width, height = max(1, right - left), max(1, bottom - top)
    return min(left, level_width - width), min(top, level_height - height), width, height


def render_cost(box: tuple[int, int, int, int], ops: Operations) -> int:
    """Pixels a render decodes (`box` on its level) and produces: what makes it heavy."""
    return box[2] * box[3] + ops.width * ops.height


# What a render holds while it runs, beyond its pixels' rows: libvips' threads, region
# buffers and the codec. Measured for renders of a 6000×4000 pyramid in a fresh process
# (bench/render_memory.py: 10–16 MB at the peak), rounded up.
RENDER_WORKING_SET = 12 * 1024 * 1024
STRIP_LINES = 128  # libvips writes a tiled image's output in strips this high, two at a time
# Encoders that hold the whole output image, bytes per output pixel (measured likewise:
# WebP 7–16, GIF 12–14, the more the more detailed the picture): the rest write a strip
# at a time.
WHOLE_IMAGE_BYTES = {"webp": 17, "gif": 16}


def render_memory(box: tuple[int, int, int, int], ops: Operations, tile_size: int,
                  bands: int = 3) -> int:
    """Bytes a render needs while it runs, its output streamed (render(into=…)): what
    admission control budgets. libvips' TIFF loader keeps two rows of stored tiles across
    the region, the output is written two strips at a time, and WebP and GIF encoders
    hold the whole output besides."""
    radians = math.radians(ops.degrees)
    cosine, sine = abs(math.cos(radians)), abs(math.sin(radians))
    out_width = math.ceil(ops.width * cosine + ops.height * sine)
    out_height = math.ceil(ops.width * sine + ops.height * cosine)
    if ops.degrees % 90 and ops.format in _ALPHA_FORMATS:
        bands += 1
    rows = 2 * tile_size * (box[2] + tile_size) + 2 * STRIP_LINES * out_width
    return (RENDER_WORKING_SET + bands * rows
            + WHOLE_IMAGE_BYTES.get(ops.format, 0) * out_width * out_height)


def _crop(level: pyvips.Image, box: tuple[int, int, int, int]) -> pyvips.Image:
    left, top, width, height = box
    if (left, top, width, height) == (0, 0, level.width, level.height):
        return level
    return level.crop(left, top, width, height)


# The kernel of every resize, here and in tile_renderer.py (Pillow's BICUBIC is the same
# Catmull-Rom cubic). Lanczos-3 until issue 23: cubic differs from it by 0.4 grey levels
# on average for a 1000 px derivative and 0.8 for a thumbnail, a fifth of what JPEG at
# Q85 changes on either (2.1 and 3.5), for 20 % less resizing (1000 px from 1500: 7.5 →
# 6.0 ms) and a third less in Pillow (a 209 px thumbnail from 375: 1.37 → 0.95 ms); it
# also rings less, so the answers are 3 % smaller (140 → 136 KB at 1000 px).
RESIZE_KERNEL = "cubic"
# Bump when answers rendered from the same pyramid change their bytes (the kernel, say):
# it is part of every answer's entity tag, which is also its key in the response caches.
RENDERING_VERSION = 2


def _resize_exact(image: pyvips.Image, width: int, height: int) -> pyvips.Image:
    if (image.width, image.height) == (width, height):
        return image
    image = image.resize(width / image.width, vscale=height / image.height, kernel=RESIZE_KERNEL)
    if (image.width, image.height) != (width, height):
        # resize() rounds its output size; settle the last pixel exactly.
        image = image.embed(0, 0, max(width, image.width), max(height, image.height), extend="copy")
        image = image.crop(0, 0, width, height)
    return image


def _apply_quality(image: pyvips.Image, quality: str) -> pyvips.Image:
    if quality == "gray":
        return image.colourspace("b-w")
    if quality == "bitonal":
        return (image.colourspace("b-w") >= 128).cast("uchar")
    return image


def _apply_rotation(image: pyvips.Image, ops: Operations) -> pyvips.Image:
    if ops.mirror:
        image = image.fliphor()
    degrees = ops.degrees
    if degrees == 0:
        return image
    if degrees == 90:
        return image.rot90()
    if degrees == 180:
        return image.rot180()
    if degrees == 270:
        return image.rot270()
    if ops.format in _ALPHA_FORMATS:
        image = image.addalpha()
        background = [0] * image.bands
    else:
        background = [255] * image.bands
    return image.rotate(degrees, background=background)


def _save(image: pyvips.Image, saver: str, into: int | None, **options) -> bytes:
    """The encoded bytes, or b"" once they are written to the descriptor `into` as
    libvips encodes them (never all in memory, for the formats that allow it)."""
    if into is None:
        return getattr(image, f"{saver}_buffer")(**options)
    getattr(image, f"{saver}_target")(pyvips.Target.new_to_descriptor(into), **options)
    return b""


def encode(image: pyvips.Image, ops: Operations, jpeg_quality: int,
           optimize: bool = False, into: int | None = None) -> bytes:
    """The answer's bytes; `optimize`: JPEG with its own Huffman tables (optimized_coding);
    `into`: written to that descriptor as encoded (b"" returned)."""
    bitonal = ops.quality == "bitonal"
    if ops.format == "jpg":
        if image.hasalpha():
            image = image.flatten(background=[255] * (image.bands - 1))
        return _save(image, "jpegsave", into, Q=jpeg_quality, keep="none",
                     optimize_coding=optimize)
    if ops.format == "png":
        return _save(image, "pngsave", into, compression=3,
                     bitdepth=1 if bitonal and image.bands == 1 else 8, keep="none")
    if ops.format == "webp":
        return _save(image, "webpsave", into, Q=jpeg_quality, keep="none")
    if ops.format == "gif":
        return _save(image, "gifsave", into, keep="none")
    if ops.format == "tif":
        return _save(image, "tiffsave", into, compression="deflate", keep="none")
    raise ValueError(f"unknown format {ops.format}")


class RenderTimeout(Exception):
    pass


def _stop_at(image: pyvips.Image, deadline: float) -> None:
    """libvips checks the kill flag between chunks, so a long render stops mid-way."""

    def on_eval(evaluated: pyvips.Image, _progress) -> None:
        if time.monotonic() > deadline:
            evaluated.set_kill(True)

    image.set_progress(True)
    image.signal_connect("eval", on_eval)


def render(level: pyvips.Image, box: tuple[int, int, int, int], ops: Operations,
           jpeg_quality: int, deadline: float | None = None, into: int | None = None) -> bytes:
    """The answer from the opened pyramid level chosen for it (choose_level) and the
    region's `box` on that level (crop_box).

    With a deadline (time.monotonic() value), the render is cut off once it passes
    and RenderTimeout is raised. With `into`, a file descriptor, the answer is written
    there as it is encoded, and b"" returned.
    """
    resized = (box[2], box[3]) != (ops.width, ops.height)
    optimize = optimized_coding(ops.width, ops.height, resized)
    image = _crop(level, box)
    image = _resize_exact(image, ops.width, ops.height)
    image = _apply_quality(image, ops.quality)
    image = _apply_rotation(image, ops)
    if deadline is None:
        return encode(image, ops, jpeg_quality, optimize, into)
    # A fresh node: with nothing to do, `image` is still the opened level that every
    # worker thread shares, and progress handlers attached to it would outlive this
    # render and kill later, innocent ones.
    image = image.copy()
    _stop_at(image, deadline)
    try:
        return encode(image, ops, jpeg_quality, optimize, into)
    except pyvips.Error as error:
        if time.monotonic() > deadline or "killed" in str(error):
            raise RenderTimeout() from None
        raise
