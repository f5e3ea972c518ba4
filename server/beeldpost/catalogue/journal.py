"""The activity journal behind Change Discovery: what changed in the records, and when.

An embedded SQLite database (no service to run) keeps, for every item, the
fingerprint of what was last published, and an append-only list of activities.
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

Safety: every scan writes in one `BEGIN IMMEDIATE` transaction (WAL, synchronous
FULL), so a crash leaves either all of a scan's activities or none, and several
gunicorn workers scanning at once are serialised; each object's activities are
numbered (unique per object), and a writer that finds an object journalled after
it looked at the files leaves that object to the next scan, so no change is ever
written twice or rolled back to an older state.
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
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from ..errors import BeeldpostError
from ..image.service import ImageService
from . import index
from .records import RECORD_SUFFIX, BrokenRecord, Record, RecordStore, parse_record

log = logging.getLogger(__name__)

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
CREATE TABLE IF NOT EXISTS image_hashes (
    identifier TEXT PRIMARY KEY,
    path       TEXT NOT NULL,
    size       INTEGER NOT NULL,
    mtime_ns   INTEGER NOT NULL,
    sha256     TEXT NOT NULL
);
"""


class JournalUnavailable(BeeldpostError):
    status = 503
    title = "Service Unavailable"


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

    def entry(self) -> index.Entry:
        return index.Entry.of(self.record, self.record.file, self.text, self.transcript,
                              _stamps_text(self.stamps, self.record), self.digest)


@dataclass(frozen=True)
class Observed:
    """An item as a scan found it. fingerprint None: broken, leave it as it is."""

    item: str
    fingerprint: str | None
    label: str = ""
    parsed: _Parsed | None = None  # what the catalogue index keeps of it


def _stamps_text(stamps: tuple, record: Record) -> str:
    """The stamps of a record's files with their names, for the index (JSON)."""
    names = [record.file] + ([record.transcript.file] if record.transcript is not None else [])
    return json.dumps([[name, *stamp] for name, stamp in zip(names, stamps) if stamp is not None])


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _stamp(path: Path) -> tuple | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size, stat.st_ino


