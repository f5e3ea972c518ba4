"""A pyramid's edge tiles, cut once when it is built and kept at the end of its file.

A TIFF stores every tile whole: the last column and row of a level are padded out to
the tile size. A viewer asks for them trimmed (`5888,0,112,256/112,/0/default.jpg`),
so each had to be decoded, cut and encoded again on every request: a seventh of a
deep-zoom view's tiles, and more than half of its CPU. The derivative's build cuts them
once, exactly as the tile renderer would (tile_renderer.cut_edge: the same bytes;
derivatives.py does it), and appends them after the TIFF's own data, where TIFF readers (libvips, IIPImage) never
look:

    [JPEG] [JPEG] … [index: (level, column, row, offset, length) each] [footer]

The 24-byte footer holds where the index starts, how many entries it has, the JPEG
quality the tiles were encoded at (they serve only while BEELDPOST_JPEG_QUALITY is the
same) and a magic number. A file without it (built before), or with anything out of
place, has no stored edges: they are rendered as before.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Callable

MAGIC = b"BPEDGE01"
ENTRY = struct.Struct("<HHHQI")  # level, column, row, offset, length
FOOTER = struct.Struct("<QIH2x8s")  # index offset, entries, JPEG quality, magic
MAX_ENTRIES = 1_000_000  # a 65,535-column grid's edges and more: anything beyond is damage

DataAt = Callable[[int, int], bytes]


@dataclass(frozen=True)
class StoredEdges:
    """Where a pyramid's trimmed edge tiles are in its file, and their JPEG quality."""

    quality: int
    places: dict[tuple[int, int, int], tuple[int, int]]  # (level, column, row) -> (offset, length)

    def place(self, level: int, column: int, row: int, quality: int) -> tuple[int, int] | None:
        """(offset, length) of that edge tile, if stored at this quality."""
        if quality != self.quality:
            return None
        return self.places.get((level, column, row))


def edge_positions(width: int, height: int, tile_width: int,
                   tile_height: int) -> list[tuple[int, int, int, int]]:
    """(column, row, width, height) of the tiles of a `width`×`height` level that its
    edge trims."""
    columns = -(-width // tile_width)
    rows = -(-height // tile_height)
    last_width = width - (columns - 1) * tile_width
    last_height = height - (rows - 1) * tile_height
    positions = []
    if last_width != tile_width:  # the last column, down to (not including) the corner
        positions += [(columns - 1, row, last_width, tile_height) for row in range(rows - 1)]
    if last_height != tile_height:  # the last row, up to (not including) the corner
        positions += [(column, rows - 1, tile_width, last_height) for column in range(columns - 1)]
    if (last_width, last_height) != (tile_width, tile_height):
        positions.append((columns - 1, rows - 1, last_width, last_height))
    return positions


def appendix(cuts: list[tuple[int, int, int, bytes]], start: int, quality: int) -> bytes:
    """What follows a TIFF that ends at `start`: the cut tiles (level, column, row, JPEG),
    their index and the footer."""
    blobs, entries, position = [], [], start
    for level, column, row, jpeg in cuts:
        blobs.append(jpeg)
        entries.append(ENTRY.pack(level, column, row, position, len(jpeg)))
        position += len(jpeg)
    return b"".join(blobs) + b"".join(entries) + FOOTER.pack(position, len(entries), quality, MAGIC)


def read_edges(data_at: DataAt, size: int) -> StoredEdges | None:
    """The stored edges of a file of `size` bytes read through `data_at(offset, length)`,
    or None when it has none (or they are not where the footer says)."""
    if size < FOOTER.size:
        return None
    index_offset, count, quality, magic = FOOTER.unpack(data_at(size - FOOTER.size, FOOTER.size))
    if magic != MAGIC or count > MAX_ENTRIES:
        return None
    if index_offset + count * ENTRY.size + FOOTER.size != size:
        return None
    raw = data_at(index_offset, count * ENTRY.size) if count else b""
    places = {}
    for level, column, row, offset, length in ENTRY.iter_unpack(raw):
        if offset + length > index_offset:
            return None
        places[(level, column, row)] = (offset, length)
    return StoredEdges(quality, places)
