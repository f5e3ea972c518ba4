"""Resolve a parsed ImageRequest against an image's dimensions into Operations.

Operations are protocol-neutral: a crop box in full-resolution pixels, an output
size, mirroring, rotation, quality and format. Everything the specs say about
bounds, upscaling and size limits is decided here, before any pixel is touched,
so a request that would need a huge allocation is refused with a 400 up front.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import BadRequest
from .parameters import ImageRequest, Region, Size

# Whatever the configured limits, no single render may exceed this many pixels:
# it keeps memory bounded even on a server configured without maxArea.
HARD_MAX_PIXELS = 400_000_000


@dataclass(frozen=True)
class Limits:
    max_width: int | None = None
    max_height: int | None = None
    max_area: int | None = None

    def fits(self, width: int, height: int) -> bool:
        return (
            (self.max_width is None or width <= self.max_width)
            and (self.max_height is None or height <= self.max_height)
            and (self.max_area is None or width * height <= self.max_area)
        )

    def fit(self, width: int, height: int, allow_upscale: bool) -> tuple[int, int]:
        """The largest size with the aspect ratio of width×height within the limits."""
        scale = math.inf if allow_upscale else 1.0
        if self.max_width is not None:
            scale = min(scale, self.max_width / width)
        if self.max_height is not None:
            scale = min(scale, self.max_height / height)
        if self.max_area is not None:
            scale = min(scale, math.sqrt(self.max_area / (width * height)))
        if math.isinf(scale) or scale == 1.0:
            return width, height
        fitted_w = max(1, math.floor(width * scale))
        fitted_h = max(1, math.floor(height * scale))
        # floor() on both sides can still overshoot maxArea by rounding; step down.
        while not self.fits(fitted_w, fitted_h) and (fitted_w > 1 or fitted_h > 1):
            fitted_w, fitted_h = max(1, fitted_w - 1), max(1, fitted_h - 1)
        return fitted_w, fitted_h


@dataclass(frozen=True)
class Operations:
    image_width: int
    image_height: int
    x: int
    y: int
    region_width: int
    region_height: int
    width: int  # output width before rotation
    height: int
    mirror: bool
    degrees: float
    quality: str
    format: str
    upscaled: bool

    @property
    def is_full_region(self) -> bool:
        return (self.x, self.y, self.region_width, self.region_height) == (
            0, 0, self.image_width, self.image_height
        )

    @property
    def is_unscaled(self) -> bool:
        return (self.width, self.height) == (self.region_width, self.region_height)

    def canonical_path(self, version: int) -> str:
        """region/size/rotation/quality.format in the version's canonical form."""
        if self.is_full_region:
            region = "full"
        else:
            region = f"{self.x},{self.y},{self.region_width},{self.region_height}"
        if version == 3:
            if self.is_unscaled:
                size = "max"
            else:
                size = f"{'^' if self.upscaled else ''}{self.width},{self.height}"
        elif self.is_unscaled:
            size = "full"
        elif self.height == max(1, _round(self.region_height * self.width / self.region_width)):
            size = f"{self.width},"  # 2.1: `w,` when it gives the same height (aspect kept)
        else:
            size = f"{self.width},{self.height}"  # distorted, or rounded another way
        rotation = ("!" if self.mirror else "") + format_degrees(self.degrees)
        return f"{region}/{size}/{rotation}/{self.quality}.{self.format}"


def format_degrees(degrees: float) -> str:
    if degrees == int(degrees):
        return str(int(degrees))
    return f"{degrees:.6f}".rstrip("0").rstrip(".")


def _round(value: float) -> int:
    """Round half up (Python's round() goes to even, which clients do not expect)."""
    return int(math.floor(value + 0.5))


def resolve_region(region: Region, width: int, height: int) -> tuple[int, int, int, int]:
    if region.kind == "full":
        return 0, 0, width, height
    if region.kind == "square":
        side = min(width, height)
        return (width - side) // 2, (height - side) // 2, side, side
    if region.kind == "pixels":
        x, y, w, h = int(region.x), int(region.y), int(region.w), int(region.h)
    else:  # percent
        x = _round(region.x * width / 100)
        y = _round(region.y * height / 100)
        # A non-zero percentage never collapses to nothing.
        w = max(1, _round(region.w * width / 100))
        h = max(1, _round(region.h * height / 100))
    if x >= width or y >= height:
        raise BadRequest(
            f"Region starts at {x},{y}, outside the {width}×{height} image."
        )
    return x, y, min(w, width - x), min(h, height - y)


def resolve_size(
    size: Size, region_width: int, region_height: int, limits: Limits, version: int
) -> tuple[int, int, bool]:
    """Output (width, height, upscaled) for the region, or BadRequest."""
    rw, rh = region_width, region_height
    strict = version == 3 and not size.upscale  # 3.0 forbids upscaling without ^

    if size.kind == "max":
        width, height = limits.fit(rw, rh, allow_upscale=size.upscale)
        return width, height, width > rw or height > rh
    if size.kind == "full":  # 2.1 only: the region unscaled
        width, height = rw, rh
    elif size.kind == "pct":
        factor = size.percent / 100
        width, height = max(1, _round(rw * factor)), max(1, _round(rh * factor))
    elif size.kind == "w":
        width = size.width
        height = max(1, _round(rh * width / rw))
    elif size.kind == "h":
        height = size.height
        width = max(1, _round(rw * height / rh))
    elif size.kind == "wh":
        width, height = size.width, size.height
    else:  # confined: best fit inside width×height, aspect ratio kept
        scale = min(size.width / rw, size.height / rh)
        if strict and scale > 1:
            raise BadRequest(
                f"Size !{size.width},{size.height} would upscale the {rw}×{rh} region: "
                "Image API 3.0 needs the ^ prefix for that."
            )
        width = min(size.width, max(1, _round(rw * scale)))
        height = min(size.height, max(1, _round(rh * scale)))

    if strict and (width > rw or height > rh):
        raise BadRequest(
            f"Size {width}×{height} is larger than the {rw}×{rh} region: "
            "Image API 3.0 needs the ^ prefix to upscale."
        )
    if not limits.fits(width, height):
        raise BadRequest(
            f"Size {width}×{height} exceeds this image's limits ({describe(limits)})."
        )
    if width * height > HARD_MAX_PIXELS:
        raise BadRequest(f"Size {width}×{height} is too large to render.")
    return width, height, width > rw or height > rh


def describe(limits: Limits) -> str:
    parts = []
    if limits.max_width is not None:
        parts.append(f"maxWidth {limits.max_width}")
    if limits.max_height is not None:
        parts.append(f"maxHeight {limits.max_height}")
    if limits.max_area is not None:
        parts.append(f"maxArea {limits.max_area}")
    return ", ".join(parts) or "none"


def resolve(request: ImageRequest, width: int, height: int, limits: Limits) -> Operations:
    x, y, rw, rh = resolve_region(request.region, width, height)
    out_w, out_h, upscaled = resolve_size(request.size, rw, rh, limits, request.version)
    return Operations(
        image_width=width,
        image_height=height,
        x=x,
        y=y,
        region_width=rw,
        region_height=rh,
        width=out_w,
        height=out_h,
        mirror=request.rotation.mirror,
        degrees=request.rotation.degrees,
        quality=request.quality,
        format=request.format,
        upscaled=upscaled,
    )
