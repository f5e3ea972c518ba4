"""Render small JPEG requests straight from the stored tiles, with Pillow.

A libvips pipeline costs about half a millisecond before it touches a pixel
(operation building, its tile cache, a worker thread per stage), which is as much
as decoding a 256 px tile. For the small answers viewers ask for most -- edge tiles
of a deep-zoom level, thumbnails, a few hundred pixels of a level -- reading the
few stored JPEG tiles under the region (stored_tiles.py hands them over as
standalone JPEGs), pasting, cropping and resizing them with Pillow does the same
work for about a third of the CPU. Both libraries use libjpeg-turbo and the same
Catmull-Rom cubic kernel (processor.RESIZE_KERNEL); tests/image/test_tile_renderer.py
holds the two renderers to the same pixels.

Each tile goes to Pillow's JPEG decoder straight from its bytes (`Image.frombytes(...,
"jpeg", ...)`) once its frame header says it is an 8-bit, 3-component JPEG of tile_size²
(jpeg_frame(): a walk over a few marker segments), which spares the Python of
`Image.open` and `load` (a tenth of a tile's decode). The check is not optional: the
decoder writes whole scanlines of the JPEG's own width into the image it is given.

Only the plain case takes this path: JPEG out, default or colour quality, no
rotation or mirroring, no upscaling (but for the pixel of a level's rounding), 3-band stored tiles, a region of at most
MAX_TILES tiles at its level (MAX_TILES_AS_STORED when it is not resized). Everything else, and anything unexpected, returns None and libvips
renders it.
"""

from __future__ import annotations

import io
import struct

from PIL import Image

from .operations import Operations
from .pyramid import Pyramid
from .processor import optimized_coding
from .stored_tiles import StoredTiles  # or bucket.BucketTiles: the same questions

# Pillow's Catmull-Rom cubic: libvips' processor.RESIZE_KERNEL, so that the two renderers
# give the same pixels (tests/image/test_tile_renderer.py).
RESAMPLING = Image.Resampling.BICUBIC

# Tiles decoded for one answer. Resized answers: beyond 16, libvips' shrink-then-reduce
# resize wins (a 1000 px wide image from 24 tiles: 54 ms in libvips, 95 in Pillow).
# Crops at a level's own scale are decode, paste and encode, where Pillow stays ahead
# (a 1024² crop over 25 tiles: 36 ms against 40). Only renders below heavy_pixels get
# here, so the canvas stays small.
MAX_TILES = 16
MAX_TILES_AS_STORED = 64


def can_render(ops: Operations, box: tuple[int, int, int, int], tile_size: int) -> bool:
    """Whether this path takes the request whose region is `box` on its level."""
    if ops.format != "jpg" or ops.quality not in ("default", "color"):
        return False
    if ops.degrees or ops.mirror:
        return False
    _, _, width, height = box
    if ops.width > width + 1 or ops.height > height + 1:
        return False  # upscaling: the libraries' kernels differ there; rare anyway
    # Up to one pixel more than the level has is the shortfall choose_level() accepts (a
    # level's size is floored, a viewer's ceil(width / scale factor) is not): the
    # smallest level of a deep-zoom view, asked by every viewer, is then this path's too.
    columns, rows = _tiles_under(box, tile_size)
    return _few_enough(len(columns) * len(rows), (width, height), ops)


