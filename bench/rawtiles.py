"""Read a stored JPEG tile's bytes straight out of a tiled TIFF, as a standalone JPEG.

A minimal reader used by bench/profile_tiles.py to measure what "serve a stored
tile without decode and re-encode" costs, independent of the server's own
implementation (beeldpost/image/stored_tiles.py):
parse the TIFF's directories once (tile offsets, byte counts, the shared
JPEGTables), then a tile is one pread() plus splicing the tables into the tile's
abbreviated JPEG stream. libvips writes JPEG-in-TIFF tiles as YCbCr without an
APP0 marker, which JPEG decoders read as YCbCr, so the result displays correctly.

Stored tiles are always tile_width × tile_height, padded at the right and bottom
edges, so only interior tiles (and bottom-edge ones after a SOF height patch) map
exactly onto a IIIF tile request; edge tiles still need a decode.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

TAG_WIDTH, TAG_HEIGHT = 256, 257
TAG_COMPRESSION = 259
TAG_TILE_WIDTH, TAG_TILE_HEIGHT = 322, 323
TAG_TILE_OFFSETS, TAG_TILE_BYTE_COUNTS = 324, 325
TAG_JPEG_TABLES = 347
COMPRESSION_JPEG = 7

_TYPES = {1: ("B", 1), 2: ("c", 1), 3: ("H", 2), 4: ("I", 4), 7: ("B", 1), 16: ("Q", 8)}


@dataclass
class Level:
    width: int
    height: int
    tile_width: int
    tile_height: int
    offsets: list[int]
    counts: list[int]
    tables: bytes  # JPEGTables: SOI, DQT/DHT segments, EOI

    @property
    def across(self) -> int:
        return -(-self.width // self.tile_width)


class TiledTiff:
    def __init__(self, path: str):
        self.path = path
        self.fd = os.open(path, os.O_RDONLY)
        self.levels: list[Level] = []
        self._parse()

    def close(self) -> None:
        os.close(self.fd)

    def _read(self, offset: int, size: int) -> bytes:
        return os.pread(self.fd, size, offset)

    def _parse(self) -> None:
        header = self._read(0, 16)
        order = {b"II": "<", b"MM": ">"}[header[:2]]
        magic = struct.unpack(order + "H", header[2:4])[0]
        big = magic == 43
        if big:
            offset = struct.unpack(order + "Q", header[8:16])[0]
        else:
            offset = struct.unpack(order + "I", header[4:8])[0]
        while offset:
            if big:
                count = struct.unpack(order + "Q", self._read(offset, 8))[0]
                entry_size, start = 20, offset + 8
            else:
                count = struct.unpack(order + "H", self._read(offset, 2))[0]
                entry_size, start = 12, offset + 2
            block = self._read(start, count * entry_size + 8)
            tags = {}
            for index in range(count):
                entry = block[index * entry_size:(index + 1) * entry_size]
                if big:
                    tag, kind, n = struct.unpack(order + "HHQ", entry[:12])
                    inline, inline_size = entry[12:20], 8
                else:
                    tag, kind, n = struct.unpack(order + "HHI", entry[:8])
                    inline, inline_size = entry[8:12], 4
                if kind not in _TYPES:
                    continue
                code, size = _TYPES[kind]
                total = size * n
                if total <= inline_size:
                    data = inline[:total]
                else:
                    pointer = struct.unpack(order + ("Q" if big else "I"), inline)[0]
                    data = self._read(pointer, total)
                if kind in (1, 2, 7):
                    tags[tag] = data
                else:
                    tags[tag] = list(struct.unpack(order + code * n, data))
            following = block[count * entry_size:count * entry_size + (8 if big else 4)]
            offset = struct.unpack(order + ("Q" if big else "I"), following)[0]
            if TAG_TILE_OFFSETS in tags and tags.get(TAG_COMPRESSION, [0])[0] == COMPRESSION_JPEG:
                self.levels.append(Level(
                    tags[TAG_WIDTH][0], tags[TAG_HEIGHT][0], tags[TAG_TILE_WIDTH][0],
                    tags[TAG_TILE_HEIGHT][0], tags[TAG_TILE_OFFSETS], tags[TAG_TILE_BYTE_COUNTS],
                    bytes(tags.get(TAG_JPEG_TABLES, b"")),
                ))

    def tile_jpeg(self, level: int, column: int, row: int) -> bytes:
        """The stored tile at (column, row) of a level as a complete JPEG file."""
        stored = self.levels[level]
        index = row * stored.across + column
        data = self._read(stored.offsets[index], stored.counts[index])
        if stored.tables and len(stored.tables) > 4:
            # SOI + the shared tables (without their SOI/EOI) + the tile after its SOI.
            return b"\xff\xd8" + stored.tables[2:-2] + data[2:]
        return data
