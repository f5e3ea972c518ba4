"""A derivative's pyramid as the renderers see it: where it is and its levels' sizes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..settings import S3Url


@dataclass(frozen=True)
class Pyramid:
    """A derivative's levels: level k is the image shrunk by 2**k (sizes floored)."""

    path: Path | S3Url  # an object's URL when the cache is a bucket
    levels: tuple[tuple[int, int], ...]

    @property
    def width(self) -> int:
        return self.levels[0][0]

    @property
    def height(self) -> int:
        return self.levels[0][1]
