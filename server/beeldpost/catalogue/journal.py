"""The activity journal behind Change Discovery: what changed in the records, and when.

A database keeps, for every item, the fingerprint of what was last published, and an
append-only list of activities: an embedded SQLite file (no service to run), or a
PostgreSQL database that several servers share (BEELDPOST_DATABASE_URL; database.py).
A scan compares each item's fingerprint now with the journalled one:

    a record that was not published before        -> Create
    a changed record, transcript or image         -> Update
    a record file that is gone                    -> Delete
    a change to the collection's members/labels   -> Update of the Collection

Each item change is journalled twice, once for the Presentation 3 manifest and once
for its Presentation 2.1 variant (Change Discovery lists each representation).

The fingerprint is the SHA-256 of the record file, its transcript file and the
image's content (the image's hash is kept in the journal with the file's size and
mtime, so a restart does not read every image again). A record that fails its
checks, or whose image is missing, is left as it was last journalled until it is
fixed: a typo must not make aggregators delete an item.

The catalogue index (index.py) is written in the same transaction: an item is in it
exactly while its last activity is a Create or an Update.

Safety: a scan writes in transactions of a batch each that hold the writers' lock
from their start (SQLite's `BEGIN IMMEDIATE`, WAL, synchronous FULL; PostgreSQL's
advisory lock, across servers), so a crash leaves either all of a batch's activities
or none, and several workers or servers scanning at once are serialised; each
object's activities are numbered (unique per object), and a writer that finds an
object journalled after it looked at the files leaves that object to the next scan,
so no change is ever written twice or rolled back to an older state. The times those
checks compare are the database's clock on PostgreSQL, so servers' clocks need not
agree.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Iterator, TypeVar

from ..errors import BeeldpostError, SourceError
from ..image.derivatives import upright_size
from ..image.sources import is_source_name, walk_sources
from ..image.service import ImageService
from . import index
from .database import READERS, Connection, Database, open_database
from .tiers import is_closed, today
from .records import (
    RECORD_SUFFIX,
    BrokenRecord,
    Record,
    RecordStore,
    check_image,
    parse_record,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

# Object kinds: the top Collection, and each item's manifest in Presentation 3 and 2.1.
COLLECTION, MANIFEST, MANIFEST_2 = "collection", "manifest", "manifest2"
ITEM_KINDS = (MANIFEST, MANIFEST_2)

SCHEMA = """
CREATE TABLE IF NOT EXISTS activities (
    n        INTEGER PRIMARY KEY AUTOINCREMENT,
    type     TEXT NOT NULL CHECK (type IN ('Create', 'Update', 'Delete')),
    kind     TEXT NOT NULL CHECK (kind IN ('collection', 'manifest', 'manifest2')),
    item     TEXT NOT NULL,           -- '' for the collection
    version  INTEGER NOT NULL,        -- the object's n-th change
    end_time TEXT NOT NULL,           -- xsd:dateTime in UTC, ...Z
    UNIQUE (kind, item, version)
);
CREATE TABLE IF NOT EXISTS state (
    item        TEXT PRIMARY KEY,     -- '' for the collection
    fingerprint TEXT NOT NULL,
    label       TEXT NOT NULL,        -- as the collection lists it
    live        INTEGER NOT NULL,     -- 0 once deleted
    version     INTEGER NOT NULL,
    changed     TEXT NOT NULL,        -- end_time of its last activity
    written_at  REAL NOT NULL         -- time.time() of the scan that wrote it
);
DROP TABLE IF EXISTS image_hashes;
CREATE TABLE IF NOT EXISTS image_facts (  -- what reading an image told, while it stays the same
    identifier TEXT PRIMARY KEY,
    path       TEXT NOT NULL,
    size       INTEGER NOT NULL,
    mtime_ns   INTEGER NOT NULL,
    sha256     TEXT NOT NULL,
    width      INTEGER NOT NULL,      -- upright
    height     INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS accounts (     -- staff who sign in (access/accounts.py)
    name     TEXT PRIMARY KEY,
    password TEXT NOT NULL,           -- an Argon2id hash, never the password
    created  TEXT NOT NULL,           -- xsd:dateTime in UTC
    changed  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sign_in_failures (  -- slows the next try (access/throttle.py)
    key      TEXT PRIMARY KEY,        -- name:<account name> or address:<client address>
    failures INTEGER NOT NULL,        -- in a row, since the last success or quiet spell
    last     REAL NOT NULL            -- Unix time of the last failure
);
CREATE TABLE IF NOT EXISTS ended_sessions (  -- signed out (access/sessions.py)
    session TEXT PRIMARY KEY,         -- the session's random id
    until   REAL NOT NULL             -- Unix time it would have ended anyway
);
"""


class JournalUnavailable(BeeldpostError):
    """The catalogue's database cannot be opened, read or written (a PostgreSQL server
    down, a lock held too long): a 503 that says when to ask again, as it comes back."""

    status = 503
    title = "Service Unavailable"
    RETRY_AFTER = "5"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None):
        super().__init__(message, headers={"Retry-After": self.RETRY_AFTER, **(headers or {})})


@dataclass(frozen=True)
class Activity:
    n: int
    type: str
    kind: str
    item: str
    end_time: str


@dataclass
class _Parsed:
    stamps: tuple
    record: Record | None
    digest: str  # of the record and transcript files' bytes
    text: str = ""  # the record file's text
    transcript: str | None = None  # its transcript file's text
    file: str = ""  # the record's file, relative to the records folder
    size: tuple[int, int] = (0, 0)  # its image's, upright

    def entry(self, node: str) -> index.Entry:
        return index.Entry.of(self.record, self.file, self.text, self.transcript, self.size,
                              node, _stamps_text(self.stamps, self.record, self.file),
                              self.digest)


@dataclass(frozen=True)
class Observed:
    """An item as a scan found it. fingerprint None: broken, leave it as it is."""

    item: str
    fingerprint: str | None
    label: str = ""
    parsed: _Parsed | None = None  # what the catalogue index keeps of it


def _stamps_text(stamps: tuple, record: Record, file: str) -> str:
    """The stamps of a record's files with their names, for the index (JSON)."""
    folder = str(PurePosixPath(file).parent)
    names = [file] + ([str(PurePosixPath(folder) / record.transcript.file).removeprefix("./")]
                      if record.transcript is not None else [])
    return json.dumps([[name, *stamp] for name, stamp in zip(names, stamps) if stamp is not None])


def _now(db: Connection) -> float:
    """The time a scan looked at the files, or wrote what it found (`written_at`): the
    database's clock on PostgreSQL, so that the servers' clocks need not agree."""
    if db.dialect == "sqlite":
        return time.time()
    return db.execute("SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8").fetchone()[0]


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _stamp(path: Path) -> tuple | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size, stat.st_ino


def _sqlite_schema(db: sqlite3.Connection) -> None:
    """The journal's tables and the index's, in an SQLite file (PostgreSQL's come from
    migrations/)."""
    db.executescript(SCHEMA)
    index.create(db)


def fingerprint_of(digest: str, image_hash: str, restricted_until: date | str | None,
                   day: date) -> str:
    """What Change Discovery compares an item by: its record's and transcript's bytes,
    its image's content and, for an item with a closure, whether it is closed on `day`
    (so that the day a closure ends, the next full scan journals an Update, with no
    edit). Items without one keep the fingerprint they always had."""
    text = f"{digest}\0{image_hash}"
    if restricted_until:
        until = restricted_until if isinstance(restricted_until, date) \
            else date.fromisoformat(restricted_until)
        text += "\0closed" if is_closed(until, day) else "\0opened"
    return hashlib.sha256(text.encode()).hexdigest()


class CatalogueDatabase:
    """The catalogue's database as its readers and writers use it (the journal, the
    index lookups the image core asks through, catalogue/lookups.py): its tables made or
    brought up to date on first use, once per process, and every failure of the database
    a JournalUnavailable (a 503 that says when to ask again)."""

    def __init__(self, database: Database | Path | str):
        """`database`: an SQLite file's path, a PostgreSQL URL, or a Database."""
        self.database = open_database(database)
        self._ready = False
        self._ready_lock = threading.Lock()

    def __str__(self) -> str:
        return str(self.database)

    def prepare(self) -> None:
        """Make the tables (SQLite) or bring them up to date (PostgreSQL), once."""
        if not self._ready:
            with self._ready_lock:
                if not self._ready:
                    try:
                        self.database.prepare(_sqlite_schema)
                    except (OSError, *self.database.errors) as error:
                        raise self._unavailable("opened", error) from None
                    self._ready = True

    def _unavailable(self, doing: str, error: BaseException) -> JournalUnavailable:
        log.error("activity journal %s unavailable: %s", self.database, error)
        return JournalUnavailable(f"the activity journal cannot be {doing}: "
                                  f"{str(error).strip() or type(error).__name__}")

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection to read with (database.py: SQLite's of this thread, kept open;
        one lent from the process's few to PostgreSQL). One that fails is dropped: the
        next read opens another (a database back after a restart is used again)."""
        self.prepare()
        try:
            with self.database.reading() as connection:
                yield connection
        except self.database.errors as error:
            raise self._unavailable("read", error) from None

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """One atomic transaction, holding the writers' lock from the start."""
        self.prepare()
        try:
            with self.database.writing() as connection:
                yield connection
        except self.database.errors as error:
            raise self._unavailable("written", error) from None

    def read(self, query: Callable[..., T], *args, **options) -> T:
        """One of index.py's reading functions on a reading connection:
        `db.read(index.node, "batavialand")`."""
        with self.reading() as db:
            return query(db, *args, **options)


class Journal:
    def __init__(self, database: CatalogueDatabase | Database | Path | str,
                 records: RecordStore, images: ImageService, interval: float = 5.0):
        """`database`: the catalogue's (shared with the image core's index lookups, as
        the app factory makes them), or an SQLite file's path, a PostgreSQL URL or a
        Database. The images' service must find sources where the index says
        (catalogue/lookups.py): the scan never publishes an item whose image the servers
        could not find."""
        self.db = database if isinstance(database, CatalogueDatabase) \
            else CatalogueDatabase(database)
        self.database = self.db.database
        self.path: Path | None = self.database.path  # the SQLite file (None: PostgreSQL)
        self.records = records
        self.images = images
        self.interval = interval
        self._scan_lock = threading.Lock()
        self._last_scan: float | None = None
        self.background: threading.Thread | None = None  # the scan started with the app
        self._scanning: int | None = None  # the thread scanning now
        # Images a scan's records named that the index has no file of (identifier -> the
        # items waiting for it). In a bucket, which sends no events, they may be there
        # unlisted: see _list_images_for_records.
        self._unlisted: dict[str, set[str]] = {}
        self._images_listed = (float("-inf"), 0.0)  # (when, how long it took)
        # When those images are to be listed (monotonic), or None: listing_due().
        self._listing_due: float | None = None
        self._listings_missed = 0  # listings since one found every image it looked for
        self._day = today()  # the day whose closures a scan holds to (set as it starts)

    # ------------------------------------------------------------------ database

    def _reading(self):
        return self.db.reading()

    def _writing(self):
        return self.db.writing()

    # ------------------------------------------------------------------ reading

    # Activities are numbered 1, 2, 3, … without gaps: each writer numbers its own after
    # the last, holding the writers' lock (_Writer), nothing is ever deleted, and a
    # transaction that rolls back takes its numbers back with it. So the count is the
    # last number (COUNT(*) reads all 200,000 rows of a large archive's stream) and the
    # n-th page starts at a number (OFFSET walks every row before it). Should a gap ever
    # appear, OFFSET answers instead.

    def count(self) -> int:
        with self._reading() as db:
            return db.execute("SELECT COALESCE(MAX(n), 0) FROM activities").fetchone()[0]

    def activities(self, offset: int, limit: int) -> list[Activity]:
        """Oldest first: the `offset`-th to the `offset + limit`-th activity."""
        with self._reading() as db:
            rows = db.execute("SELECT n, type, kind, item, end_time FROM activities "
                              "WHERE n > ? ORDER BY n LIMIT ?", (offset, limit)).fetchall()
            if rows and rows[0][0] != offset + 1:  # a gap before: count them instead
                rows = db.execute("SELECT n, type, kind, item, end_time FROM activities "
                                  "ORDER BY n LIMIT ? OFFSET ?", (limit, offset)).fetchall()
        return [Activity(*row) for row in rows]

    def activity(self, n: int) -> Activity | None:
        with self._reading() as db:
            row = db.execute("SELECT n, type, kind, item, end_time FROM activities WHERE n = ?",
                             (n,)).fetchone()
        return Activity(*row) if row else None

    def live_items(self, offset: int = 0, limit: int = -1) -> list[tuple[str, str]]:
        """(item, time of its last change) of published items, by item: all of them, or
        `limit` from the `offset`-th on."""
        with self._reading() as db:
            rows = db.execute("SELECT item, changed FROM state WHERE live = 1 AND item != '' AND substr(item, 1, 1) != '/' "
                              "ORDER BY item LIMIT ? OFFSET ?", (limit, offset)).fetchall()
        return [(item, changed) for item, changed in rows]

    def live_summary(self) -> tuple[int, str | None]:
        """How many items are published, and the time of the latest change among them."""
        with self._reading() as db:
            count, changed = db.execute("SELECT COUNT(*), MAX(changed) FROM state "
                                        "WHERE live = 1 AND item != '' AND substr(item, 1, 1) != '/'").fetchone()
        return count, changed

    def live_collections(self, offset: int = 0, limit: int = -1) -> list[tuple[str, str]]:
        """(path, time of its last change) of the levels of the archive, by path."""
        with self._reading() as db:
            rows = db.execute("SELECT substr(item, 2), changed FROM state WHERE live = 1 "
                              "AND substr(item, 1, 1) = '/' ORDER BY item LIMIT ? OFFSET ?",
                              (limit, offset)).fetchall()
        return [(path, changed) for path, changed in rows]

    # Which rows of `state` are items and which are levels of the archive ('/path').
    ITEMS = "item != '' AND substr(item, 1, 1) != '/'"
    LEVELS = "substr(item, 1, 1) = '/'"

    def live_collection_pages(self, size: int) -> list[str]:
        return self._last_changes(self.LEVELS, size)

    def live_pages(self, size: int) -> list[str]:
        """The time of the last change in each run of `size` published items, by item:
        one query, however many items (a sitemap index's lastmod per sitemap)."""
        return self._last_changes(self.ITEMS, size)

    def _last_changes(self, which: str, size: int) -> list[str]:
        with self._reading() as db:
            rows = db.execute(
                "SELECT (position - 1) / ?, MAX(changed) FROM ("
                "  SELECT changed, ROW_NUMBER() OVER (ORDER BY item) AS position"
                f"  FROM state WHERE live = 1 AND {which}) AS live"
                " GROUP BY 1 ORDER BY 1", (size,)).fetchall()
        return [changed for _page, changed in rows]

    # ------------------------------------------------------------------ the index

    def read(self, query: Callable[..., T], *args, **options) -> T:
        """One of index.py's reading functions, on this thread's connection:
        `journal.read(index.node, "batavialand")`."""
        return self.db.read(query, *args, **options)

    # ------------------------------------------------------------------ scanning

    def refresh(self) -> None:
        """Scan, unless one ran less than `interval` seconds ago (waits for a running one).
        For a process that no watcher keeps current (catalogue.py)."""
        if self._recent() or self._scanning == threading.get_ident():
            return  # (a scan's own lookups must not start another)
        if not self._scan_lock.acquire(timeout=60):
            return  # a very long first scan: serve what is journalled
        try:
            if not self._recent():
                self._scan_locked(None)
        except JournalUnavailable as error:  # e.g. locked for long: serve what is journalled
            log.error("checking the records for changes failed: %s", error.message)
        finally:
            self._scan_lock.release()

    def _recent(self) -> bool:
        return (self._last_scan is not None
                and time.monotonic() - self._last_scan < self.interval)

    def scan(self, changed: Iterable[Path] | None = None) -> list[Activity]:
        """Compare the records with the journal now; the activities this scan wrote.

        With `changed` (paths file events named), only what those files touch is looked
        at: a record, the records using a transcript, the records showing an image.
        Without, every file is (a full scan: stats, and reads only what changed)."""
        with self._scan_lock:
            return self._scan_locked(None if changed is None else list(changed))

    def scan_in_background(self) -> threading.Thread:
        def run():
            try:
                self.scan()
            except Exception:  # noqa: BLE001 - never take a worker down; logged
                log.exception("scanning the records for the activity journal failed")

        thread = threading.Thread(target=run, name="beeldpost-journal", daemon=True)
        self.background = thread
        thread.start()
        return thread

    def _scan_locked(self, changed: list[Path] | None) -> list[Activity]:
        self._scanning = threading.get_ident()
        try:
            return self._scan_files(changed)
        finally:
            self._scanning = None

    def _scan_files(self, changed: list[Path] | None) -> list[Activity]:
        self._last_scan = time.monotonic()
        self._day = today()  # the day whose closures hold, for the whole scan
        with self._reading() as db:
            looked_at = _now(db)
        if not self.records.folder.is_dir() and self.read(index.count):
            # An unmounted share or a server given no records folder is not an archive
            # emptied: journalling it would tell every aggregator to delete every item.
            log.error("the records folder %s is missing; nothing journalled until it is back",
                      self.records.folder)
            return []
        if changed is None:  # every image is listed now: nothing waits for a listing
            self._unlisted, self._listing_due, self._listings_missed = {}, None, 0
        started = time.monotonic()
        items = self._update_files(changed)
        if changed is None:
            self._images_listed = (started, time.monotonic() - started)
        touched: set[str] = set()
        created = self._create_top_collection(looked_at)
        written = list(created)
        ordered = sorted(items)
        for start in range(0, len(ordered), self.BATCH):
            batch = ordered[start:start + self.BATCH]
            written += self._scan_batch(batch, looked_at, touched)
        if changed is not None:
            for batch in self._list_images_for_records():
                written += self._scan_batch(batch, looked_at, touched)
        if created:  # the top Collection was created by this scan, with its members
            touched.discard("")
        written += self._journal_collections(touched, looked_at)
        if changed is None:
            with self._writing() as db:
                index.mark_scanned(db)
            self._unlisted = {}  # missing from the full listing: for real, until an event
        for activity in written:
            log.info("journal: %s %s %s", activity.type, activity.kind, activity.item or "")
        return written

    # Items are read, parsed and written this many at a time: one transaction each, so
    # that the first scan of a large archive holds one batch in memory, not the archive.
    BATCH = 1000

    # A bucket listed for a record's image at most this often (and never more often than
    # ten times as long as the last listing took: 100,000 objects are 100 requests).
    LIST_IMAGES_SECONDS = 2.0

    # Images a listing did not find are looked for again by this many more listings
    # (LIST_IMAGES_SECONDS apart); then the periodic full scan looks again.
    LIST_IMAGES_AGAIN = 4

    def listing_due(self) -> float | None:
        """When (time.monotonic()) images named by changed records wait to be looked for in
        the bucket, or None: the watcher then runs `scan([])`, which lists it."""
        if not self._unlisted or not self.images.catalog.remote:
            return None
        return self._listing_due

    def _list_images_for_records(self) -> Iterator[list[str]]:
        """After a scan of changed records, when one names an image the index has no file
        of and the images are in a bucket (no file events there, so a scan uploaded a
        moment ago is known only from the next full listing): list the bucket now, bring
        the index's image files up to date, and give the items waiting for one of the
        images found, and those showing a changed one, in batches.

        Listings are at least LIST_IMAGES_SECONDS apart: one asked for sooner is put off
        until then (listing_due(), which the watcher keeps), never dropped. Images still
        not found wait for the next few listings (a scan still on its way up). A bucket
        that cannot be listed is asked again at the next one."""
        if not self._unlisted or not self.images.catalog.remote:
            return
        when, took = self._images_listed
        started = time.monotonic()
        gap = max(self.LIST_IMAGES_SECONDS, self.QUIET_FACTOR * took)
        if started - when < gap:
            self._listing_due = when + gap
            return
        wanted, self._unlisted = self._unlisted, {}
        self._images_listed = (started, 0.0)
        try:
            found = walk_sources(self.images.settings.images_dir)
        except BeeldpostError as error:
            log.warning("the images bucket cannot be listed for %s: %s; asked again in "
                        "%g s", ", ".join(sorted(wanted)), error.message, gap)
            self._wait_for_listing(wanted, started)
            return
        self._images_listed = (started, time.monotonic() - started)
        with self._reading() as db:
            known = index.files(db, "source_files")
        added, gone = _diff(known, found)
        present = set(found.values())
        self._wait_for_listing({identifier: items for identifier, items in wanted.items()
                                if identifier not in present}, started)
        if not (added or gone):
            return
        with self._writing() as db:
            index.set_files(db, "source_files", added, gone)
            index.advance(db)
        identifiers = set(added.values()) | {known[path] for path in gone}
        affected = {item for identifier in identifiers for item in wanted.get(identifier, ())}
        with self._reading() as db:
            for identifier in identifiers:
                affected.update(entry.item for entry in index.showing(db, identifier))
        ordered = sorted(affected)
        for start in range(0, len(ordered), self.BATCH):
            yield ordered[start:start + self.BATCH]

    def _wait_for_listing(self, missing: dict[str, set[str]], listed: float) -> None:
        """Images a listing did not find (or could not look for) wait for the next, up
        to LIST_IMAGES_AGAIN times (a scan still on its way up is found by one)."""
        if not missing or self._listings_missed >= self.LIST_IMAGES_AGAIN:
            if missing:
                log.warning("no image %s in %s, which the records of %s name; the periodic "
                            "full scan looks again", ", ".join(map(repr, sorted(missing))),
                            self.images.settings.images_dir,
                            ", ".join(sorted(set().union(*missing.values()))) or "new items")
            self._listings_missed, self._listing_due = 0, None
            return
        self._listings_missed += 1
        for identifier, items in missing.items():
            self._unlisted.setdefault(identifier, set()).update(items)
        self._listing_due = listed + max(self.LIST_IMAGES_SECONDS,
                                         self.QUIET_FACTOR * self._images_listed[1])

    # The periodic full scan, while events arrive, and the listing above wait at least
    # this many times as long as their last run took.
    QUIET_FACTOR = 10

    def _update_files(self, changed: list[Path] | None) -> set[str]:
        """Bring the index's lists of record and image files up to date (one transaction):
        all of them by walking the folders, or the `changed` paths only. The items the
        changes touch (all, for a full scan)."""
        records_folder, images_folder = self.records.folder, self.images.settings.images_dir
        with self._reading() as db:
            if changed is None:
                found_records = self.records.walk()
                found_sources = walk_sources(images_folder)
                known_records = index.files(db, "record_files")
                known_sources = index.files(db, "source_files")
                live = db.execute("SELECT item FROM state WHERE live = 1 AND item != '' "
                                  "AND substr(item, 1, 1) != '/'").fetchall()
                affected = set(found_records.values()) | set(known_records.values()) | {
                    row[0] for row in live}
                record_changes = _diff(known_records, found_records)
                source_changes = _diff(known_sources, found_sources)
                affected |= set(record_changes[0].values())
            else:
                record_paths, source_paths, other = _sort_paths(changed, records_folder,
                                                                images_folder)
                known_records = index.ids_of_files(db, "record_files", list(record_paths))
                known_sources = index.ids_of_files(db, "source_files", list(source_paths))
                record_changes = _diff(known_records, {path: stem for path, stem in
                                                        record_paths.items()
                                                        if (records_folder / path).is_file()})
                source_changes = _diff(known_sources, {path: stem for path, stem in
                                                        source_paths.items()
                                                        if (images_folder / path).is_file()})
                affected = set(record_paths.values()) | set(known_records.values())
                for path in other:  # a transcript, say
                    affected.update(index.using_transcript(db, path))
                identifiers = set(source_paths.values()) | set(known_sources.values())
                for identifier in identifiers:
                    affected.update(entry.item for entry in index.showing(db, identifier))
        if any(record_changes) or any(source_changes):
            with self._writing() as db:
                index.set_files(db, "record_files", *record_changes)
                index.set_files(db, "source_files", *source_changes)
                index.advance(db)
        if changed is not None:  # the image may be shown by items not yet journalled
            with self._reading() as db:
                for identifier in set(source_changes[0].values()):
                    affected.update(row[0] for row in db.execute(
                        "SELECT item FROM items WHERE image = ?", (identifier,)))
        return {item for item in affected if item}

    def _scan_batch(self, batch: list[str], looked_at: float, touched: set[str]) -> list[Activity]:
        known_hashes = self._known_image_facts()
        with self._reading() as db:
            files = index.file_states(db, batch)
            journalled = {}
            for part in range(0, len(batch), 500):
                names = batch[part:part + 500]
                journalled.update((row[0], row[1:]) for row in db.execute(
                    "SELECT item, fingerprint, label FROM state WHERE live = 1 AND item IN "
                    f"({', '.join('?' for _ in names)})", names))
            located = index.record_files_of(db, batch)
            known_hashes.prefetch(db, {state[2] for state in files.values()})
        new_hashes: dict[str, tuple] = {}
        observed: dict[str, Observed] = {}
        for item in batch:
            paths = located[item]
            if not paths:
                continue  # gone: a Delete, if it was published
            if len(paths) > 1:
                log.warning("two records have the id %r: %s; both are refused until one is "
                            "renamed or removed", item, " and ".join(paths))
                observed[item] = Observed(item, None)
                continue
            observed[item] = (self._unchanged(item, paths[0], files, journalled, known_hashes,
                                              new_hashes)
                              or self._observe(item, paths[0], known_hashes, new_hashes))
        if not new_hashes and all(seen.parsed is None for seen in observed.values()) \
                and all(item in observed or item not in journalled for item in batch):
            return []  # nothing new, nothing gone: no write at all (a restart's scan)
        with self._writing() as db:
            for identifier, facts in new_hashes.items():
                db.execute(_UPSERT_IMAGE_FACTS, (identifier, *facts))
            writer = _Writer(db, looked_at, batch)
            written = writer.apply(observed)
            touched |= writer.touched
            if written or writer.indexed:
                index.recount_nodes(db)
                index.advance(db)
        return written

    def _create_top_collection(self, looked_at: float) -> list[Activity]:
        """The very first scan journals the top Collection first: harvesters then meet
        the Collection before its members."""
        with self._reading() as db:
            if db.execute("SELECT 1 FROM state WHERE item = ''").fetchone() is not None:
                return []
        with self._writing() as db:
            writer = _Writer(db, looked_at, [""])
            if writer.state.get("") is None:
                writer.write("", "Create", "", "", True, (COLLECTION,))
            return writer.written

    def _journal_collections(self, touched: set[str], looked_at: float) -> list[Activity]:
        """Create, Update or Delete the Collections whose members this scan changed (the
        top one, '', and each node of the hierarchy, keyed '/path')."""
        with self._writing() as db:
            if not touched:
                return []
            nodes = {f"/{row[0]}" for row in db.execute("SELECT path FROM nodes")}
            keys = set(touched)
            pending = list(keys)
            while pending:  # a node made or dropped changes its parent's members
                key = pending.pop()
                if key and (key in nodes) != self._live(db, key):
                    parent = key.rsplit("/", 1)[0] if key.count("/") > 1 else ""
                    if parent not in keys:
                        keys.add(parent)
                        pending.append(parent)
            writer = _Writer(db, looked_at, sorted(keys))
            for key in sorted(keys, key=lambda k: (k.count("/"), k)):
                if writer.fresher(key):
                    continue
                exists = key == "" or key in nodes
                previous = writer.state.get(key)
                live = previous is not None and previous.live
                if exists and not live:
                    writer.write(key, "Create", "", "", True, (COLLECTION,))
                elif exists:
                    writer.write(key, "Update", "", "", True, (COLLECTION,))
                elif live:
                    writer.write(key, "Delete", "", "", False, (COLLECTION,))
            if writer.written:
                index.advance(db)  # what lists show of the journal changed
            return writer.written

    @staticmethod
    def _live(db: Connection, key: str) -> bool:
        row = db.execute("SELECT live FROM state WHERE item = ?", (key,)).fetchone()
        return bool(row and row[0])

    def _known_image_facts(self) -> _StoredFacts:
        return _StoredFacts(self)

    def _unchanged(self, item: str, file: str, files: dict[str, tuple],
                   journalled: dict[str, tuple], known: _StoredFacts,
                   new: dict[str, tuple]) -> Observed | None:
        """The item as journalled, when its files are as the index saw them and its image
        has the same content: found with a few stats, no read, no parse. Else None."""
        if item not in files or item not in journalled:
            return None  # new, or never indexed
        stamps, digest, image, indexed_file, _node, restricted_until = files[item]
        if indexed_file != file:
            return None  # moved to another folder
        folder = self.records.folder
        if any(_stamp(folder / name) != tuple(rest) for name, *rest in json.loads(stamps)):
            return None
        facts = self._image_facts(image, known, new)
        if facts is None:
            return None
        fingerprint = fingerprint_of(digest, facts[0], restricted_until, self._day)
        recorded_fingerprint, label = journalled[item]
        if fingerprint != recorded_fingerprint:
            return None  # its image changed, or its closure ended: parse it, an Update follows
        return Observed(item, fingerprint, label)

    def _observe(self, item: str, file: str, known: _StoredFacts,
                 new: dict[str, tuple]) -> Observed:
        parsed = self._parse(file)
        if parsed is None or parsed.record is None:
            return Observed(item, None)  # vanished while listing (seen next scan), or broken
        record = parsed.record
        facts = self._image_facts(record.image, known, new)
        if facts is None:
            if record.image in self._unlisted:
                self._unlisted[record.image].add(item)
                if self.images.catalog.remote:
                    log.info("%s: its image %r is not in the index's listing of the bucket "
                             "yet: the bucket is listed for it", file, record.image)
                    return Observed(item, None)
            log.warning("%s: its image %r is missing, refused or unreadable; left as it was",
                        file, record.image)
            return Observed(item, None)
        image_hash, width, height = facts
        problems = check_image(record, width, height)
        if problems:
            log.warning("broken record: %s", BrokenRecord(problems).message)
            return Observed(item, None)
        parsed.size = (width, height)
        fingerprint = fingerprint_of(parsed.digest, image_hash, record.restricted_until,
                                     self._day)
        return Observed(item, fingerprint, repr(record.label), parsed)

    def _parse(self, file: str) -> _Parsed | None:
        """Read and parse the item's files. Their stamps are taken *before* each is read:
        a file that changes while it is read then differs from its stamp at the next
        scan, which reads it again (the index never keeps new stamps with old text)."""
        folder = self.records.folder
        path = folder / file
        before = _stamp(path)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        digest = hashlib.sha256(data)
        text, transcript, transcript_before = "", None, None
        try:
            text = data.decode("utf-8")
            record = parse_record(path, text, file)
        except BrokenRecord as error:
            log.warning("broken record: %s", error.message)
            record = None
        except UnicodeDecodeError as error:
            log.warning("broken record: %s: cannot be read as UTF-8: %s", file, error)
            record = None
        if record is not None and record.transcript is not None:
            transcript_path = path.parent / record.transcript.file
            transcript_before = _stamp(transcript_path)
            try:
                transcript_bytes = transcript_path.read_bytes()
                digest.update(b"\0" + transcript_bytes)
                transcript = transcript_bytes.decode("utf-8")
            except (OSError, UnicodeDecodeError):
                record = None
        stamps = (before,) if record is None or record.transcript is None \
            else (before, transcript_before)
        return _Parsed(stamps, record, digest.hexdigest(), text, transcript, file)

    def _image_facts(self, identifier: str, known: _StoredFacts,
                     new: dict[str, tuple]) -> tuple[str, int, int] | None:
        """(content hash, width, height) of the image, or None when it is missing,
        claimed by two files or unreadable."""
        catalog = self.images.catalog
        try:
            source = catalog.lookup(identifier)
        except SourceError as error:  # two folders hold it
            log.warning("%s", error.message)
            return None
        if source is None:
            self._unlisted.setdefault(identifier, set())
            return None
        stamp = (str(source.path), source.size, source.mtime_ns)
        for facts in (new.get(identifier), known.get(identifier)):
            if facts is not None and tuple(facts[:3]) == stamp:
                return facts[3], facts[4], facts[5]
        try:
            sha = catalog.content_hash(source)
            width, height = upright_size(source.path, self.images.settings.max_source_pixels)
        except (OSError, SourceError) as error:
            log.warning("image %r: %s", identifier, getattr(error, "message", error))
            return None
        new[identifier] = (*stamp, sha, width, height)
        return sha, width, height


_UPSERT_IMAGE_FACTS = (
    "INSERT INTO image_facts (identifier, path, size, mtime_ns, sha256, width, height) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (identifier) DO UPDATE SET path = excluded.path, "
    "size = excluded.size, mtime_ns = excluded.mtime_ns, sha256 = excluded.sha256, "
    "width = excluded.width, height = excluded.height")


class _StoredFacts:
    """What the journal's table says of an image, looked up one identifier at a time (a
    scan holds one batch's, never every image's)."""

    def __init__(self, journal: Journal):
        self.journal = journal
        self._fetched: dict[str, tuple | None] = {}

    def prefetch(self, db: Connection, identifiers: set[str]) -> None:
        """Those of the batch's images the index already knows, in one query per 500."""
        names = sorted(identifiers)
        for start in range(0, len(names), 500):
            part = names[start:start + 500]
            rows = db.execute("SELECT identifier, path, size, mtime_ns, sha256, width, height "
                              f"FROM image_facts WHERE identifier IN "
                              f"({', '.join('?' for _ in part)})", part)
            self._fetched.update({name: None for name in part})
            self._fetched.update((row[0], row[1:]) for row in rows)

    def get(self, identifier: str) -> tuple | None:
        if identifier in self._fetched:
            return self._fetched[identifier]
        with self.journal._reading() as db:
            return db.execute("SELECT path, size, mtime_ns, sha256, width, height "
                              "FROM image_facts WHERE identifier = ?", (identifier,)).fetchone()


def _diff(known: dict[str, str], found: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """(paths added or given another id, paths gone) between two path -> id maps."""
    added = {path: name for path, name in found.items() if known.get(path) != name}
    return added, [path for path in known if path not in found]


def _sort_paths(changed: list[Path], records: Path, images: Path
                ) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """Changed paths as (record files: path -> id, sources: path -> id, other files in
    the records folder), relative to their folders."""
    record_paths, source_paths, other = {}, {}, []
    for path in changed:
        path = Path(path)
        for folder, kind in ((records, "records"), (images, "images")):
            try:
                relative = path.relative_to(folder)
            except ValueError:
                continue
            name = index.relative(str(relative))
            if any(part.startswith(".") for part in relative.parts):
                break
            if kind == "records" and name.endswith(RECORD_SUFFIX):
                record_paths[name] = relative.name[: -len(RECORD_SUFFIX)]
            elif kind == "images" and is_source_name(relative.name):
                source_paths[name] = relative.stem
            elif kind == "records":
                other.append(name)
            break
    return record_paths, source_paths, other


class _Writer:
    """Turns one batch's observations into activities, inside the write transaction."""

    def __init__(self, db: Connection, looked_at: float, keys: list[str]):
        self.db = db
        self.looked_at = looked_at
        # Activities are numbered here, inside the writers' lock: 1, 2, 3, … with no
        # gaps (a sequence of PostgreSQL's would skip what a rolled-back write took).
        self.last_n = db.execute("SELECT COALESCE(MAX(n), 0) FROM activities").fetchone()[0]
        if db.dialect == "sqlite":
            self.now = time.time
        else:  # the database's clock, from the moment this writer holds the lock
            started = _now(db)
            self.now = lambda: started
        last = db.execute("SELECT MAX(end_time) FROM activities").fetchone()[0]
        now = utc_now()
        # endTime never goes backwards, even if the clock does: lists are ordered by it.
        self.end_time = max(now, last) if last else now
        self.state: dict[str, _State] = {}
        for start in range(0, len(keys), 500):
            names = keys[start:start + 500]
            self.state.update((row[0], _State(*row[1:])) for row in db.execute(
                "SELECT item, fingerprint, label, live, version, changed, written_at "
                f"FROM state WHERE item IN ({', '.join('?' for _ in names)})", names))
        self.written: list[Activity] = []
        self.touched: set[str] = set()  # the Collections whose members changed
        self.indexed = False  # entries put that the journal already had

    def apply(self, observed: dict[str, Observed]) -> list[Activity]:
        files = index.file_states(self.db, list(self.state))
        for item in sorted(set(observed) | {key for key in self.state if key}):
            seen = observed.get(item)
            previous = self.state.get(item)
            if self.fresher(item):
                continue  # another writer was later: theirs stands
            if seen is None:
                if previous is not None and previous.live:
                    self.write(item, "Delete", previous.fingerprint, previous.label, False,
                               ITEM_KINDS)
                    self._touch(files.get(item))
                    index.remove(self.db, item)
                continue
            if seen.fingerprint is None:
                continue  # broken: left as journalled
            if previous is None or not previous.live:
                kind_type = "Create"
            elif previous.fingerprint != seen.fingerprint:
                kind_type = "Update"
            else:
                # Read again but the same (journalled before the index existed, moved to
                # another folder, touched): the entry takes the files as they are now,
                # so the next scan need not read them; nothing to journal.
                if seen.parsed is not None:
                    self._put(seen)
                    self.indexed = True
                continue
            self.write(item, kind_type, seen.fingerprint, seen.label, True, ITEM_KINDS)
            old = files.get(item)
            node = self._put(seen)
            if kind_type == "Create" or previous.label != seen.label or (old and old[4] != node):
                self._touch(old)
                self.touched.add(f"/{node}" if node else "")
        return self.written

    def _put(self, seen: Observed) -> str:
        """The catalogue index changes with the journal, in this one transaction."""
        parsed = seen.parsed
        node = index.node_path(self.db, parsed.record.hierarchy)
        index.put(self.db, parsed.entry(node), parsed.record)
        return node

    def _touch(self, state: tuple | None) -> None:
        if state is not None:
            self.touched.add(f"/{state[4]}" if state[4] else "")

    def fresher(self, item: str) -> bool:
        """Journalled by another writer after this scan looked at the files: theirs stands."""
        previous = self.state.get(item)
        return previous is not None and previous.written_at > self.looked_at

    def write(self, item: str, kind_type: str, fingerprint: str, label: str, live: bool,
              kinds: tuple[str, ...]) -> None:
        previous = self.state.get(item)
        version = (previous.version if previous else 0) + 1
        for kind in kinds:
            self.last_n += 1
            self.db.execute(
                "INSERT INTO activities (n, type, kind, item, version, end_time) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (self.last_n, kind_type, kind, item, version, self.end_time))
            self.written.append(Activity(self.last_n, kind_type, kind, item, self.end_time))
        state = _State(fingerprint, label, int(live), version, self.end_time, self.now())
        self.db.execute(_UPSERT_STATE, (item, state.fingerprint, state.label, state.live,
                                        state.version, state.changed, state.written_at))
        # Kept in memory too, except written_at: this writer's own writes are not "fresher".
        self.state[item] = _State(fingerprint, label, int(live), version, self.end_time, 0.0)


_UPSERT_STATE = (
    "INSERT INTO state (item, fingerprint, label, live, version, changed, written_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (item) DO UPDATE SET "
    "fingerprint = excluded.fingerprint, label = excluded.label, live = excluded.live, "
    "version = excluded.version, changed = excluded.changed, written_at = excluded.written_at")


@dataclass(frozen=True)
class _State:
    fingerprint: str
    label: str
    live: int
    version: int
    changed: str
    written_at: float


def default_journal_path(cache_dir: Path) -> Path:
    return Path(cache_dir) / "journal.sqlite3"


def journal_path(settings) -> Path:
    configured = getattr(settings, "journal_file", None)
    return Path(configured) if configured else default_journal_path(settings.cache_dir)


def journal_database(settings) -> Database:
    """The database the settings name: BEELDPOST_DATABASE_URL's PostgreSQL, or the
    SQLite file (BEELDPOST_JOURNAL, or `journal.sqlite3` in the cache folder)."""
    return open_database(getattr(settings, "database_url", None) or journal_path(settings),
                         getattr(settings, "database_connections", READERS))
