"""The benchmark's workloads, as lists of IIIF Image API 2.1 request tails.

Each request is `region/size/rotation/quality.format` relative to an image's base
URI, so the same list serves Beeldpost (`/iiif/2/bench/...`) and IIPImage
(`/fcgi-bin/iipsrv.fcgi?IIIF=bench.tif/...`). Debian bookworm's iipsrv 1.1 speaks
Image API 2, hence the 2.1 syntax (`full/full`, not 3.0's `full/max`); a newer iipsrv
is told to speak 2 as well (servers.py).

Every list is deterministic (fixed seeds), so runs and servers see the same URLs.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

TILE = 256
SCALE_FACTORS = (1, 2, 4, 8, 16, 32)


@dataclass(frozen=True)
class Request:
    tail: str  # region/size/rotation/quality.format, or "info.json"
    # Expected output size (width, height), None for info.json.
    size: tuple[int, int] | None = None


@dataclass
class Workload:
    key: str
    title: str
    requests: list[Request]
    # True for workloads that answer with JSON rather than an image.
    json: bool = False
    notes: str = ""
    extra: dict = field(default_factory=dict)
    # Concurrent connections under load; None: the harness's --connections (8).
    connections: int | None = None
    # Count every answer's status (and whether a 503 carries Retry-After) under load. It
    # costs wrk a Lua call per answer, so only the heavy workloads do it; the others
    # report wrk's own error counts (socket errors, timeouts, answers >= 400).
    count_statuses: bool = False


def _proportional_height(region_w: int, region_h: int, width: int) -> int:
    return max(1, round(region_h * width / region_w))


def osd_tiles(width: int, height: int, tile: int = TILE, factors=SCALE_FACTORS) -> list[Request]:
    """Every tile OpenSeadragon's IIIF 2 tile source asks for, at every scale factor.

    Mirrors OpenSeadragon's IIIFTileSource.getTileUrl: a level that fits in one tile
    is asked as `full/{levelWidth},`; otherwise tiles of tile*factor source pixels,
    clipped at the right and bottom edges, each asked at `ceil(regionWidth/factor),`.
    """
    requests = []
    for factor in factors:
        level_w, level_h = math.ceil(width / factor), math.ceil(height / factor)
        if level_w < tile and level_h < tile:
            size_w = level_w
            requests.append(Request(f"full/{size_w},/0/default.jpg",
                                    (size_w, _proportional_height(width, height, size_w))))
            continue
        span = tile * factor
        for y in range(0, height, span):
            for x in range(0, width, span):
                w, h = min(span, width - x), min(span, height - y)
                region = "full" if (x, y, w, h) == (0, 0, width, height) else f"{x},{y},{w},{h}"
                size_w = math.ceil(w / factor)
                requests.append(Request(f"{region}/{size_w},/0/default.jpg",
                                        (size_w, _proportional_height(w, h, size_w))))
    return requests


def build(width: int, height: int) -> dict[str, Workload]:
    rng = random.Random(20240505)

    tiles = osd_tiles(width, height)
    rng.shuffle(tiles)

    confined = []
    for n in range(150, 251):  # !N,N for N around 200
        scale = min(n / width, n / height)
        fitted = (max(1, round(width * scale)), max(1, round(height * scale)))
        confined.append(Request(f"full/!{n},{n}/0/default.jpg", fitted))
    rng.shuffle(confined)

    widths = [Request(f"full/{w},/0/default.jpg", (w, _proportional_height(width, height, w)))
              for w in range(900, 1101)]  # W, for W around 1000
    rng.shuffle(widths)

    crops = []
    for _ in range(64):  # 1024² crops at full resolution, anywhere (mostly not tile-aligned)
        x, y = rng.randrange(0, width - 1024 + 1), rng.randrange(0, height - 1024 + 1)
        crops.append(Request(f"{x},{y},1024,1024/full/0/default.jpg", (1024, 1024)))

    return {
        "W1": Workload("W1", "W1 tiles (OSD, sf 1–32), cold", tiles,
                       notes=f"{len(tiles)} distinct tile URLs, shuffled; response cache off"),
        "W2": Workload("W2", "W2 info.json", [Request("info.json")], json=True),
        "W3a": Workload("W3a", "W3a full/!N,N (N≈200)", confined,
                        notes=f"{len(confined)} distinct N in 150–250"),
        "W3b": Workload("W3b", "W3b full/W, (W≈1000)", widths,
                        notes=f"{len(widths)} distinct W in 900–1100"),
        "W3c": Workload("W3c", "W3c full/full", [Request("full/full/0/default.jpg", (width, height))],
                        notes=f"the whole {width}×{height} image at full size", count_statuses=True),
        "W3c32": Workload("W3c32", "W3c full/full at c=32",
                          [Request("full/full/0/default.jpg", (width, height))],
                          notes="as W3c with 32 connections: more than either server runs at "
                                "once, so the rest wait or are refused (503 with Retry-After)",
                          connections=32, count_statuses=True),
        "W3d": Workload("W3d", "W3d 1024² crops, full res", crops,
                        notes=f"{len(crops)} distinct crops at seeded random positions"),
        "W3c2": Workload("W3c2", "W3c full/full, Beeldpost with 2 heavy slots",
                         [Request("full/full/0/default.jpg", (width, height))], count_statuses=True,
                         notes="as W3c, Beeldpost with BEELDPOST_HEAVY_SLOTS=2 (production "
                               "before issue 23: 1; now a slot per core, admitted by memory); "
                               "compared with IIPImage's W3c"),
        "W1warm": Workload("W1warm", "W1 tiles, Beeldpost response cache warm", tiles,
                           notes="same URLs as W1; Beeldpost with BEELDPOST_RESPONSE_CACHE=on after a "
                                 "warm-up pass; compared with IIPImage's cold W1 (its cache is off)"),
    }
