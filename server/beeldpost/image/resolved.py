"""An identifier resolved: its source, its pyramid, and the image its public service describes."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .pyramid import Pyramid
from .operations import Limits
from .sources import Source


@dataclass(frozen=True)
class ImagePolicy:
    """What an item's record asks of its image's public service (None: the global setting).

    `max_size` caps the long edge of the image the public service *describes*, not
    just what it outputs: a capped image is served as a smaller image, so its
    tiles at scale factor 1 hold no more detail than the cap allows.
    """

    max_size: int | None = None
    max_width: int | None = None
    max_height: int | None = None
    max_area: int | None = None
    # False: the full scan is withheld from the public (its access tier) and there is no
    # cap to show instead: the public service shows nothing of it.
    public: bool = True
    # The strictest access tier in force today of the records showing the image
    # (catalogue/tiers.py's names: open, capped, clickthrough, reading-room, staff), and
    # the items whose records those are. Who may see the full scan is decided above.
    tier: str = "open"
    items: tuple[str, ...] = ()

    @property
    def is_open(self) -> bool:
        """Everyone sees the full scan: the image has one version, at one URL."""
        return self.tier == "open"


class View(enum.Enum):
    """What a request may see of an image: decided above the image core (who is asking,
    the item's access tier) and handed to it as this plain value.

    PUBLIC is what the records let everyone see, at the URLs an image always had: the
    full scan, or the scan up to its cap, or nothing. FULL is the full scan, at the
    full version's own URLs, for whoever the access tier lets see it; what the public
    may see of it there is no more than its public face (`ImageService.shows_no_more`)."""

    PUBLIC = "public"
    FULL = "full"


@dataclass(frozen=True)
class ResolvedImage:
    source: Source
    content_hash: str
    pyramid: Pyramid
    width: int  # of the image as the public service describes it
    height: int
    limits: Limits
    view: View = View.PUBLIC

    @property
    def full_width(self) -> int:
        return self.pyramid.width

    @property
    def full_height(self) -> int:
        return self.pyramid.height

    @property
    def is_capped(self) -> bool:
        return (self.width, self.height) != (self.full_width, self.full_height)


def public_size(width: int, height: int, max_size: int | None) -> tuple[int, int]:
    """The image's size once its long edge is capped at max_size (never enlarged)."""
    if max_size is None or max(width, height) <= max_size:
        return width, height
    scale = max_size / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))
