"""The Image API URL grammar: region/size/rotation/quality.format, for 3.0 and 2.1.

Parsing is purely syntactic and knows nothing of the image: it turns the four path
segments into an ImageRequest or raises BadRequest naming the segment at fault.
Resolving against the image's dimensions (out-of-bounds regions, upscaling rules,
size limits) happens in operations.py.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from ..errors import BadRequest, NotImplementedFeature

# Longest parameter we look at; anything longer is garbage and rejected before any regex.
MAX_PARAMETER_LENGTH = 100

# ASCII digits only: Python's \d and int() would also accept "１００" (fullwidth).
_NUMBER = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_INT = r"[0-9]+"

_REGION_PIXELS = re.compile(rf"({_INT}),({_INT}),({_INT}),({_INT})")
_REGION_PERCENT = re.compile(rf"pct:({_NUMBER}),({_NUMBER}),({_NUMBER}),({_NUMBER})")
_SIZE = re.compile(
    rf"(?P<up>\^)?(?:"
    rf"(?P<max>max)|(?P<full>full)"
    rf"|pct:(?P<pct>{_NUMBER})"
    rf"|(?P<confined>!)?(?P<w>{_INT})?,(?P<h>{_INT})?"
    rf")"
)
_ROTATION = re.compile(rf"(!)?({_NUMBER})")

QUALITIES = ("default", "color", "gray", "bitonal")

# Formats we render, with their media types.
FORMATS = {
    "jpg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "gif": "image/gif",
    "tif": "image/tiff",
}
# Formats named by the specs that this server does not produce: 501, not 400.
KNOWN_UNSUPPORTED_FORMATS = ("jp2", "pdf")


@dataclass(frozen=True)
class Region:
    kind: str  # "full" | "square" | "pixels" | "percent"
    x: float = 0
    y: float = 0
    w: float = 0
    h: float = 0


@dataclass(frozen=True)
class Size:
    kind: str  # "max" | "full" | "pct" | "w" | "h" | "wh" | "confined"
    width: int | None = None
    height: int | None = None
    percent: float | None = None
    upscale: bool = False


@dataclass(frozen=True)
class Rotation:
    degrees: float = 0.0
    mirror: bool = False


@dataclass(frozen=True)
class ImageRequest:
    version: int  # 2 or 3
    region: Region
    size: Size
    rotation: Rotation
    quality: str
    format: str


def _check_length(name: str, value: str) -> None:
    if len(value) > MAX_PARAMETER_LENGTH:
        raise BadRequest(f"The {name} parameter is too long ({len(value)} characters).")


def parse_region(value: str) -> Region:
    _check_length("region", value)
    if value == "full":
        return Region("full")
    if value == "square":
        return Region("square")
    match = _REGION_PIXELS.fullmatch(value)
    if match:
        x, y, w, h = (int(group) for group in match.groups())
        kind = "pixels"
    else:
        match = _REGION_PERCENT.fullmatch(value)
        if not match:
            raise BadRequest(
                f"Region {value!r} is not valid: use full, square, x,y,w,h or pct:x,y,w,h."
            )
        x, y, w, h = (float(group) for group in match.groups())
        kind = "percent"
        if x >= 100 or y >= 100:
            raise BadRequest(f"Region {value!r} starts outside the image (at or past 100%).")
    if w == 0 or h == 0:
        raise BadRequest(f"Region {value!r} has zero width or height.")
    return Region(kind, x, y, w, h)


# Sizes, rotations and quality.format recur (a viewer's tiles are "256," or "512,", "0",
# "default.jpg"): their answers, immutable, are kept; a bad one is refused every time.
@functools.lru_cache(maxsize=512)
def parse_size(value: str, version: int) -> Size:
    _check_length("size", value)
    match = _SIZE.fullmatch(value)
    if not match:
        forms = "max, w,, ,h, w,h, !w,h or pct:n (each may start with ^)" if version == 3 \
            else "full, max, w,, ,h, w,h, !w,h or pct:n"
        raise BadRequest(f"Size {value!r} is not valid: use {forms}.")
    upscale = match["up"] is not None
    if upscale and version == 2:
        raise BadRequest(f"Size {value!r}: the ^ prefix belongs to Image API 3.0, not 2.1.")
    if match["max"]:
        return Size("max", upscale=upscale)
    if match["full"]:
        if version == 3:
            raise BadRequest("Size 'full' was replaced by 'max' in Image API 3.0.")
        return Size("full")
    if match["pct"] is not None:
        percent = float(match["pct"])
        if percent == 0:
            raise BadRequest(f"Size {value!r}: a percentage must be above zero.")
        if percent > 100 and version == 3 and not upscale:
            raise BadRequest(f"Size {value!r}: scaling above 100% needs the ^ prefix.")
        return Size("pct", percent=percent, upscale=upscale)
    width = int(match["w"]) if match["w"] is not None else None
    height = int(match["h"]) if match["h"] is not None else None
    if width is None and height is None:
        raise BadRequest(f"Size {value!r} gives neither a width nor a height.")
    if width == 0 or height == 0:
        raise BadRequest(f"Size {value!r} has a zero width or height.")
    if match["confined"]:
        if width is None or height is None:
            raise BadRequest(f"Size {value!r}: !w,h needs both a width and a height.")
        return Size("confined", width, height, upscale=upscale)
    if width is None:
        return Size("h", height=height, upscale=upscale)
    if height is None:
        return Size("w", width=width, upscale=upscale)
    return Size("wh", width, height, upscale=upscale)


@functools.lru_cache(maxsize=64)
def parse_rotation(value: str) -> Rotation:
    _check_length("rotation", value)
    match = _ROTATION.fullmatch(value)
    if not match:
        raise BadRequest(
            f"Rotation {value!r} is not valid: use degrees from 0 to 360, optionally after '!'."
        )
    degrees = float(match[2])
    if degrees > 360:
        raise BadRequest(f"Rotation {value!r} is above 360 degrees.")
    return Rotation(degrees % 360, match[1] is not None)


@functools.lru_cache(maxsize=64)
def parse_quality_format(value: str) -> tuple[str, str]:
    _check_length("quality.format", value)
    quality, dot, extension = value.rpartition(".")
    if not dot:
        raise BadRequest(f"{value!r} lacks a format: use quality.format, e.g. default.jpg.")
    if quality not in QUALITIES:
        raise BadRequest(f"Quality {quality!r} is not valid: use one of {', '.join(QUALITIES)}.")
    if extension in KNOWN_UNSUPPORTED_FORMATS:
        raise NotImplementedFeature(
            f"Format {extension!r} is not offered here: use one of {', '.join(FORMATS)}."
        )
    if extension not in FORMATS:
        raise BadRequest(f"Format {extension!r} is not valid: use one of {', '.join(FORMATS)}.")
    return quality, extension


def parse_image_request(
    region: str, size: str, rotation: str, quality_format: str, version: int
) -> ImageRequest:
    # Checked in URL order, so the error names the first bad segment.
    parsed_region = parse_region(region)
    parsed_size = parse_size(size, version)
    parsed_rotation = parse_rotation(rotation)
    quality, extension = parse_quality_format(quality_format)
    return ImageRequest(version, parsed_region, parsed_size, parsed_rotation, quality, extension)
