"""The catalogue's answers to what the image core asks (image/lookups.py), from the index.

Made by the app factory before the image service, over the catalogue's database, and
handed to it: where an image's files are, the hash the scan stored for an object in a
bucket, and the rights, caps and limits of the records showing an image. The record
store asks it where an item's record files are. Each answer is one index lookup; none
looks for changed records first (the watcher keeps the index current, and an app that
no watcher keeps current checks once per request: Catalogue.current()).
"""

from __future__ import annotations

from ..image.resolved import ImagePolicy
from ..image.sources import LOCATE_SECONDS, Source
from . import index
from .journal import CatalogueDatabase
from .tiers import Tier, public_face, today


class IndexLookups:
    indexed = True

    def __init__(self, database: CatalogueDatabase):
        self.database = database
        # Where an image is may be kept this long by a served worker (a tile must not
        # cost a database round trip); 0 in an app that checks for changes on request.
        self.locate_seconds = LOCATE_SECONDS

    def source_files(self, identifier: str) -> list[str]:
        return self.database.read(index.source_files, identifier)

    def record_files(self, item: str) -> list[str]:
        return self.database.read(index.record_files, item)

    def stored_hash(self, source: Source) -> str | None:
        # A source in a bucket is not read whole to hash it on a worker's first request:
        # the scan stored its hash (the build checks it again while it downloads).
        return self.database.read(index.stored_hash, source.identifier, str(source.path),
                                  source.size, source.mtime_ns)

    def rights(self, identifier: str) -> str | None:
        """The rights URI of an image, when the records showing it agree on one."""
        rights = {entry.rights for entry in self.database.read(index.showing, identifier)}
        return rights.pop() if len(rights) == 1 else None

    def policy(self, identifier: str) -> ImagePolicy:
        """The strictest cap, limits and tier of the records showing this image, today."""
        showing = self.database.read(index.showing, identifier)

        def strictest(name: str) -> int | None:
            values = [getattr(entry, name) for entry in showing if getattr(entry, name)]
            return min(values) if values else None

        day = today()
        tiers = [entry.tier_on(day) for entry in showing]
        public = all(public_face(tier, entry.max_size) for tier, entry in zip(tiers, showing))
        tier = max(tiers, key=STRICTNESS.index) if tiers else Tier.OPEN
        return ImagePolicy(strictest("max_size"), strictest("max_width"),
                           strictest("max_height"), strictest("max_area"), public,
                           tier.value, tuple(entry.item for entry in showing))


# From everyone to staff only: an image shown by two items has the stricter tier.
STRICTNESS = [Tier.OPEN, Tier.CAPPED, Tier.CLICKTHROUGH, Tier.READING_ROOM, Tier.STAFF]
