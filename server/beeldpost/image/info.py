"""info.json documents for Image API 3.0 and 2.1, and what tells the versions apart.

Protocol-neutral: the service's base URI is given, never read from a request.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable
from urllib.parse import quote

from .operations import Limits
from .parameters import FORMATS
from .resolved import ResolvedImage

CONTEXT_3 = "http://iiif.io/api/image/3/context.json"
CONTEXT_2 = "http://iiif.io/api/image/2/context.json"
PROTOCOL = "http://iiif.io/api/image"
PROFILE_3 = "http://iiif.io/api/image/3/level2.json"
PROFILE_2 = "http://iiif.io/api/image/2/level2.json"

# Beyond what level 2 already requires.
EXTRA_FEATURES_3 = [
    "baseUriRedirect",
    "canonicalLinkHeader",
    "cors",
    "jsonldMediaType",
    "mirroring",
    "profileLinkHeader",
    "rotationArbitrary",
    "sizeUpscaling",
]
SUPPORTS_2 = [
    "baseUriRedirect",
    "canonicalLinkHeader",
    "cors",
    "jsonldMediaType",
    "mirroring",
    "profileLinkHeader",
    "regionByPct",
    "regionByPx",
    "regionSquare",
    "rotationArbitrary",
    "rotationBy90s",
    "sizeAboveFull",
    "sizeByConfinedWh",
    "sizeByDistortedWh",
    "sizeByH",
    "sizeByPct",
    "sizeByW",
    "sizeByWh",
]


def scale_factors(width: int, height: int, tile_size: int) -> list[int]:
    """1, 2, 4, … until the whole image fits in one tile."""
    factors = [1]
    while max(width, height) / factors[-1] > tile_size:
        factors.append(factors[-1] * 2)
    return factors


def preferred_sizes(width: int, height: int, factors: list[int], limits: Limits) -> list[dict]:
    """The whole image at each pyramid level, smallest first, as `w,h` requests give them.

    ceil() matches how clients (OpenSeadragon) compute a level's size, so each
    listed size maps onto a stored level without resampling beyond a pixel.
    """
    sizes = []
    for factor in reversed(factors):
        size_w, size_h = math.ceil(width / factor), math.ceil(height / factor)
        if limits.fits(size_w, size_h):
            sizes.append({"width": size_w, "height": size_h})
    if not sizes:  # even the smallest level is above the limits
        fitted_w, fitted_h = limits.fit(width, height, allow_upscale=False)
        sizes.append({"width": fitted_w, "height": fitted_h})
    return sizes


def _limit_fields(limits: Limits) -> dict:
    fields = {}
    if limits.max_width is not None:
        fields["maxWidth"] = limits.max_width
    if limits.max_height is not None:
        fields["maxHeight"] = limits.max_height
    if limits.max_area is not None:
        fields["maxArea"] = limits.max_area
    return fields


def info_v3(
    service_id: str, width: int, height: int, tile_size: int, limits: Limits,
    rights: str | None = None,
) -> dict:
    factors = scale_factors(width, height, tile_size)
    document = {
        "@context": CONTEXT_3,
        "id": service_id,
        "type": "ImageService3",
        "protocol": PROTOCOL,
        "profile": "level2",
        "width": width,
        "height": height,
        **_limit_fields(limits),
        "sizes": preferred_sizes(width, height, factors, limits),
        "tiles": [{"width": tile_size, "height": tile_size, "scaleFactors": factors}],
        "preferredFormats": ["jpg"],
        "extraQualities": ["color", "gray", "bitonal"],
        "extraFormats": [name for name in FORMATS if name not in ("jpg", "png")],
        "extraFeatures": EXTRA_FEATURES_3,
    }
    if rights:
        document["rights"] = rights
    return document


def info_v2(service_id: str, width: int, height: int, tile_size: int, limits: Limits) -> dict:
    factors = scale_factors(width, height, tile_size)
    return {
        "@context": CONTEXT_2,
        "@id": service_id,
        "protocol": PROTOCOL,
        "width": width,
        "height": height,
        "sizes": preferred_sizes(width, height, factors, limits),
        "tiles": [{"width": tile_size, "height": tile_size, "scaleFactors": factors}],
        "profile": [
            PROFILE_2,
            {
                "formats": list(FORMATS),
                "qualities": ["default", "color", "gray", "bitonal"],
                "supports": SUPPORTS_2,
                **_limit_fields(limits),
            },
        ],
    }


@dataclass(frozen=True)
class ApiVersion:
    """What tells Image API 3.0 and 2.1 apart: URL prefix, context, profile, info.json."""

    number: int
    prefix: str
    context: str
    profile: str
    build_info: Callable[..., dict]


VERSION_3 = ApiVersion(3, "/iiif/3", CONTEXT_3, PROFILE_3, info_v3)
VERSION_2 = ApiVersion(2, "/iiif/2", CONTEXT_2, PROFILE_2, info_v2)


def service_url(base: str, version: ApiVersion, identifier: str) -> str:
    """The image service's base URI as clients must use it (identifier escaped)."""
    return _service_url(base, version.prefix, identifier)


@functools.lru_cache(maxsize=1024)  # asked for on every image answer
def _service_url(base: str, prefix: str, identifier: str) -> str:
    return f"{base}{prefix}/{quote(identifier, safe='')}"


def info_document(version: ApiVersion, resolved: ResolvedImage, tile_size: int,
                  service: str, rights: str | None) -> dict:
    """The image's info.json for `version`, as the public service describes the image."""
    arguments = dict(service_id=service, width=resolved.width, height=resolved.height,
                     tile_size=tile_size, limits=resolved.limits)
    if version.number == 3:
        arguments["rights"] = rights
    return version.build_info(**arguments)
