"""The catalogue as requests read it: one interface over the index, the journal's
database and the records (the store that a shared database will stand behind next).

Every answer is an index lookup, or the item's own record as the index holds it; no
request lists a folder or parses another item's record. What keeps the index current
is the journal's scan, run by the watcher in one process of the server (watcher.py).
An app that no watcher keeps current (one made with `create_app()` and served by some
other WSGI server, or in a test) checks for changes before it reads, at most every
`journal_interval` seconds: `check_on_request`, which the server's own worker turns off.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Callable

from ..image.sources import LOCATE_SECONDS
from ..image.service import ImageService
from . import hierarchy, index, vocabulary
from . import records as record_files
from .index import Entry, Filters, Hit, Node
from .journal import Journal
from .records import ITEM_ID, Record, RecordStore


@dataclass(frozen=True)
class Level:
    """One Collection document's worth of a node: the node (None at the top), the slice
    shown, the child nodes and child slices it lists, and its items."""

    node: Node | None
    part: hierarchy.Slice
    children: list[Node]
    slices: tuple[hierarchy.Slice, ...]
    items: list[Entry]
    count: int  # the items it holds, below it included (a slice: the slice's)


class Catalogue:
    def __init__(self, journal: Journal, records: RecordStore, images: ImageService,
                 collection_size: int = 1000):
        self.journal = journal
        self.records = records
        self.images = images
        # The index lookups the image service was made with (the app factory's), whose
        # keeping of places check_on_request sets.
        self.lookups = images.lookups
        self.collection_size = collection_size
        self._kept: dict[tuple, tuple[int, int, object]] = {}  # key -> generation, size, value
        self._kept_size = 0
        self._kept_lock = threading.Lock()
        self._records: dict[tuple[str, str], Record] = {}  # (item, digest) -> parsed entry
        self.check_on_request = True

    @property
    def check_on_request(self) -> bool:
        """Whether requests look for changed records first (an app no watcher keeps
        current). Then where an image is is asked of the index on each request too;
        otherwise (the server's workers) it may be kept for a moment (sources.py)."""
        return self._check_on_request

    @check_on_request.setter
    def check_on_request(self, value: bool) -> None:
        self._check_on_request = value
        self.lookups.locate_seconds = 0.0 if value else LOCATE_SECONDS

    def current(self) -> None:
        if self.check_on_request:
            self.journal.refresh()

    def _read(self, query: Callable, *args, **options):
        return self.journal.read(query, *args, **options)

    # ------------------------------------------------------------------ one item

    def record(self, item: str) -> Record:
        """The item's checked record (NotFound, BrokenRecord).

        A published item is built from the index, which holds its record's and its
        transcript's text as they were checked and journalled: what is served is what
        Change Discovery announced, and a server needs no records folder of its own
        (several servers share one database). Where the records folder is at hand and
        the item's files no longer match what was published (edited, broken, claimed by
        a second file, and not yet scanned), the files answer instead, as they always
        have: a broken edit is a 422 naming the file."""
        self.current()
        entry = self._read(index.entry, item) if ITEM_ID.match(item) else None
        if entry is None or self._files_differ(entry):
            return self.records.load(item)
        key = (entry.item, entry.digest)
        with self._kept_lock:
            found = self._records.get(key)
        if found is None:
            found = record_files.parse_record(self.records.folder / entry.file, entry.record, entry.file,
                                 transcript=entry.transcript)
            with self._kept_lock:
                if len(self._records) >= self.records.CACHED_RECORDS:
                    del self._records[next(iter(self._records))]
                self._records[key] = found
        return found

    def _files_differ(self, entry: Entry) -> bool:
        """Whether the records folder holds other files for this item than were published
        (False on a server without the records folder)."""
        folder = self.records.folder
        if not folder.is_dir():
            return False
        for name, *stamp in json.loads(entry.stamps):
            try:
                found = (folder / name).stat()
            except OSError:
                return True
            if [found.st_mtime_ns, found.st_size, found.st_ino] != stamp:
                return True
        return self._read(index.record_files, entry.item) != [entry.file]

    def entry(self, item: str) -> Entry | None:
        self.current()
        return self._read(index.entry, item)

    def is_built(self) -> bool:
        """Whether the index has been made from the whole archive at least once (until
        then a fresh server does not call itself ready)."""
        self.current()
        return self._read(index.is_built)

    # ------------------------------------------------------------------ lists

    def generation(self) -> int:
        """Raised by every change to what is served: documents built from the index at
        one generation may be kept until it moves (`kept`)."""
        self.current()
        return self._read(index.generation)

    # What `kept` holds at most, in bytes of text (other values count as KEPT_OTHER):
    # every worker keeps its own.
    KEPT_BYTES = 32 * 1024 * 1024
    KEPT_OTHER = 64 * 1024

    def kept(self, key: tuple, build: Callable[[], object]) -> object:
        """`build()`, or what it gave at this generation; the oldest kept go first."""
        generation = self.generation()
        with self._kept_lock:
            found = self._kept.get(key)
        if found is not None and found[0] == generation:
            return found[2]
        value = build()
        size = len(value) if isinstance(value, (bytes, str)) else self.KEPT_OTHER
        with self._kept_lock:
            old = self._kept.pop(key, None)
            self._kept_size -= old[1] if old else 0
            while self._kept and self._kept_size + size > self.KEPT_BYTES:
                _key, (_generation, dropped, _value) = next(iter(self._kept.items()))
                del self._kept[_key]
                self._kept_size -= dropped
            if size <= self.KEPT_BYTES:
                self._kept[key] = (generation, size, value)
                self._kept_size += size
        return value

    def count(self) -> int:
        """Published items (kept: counting 100,000 of them reads them all)."""
        return self.kept(("count",), lambda: self._read(index.count))

    def items_page(self, offset: int, limit: int) -> list[Entry]:
        self.current()
        return self._read(index.items_page, offset, limit)

    def node(self, path: str) -> Node | None:
        self.current()
        return self._read(index.node, path)

    def children(self, path: str = "") -> list[Node]:
        self.current()
        return self._read(index.children, path)

    def level(self, path: str, part: hierarchy.Slice = hierarchy.Slice()) -> Level | None:
        """The Collection document's worth of node `path` ('' for the top) or of a
        slice of it; None when there is no such node or slice."""
        self.current()
        node = None
        if path:
            node = self._read(index.node, path)
            if node is None:
                return None
        children = self._read(index.children, path)
        years = self._read(index.years, path)
        page = hierarchy.plan(part, len(children), years, self.collection_size)
        if page is None:
            return None
        items: list[Entry] = []
        if page.items is not None:
            offset, count = page.items
            items = self._read(index.members, path, offset, count, part.year)
        if part.first is not None:
            held = part.last - part.first + 1
        elif part.year is not hierarchy.ALL:
            held = dict(years)[part.year]
        else:
            held = node.total if node is not None else self._read(index.count)
        return Level(node, part, children if page.with_children else [], page.slices, items,
                     held)

    def search(self, query: str, offset: int = 0, limit: int = 20,
               filters: Filters = Filters()) -> tuple[int, list[Hit]]:
        self.current()
        return self._read(index.search, query, offset, limit, filters)

    def completions(self, prefix: str, filters: Filters = Filters(), within: str | None = None,
                    minimum: int = 1, limit: int = 20) -> list[tuple[str, int]]:
        """Words of the index starting with `prefix` (vocabulary.py), with their counts."""
        self.current()
        return self._read(vocabulary.completions, prefix, filters, within, minimum, limit)

    def nodes_page(self, offset: int, limit: int) -> list[Node]:
        self.current()
        return self._read(index.nodes_page, offset, limit)

    def node_count(self) -> int:
        self.current()
        return self._read(index.node_count)