def render_from_tiles(stored: StoredTiles, pyramid: Pyramid, ops: Operations, index: int,
                      box: tuple[int, int, int, int], tile_size: int,
                      jpeg_quality: int) -> bytes | None:
    """The answer from the stored tiles under `box` on level `index`, or None when a
    tile is not what this path expects (libvips then renders it). For requests
    can_render() takes."""
    left, top, width, height = box
    columns, rows = _tiles_under(box, tile_size)
    prefetch = getattr(stored, "prefetch", None)  # tiles in a bucket: fetched side by side
    if prefetch is not None and len(columns) * len(rows) > 1:
        prefetch(pyramid.path, index, columns, rows)

    region = tile = None
    for row in rows:
        for column in columns:
            data = stored.jpeg(pyramid.path, index, column, row)
            # One image decoded into again for each tile: no allocation.
            tile = None if data is None else _decoded(data, tile_size, tile_size, tile)
            if tile is None:
                return None
            offset = (column * tile_size - left, row * tile_size - top)
            if len(columns) == len(rows) == 1:
                # One tile: crop it, no canvas to fill.
                region = tile.crop((-offset[0], -offset[1], -offset[0] + width, -offset[1] + height))
            else:
                if region is None:  # not cleared: the tiles cover every pixel
                    region = Image.new("RGB", (width, height), None)
                region.paste(tile, offset)
    resized = (width, height) != (ops.width, ops.height)
    if resized:
        region = region.resize((ops.width, ops.height), RESAMPLING)
    return _encoded(region, jpeg_quality, optimized_coding(ops.width, ops.height, resized))


def cut_edge(tile_jpeg: bytes, tile_width: int, tile_height: int, width: int, height: int,
             jpeg_quality: int) -> bytes | None:
    """A stored edge tile (a standalone JPEG of the whole padded tile) trimmed to the
    `width`×`height` of the level inside it: the same bytes render_from_tiles gives for a
    request of just that (stored_edges.py keeps them). None when it is not such a JPEG."""
    tile = _decoded(tile_jpeg, tile_width, tile_height)
    if tile is None:
        return None
    return _encoded(tile.crop((0, 0, width, height)), jpeg_quality,
                    optimized_coding(width, height, False))


def _decoded(tile_jpeg: bytes, tile_width: int, tile_height: int,
             into: Image.Image | None = None) -> Image.Image | None:
    """A stored tile's pixels, decoded into `into` (or a new image), once its frame says
    it is an RGB JPEG of the tile's size; None otherwise."""
    if jpeg_frame(tile_jpeg) != (tile_width, tile_height, 3):
        return None
    if into is None:
        into = Image.new("RGB", (tile_width, tile_height), None)
    into.frombytes(tile_jpeg, "jpeg", "RGB", "")
    return into


def _encoded(region: Image.Image, jpeg_quality: int, optimize: bool) -> bytes:
    out = io.BytesIO()
    region.save(out, "JPEG", quality=jpeg_quality, optimize=optimize)
    return out.getvalue()


# Start-of-frame markers (baseline, extended, progressive, lossless; Huffman or arithmetic).
_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_SCAN = 0xDA


def jpeg_frame(data: bytes) -> tuple[int, int, int] | None:
    """(width, height, components) of an 8-bit JPEG from its frame header, or None when
    the bytes are not such a JPEG (or the frame comes after the first scan)."""
    if not data.startswith(b"\xff\xd8"):
        return None
    position, end = 2, len(data) - 4
    while position <= end:
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        (length,) = struct.unpack_from(">H", data, position + 2)
        if marker in _FRAME_MARKERS:
            if length < 8 or position + 10 > len(data):
                return None
            precision, height, width, components = struct.unpack_from(">BHHB", data, position + 4)
            return (width, height, components) if precision == 8 else None
        if marker == _SCAN or length < 2:
            return None
        position += 2 + length
    return None


def _tiles_under(box: tuple[int, int, int, int], tile_size: int) -> tuple[range, range]:
    """The columns and rows of stored tiles that the box on its level covers."""
    left, top, width, height = box
    columns = range(left // tile_size, (left + width - 1) // tile_size + 1)
    rows = range(top // tile_size, (top + height - 1) // tile_size + 1)
    return columns, rows


def _few_enough(tiles: int, region_size: tuple[int, int], ops: Operations) -> bool:
    resized = region_size != (ops.width, ops.height)
    return tiles <= (MAX_TILES if resized else MAX_TILES_AS_STORED)
