"""Pyramidal TIFF derivatives: built once per source content, read tile by tile.

Every source (JPEG, PNG, TIFF, JPEG 2000) is normalised once into a tiled,
pyramidal TIFF with JPEG tiles, upright and in sRGB. Derivatives are keyed by the
source's SHA-256 and the recipe, so replacing a file never serves stale pixels,
and written to a temporary file then renamed, so a crash never leaves half a file
where a reader can find it. Requests then read only the level and the tiles they need.
After the TIFF's own data comes its edge tiles, cut once at the answers' JPEG quality
(stored_edges.py), so that a viewer's edge tile is stored bytes too.

This is the store in a folder (BEELDPOST_CACHE a folder); bucket.py keeps them in a
bucket, built here in the scratch folder. A source in a bucket is read into the scratch
folder for its build (SourceCatalog.local_copy), its size from its header alone.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import threading
from collections import OrderedDict
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Callable, Iterator, Protocol

import pyvips
from PIL import Image as PILImage

from .. import counters
from ..errors import SourceError
from ..settings import S3Url
from .pyramid import Pyramid
from .sources import Source
from .stored_edges import appendix, edge_positions
from .stored_tiles import UnsupportedTiff, read_stored_edges, reader_of, splice, tile_indexes
from .tile_renderer import cut_edge
from ..storage.places import BlockCache, RangeReader, object_at, open_image

log = logging.getLogger(__name__)

# Bump when the recipe below changes, so existing derivatives are rebuilt.
RECIPE_VERSION = 1

# Sources libvips cannot read in the pyvips-binary build are decoded by Pillow.
PILLOW_EXTENSIONS = (".jp2", ".j2k", ".jpf", ".jpx")

# Only libvips' fuzzed, trusted loaders (JPEG, PNG, TIFF, WebP, …) may open files.
pyvips.block_untrusted_set(True)
# No libvips operation cache: it would share one pipeline between identical requests,
# so a render stopped at one request's deadline would poison the others (and later
# ones), and it holds memory we bound ourselves. Opened files are kept by OpenedLevels.
pyvips.cache_set_max(0)


class SourceTooLarge(SourceError):
    """Refused on its header: more pixels than this server will decode."""


def _guard_size(path: Path, width: int, height: int, max_pixels: int) -> None:
    """Checked on the header, before a single pixel is decoded."""
    if width <= 0 or height <= 0:
        raise SourceError(f"Source image {path.name!r} has no pixels ({width}×{height}).")
    if width * height > max_pixels:
        message = (f"Source image {path.name!r} is {width}×{height} = {width * height:,} pixels, "
                   f"above the limit of {max_pixels:,} (BEELDPOST_MAX_SOURCE_PIXELS).")
        log.error("refused source: %s", message)
        raise SourceTooLarge(message)


# EXIF orientations 1 (as stored) and 2 (mirrored, each row on its own) can be applied
# while a source is decoded top to bottom. These others (turned or flipped upside down
# or sideways) need rows from the bottom, or columns, which a sequential JPEG or PNG
# decoder cannot give ("out of order read"): the build applies them in a second pass.
TURNED_ORIENTATIONS = (3, 4, 5, 6, 7, 8)


def orientation(image: pyvips.Image) -> int:
    """The EXIF orientation libvips read from the source (1 when there is none)."""
    return image.get("orientation") if "orientation" in image.get_fields() else 1


def oriented(image: pyvips.Image, value: int) -> pyvips.Image:
    """`image` turned upright as EXIF orientation `value` says (libvips' autorot: all eight)."""
    if value not in (2, *TURNED_ORIENTATIONS):
        return image  # 1, or not an orientation at all: as stored
    tagged = image.copy()
    tagged.set_type(pyvips.GValue.gint_type, "orientation", value)
    return tagged.autorot()


def _rgb(picture: PILImage.Image) -> PILImage.Image:
    if picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info:
        picture = picture.convert("RGBA")
        flattened = PILImage.new("RGB", picture.size, (255, 255, 255))
        flattened.paste(picture, mask=picture.getchannel("A"))
        return flattened
    return picture if picture.mode == "RGB" else picture.convert("RGB")


def _load_with_pillow(path: Path, max_pixels: int) -> pyvips.Image:
    """Decoded by Pillow, upright.

    At most the decoded picture and one RGB copy of it for libvips are held at once:
    the copy is filled a strip at a time, because converting, transposing or calling
    tobytes() on the whole picture would each add a full-size copy (tobytes() two).
    """
    with PILImage.open(path) as opened:
        _guard_size(path, opened.width, opened.height, max_pixels)
        value = opened.getexif().get(0x0112, 1)
        opened.load()
        width, height = opened.size
        data = bytearray(width * height * 3)
        rows = max(1, (4 << 20) // (width * 4))  # strips of about 4 MB
        for top in range(0, height, rows):
            bottom = min(height, top + rows)
            strip = _rgb(opened.crop((0, top, width, bottom)))
            data[top * width * 3:bottom * width * 3] = strip.tobytes()
        opened.close()  # frees Pillow's pixels now (leaving `with` only closes the file)
    # libvips turns its in-memory copy upright, which needs no second pass.
    image = pyvips.Image.new_from_memory(data, width, height, 3, "uchar")
    return oriented(image.copy(interpretation="srgb"), value)


def _to_srgb(image: pyvips.Image) -> pyvips.Image:
    """8-bit, three-band sRGB without alpha, whatever came in (metadata kept)."""
    fields = image.get_fields()
    cmyk = image.interpretation == "cmyk"
    if cmyk or "icc-profile-data" in fields:
        try:
            image = image.icc_transform(
                "srgb",
                embedded=True,
                input_profile="cmyk" if cmyk else "srgb",
                intent="relative",
            )
        except pyvips.Error as error:
            log.warning("ignoring unusable ICC profile: %s", error)
            image = image.colourspace("srgb")
    if image.interpretation not in ("srgb",) or image.format != "uchar":
        image = image.colourspace("srgb")
    if image.hasalpha():
        image = image.flatten(background=[255] * (image.bands - 1))
    if image.format != "uchar":
        image = image.cast("uchar")
    if image.bands == 1:
        image = image.bandjoin([image, image])
    elif image.bands > 3:
        image = image.extract_band(0, n=3)
    return image.copy(interpretation="srgb")


def load_source(path: Path, max_pixels: int = 1_000_000_000) -> pyvips.Image:
    """The source in 8-bit sRGB, upright, except that an orientation a sequential
    decode cannot apply (TURNED_ORIENTATIONS) is left pending in the `orientation`
    field: the derivative build applies it from a temporary copy."""
    try:
        if path.suffix.lower() in PILLOW_EXTENSIONS:
            return _to_srgb(_load_with_pillow(path, max_pixels))
        # Opening reads the header only; pixels are decoded when the derivative is written.
        image = pyvips.Image.new_from_file(str(path), access="sequential", fail_on="error")
        _guard_size(path, image.width, image.height, max_pixels)
        if orientation(image) not in TURNED_ORIENTATIONS:
            image = image.autorot()
        return _to_srgb(image)
    except (pyvips.Error, OSError, ValueError, SyntaxError, PILImage.DecompressionBombError) as error:
        raise SourceError(f"Source image {path.name!r} cannot be read: {_first_line(error)}") from None


HEADER_BLOCK = 16 * 1024  # an object's header is read in blocks this size


def upright_size(path: Path | S3Url, max_pixels: int = 1_000_000_000) -> tuple[int, int]:
    """The source's size as served (upright), from its header: no pixel is decoded, and
    of an object in a bucket only the header is read (ranged reads)."""
    reader = None
    try:
        if isinstance(path, S3Url):
            storage, key = object_at(path)
            stat = storage.stat(key)
            if stat is None:
                raise OSError(f"{path} is gone")
            reader = RangeReader(storage, key, stat.size, BlockCache(4 << 20),
                                 block=HEADER_BLOCK)
        if path.suffix.lower() in PILLOW_EXTENSIONS:
            with PILImage.open(path if reader is None else reader.file()) as opened:
                width, height = opened.size
                turned = opened.getexif().get(0x0112, 1)
        else:
            image = (pyvips.Image.new_from_file(str(path), fail_on="error") if reader is None
                     else open_image(reader, fail_on="error"))
            width, height, turned = image.width, image.height, orientation(image)
        _guard_size(path, width, height, max_pixels)
    except (pyvips.Error, OSError, ValueError, SyntaxError, PILImage.DecompressionBombError) as error:
        if reader is not None and reader.failure is not None:
            raise reader.failure from None  # the bucket, not the image
        raise SourceError(f"Source image {path.name!r} cannot be read: {_first_line(error)}") from None
    return (height, width) if turned in (5, 6, 7, 8) else (width, height)


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


# The temporary files of a build, beside its derivative: the upright copy of a sideways
# source, the pyramid being written, its sidecar.
TEMPORARY_ROLES = ("upright", "pyramid", "sidecar")

# (source, its expected content hash) -> the source as a local file while it is read.
LocalCopy = Callable[[Source, "str | None"], AbstractContextManager[Path]]


@contextmanager
def as_is(source: Source, expected: str | None = None) -> Iterator[Path]:
    """A source in a folder is read where it is."""
    yield Path(source.path)


class DerivativeStore:
    """Derivatives on disk, each with a sidecar recording its size and levels.

    The sidecar is written before the TIFF is renamed into place, so a TIFF whose
    size differs from its sidecar (truncated, overwritten, half-copied by a backup
    restore) is detected on open and rebuilt rather than served broken.
    """

    def __init__(self, cache_dir: Path, tile_size: int = 256, quality: int = 90,
                 max_source_pixels: int = 1_000_000_000, local_copy: LocalCopy = as_is,
                 edge_quality: int | None = None):
        self.root = Path(cache_dir) / "pyramids"
        self.local_copy = local_copy
        self.tile_size = tile_size
        self.quality = quality
        # The JPEG quality of answers (BEELDPOST_JPEG_QUALITY): edge tiles are cut at it
        # when the pyramid is built (stored_edges.py); None cuts none.
        self.edge_quality = edge_quality
        self.max_source_pixels = max_source_pixels
        # Pillow's own bomb check is process-wide; set it deliberately to the same limit
        # (it raises at twice the value), our header check above refuses first.
        PILImage.MAX_IMAGE_PIXELS = max_source_pixels
        # Derivatives this process has verified; the hot path then costs no file reads.
        self._verified: set[Path] = set()
        self._paths: dict[str, Path] = {}  # content hash -> derivative path, made once
        self.built_count = 0  # derivatives this process built (ingest reports them)

    def path_for(self, content_hash: str) -> Path:
        name = f"{content_hash}-t{self.tile_size}-q{self.quality}-r{RECIPE_VERSION}.tif"
        return self.root / content_hash[:2] / name

    @staticmethod
    def sidecar(target: Path) -> Path:
        return target.with_suffix(".json")

    def is_intact(self, target: Path) -> bool:
        try:
            recorded = json.loads(self.sidecar(target).read_text())
            return target.stat().st_size == recorded["bytes"]
        except (OSError, ValueError, KeyError, TypeError):
            return False

    def is_verified(self, content_hash: str) -> Path | None:
        """The derivative's path when this worker has already found it intact, else None."""
        target = self._paths.get(content_hash)
        if target is None:
            target = self._paths[content_hash] = self.path_for(content_hash)
        return target if target in self._verified else None

    def ensure(self, source: Source, content_hash: str) -> Path:
        """The derivative's path, building it first if it is not there yet."""
        target = self.path_for(content_hash)
        if target in self._verified:
            return target
        if target.exists() and self.is_intact(target):
            self._verified.add(target)
            counters.cache_lookup("derivative", hit=True)
            return target
        counters.cache_lookup("derivative", hit=False)
        target.parent.mkdir(parents=True, exist_ok=True)
        # One builder per derivative across all workers; the others wait and reuse it.
        with open(target.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (target.exists() and self.is_intact(target)):
                if target.exists():
                    log.warning("derivative %s is damaged; rebuilding it", target.name)
                self._build(source, target, content_hash)
                self.built_count += 1
                counters.derivative_built("folder")
        self._verified.add(target)
        return target

    def add_edges(self, target: Path) -> bool:
        """Give a pyramid built before edge tiles were kept its cut edges (stored_edges.py);
        whether it got them now. Under the build lock, as a build: a copy with the edges
        appended, its sidecar, then the rename, so a reader sees the old file or the new."""
        if self.edge_quality is None:
            return False
        with open(target.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not self.is_intact(target) or read_stored_edges(target) is not None:
                return False
            temporary = self._temporary(target, "pyramid")
            try:
                shutil.copyfile(target, temporary)
                if not append_edge_tiles(temporary, self.edge_quality):
                    return False
                with open(temporary, "rb+") as handle:
                    os.fsync(handle.fileno())
                record = json.loads(self.sidecar(target).read_text())
                self._write_sidecar(target, {**record, "bytes": os.path.getsize(temporary)})
                os.replace(temporary, target)
            finally:
                Path(temporary).unlink(missing_ok=True)
        log.info("kept the edge tiles of %s cut", target.name)
        return True

    def discard(self, target: Path) -> None:
        """Forget a derivative found unreadable, so the next request rebuilds it."""
        self._verified.discard(target)
        for path in (target, self.sidecar(target)):
            try:
                path.unlink()
            except FileNotFoundError:
                pass

    def _write_sidecar(self, target: Path, record: dict) -> None:
        temporary = self._temporary(target, "sidecar")
        with open(temporary, "w") as handle:
            json.dump(record, handle)
        os.replace(temporary, self.sidecar(target))

    def _build(self, source: Source, target: Path, content_hash: str | None = None) -> None:
        # Called under the build lock: any temporary file of this derivative still
        # here was left by a builder that died, and nobody else is writing one. Their
        # names are known, so none is looked for in a folder of 100,000 derivatives.
        for role in TEMPORARY_ROLES:
            Path(self._temporary(target, role)).unlink(missing_ok=True)
        temporaries = []
        # libvips reads the source while the pyramid is written: it stays until then.
        with self.local_copy(source, content_hash) as local:
            image = load_source(local, self.max_source_pixels)
            pending = orientation(image)
            try:
                if pending in TURNED_ORIENTATIONS:
                    image = self._turned_upright(image, pending, target, temporaries)
                temporaries.append(self._temporary(target, "pyramid"))
                temporary = temporaries[-1]
                image.tiffsave(
                    temporary,
                    tile=True,
                    tile_width=self.tile_size,
                    tile_height=self.tile_size,
                    pyramid=True,
                    compression="jpeg",
                    Q=self.quality,
                    bigtiff=_needs_bigtiff(image),
                )
                if self.edge_quality is not None:
                    append_edge_tiles(temporary, self.edge_quality)
                with open(temporary, "rb+") as handle:
                    os.fsync(handle.fileno())
                self._write_sidecar(target, {
                    "bytes": os.path.getsize(temporary),
                    "source": source.path.name,
                    "width": image.width,
                    "height": image.height,
                })
                os.replace(temporary, target)
            except pyvips.Error as error:
                raise SourceError(
                    f"Source image {source.path.name!r} cannot be read: {_first_line(error)}"
                ) from None
            finally:
                for path in temporaries:
                    if os.path.exists(path):
                        os.unlink(path)
        log.info("built derivative %s for %s (%d×%d)", target.name, source.path.name,
                 image.width, image.height)

    def _turned_upright(self, image: pyvips.Image, value: int, target: Path,
                        temporaries: list[str]) -> pyvips.Image:
        """The first of two passes for a source that must be turned or flipped.

        The source is decoded top to bottom once, as stored, into an uncompressed tiled
        TIFF beside the target; the pyramid is then written from that file, whose tiles
        can be read in any order, turned upright on the way. Measured on a 100-megapixel
        JPEG (bench/orientation_memory.py), this costs the time and memory of the plain
        one-pass build and 3 bytes a pixel of disk while it runs. Reopening the JPEG for
        random access instead has libvips hold the whole decoded image, in memory or
        mapped from a file in TMPDIR (about three times the peak RSS); compressing this
        file saves half its disk space but doubles the time or more.
        """
        temporaries.append(self._temporary(target, "upright"))
        stored = image.copy()
        stored.remove("orientation")
        stored.tiffsave(temporaries[-1], tile=True, tile_width=256, tile_height=256,
                        compression="none", bigtiff=_needs_bigtiff(image))
        return oriented(pyvips.Image.new_from_file(temporaries[-1], access="random"), value)

    @staticmethod
    def _temporary(target: Path, role: str) -> str:
        """The one temporary file of this role for this derivative (builds of one
        derivative hold its lock, so two never share a name), made empty."""
        temporary = target.parent / f".{target.stem}.{role}.tmp"
        temporary.write_bytes(b"")
        return str(temporary)


def append_edge_tiles(path: str | Path, quality: int) -> int:
    """Cut the edge tiles of the pyramid just written at `path` and append them
    (stored_edges.py); how many. A pyramid whose tiles cannot be spliced gets none."""
    with open(path, "r+b") as handle:
        try:
            levels = tile_indexes(reader_of(handle.fileno()))
        except (UnsupportedTiff, ValueError) as error:
            log.info("no stored edge tiles for %s: %s", Path(path).name, error)
            return 0
        cuts = []
        for level, index in enumerate(levels):
            for column, row, width, height in edge_positions(
                    index.width, index.height, index.tile_width, index.tile_height):
                at = row * index.columns + column
                if at >= len(index.offsets):
                    continue
                handle.seek(index.offsets[at])
                try:
                    cut = cut_edge(splice(index, handle.read(index.byte_counts[at])),
                                   index.tile_width, index.tile_height, width, height, quality)
                except OSError:  # a tile Pillow cannot decode: the renderer judges it
                    cut = None
                if cut is not None:
                    cuts.append((level, column, row, cut))
        end = handle.seek(0, os.SEEK_END)
        handle.write(appendix(cuts, end, quality))
    return len(cuts)


def _needs_bigtiff(image: pyvips.Image) -> bool:
    """Past 4 GB a classic TIFF's offsets overflow; leave room for the pyramid's levels."""
    return image.width * image.height * 3 > 3_500_000_000


class LevelOpener(Protocol):
    """How pyramids outside a folder are opened (bucket.BucketLevels)."""

    def levels(self, path: S3Url) -> tuple[tuple[int, int], ...]: ...

    def open(self, path: S3Url, page: int) -> pyvips.Image: ...


class OpenedLevels:
    """Each worker keeps its recently used pyramid levels open.

    Reopening a TIFF costs about as much as decoding a tile, so a viewer's stream
    of tile requests reuses the opened level (pyvips images are immutable and safe
    to share). Bounded LRU, so file handles and headers stay bounded too. Pyramids in a
    bucket come through an `opener`: their sizes from the tile indexes, a level
    opened only when a render needs it.
    """

    # Pyramids' sizes are kept for many more images than levels are kept open: a few
    # hundred bytes each, and asked for every image of a collection being listed.
    KNOWN_PYRAMIDS = 10_000

    def __init__(self, capacity: int = 64, opener: LevelOpener | None = None):
        self.capacity = capacity
        self.opener = opener
        self._images: OrderedDict[tuple[str, int], pyvips.Image] = OrderedDict()
        self._pyramids: OrderedDict[str, Pyramid] = OrderedDict()
        self._lock = threading.Lock()

    def opened_pyramid(self, path: Path) -> Pyramid | None:
        """The pyramid if it is open already, else None (opening it costs milliseconds)."""
        key = str(path)
        with self._lock:
            found = self._pyramids.get(key)
            if found is not None:
                self._pyramids.move_to_end(key)
            return found

    def pyramid(self, path: Path) -> Pyramid:
        key = str(path)
        found = self.opened_pyramid(path)
        if found is not None:
            return found
        if self.opener is not None:
            pyramid = Pyramid(path, self.opener.levels(path))
            with self._lock:
                self._pyramids[key] = pyramid
                self._trim()
            return pyramid
        first = pyvips.Image.new_from_file(key, access="random")
        pages = first.get("n-pages") if "n-pages" in first.get_fields() else 1
        levels = [(first.width, first.height)]
        for page in range(1, pages):
            level = pyvips.Image.new_from_file(key, page=page, access="random")
            levels.append((level.width, level.height))
        pyramid = Pyramid(path, tuple(levels))
        with self._lock:
            self._pyramids[key] = pyramid
            self._images[(key, 0)] = first
            self._trim()
        return pyramid

    def level(self, pyramid: Pyramid, index: int) -> pyvips.Image:
        key = (str(pyramid.path), index)
        with self._lock:
            found = self._images.get(key)
            if found is not None:
                self._images.move_to_end(key)
                return found
        if self.opener is not None:
            image = self.opener.open(pyramid.path, index)
        else:
            image = pyvips.Image.new_from_file(str(pyramid.path), page=index, access="random")
        with self._lock:
            self._images[key] = image
            self._trim()
        return image

    def private(self, pyramid: Pyramid, index: int) -> pyvips.Image:
        """The level opened afresh for one render, never kept. A whole-image render
        passes every stored tile through the two rows of them that libvips keeps per
        opened level: with its own, its rows are freed when it ends, and renders running
        side by side in a worker do not push out each other's rows and decode them again."""
        if self.opener is not None:
            return self.opener.open(pyramid.path, index)
        return pyvips.Image.new_from_file(str(pyramid.path), page=index, access="random")

    def forget(self, path: Path) -> None:
        key = str(path)
        with self._lock:
            self._pyramids.pop(key, None)
            for image_key in [k for k in self._images if k[0] == key]:
                del self._images[image_key]

    def _trim(self) -> None:
        while len(self._images) > self.capacity:
            self._images.popitem(last=False)
        while len(self._pyramids) > max(self.capacity, self.KNOWN_PYRAMIDS):
            self._pyramids.popitem(last=False)