class Journal:
    def __init__(self, path: Path | str, records: RecordStore, images: ImageService,
                 interval: float = 5.0):
        self.path = Path(path)
        self.records = records
        self.images = images
        self.interval = interval
        self._scan_lock = threading.Lock()
        self._last_scan: float | None = None
        self._ready = False
        self._ready_lock = threading.Lock()
        self.background: threading.Thread | None = None  # the scan started with the app

    # ------------------------------------------------------------------ database

    def _connect(self) -> sqlite3.Connection:
        try:
            if not self._ready:
                with self._ready_lock:
                    if not self._ready:
                        self.path.parent.mkdir(parents=True, exist_ok=True)
                        with sqlite3.connect(self.path, timeout=30) as setup:
                            setup.execute("PRAGMA journal_mode=WAL")
                            setup.executescript(SCHEMA)
                            setup.executescript(index.SCHEMA)
                        setup.close()
                        self._ready = True
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            connection.execute("PRAGMA synchronous=FULL")
            return connection
        except (OSError, sqlite3.Error) as error:
            log.error("activity journal %s unavailable: %s", self.path, error)
            raise JournalUnavailable(f"the activity journal cannot be opened: {error}") from None

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        connection = self._connect()
        try:
            yield connection
        except sqlite3.Error as error:
            raise JournalUnavailable(f"the activity journal cannot be read: {error}") from None
        finally:
            connection.close()

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One atomic transaction, holding SQLite's write lock from the start."""
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        except sqlite3.Error as error:
            raise JournalUnavailable(f"the activity journal cannot be written: {error}") from None
        finally:
            connection.close()

    # ------------------------------------------------------------------ reading

    def count(self) -> int:
        with self._reading() as db:
            return db.execute("SELECT COUNT(*) FROM activities").fetchone()[0]

    def activities(self, offset: int, limit: int) -> list[Activity]:
        """Oldest first: the `offset`-th to the `offset + limit`-th activity."""
        with self._reading() as db:
            rows = db.execute(
                "SELECT n, type, kind, item, end_time FROM activities ORDER BY n LIMIT ? OFFSET ?",
                (limit, offset)).fetchall()
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
            rows = db.execute("SELECT item, changed FROM state WHERE live = 1 AND item != '' "
                              "ORDER BY item LIMIT ? OFFSET ?", (limit, offset)).fetchall()
        return [(item, changed) for item, changed in rows]

    def live_summary(self) -> tuple[int, str | None]:
        """How many items are published, and the time of the latest change among them."""
        with self._reading() as db:
            count, changed = db.execute("SELECT COUNT(*), MAX(changed) FROM state "
                                        "WHERE live = 1 AND item != ''").fetchone()
        return count, changed

    def live_pages(self, size: int) -> list[str]:
        """The time of the last change in each run of `size` published items, by item:
        one query, however many items (a sitemap index's lastmod per sitemap)."""
        with self._reading() as db:
            rows = db.execute(
                "SELECT (position - 1) / ?, MAX(changed) FROM ("
                "  SELECT changed, ROW_NUMBER() OVER (ORDER BY item) AS position"
                "  FROM state WHERE live = 1 AND item != '')"
                " GROUP BY 1 ORDER BY 1", (size,)).fetchall()
        return [changed for _page, changed in rows]

    # ------------------------------------------------------------------ the index

    def entry(self, item: str) -> index.Entry | None:
        """The item's catalogue entry as last published, or None."""
        with self._reading() as db:
            return index.entry(db, item)

    def showing(self, image: str) -> list[index.Entry]:
        with self._reading() as db:
            return index.showing(db, image)

    def search(self, query: str, offset: int = 0, limit: int = 20) -> tuple[int, list[index.Hit]]:
        with self._reading() as db:
            return index.search(db, query, offset, limit)

    def catalogue_size(self) -> int:
        with self._reading() as db:
            return index.count(db)

    # ------------------------------------------------------------------ scanning

    def refresh(self) -> None:
        """Scan, unless one ran less than `interval` seconds ago (waits for a running one)."""
        if self._recent():
            return
        if not self._scan_lock.acquire(timeout=60):
            return  # a very long first scan: serve what is journalled
        try:
            if not self._recent():
                self._scan_locked()
        except JournalUnavailable as error:  # e.g. locked for long: serve what is journalled
            log.error("checking the records for changes failed: %s", error.message)
        finally:
            self._scan_lock.release()

    def _recent(self) -> bool:
        return (self.interval > 0 and self._last_scan is not None
                and time.monotonic() - self._last_scan < self.interval)

    def scan(self) -> list[Activity]:
        """Compare the records with the journal now; the activities this scan wrote."""
        with self._scan_lock:
            return self._scan_locked()

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

    def _scan_locked(self) -> list[Activity]:
        self._last_scan = time.monotonic()
        looked_at = time.time()
        known_hashes = self._known_image_hashes()
        with self._reading() as db:  # what the index knows of each item's files
            files = index.file_states(db)
            journalled = {row[0]: row[1:] for row in db.execute(
                "SELECT item, fingerprint, label FROM state WHERE live = 1")}
        new_hashes: dict[str, tuple] = {}
        observed = {item: self._unchanged(item, files, journalled, known_hashes, new_hashes)
                    or self._observe(item, known_hashes, new_hashes)
                    for item in self.records.items()}
        with self._writing() as db:
            for identifier, (path, size, mtime_ns, sha) in new_hashes.items():
                db.execute("INSERT OR REPLACE INTO image_hashes VALUES (?, ?, ?, ?, ?)",
                           (identifier, path, size, mtime_ns, sha))
            written = _Writer(db, looked_at).apply(observed)
        for activity in written:
            log.info("journal: %s %s %s", activity.type, activity.kind, activity.item or "")
        return written

    def _known_image_hashes(self) -> dict[str, tuple]:
        with self._reading() as db:
            rows = db.execute("SELECT identifier, path, size, mtime_ns, sha256 FROM image_hashes")
            return {row[0]: row[1:] for row in rows}

    def _unchanged(self, item: str, files: dict[str, tuple], journalled: dict[str, tuple],
                   known: dict[str, tuple], new: dict[str, tuple]) -> Observed | None:
        """The item as journalled, when its files are as the index saw them and its image
        has the same content: found with a few stats, no read, no parse. Else None."""
        if item not in files or item not in journalled:
            return None  # new, or never indexed
        stamps, digest, image = files[item]
        folder = self.records.folder
        if any(_stamp(folder / name) != tuple(rest) for name, *rest in json.loads(stamps)):
            return None
        image_hash = self._image_hash(image, known, new)
        if image_hash is None:
            return None
        fingerprint = hashlib.sha256(f"{digest}\0{image_hash}".encode()).hexdigest()
        recorded_fingerprint, label = journalled[item]
        if fingerprint != recorded_fingerprint:
            return None  # its image changed: parse it, an Update follows
        return Observed(item, fingerprint, label)

    def _observe(self, item: str, known: dict[str, tuple], new: dict[str, tuple]) -> Observed:
        parsed = self._parse(item)
        if parsed is None:
            return Observed(item, None)  # the file vanished while listing: seen next scan
        record = parsed.record
        if record is None:
            return Observed(item, None)
        image_hash = self._image_hash(record.image, known, new)
        if image_hash is None:
            return Observed(item, None)
        fingerprint = hashlib.sha256(f"{parsed.digest}\0{image_hash}".encode()).hexdigest()
        return Observed(item, fingerprint, repr(record.label), parsed)

    def _parse(self, item: str) -> _Parsed | None:
        """Read and parse the item's files. Their stamps are taken *before* each is read:
        a file that changes while it is read then differs from its stamp at the next
        scan, which reads it again (the index never keeps new stamps with old text)."""
        folder = self.records.folder
        path = folder / f"{item}{RECORD_SUFFIX}"
        before = _stamp(path)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        digest = hashlib.sha256(data)
        text, transcript, transcript_before = "", None, None
        try:
            text = data.decode("utf-8")
            record = parse_record(path, text)
        except (BrokenRecord, UnicodeDecodeError):
            record = None
        if record is not None and record.transcript is not None:
            transcript_path = folder / record.transcript.file
            transcript_before = _stamp(transcript_path)
            try:
                transcript_bytes = transcript_path.read_bytes()
                digest.update(b"\0" + transcript_bytes)
                transcript = transcript_bytes.decode("utf-8")
            except (OSError, UnicodeDecodeError):
                record = None
        stamps = (before,) if record is None or record.transcript is None \
            else (before, transcript_before)
        return _Parsed(stamps, record, digest.hexdigest(), text, transcript)

    def _image_hash(self, identifier: str, known: dict[str, tuple],
                    new: dict[str, tuple]) -> str | None:
        catalog = self.images.catalog
        source = catalog.lookup(identifier)
        if source is None:
            return None
        stamp = (str(source.path), source.size, source.mtime_ns)
        if identifier in new and new[identifier][:3] == stamp:
            return new[identifier][3]
        if identifier in known and tuple(known[identifier][:3]) == stamp:
            return known[identifier][3]
        try:
            sha = catalog.content_hash(source)
        except OSError:
            return None
        new[identifier] = (*stamp, sha)
        return sha


