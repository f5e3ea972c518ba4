"""What the image core asks of the catalogue, as one typed interface.

The app factory makes the catalogue's implementation (catalogue/lookups.py, over the
index) and hands it to ImageService, which hands its source part to the SourceCatalog:
no layer assigns functions onto another's objects. Without a catalogue (`beeldpost
ingest`, the image core's own tests) it is NoCatalogue: the images folder is walked,
and no record gives an image rights or a cap.
"""

from __future__ import annotations

from typing import Protocol

from .resolved import ImagePolicy
from .sources import Source, SourceLookups


class CatalogueLookups(SourceLookups, Protocol):
    """Where an image's files are and their stored hash (SourceLookups), and what the
    records showing an image say of it."""

    def rights(self, identifier: str) -> str | None:
        """The rights URI the records showing the image agree on (info.json), or None."""
        ...

    def policy(self, identifier: str) -> ImagePolicy:
        """The strictest cap and limits of the records showing the image."""
        ...


class NoCatalogue:
    """The image core on its own: sources found by walking the images folder."""

    indexed = False
    locate_seconds = 0.0

    def source_files(self, identifier: str) -> list[str]:
        return []

    def stored_hash(self, source: Source) -> str | None:
        return None

    def rights(self, identifier: str) -> str | None:
        return None

    def policy(self, identifier: str) -> ImagePolicy:
        return ImagePolicy()
