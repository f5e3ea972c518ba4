"""Stored JPEG tiles of a pyramidal TIFF, as standalone JPEG files.

When a request maps exactly onto one stored tile (the usual deep-zoom tile of a
viewer), decoding it and encoding it again only costs time and quality. The TIFF
already holds that JPEG: its entropy-coded data sits at a known offset, and the
tables it shares with the other tiles are in the JPEGTables tag. Splicing the two
gives a complete JPEG without touching a pixel.

Only tiles libvips wrote the ordinary way qualify: JPEG compression, YCbCr, 8-bit,
3 bands. Anything else (or any surprise in the file) falls back to rendering.
"""

from __future__ import annotations

import os
import struct
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from .stored_edges import StoredEdges, read_edges

_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 7: 1, 16: 8}
_TYPE_FORMATS = {1: "B", 3: "H", 4: "I", 16: "Q"}

TAG_WIDTH, TAG_LENGTH = 256, 257
TAG_BITS, TAG_COMPRESSION, TAG_PHOTOMETRIC, TAG_SAMPLES = 258, 259, 262, 277
TAG_TILE_WIDTH, TAG_TILE_LENGTH, TAG_TILE_OFFSETS, TAG_TILE_BYTES = 322, 323, 324, 325
TAG_JPEG_TABLES = 347
COMPRESSION_JPEG = 7
# libvips writes YCbCr tiles (chroma-subsampled) below Q 90, and RGB tiles carrying an
# Adobe colour marker from Q 90 up; both splice into valid JPEGs.
PHOTOMETRICS = (2, 6)

# A JFIF APP0 segment: tells every decoder that three components are YCbCr.
_JFIF = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"