class _Writer:
    """Turns one scan's observations into activities, inside the write transaction."""

    def __init__(self, db: sqlite3.Connection, looked_at: float):
        self.db = db
        self.looked_at = looked_at
        last = db.execute("SELECT MAX(end_time) FROM activities").fetchone()[0]
        now = utc_now()
        # endTime never goes backwards, even if the clock does: lists are ordered by it.
        self.end_time = max(now, last) if last else now
        self.state: dict[str, _State] = {row[0]: _State(*row[1:]) for row in db.execute(
            "SELECT item, fingerprint, label, live, version, changed, written_at FROM state")}
        self.written: list[Activity] = []

    def apply(self, observed: dict[str, Observed]) -> list[Activity]:
        changes: list[tuple[str, str, str, str, bool]] = []  # item, type, fingerprint, label, live
        in_index = index.indexed(self.db)
        for item in sorted(observed):
            seen = observed[item]
            if seen.fingerprint is None or self._fresher(item):
                continue  # broken: left as journalled; or another writer was later
            previous = self.state.get(item)
            if previous is None or not previous.live:
                changes.append((item, "Create", seen.fingerprint, seen.label, True))
            elif previous.fingerprint != seen.fingerprint:
                changes.append((item, "Update", seen.fingerprint, seen.label, True))
            elif item not in in_index:  # journalled before the index existed: add it
                index.put(self.db, seen.parsed.entry(), seen.parsed.record)
        for item, previous in sorted(self.state.items()):
            if item and previous.live and item not in observed and not self._fresher(item):
                changes.append((item, "Delete", previous.fingerprint, previous.label, False))

        members = {item: state.label for item, state in self.state.items() if item and state.live}
        for item, _type, _fingerprint, label, live in changes:
            if live:
                members[item] = label
            else:
                members.pop(item, None)
        membership = hashlib.sha256(repr(sorted(members.items())).encode()).hexdigest()

        collection = self.state.get("")
        if collection is None:  # the very first scan: the collection comes first
            self._write("", "Create", membership, "", True, (COLLECTION,))
        for item, kind_type, fingerprint, label, live in changes:
            self._write(item, kind_type, fingerprint, label, live, ITEM_KINDS)
            # The catalogue index changes with the journal, in this one transaction.
            if live:
                parsed = observed[item].parsed
                index.put(self.db, parsed.entry(), parsed.record)
            else:
                index.remove(self.db, item)
        if collection is not None and collection.fingerprint != membership \
                and not self._fresher(""):
            self._write("", "Update", membership, "", True, (COLLECTION,))
        return self.written

    def _fresher(self, item: str) -> bool:
        """Journalled by another writer after this scan looked at the files: theirs stands."""
        previous = self.state.get(item)
        return previous is not None and previous.written_at > self.looked_at

    def _write(self, item: str, kind_type: str, fingerprint: str, label: str, live: bool,
               kinds: tuple[str, ...]) -> None:
        previous = self.state.get(item)
        version = (previous.version if previous else 0) + 1
        for kind in kinds:
            cursor = self.db.execute(
                "INSERT INTO activities (type, kind, item, version, end_time) VALUES (?, ?, ?, ?, ?)",
                (kind_type, kind, item, version, self.end_time))
            self.written.append(Activity(cursor.lastrowid, kind_type, kind, item, self.end_time))
        state = _State(fingerprint, label, int(live), version, self.end_time, time.time())
        self.db.execute("INSERT OR REPLACE INTO state VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (item, state.fingerprint, state.label, state.live, state.version,
                         state.changed, state.written_at))
        # Kept in memory too, except written_at: this writer's own writes are not "fresher".
        self.state[item] = _State(fingerprint, label, int(live), version, self.end_time, 0.0)


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