@dataclass(frozen=True)
class TileIndex:
    """One pyramid level's tile grid: where each tile's bytes are."""

    width: int
    height: int
    tile_width: int
    tile_height: int
    offsets: tuple[int, ...]
    byte_counts: tuple[int, ...]
    tables: bytes  # JPEGTables without its final EOI marker
    ycbcr: bool  # Photometric YCbCr: the streams carry no colour marker of their own

    @property
    def columns(self) -> int:
        return -(-self.width // self.tile_width)


class UnsupportedTiff(Exception):
    pass


def _read_ifds(data_at, big: bool, byte_order: str, first_offset: int) -> list[dict[int, tuple]]:
    """Every IFD's tags as {tag: (type, count, value-or-offset bytes)}."""
    ifds = []
    offset = first_offset
    seen = set()
    while offset and offset not in seen and len(ifds) < 64:
        seen.add(offset)
        if big:
            (count,) = struct.unpack(byte_order + "Q", data_at(offset, 8))
            entry_size, head, value_size, next_format = 20, 8, 8, "Q"
        else:
            (count,) = struct.unpack(byte_order + "H", data_at(offset, 2))
            entry_size, head, value_size, next_format = 12, 2, 4, "I"
        if count > 1000:
            raise UnsupportedTiff("implausible IFD")
        raw = data_at(offset + head, count * entry_size + value_size)
        tags = {}
        for index in range(count):
            entry = raw[index * entry_size:(index + 1) * entry_size]
            tag, kind = struct.unpack(byte_order + "HH", entry[:4])
            number = struct.unpack(byte_order + ("Q" if big else "I"), entry[4:4 + value_size])[0]
            tags[tag] = (kind, number, entry[4 + value_size:])
        (offset,) = struct.unpack(byte_order + next_format, raw[count * entry_size:])
        ifds.append(tags)
    return ifds


def _values(data_at, byte_order: str, big: bool, field: tuple) -> tuple:
    kind, count, inline = field
    size = _TYPE_SIZES.get(kind)
    if size is None:
        raise UnsupportedTiff(f"tag type {kind}")
    total = size * count
    if total <= len(inline):
        raw = inline[:total]
    else:
        pointer = struct.unpack(byte_order + ("Q" if big else "I"), inline)[0]
        raw = data_at(pointer, total)
    if kind in (1, 2, 7):
        return (raw,)
    return struct.unpack(f"{byte_order}{count}{_TYPE_FORMATS[kind]}", raw)


def read_tile_indexes(path: Path) -> list[TileIndex]:
    """The tile index of each page (pyramid level) of a JPEG-tiled TIFF."""
    with open(path, "rb") as handle:
        return tile_indexes(reader_of(handle.fileno()))


def read_stored_edges(path: Path) -> StoredEdges | None:
    """The edge tiles a derivative keeps cut (stored_edges.py), if it has any to be trusted."""
    with open(path, "rb") as handle:
        return _edges(handle.fileno())


def reader_of(descriptor: int):
    """data_at(offset, length) over an open file: exactly that many bytes, or UnsupportedTiff."""
    def data_at(offset: int, length: int) -> bytes:
        data = os.pread(descriptor, length, offset)
        if len(data) != length:
            raise UnsupportedTiff("truncated")
        return data
    return data_at


def tile_indexes(data_at, size: int | None = None) -> list[TileIndex]:
    """The tile index of each page, read through `data_at(offset, length)` (a file's
    seek and read, or ranged reads of an object of `size` bytes, whose tiles must then
    all lie inside it)."""
    header = data_at(0, 16)
    byte_order = {b"II": "<", b"MM": ">"}.get(header[:2])
    if byte_order is None:
        raise UnsupportedTiff("not a TIFF")
    (magic,) = struct.unpack(byte_order + "H", header[2:4])
    if magic == 42:
        big, first = False, struct.unpack(byte_order + "I", header[4:8])[0]
    elif magic == 43:
        big, first = True, struct.unpack(byte_order + "Q", header[8:16])[0]
    else:
        raise UnsupportedTiff("not a TIFF")

    levels = []
    for tags in _read_ifds(data_at, big, byte_order, first):
        def one(tag: int) -> int:
            if tag not in tags:
                raise UnsupportedTiff(f"missing tag {tag}")
            return _values(data_at, byte_order, big, tags[tag])[0]

        if one(TAG_COMPRESSION) != COMPRESSION_JPEG or one(TAG_PHOTOMETRIC) not in PHOTOMETRICS:
            raise UnsupportedTiff("not YCbCr JPEG tiles")
        if one(TAG_SAMPLES) != 3 or one(TAG_BITS) != 8:
            raise UnsupportedTiff("not 8-bit RGB")
        tables = _values(data_at, byte_order, big, tags[TAG_JPEG_TABLES])[0]
        if not (tables.startswith(b"\xff\xd8") and tables.endswith(b"\xff\xd9")):
            raise UnsupportedTiff("odd JPEGTables")
        levels.append(TileIndex(
            width=one(TAG_WIDTH),
            height=one(TAG_LENGTH),
            tile_width=one(TAG_TILE_WIDTH),
            tile_height=one(TAG_TILE_LENGTH),
            offsets=_values(data_at, byte_order, big, tags[TAG_TILE_OFFSETS]),
            byte_counts=_values(data_at, byte_order, big, tags[TAG_TILE_BYTES]),
            tables=tables[:-2],
            ycbcr=one(TAG_PHOTOMETRIC) == 6,
        ))
        if size is not None and any(offset + count > size for offset, count
                                    in zip(levels[-1].offsets, levels[-1].byte_counts)):
            raise UnsupportedTiff("tiles beyond the end of the file")
    return levels


@dataclass(frozen=True)
class _Opened:
    descriptor: int
    levels: list[TileIndex]
    edges: StoredEdges | None  # the edge tiles cut when it was built, if any


class StoredTiles:
    """Per worker: tile indexes and open file descriptors of recently used derivatives."""

    def __init__(self, capacity: int = 64):
        self.capacity = capacity
        self._entries: OrderedDict[str, _Opened | None] = OrderedDict()
        self._lock = threading.Lock()

    def _entry(self, path: Path) -> _Opened | None:
        key = str(path)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        try:
            descriptor = os.open(key, os.O_RDONLY)
        except OSError:
            descriptor = None
        entry = None  # not splicable: always render
        if descriptor is not None:
            try:
                entry = _Opened(descriptor, tile_indexes(reader_of(descriptor)),
                                _edges(descriptor))
            except (OSError, UnsupportedTiff, struct.error):
                os.close(descriptor)
        with self._lock:
            self._entries[key] = entry
            while len(self._entries) > self.capacity:
                _, evicted = self._entries.popitem(last=False)
                if evicted is not None:
                    os.close(evicted.descriptor)
        return entry

    def forget(self, path: Path) -> None:
        with self._lock:
            entry = self._entries.pop(str(path), None)
        if entry is not None:
            os.close(entry.descriptor)

    def jpeg(self, path: Path, level: int, column: int, row: int,
             at_hand: bool = False) -> bytes | None:
        """The stored tile as a standalone JPEG, or None when it cannot be spliced
        (a file on disk: at hand or not, it is read)."""
        entry = self._entry(path)
        if entry is None:
            return None
        levels = entry.levels
        if level >= len(levels):
            return None
        index = levels[level]
        position = row * index.columns + column
        if not 0 <= position < len(index.offsets):
            return None
        data = os.pread(entry.descriptor, index.byte_counts[position], index.offsets[position])
        if len(data) != index.byte_counts[position] or not data.startswith(b"\xff\xd8"):
            return None
        return splice(index, data)

    def edge(self, path: Path, level: int, column: int, row: int, quality: int,
             at_hand: bool = False) -> bytes | None:
        """The edge tile cut when the pyramid was built (a JPEG at `quality`), or None
        when it has none such: it is rendered then."""
        entry = self._entry(path)
        if entry is None or entry.edges is None:
            return None
        place = entry.edges.place(level, column, row, quality)
        if place is None:
            return None
        offset, length = place
        data = os.pread(entry.descriptor, length, offset)
        return data if len(data) == length and data.startswith(b"\xff\xd8") else None


def _edges(descriptor: int) -> StoredEdges | None:
    """The stored edge tiles of an open derivative, if it has any to be trusted."""
    try:
        return read_edges(reader_of(descriptor), os.fstat(descriptor).st_size)
    except (OSError, UnsupportedTiff, struct.error):
        return None




def _leading_app_segments(stream: bytes) -> int:
    """Length of the APPn segments right after SOI (colour markers such as Adobe's)."""
    position = 2
    while position + 4 <= len(stream) and stream[position] == 0xFF and 0xE0 <= stream[position + 1] <= 0xEF:
        (length,) = struct.unpack(">H", stream[position + 2:position + 4])
        position += 2 + length
    return position - 2


def splice(index: TileIndex, stream: bytes) -> bytes:
    """SOI, the tile's colour marker (or JFIF for YCbCr), the shared tables, the rest."""
    markers_end = 2 + _leading_app_segments(stream)
    markers = stream[2:markers_end] or (_JFIF if index.ycbcr else b"")
    return b"\xff\xd8" + markers + index.tables[2:] + stream[markers_end:]
